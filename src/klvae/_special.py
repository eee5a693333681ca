"""Cancellation-free special-function differences for the closed-form KLs of `klvae.distributions`.

The Gamma, Beta and Dirichlet KLs are sums of Bregman divergences of log Γ,

    B(y, δ) = log Γ(y + δ) − log Γ(y) − ψ(y) δ ≥ 0,

which the textbook formula evaluates as a difference of numbers far larger than itself.
Where |δ| < y/100, `bregman_lgamma` sums it from parts that are each small and positive:
the recurrence log Γ(y + 1) = log Γ(y) + log y moves y up to X ≥ 12, contributing
φ(δ/(y + j)) = δ/(y + j) − log1p(δ/(y + j)) per step, and at X Stirling's series gives

    B(X, δ) = X g(v) + ½ φ(v) + Σ_{m=1}^{7} B₂ₘ/(2m) X^{1−2m} eₘ(v),   v = δ/X,

with g(v) = (1 + v) log1p(v) − v and eₘ(v) = ((1 + v)^{1−2m} − 1)/(2m − 1) + v, each by
its series in v (truncation below 1e-16 relative for X ≥ 12 and |v| < 1/100). Elsewhere the direct
difference already carries at least 11 digits.

Reference: Abramowitz & Stegun (1964), 6.1.40 (Stirling's series) and 6.1.15 (recurrence).
"""

from __future__ import annotations

import math

import torch

from klvae._info_common import G_COEFFS, SERIES_AT
from klvae._info_terms import horner

__all__ = ["bregman_lgamma", "phi", "g_term"]

_NEAR = 0.01  # |δ| < y/100: the series; beyond it the direct form keeps ≥ 11 digits
_SHIFT_TO = 12  # Stirling's series from X ≥ 12: B₂ … B₁₄ reach 1e-16 relative
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)  # B₂ … B₁₄
# φ(u) = u − log1p(u) = u² Σ_{k≥0} (−u)^k/(k + 2), for |u| ≤ 1/100 (9 terms: < 1e-18)
_PHI_COEFFS = tuple((-1) ** k / (k + 2) for k in range(9))
# eₘ(v) = Σ_{k≥2} (−1)^k C(n + k − 1, k)/n · v^k, n = 2m − 1 (k = 2 … 7); e₁ = v²/(1 + v)
_E_COEFFS = [
    tuple((-1) ** k * math.comb(2 * m - 2 + k, k) / (2 * m - 1) for k in range(2, 8))
    for m in range(2, len(_BERNOULLI) + 1)
]


def phi(u: torch.Tensor) -> torch.Tensor:
    """φ(u) = u − log1p(u) ≥ 0, by its series u²(½ − u/3 + …) where |u| < 2e-3."""
    small = u.detach().abs() < 2e-3
    us = torch.where(small, u, 0.0)
    series = us * us * (0.5 - us * (1 / 3 - us * (0.25 - us * (0.2 - us * (1 / 6 - us / 7)))))
    return torch.where(small, series, u - torch.log1p(u))


def _g(v: torch.Tensor) -> torch.Tensor:
    """g(v) = (1 + v) log1p(v) − v, by its series where |v| < SERIES_AT."""
    small = v.detach().abs() < SERIES_AT
    vs = torch.where(small, v, 0.0)
    return torch.where(small, vs * vs * horner(vs, G_COEFFS), torch.special.xlog1py(1 + v, v) - v)


