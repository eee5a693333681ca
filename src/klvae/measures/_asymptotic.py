"""Exact constants of the asymptotic series of log Γ and ψ, in rational arithmetic.

`bernoulli_even(n)` gives B₂, B₄, …, B₂ₙ as fractions; `lgamma_tail(x0, degree)` and
`psi_tail(x0, degree)` the coefficients of

    log Γ(X) − (X − ½) log X + X − ½ log 2π = (1/X) Σₖ aₖ zᵏ,
    −(ψ(X) − log X + 1/(2X))             = z Σₖ bₖ zᵏ,         z = 1/X² ≤ 1/x0²,

from the Stirling series cₖ = B₂ₖ/(2k(2k − 1)) (and (2k − 1) cₖ for ψ) to k = 20, Chebyshev-
economised on 0 ≤ z ≤ 1/x0² down to `degree`: the few coefficients a Horner evaluation needs
for the accuracy of the long series. Everything is done in fractions and rounded once at the
end, so the float coefficients are the correctly rounded economised polynomial (done in
float64, the change of basis alone costs ~8 ulps of the tail at X = 7).

Reference: Abramowitz & Stegun (1964), 6.1.40 and 6.3.18 (the series); Fox & Parker,
*Chebyshev Polynomials in Numerical Analysis* (1968), §3.4 (economisation).
"""

from __future__ import annotations

import functools
from fractions import Fraction
from math import comb

__all__ = ["bernoulli_even", "economized", "lgamma_tail", "psi_tail"]

_TERMS = 20  # Stirling terms before economising: at X ≥ 7 the next one is below 1e-19 of the tail


@functools.cache
def bernoulli_even(n: int) -> tuple[Fraction, ...]:
    """B₂, B₄, …, B₂ₙ exactly (the Akiyama–Tanigawa algorithm)."""
    row: list[Fraction] = []
    numbers = []
    for m in range(2 * n + 1):
        row.append(Fraction(1, m + 1))
        for j in range(m, 0, -1):
            row[j - 1] = j * (row[j - 1] - row[j])
        numbers.append(row[0])
    return tuple(numbers[2::2])


def _compose(coeffs, linear):
    """Σₖ coeffs[k] (α + β s)ᵏ as power coefficients in s, for linear = (α, β)."""
    out = [Fraction(0)] * len(coeffs)
    power = [Fraction(1)]
    for c in coeffs:
        for i, p in enumerate(power):
            out[i] += c * p
        shifted = [a * linear[0] for a in power] + [Fraction(0)]
        for i, a in enumerate(power):
            shifted[i + 1] += a * linear[1]
        power = shifted
    return out


def _chebyshev_powers(degree: int) -> list[list[int]]:
    """T₀ … T_degree as power coefficients: T_{m+1} = 2t T_m − T_{m−1}."""
    polys = [[1], [0, 1]]
    while len(polys) <= degree:
        twice = [0] + [2 * a for a in polys[-1]]
        polys.append([a - b for a, b in zip(twice, polys[-2] + [0, 0])])
    return polys[: degree + 1]


def economized(coeffs, h: Fraction, degree: int) -> tuple[float, ...]:
    """Σₖ coeffs[k] zᵏ on 0 ≤ z ≤ h as a polynomial of `degree`, rounded to floats once: the
    series in t = 2z/h − 1, its Chebyshev coefficients above `degree` dropped (|Tₙ| ≤ 1 on the
    interval, so their sum bounds the change), back to powers of z. Fractions throughout."""
    in_t = _compose([Fraction(c) for c in coeffs], (h / 2, h / 2))  # z = h (1 + t)/2
    cheb = [Fraction(0)] * len(in_t)
    for n, a in enumerate(in_t):  # tⁿ = 2^{1−n} Σⱼ C(n, j) T_{n−2j}, the T₀ term halved
        for j in range(n // 2 + 1):
            cheb[n - 2 * j] += a * comb(n, j) / (2 ** (n - 1) if n - 2 * j else 2**n)
    power_t = [Fraction(0)] * (degree + 1)
    for c, basis in zip(cheb[: degree + 1], _chebyshev_powers(degree)):
        for i, b in enumerate(basis):
            power_t[i] += c * b
    return tuple(float(c) for c in _compose(power_t, (Fraction(-1), 2 / h)))  # t = 2z/h − 1


def _stirling() -> list[Fraction]:
    return [b / (2 * k * (2 * k - 1)) for k, b in enumerate(bernoulli_even(_TERMS), 1)]


@functools.cache
def lgamma_tail(x0: int, degree: int) -> tuple[float, ...]:
    """a₀ … a_degree: log Γ(X)'s remainder after Stirling's leading terms, for X ≥ x0."""
    return economized(_stirling(), Fraction(1, x0 * x0), degree)


@functools.cache
def psi_tail(x0: int, degree: int) -> tuple[float, ...]:
    """b₀ … b_degree: ψ(X)'s remainder after log X − 1/(2X), for X ≥ x0."""
    return economized([(2 * k - 1) * c for k, c in enumerate(_stirling(), 1)], Fraction(1, x0 * x0), degree)
