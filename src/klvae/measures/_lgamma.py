"""Cancellation-free special-function differences for the closed-form KLs of `klvae.measures.distributions`.

The Gamma, Beta and Dirichlet KLs are sums of Bregman divergences of log Γ,

    B(y, δ) = log Γ(y + δ) − log Γ(y) − ψ(y) δ ≥ 0,

which the textbook formula evaluates as a difference of numbers far larger than itself.
Where |δ| < y/100, `bregman_lgamma` sums instead the Taylor series of log Γ about y,

    B(y, δ) = Σ_{n≥2} (−δ)ⁿ ζ(n, y)/n        (ζ(n, y) = ψ⁽ⁿ⁻¹⁾(y) (−1)ⁿ/(n − 1)!, Hurwitz zeta),

whose terms shrink by |δ|/y each (N terms, N from the largest |δ|/y of the batch:
2 for |δ|/y ~ 1e-8, 8 near 1/100). The ζ(n, y) come from the recurrence
ζ(n, y) = Σ_{j<J} (y + j)⁻ⁿ + ζ(n, X) up to X = y + J ≥ 10 and, at X, the Euler–Maclaurin
series ζ(n, X) = X^{1−n}/(n − 1) + X⁻ⁿ/2 + Σₖ B₂ₖ (n)₂ₖ₋₁/(2k)! X^{1−n−2k}; in terms of
u = δ/(y + j) and v = δ/X every part is small, so nothing overflows.

Elsewhere (|δ| ≥ y/100), on the CPU without a gradient, B is a sum of non-negative parts: the
same recurrence up to X ≥ 7 and Stirling's remainders of log Γ and ψ at X as economised
polynomials (`_bregman_shifted`, `klvae.measures._asymptotic`), 13 or more digits (the direct
difference: 11), in NumPy's vector log1p. A KL's parts Σᵢ sᵢ B(yᵢ, δᵢ) as rows of NumPy arrays
are one `bregman_rows` call (the Beta and Dirichlet KLs).
With a gradient or off the CPU, and for a sum along an axis (`summed`) where some entry is far
(its rounding then sets the sum's error), it is the direct difference of log Γ's and ψ (11 or
more digits).
A batch whose every entry is near takes the series alone; a mixed batch the far form and the
series on its near entries.

Reference: Abramowitz & Stegun (1964), 6.1.33 (Taylor series of log Γ) and 23.2.3
(Euler–Maclaurin); DLMF 25.11.43 (asymptotic series of the Hurwitz zeta function).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.special
import torch

from klvae.measures._asymptotic import bernoulli_even, lgamma_tail, psi_tail
from klvae.measures._kernels import cpu_without_grad
from klvae.measures._numpy_kernels import horner

__all__ = ["SERIES_NEAR", "bregman_lgamma", "bregman_rows", "bregman_sum"]

SERIES_NEAR = 0.01  # |δ| < y/100: the series; beyond it the direct form keeps ≥ 11 digits
_SHIFT_TO = 10  # the asymptotic series from X ≥ 10: B₂ … B₁₈ reach 1e-17 relative
_BERNOULLI = tuple(float(b) for b in bernoulli_even(9))  # B₂ … B₁₈
_SLICE = 1 << 14  # entries per slice of the series: its (J, s) temporaries stay ~1 MB
_NUMPY_SLICE = 7680  # entries per slice of the NumPy series (CPU, no gradient): its (2, s) rows stay under 128 KB
_TORCH_GRAIN = 32768  # elements from which torch splits an elementwise kernel over its threads
_SHIFTED_SLICE = 16384  # entries per slice of the shifted form: its (2, s) buffers stay under 128 KB, off mmap


# ------------------------------------------------------------------ shared pieces


def _shift(y: torch.Tensor | np.ndarray, to: int = _SHIFT_TO) -> int:
    """J, the number of unit steps that take the smallest y of the batch to X = y + J ≥ `to`."""
    size = y.numel() if isinstance(y, torch.Tensor) else y.size  # a tensor's .size is a method
    low = float(y.min()) if size else to
    return int(min(max(math.ceil(to - low), 0), to)) if low == low else 0


def _in_slices(fn, step: int, *arrays: np.ndarray) -> np.ndarray:
    """fn of float64 1-d arrays, `step` entries at a time (each slice its own shift and terms)."""
    arrays = tuple(a.astype(np.float64, copy=False) for a in arrays)
    if len(arrays[0]) <= step:
        return fn(*arrays)
    return np.concatenate([fn(*(a[i : i + step] for a in arrays)) for i in range(0, len(arrays[0]), step)])


# ------------------------------------------------------------------ the series


def _terms(ratio: float) -> int:
    """N, the terms of Σₙ (−δ)ⁿ ζ(n, y)/n that leave a tail below 1e-16 of the sum.

    The terms fall by at least r = |δ|/y each and the n-th carries 1/n, so the tail after
    N terms is below r^N · 2/(N + 2).
    """
    n = 1
    while n < 8 and ratio**n * 2 / (n + 2) > 1e-16:
        n += 1
    return n


@functools.cache
def _zeta_coefficients(terms: int) -> tuple[np.ndarray, np.ndarray]:
    """(N,) 1/(n − 1) + 0 and (K, N) B₂ₖ (n)₂ₖ₋₁/(2k)!, n = 2 … N + 1, for
    ζ(n, X) X^{n−1} = 1/(n − 1) + 1/(2X) + Σₖ a_{nk} X^{−2k}."""
    ns = range(2, terms + 2)
    lead = np.array([1 / (n - 1) for n in ns])
    table = [
        [b * math.prod(range(n, n + 2 * k - 1)) / math.factorial(2 * k) for n in ns]
        for k, b in enumerate(_BERNOULLI, 1)
    ]
    return lead, np.array(table)


@functools.cache
def _signs(terms: int) -> np.ndarray:
    """(N, 1): (−1)ⁿ/n, n = 2 … N + 1."""
    n = np.arange(2, terms + 2)
    return ((-1.0) ** n / n)[:, None]


def _alternating(t, columns):
    """Σ_{n=2}^{N+1} (−t)ⁿ cₙ/n by Horner in t, for columns (c₂, …, c_{N+1})."""
    *rest, last = columns
    acc = last / (len(rest) + 2)
    for n, c in zip(range(len(rest) + 1, 1, -1), reversed(rest)):
        acc = c / n - t * acc
    return t * t * acc


def _series_part(y, delta, steps, lead, table):
    """Σ_{n=2}^{N+1} (−δ)ⁿ ζ(n, y)/n for one slice (s,) of torch tensors, with N = len(lead) and
    the J recurrence steps (J, 1) = 0, 1, …, J − 1.

    The recurrence steps and the asymptotic powers are rows of (J, s) and (K, s) arrays:
    each operation then runs along the contiguous batch axis.
    """
    terms = len(lead)
    x = y + len(steps)
    inv = 1 / x
    w2, k = inv * inv, table.shape[0]
    powers = w2.expand(k, -1).cumprod(0)  # X^{−2k}
    half = 0.5 * inv
    bracket = [b + half for b in (table.T @ powers + lead[:, None])]  # ζ(n, X) X^{n−1} (s,) each
    tail = x * _alternating(delta * inv, bracket)  # Σₙ (−δ)ⁿ ζ(n, X)/n
    if not len(steps):
        return tail
    ratio = y / (y + steps)  # y/(y + j) ≤ 1, so no power overflows (J, s)
    power = ratio * ratio
    sums = []
    for n in range(terms):  # Σⱼ (y/(y + j))ⁿ, n = 2 … N + 1
        sums.append(power.sum(0))
        if n + 1 < terms:
            power = power * ratio
    return _alternating(delta / y, sums) + tail


def _series(y: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """B(y, δ) for |δ| < y/100 (1-d y, δ) by the Taylor series in torch, in slices of `_SLICE`
    entries (with a gradient or off the CPU; else `_series_numpy`)."""
    terms = _terms(float((delta.detach() / y.detach()).abs().max()))
    shift = _shift(y.detach())
    lead, table = _zeta_coefficients(terms)
    lead_t, table_t = (torch.from_numpy(a).to(dtype=y.dtype, device=y.device) for a in (lead, table))
    steps = torch.arange(shift, dtype=y.dtype, device=y.device).unsqueeze(-1)
    rows = _SLICE
    parts = [_series_part(ys, ds, steps, lead_t, table_t) for ys, ds in zip(y.split(rows), delta.split(rows))]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _powers(t: np.ndarray, terms: int) -> np.ndarray:
    """t², t³, …, t^{N+1} stacked on a new first axis: (N, *t.shape). (A loop of in-place products:
    NumPy's cumulative product along a stride-0 axis is several times slower.)"""
    out = np.empty((terms, *t.shape))
    np.multiply(t, t, out=out[0])
    for i in range(1, terms):
        np.multiply(out[i - 1], t, out=out[i])
    return out


def _series_numpy(y: np.ndarray, delta: np.ndarray, stacked: bool = False) -> np.ndarray:
    """B(y, δ) for |δ| < y/100 (float64 1-d arrays): the arithmetic of `_series_part`, each power
    of n a row of an (N, s) array. The recurrence's (N, J, s) powers are one array where they
    stay under 128 KB (the few near entries of a mixed batch: NumPy's per-call cost, not the
    arithmetic, is what takes the time there) or the caller asks (`stacked`: a slice of a long
    batch, whose first slice raises malloc's threshold for the rest), else a loop over the J
    steps: a temporary above malloc's threshold for mapping fresh pages would be faulted in
    page by page on every call (~5× the arithmetic's time, where nothing raised the threshold)."""
    if not y.size:
        return y + delta
    terms, shift = _terms(float(np.max(np.abs(delta / y)))), _shift(y)
    lead, table = _zeta_coefficients(terms)
    signs = _signs(terms)
    x = y + shift
    inv = 1 / x
    inv2 = inv * inv
    bracket = np.multiply.outer(table[-1], inv2)  # ζ(n, X) X^{n−1} − 1/(n − 1) − 1/(2X): Horner in X⁻² (N, s)
    for row in table[-2::-1]:
        bracket += row[:, None]
        bracket *= inv2
    bracket += lead[:, None]
    bracket += 0.5 * inv
    out = x * (signs * bracket * _powers(delta * inv, terms)).sum(0)  # Σₙ (−δ)ⁿ ζ(n, X)/n
    if not shift:
        return out
    if stacked or terms * shift * y.size * 8 <= 1 << 17:
        ratio = y / (y + np.arange(shift, dtype=np.float64)[:, None])  # (J, s): y/(y + j)
        sums = _powers(ratio, terms).sum(1)
    else:
        sums, ratio, power = np.zeros((terms, y.size)), np.empty_like(y), np.empty_like(y)
        for j in range(shift):  # Σⱼ (y/(y + j))ⁿ, n = 2 … N + 1, a step at a time
            np.divide(y, y + j, out=ratio)
            np.multiply(ratio, ratio, out=power)
            for row in sums:
                row += power
                power *= ratio
    out += (signs * sums * _powers(delta / y, terms)).sum(0)
    return out


def _series_in_slices(y: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """`_series_numpy` of float64 1-d arrays, `_NUMPY_SLICE` entries at a time; a batch of eight
    slices or more stacks each slice's powers (its first slice's faults are then spread thin)."""
    stacked = len(y) >= 8 * _NUMPY_SLICE
    return _in_slices(functools.partial(_series_numpy, stacked=stacked), _NUMPY_SLICE, y, delta)


# ------------------------------------------------------------------ the shifted asymptotic form (CPU, no gradient)

_SHIFTED_TO = 7  # the shifted form's X ≥ 7


# log Γ's and ψ's remainders after Stirling's leading terms at X ≥ 7, in z = 1/X²: the Stirling
# series economised to 7 and 8 coefficients (within 4e-16 of each remainder; `_asymptotic`)
_C = lgamma_tail(_SHIFTED_TO, 6)
_C_PSI = psi_tail(_SHIFTED_TO, 7)


def _bregman_shifted(y: np.ndarray, delta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """B(y, δ) for any δ (float64 1-d arrays, x = y + δ > 0) as a sum of non-negative parts.

    With J steps to X = y + J ≥ 7 and X + δ ≥ 7, u_j = δ/(y + j), w = δ/X:

        B(y, δ) = Σ_{j<J} [u_j − log(1 + u_j)] + X[(1 + w) log(1 + w) − w] + ½[w − log(1 + w)]
                  + T(X + δ) − T(X) − T′(X) δ,

    the recurrences of log Γ and ψ followed by Stirling's series at X, whose remainders T and
    −T′ are the economised polynomials `_C` and `_C_PSI` in 1/X². Each part is ≥ 0 (T is
    convex), so the sum keeps its digits wherever the direct difference of log Γ's does not:
    13 or more against 11 (|δ| ≥ y/100; nearer, the series).
    log(1 + u₀) is taken as log x − log y where x < y/2 (δ = x − y has then lost x's digits).
    """
    shift = _shift(y if x.min() >= y.min() else x, _SHIFTED_TO)
    pair, z = np.empty((2, len(y))), np.empty((2, len(y)))  # rows X + δ and X; every step below in place
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        big = np.add(y, shift, out=pair[1])  # X
        w = delta / big
        log1pw = np.log1p(w)
        big_x = np.add(big, delta, out=pair[0])  # X + δ
        out = big_x * log1pw
        out -= delta
        w -= log1pw
        w *= 0.5
        out += w
        inv = np.reciprocal(pair, out=pair)  # 1/(X + δ), 1/X
        np.multiply(inv, inv, out=z)
        tails = horner(z, _C, out=np.empty_like(z))
        tails *= inv
        out += tails[0]
        out -= tails[1]
        psi_part = horner(z[1], _C_PSI, out=log1pw)
        psi_part *= z[1]
        psi_part *= delta
        out += psi_part
        if shift:
            u, logs = w, log1pw  # reused (s,) buffers: no (J, s) temporaries
            for j in range(shift):
                np.add(y, j, out=u)
                np.divide(delta, u, out=u)
                np.log1p(u, out=logs)
                if j == 0 and u.min() < -0.5:  # x < y/2: log(1 + u₀) = log x − log y (δ has lost x's digits)
                    far = u < -0.5
                    logs[far] = np.log(x[far]) - np.log(y[far])
                u -= logs
                out += u
    if np.isnan(out.sum()):  # δ/y past the float range: B overflows (out ≥ 0: a NaN sum means a NaN entry)
        out[np.isnan(out) & ~np.isnan(y + delta)] = np.inf
    return out


def bregman_lgamma(
    y: torch.Tensor, delta: torch.Tensor, x: torch.Tensor | None = None, *, summed: int | None = None
) -> torch.Tensor:
    """log Γ(y + δ) − log Γ(y) − ψ(y) δ ≥ 0 (y > 0, x = y + δ > 0), without cancellation.

    `x`, when given, is y + δ as the caller holds it (log Γ(x) is then taken of it, not of
    a rounded sum). A batch whose every entry is near (|δ| < y/100) costs no log Γ at all.
    `summed`: an axis along which the caller adds the results up (the K terms of a Dirichlet
    KL, the three of a Beta KL). The series is then summed only where every entry along it is
    near: where one is far, its direct form's rounding (a few ε |log Γ|) already sets the sum's
    absolute error, and the series of the others would not lower it.

    >>> y, d = torch.tensor(3.0, dtype=torch.float64), torch.tensor(1e-6, dtype=torch.float64)
    >>> round(float(bregman_lgamma(y, d)) / (0.5 * (math.pi**2 / 6 - 1.25) * 1e-12), 5)  # ≈ ψ′(3) δ²/2
    1.0
    """
    if isinstance(y, np.ndarray):  # NumPy arrays (`summed` is for tensors): the shifted form and the series
        y, delta = np.broadcast_arrays(y, delta)
        x = y + delta if x is None else np.broadcast_to(x, y.shape)
        rows = (np.reshape(a, (1, -1)).astype(np.float64, copy=False) for a in (y, delta, x))
        return bregman_rows(*rows, [1]).reshape(y.shape).astype(y.dtype, copy=False)
    y, delta = torch.broadcast_tensors(y, delta)
    shape = y.shape
    if y.numel() == 0:
        return y + delta
    x = None if x is None else x.expand(shape).reshape(-1)
    if cpu_without_grad(y, delta, *([] if x is None else [x])):
        yn, dn = y.detach().numpy(), delta.detach().numpy()
        near_n = np.abs(dn) < SERIES_NEAR * yn
        if summed is not None:
            near_n = np.broadcast_to(near_n.all(summed, keepdims=True), shape)
        flat = (yn.reshape(-1), dn.reshape(-1), near_n.reshape(-1))
        return _bregman_cpu(y.reshape(-1), delta.reshape(-1), x, *flat, direct=summed is not None).reshape(shape)
    near = delta.detach().abs() < SERIES_NEAR * y.detach()
    if summed is not None:
        near = near.all(summed, keepdim=True).expand(shape)
    y, delta, near = y.reshape(-1), delta.reshape(-1), near.reshape(-1)
    if bool(near.all()):
        return _series(y, delta).reshape(shape)
    x = y + delta if x is None else x
    out = torch.lgamma(x) - torch.lgamma(y) - torch.digamma(y) * delta
    idx = near.nonzero().squeeze(-1)
    if idx.numel():
        out = out.index_put((idx,), _series(y[idx], delta[idx]))
    return out.reshape(shape)


def _bregman_cpu(
    y: torch.Tensor, delta: torch.Tensor, x: torch.Tensor | None, yn, dn, near, *, direct: bool
) -> torch.Tensor:
    """`bregman_lgamma` of 1-d CPU tensors without gradient (yn, dn: their NumPy views; near: the
    entries to sum by the series): the series where near; elsewhere the shifted form, or with
    `direct` (a sum along an axis with a far entry, whose rounding then sets the sum's error) the
    direct difference in place, ψ by SciPy where torch would run on one thread (faster, as exact)."""
    if near.all():
        return torch.from_numpy(_series_in_slices(yn, dn)).to(y.dtype)
    x = y + delta if x is None else x
    if direct:
        one_thread = yn.size < _TORCH_GRAIN or torch.get_num_threads() == 1
        psi = torch.from_numpy(scipy.special.psi(yn)) if one_thread else torch.digamma(y)
        out = torch.lgamma(x).sub_(torch.lgamma(y)).sub_(psi.mul_(delta)).numpy()
    else:
        out = _in_slices(_bregman_shifted, _SHIFTED_SLICE, yn, dn, x.detach().numpy())
    idx = np.flatnonzero(near)
    if len(idx):
        out[idx] = _series_in_slices(yn[idx], dn[idx])
    return torch.from_numpy(out).to(y.dtype)


def bregman_sum(parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], signs: list[int]) -> torch.Tensor:
    """Σᵢ sᵢ B(yᵢ, δᵢ) for parts (yᵢ, δᵢ, xᵢ = yᵢ + δᵢ) of one shape and signs sᵢ = ±1 in torch (a
    gradient, or off the CPU), the series summed where every part of an entry is near:
    `bregman_lgamma(..., summed=0)` of the stacked parts. (On the CPU without gradient the parts
    are NumPy rows of `bregman_rows`.)
    """
    stacked = bregman_lgamma(*(torch.stack(ts) for ts in zip(*parts)), summed=0)
    return sum((s * b for s, b in zip(signs[1:], stacked[1:])), signs[0] * stacked[0])


def bregman_rows(y: np.ndarray, delta: np.ndarray, x: np.ndarray, signs: list[int], near=None) -> np.ndarray:
    """Σᵢ sᵢ B(yᵢ, δᵢ) over the rows i of (P, n) float64 arrays (x = y + δ as the caller holds it):
    the shifted form of every entry in one call (skipped when every column is near), then the
    series for the columns whose every row is near (of a random batch about one in a thousand),
    leaving out a row whose δ is 0 there. `near`: those columns as a bool (n,) mask, when the
    caller knows them (for a Beta KL the third row is near wherever the first two are).
    """
    if near is None:
        near = (np.abs(delta) < SERIES_NEAR * y).all(0)
    idx = np.flatnonzero(near)
    if len(idx) == y.shape[1]:  # every column near: the series of the rows as they are
        return _near_sum(y, delta, signs)
    else:
        out = np.array(signs, dtype=np.float64) @ _in_slices(
            _bregman_shifted, _SHIFTED_SLICE, y.reshape(-1), delta.reshape(-1), x.reshape(-1)
        ).reshape(y.shape)
    if len(idx):
        out[idx] = _near_sum(y[:, idx], delta[:, idx], signs)
    return out


def _near_sum(y: np.ndarray, delta: np.ndarray, signs: list[int]) -> np.ndarray:
    """Σᵢ sᵢ B(yᵢ, δᵢ) by the series over the rows i of (P, n) arrays of near entries, in one series
    call (each slice of it shifted by its own rows' smallest y); a row with δ = 0 throughout (a
    parameter the two share) is left out: its B is 0."""
    kept = delta.any(1)
    if not kept.any():
        return np.zeros(y.shape[1])
    if not kept.all():
        y, delta = y[kept], delta[kept]
    series = _series_in_slices(y.reshape(-1), delta.reshape(-1)).reshape(y.shape)
    return np.asarray(signs, dtype=np.float64)[kept] @ series