def g_term(b: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
    """b·g(diff/b) = a log(a/b) − a + b for a = b + diff ≥ 0; +inf for b = 0 < a, 0 for a = b = 0."""
    b, diff = torch.broadcast_tensors(b, diff)
    pos = b > 0
    bs = torch.where(pos, b, 1.0)
    return torch.where(pos, bs * _g(diff / bs), torch.where(diff > 0, math.inf, 0.0))


def _terms(small: float, available: int) -> int:
    """How many terms of a series in powers of `small` reach 1e-17 (at most `available`)."""
    if small <= 0:
        return 1
    return max(1, min(available, math.ceil(-17 / math.log10(small))))


def _powers(t: torch.Tensor, k: int) -> torch.Tensor:
    """(…, k): 1, t, t², …, t^{k−1} by a running product (cheaper than a general power)."""
    steps = t.unsqueeze(-1).expand(*t.shape, k - 1) if k > 1 else t.unsqueeze(-1)[..., :0]
    return torch.cat([torch.ones_like(t).unsqueeze(-1), steps.cumprod(-1)], -1)


def _coefficients(k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(k, 8) coefficients of the power series in v of Stirling's tail, one column per term:
    g(v)/v², φ(v)/v², then eₘ(v)/v² for m = 2 … 7, each cut after k terms."""
    cols = [G_COEFFS[:k], _PHI_COEFFS[:k], *(c[:k] for c in _E_COEFFS)]
    table = [[c[i] if i < len(c) else 0.0 for c in cols] for i in range(k)]
    return torch.tensor(table, dtype=dtype, device=device)


# the constant before each column: X g(v), ½ φ(v), B₂ₘ/(2m) X^{1−2m} eₘ(v)
_TAIL_SCALES = (1.0, 0.5, *(_BERNOULLI[m - 1] / (2 * m) for m in range(2, len(_BERNOULLI) + 1)))


def _stirling_tail(x: torch.Tensor, delta: torch.Tensor, k: int) -> torch.Tensor:
    """B(X, δ) for X ≥ 12 and |δ/X| < 1/100 from Stirling's series (series in v = δ/X only),
    each power series cut after `k` terms: the eight series as one (n, k) × (k, 8) product."""
    v = delta / x
    v2 = v * v
    series = _powers(v, k) @ _coefficients(k, x.dtype, x.device)  # (n, 8)
    inv_x = 1 / x
    # X, 1 (for ½ φ), then X^{1−2m} = X^{−1} (X^{−2})^{m−1} for m = 2 … 7
    tail = _powers(inv_x * inv_x, len(_BERNOULLI))[:, 1:] * inv_x.unsqueeze(-1)  # (n, 6)
    powers_x = torch.cat([x.unsqueeze(-1), torch.ones_like(tail[:, :1]), tail], -1)  # (n, 8)
    scale = torch.tensor(_TAIL_SCALES, dtype=x.dtype, device=x.device)
    return v2 * ((series * powers_x * scale).sum(-1) + (_BERNOULLI[0] / 2) * inv_x / (1 + v))


def _near(y: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """B(y, δ) for |δ| < y/100: φ terms of the recurrence up to X = y + J ≥ 12, then Stirling.

    The power series are cut where max |δ/y| makes the next term negligible: 2 terms for
    nearly equal parameters (|δ/y| ~ 1e-8), all of them near |δ/y| = 1/100.
    """
    k = _terms(float((delta.detach() / y.detach()).abs().max()), len(_PHI_COEFFS))
    steps = torch.arange(_SHIFT_TO, dtype=y.dtype, device=y.device)  # j = 0 … 11
    shift = torch.clamp(torch.ceil(_SHIFT_TO - y.detach()), 0, _SHIFT_TO)  # J (n,)
    u = delta.unsqueeze(-1) / (y.unsqueeze(-1) + steps)  # δ/(y + j), |u| < 1/100 (n, 12)
    phi_coeffs = torch.tensor(_PHI_COEFFS[:k], dtype=y.dtype, device=y.device)
    phis = u * u * (_powers(u, k) @ phi_coeffs)  # (n, 12)
    recurrence = torch.where(steps < shift.unsqueeze(-1), phis, 0.0).sum(-1)  # the steps j < J
    return recurrence + _stirling_tail(y + shift, delta, k)


def bregman_lgamma(y: torch.Tensor, delta: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """log Γ(y + δ) − log Γ(y) − ψ(y) δ ≥ 0 (y > 0, x = y + δ > 0), without cancellation.

    `x`, when given, is y + δ as the caller holds it (log Γ(x) is then taken of it, not of
    a rounded sum).

    >>> y, d = torch.tensor(3.0, dtype=torch.float64), torch.tensor(1e-6, dtype=torch.float64)
    >>> round(float(bregman_lgamma(y, d)) / (0.5 * (math.pi**2 / 6 - 1.25) * 1e-12), 5)  # ≈ ψ′(3) δ²/2
    1.0
    """
    y, delta = torch.broadcast_tensors(y, delta)
    if y.dim() == 0:
        return bregman_lgamma(y[None], delta[None], None if x is None else x.reshape(1))[0]
    x = y + delta if x is None else x.expand_as(y)
    out = torch.lgamma(x) - torch.lgamma(y) - torch.digamma(y) * delta
    idx = (delta.detach().abs() < _NEAR * y.detach()).nonzero(as_tuple=True)
    if idx[0].numel():
        out = out.index_put(idx, _near(y[idx], delta[idx]))
    return out
