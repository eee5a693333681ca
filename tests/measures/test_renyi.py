"""klvae.measures.renyi on discrete distributions: against mpmath, the other measures, and properties."""

import math

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import klvae
from klvae.measures.divergences import chi2_divergence, hellinger_distance, total_variation
from klvae.measures.renyi import alpha_divergence, renyi_divergence
from reference import prob_rows

mpmath.mp.dps = 50


def mp_rows(p, q):
    """The rows in mpmath, normalized exactly (the floats sum to 1 only up to rounding)."""
    p, q = [mpmath.mpf(x) for x in p], [mpmath.mpf(x) for x in q]
    return [x / sum(p) for x in p], [y / sum(q) for y in q]


def mp_renyi(p, q, a):
    (p, q), a = mp_rows(p, q), mpmath.mpf(a)
    if a == 1:
        return sum(x * mpmath.log(x / y) for x, y in zip(p, q) if x > 0)
    return mpmath.log(sum(x**a * y ** (1 - a) for x, y in zip(p, q) if x > 0)) / (a - 1)


def mp_amari(p, q, a):
    (p, q), a = mp_rows(p, q), mpmath.mpf(a)
    return (1 - sum(x**a * y ** (1 - a) for x, y in zip(p, q))) / (a * (1 - a))


P, Q = [0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.4, 0.1]


@pytest.mark.parametrize("alpha", [0.0, 1e-6, 0.3, 0.5, 1 - 1e-7, 1 - 1e-12, 1.0, 1 + 1e-12, 1 + 1e-7, 2.0, 7.5, 60.0])
def test_renyi_against_mpmath_and_continuous_through_one(alpha):
    got = float(renyi_divergence(P, Q, alpha))
    assert got == pytest.approx(float(mp_renyi(P, Q, alpha)), rel=1e-13)


def test_renyi_special_orders():
    kl = klvae.kl_divergence(P, Q)
    assert renyi_divergence(P, Q, 1) == kl
    assert float(renyi_divergence(P, Q, math.inf)) == pytest.approx(math.log(4.0), rel=1e-15)
    assert float(renyi_divergence(P, Q, 0)) == pytest.approx(0.0, abs=1e-15)  # same support
    assert float(renyi_divergence([0.5, 0.5, 0.0], [0.2, 0.3, 0.5], 0)) == pytest.approx(-math.log(0.5), rel=1e-15)
    assert float(renyi_divergence(P, Q, 2)) == pytest.approx(math.log1p(float(chi2_divergence(P, Q))), rel=1e-14)
    bc = sum(math.sqrt(x * y) for x, y in zip(P, Q))
    assert float(renyi_divergence(P, Q, 0.5)) == pytest.approx(-2 * math.log(bc), rel=1e-14)
    assert float(hellinger_distance(P, Q)) ** 2 == pytest.approx(1 - bc, rel=1e-13)
    assert float(renyi_divergence(P, Q, 3, base=2)) == pytest.approx(
        float(renyi_divergence(P, Q, 3)) / math.log(2), rel=1e-15
    )


@pytest.mark.parametrize("alpha", [-2.0, -1.0, 1e-9, 0.25, 0.5, 1 - 1e-9, 1 + 1e-9, 2.0, 3.5])
def test_amari_against_mpmath(alpha):
    want = float(mp_amari(P, Q, alpha))
    assert float(alpha_divergence(P, Q, alpha)) == pytest.approx(want, rel=1e-12)


def test_amari_special_orders():
    assert float(alpha_divergence(P, Q, 1)) == float(klvae.kl_divergence(P, Q))
    assert float(alpha_divergence(P, Q, 0)) == float(klvae.kl_divergence(Q, P))
    assert float(alpha_divergence(P, Q, 0.5)) == pytest.approx(4 * float(hellinger_distance(P, Q)) ** 2, rel=1e-13)
    assert float(alpha_divergence(P, Q, 2)) == pytest.approx(0.5 * float(chi2_divergence(P, Q)), rel=1e-13)
    assert float(alpha_divergence(P, Q, -1)) == pytest.approx(0.5 * float(chi2_divergence(Q, P)), rel=1e-13)


@settings(max_examples=50, deadline=None)
@given(prob_rows(), st.floats(0.0, 0.99), st.floats(0.0, 3.0))
def test_renyi_nondecreasing_in_alpha_and_bounds(pq, a, gap):
    p, q = pq
    lo, hi = float(renyi_divergence(p, q, a)), float(renyi_divergence(p, q, a + gap))
    assert lo <= hi * (1 + 1e-12) + 1e-15
    assert lo >= -1e-15
    assert float(renyi_divergence(p, p, a + gap)) == pytest.approx(0.0, abs=1e-15)
    tv, h = float(total_variation(p, q)), float(hellinger_distance(p, q))
    assert h * h <= tv + 1e-15 and tv <= h * math.sqrt(2 - h * h) + 1e-12  # Le Cam's inequalities
    assert 0 <= tv <= 1 and 0 <= h <= 1 + 1e-15


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"alpha must be a number ≥ 0 or inf, got -1"):
        renyi_divergence(P, Q, -1)
    with pytest.raises(ValueError, match="alpha must be a finite number, got nan"):
        alpha_divergence(P, Q, math.nan)
