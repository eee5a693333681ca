"""klvae.measures._asymptotic: exact Bernoulli numbers and the economised Stirling series, against mpmath."""

from fractions import Fraction

import mpmath
import numpy as np
import pytest

from klvae.measures._asymptotic import bernoulli_even, economized, lgamma_tail, psi_tail


def test_bernoulli_numbers_are_exact():
    got = bernoulli_even(12)
    assert got[:4] == (Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30))
    for n, b in enumerate(got, 1):
        assert b == Fraction(int(mpmath.bernfrac(2 * n)[0]), int(mpmath.bernfrac(2 * n)[1]))


def test_economisation_keeps_a_polynomial_of_its_degree_and_moves_it_by_its_dropped_chebyshev_term():
    # a cubic kept at degree 3 comes back unchanged; lowered to degree 2 it moves by its top
    # Chebyshev coefficient on [0, h], |c₃| (h/2)³ 2⁻², exactly the largest change on the grid
    cubic = [1.0, -2.0, 0.5, 3.0]
    h = Fraction(1, 4)
    assert economized(cubic, h, 3) == pytest.approx(tuple(cubic), abs=1e-15)
    grid = np.linspace(0, 0.25, 1001)
    lowered = np.polynomial.polynomial.polyval(grid, economized(cubic, h, 2))
    moved = np.abs(lowered - np.polynomial.polynomial.polyval(grid, cubic)).max()
    assert moved == pytest.approx(3.0 * (0.25 / 2) ** 3 / 4, rel=1e-12)


@pytest.mark.parametrize("x", [7.0, 7.5, 9.25, 13.0, 40.0, 1e3, 1e8])
def test_the_economised_tails_match_mpmath_from_seven_on(x):
    # (1/X) Σ aₖ zᵏ = log Γ(X) − (X − ½) log X + X − ½ log 2π and z Σ bₖ zᵏ = −(ψ(X) − log X + 1/(2X))
    z = 1 / x**2
    lgamma_part = np.polynomial.polynomial.polyval(z, lgamma_tail(7, 6)) / x
    psi_part = z * np.polynomial.polynomial.polyval(z, psi_tail(7, 7))
    with mpmath.workdps(40):
        big = mpmath.mpf(x)
        want_lgamma = mpmath.loggamma(big) - (big - 0.5) * mpmath.log(big) + big - mpmath.log(2 * mpmath.pi) / 2
        want_psi = -(mpmath.digamma(big) - mpmath.log(big) + 1 / (2 * big))
    assert lgamma_part == pytest.approx(float(want_lgamma), rel=4e-16)
    assert psi_part == pytest.approx(float(want_psi), rel=4e-16)


def test_a_lower_degree_is_coarser_and_the_bound_holds():
    # degree 4 on X ≥ 7 misses the log Γ remainder by ~1e-14 (what economisation trades away)
    z = 1 / 7.0**2
    with mpmath.workdps(40):
        want = float(mpmath.loggamma(7) - 6.5 * mpmath.log(7) + 7 - mpmath.log(2 * mpmath.pi) / 2)
    coarse = np.polynomial.polynomial.polyval(z, lgamma_tail(7, 4)) / 7
    assert 1e-16 < abs(coarse / want - 1) < 1e-12
