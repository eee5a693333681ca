"""The squared maximum mean discrepancy (Gaussian kernel) over all pairs, and its permutation test.

`mmd2` is the exact U- (unbiased) or V- (biased) statistic over all pairs, O((m + n)² d) time
in blocks of bounded memory, with a permutation p-value from one pass of blocked kernel sums;
or, with `features`, its random Fourier features approximation in O((m + n) D d). The tests
with a normal null for larger samples (linear time, B-test) are in `mmd_linear`; both share
`MMDResult`, the median heuristic and the centering here.

All take NumPy arrays, lists or torch tensors (n, d); tensors keep autograd (an MMD loss for
training) and their device, and the answer follows the input's dtype, with every sum
accumulated in float64. The bandwidth σ of k(a, b) = exp(−‖a − b‖²/(2σ²)) is the median
pairwise distance of at most `MEDIAN_SUBSAMPLE` pooled points (all of them when there are no
more; a seeded random subset otherwise) unless given.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy.spatial import distance

from klvae.measures._checks import check_count
from klvae.measures._sample_blocks import (
    answer,
    augmented,
    budget,
    gaussian_block,
    gaussian_kernel,
    grad_wanted,
    pair_sum,
    samples,
    self_pair_sum,
)

__all__ = ["MMDResult", "mmd2", "MEDIAN_SUBSAMPLE"]

MEDIAN_SUBSAMPLE = 2000  # pooled points whose pairwise distances give the median heuristic
KERNEL_ENTRIES = 2**20  # kernel block size (8 MiB in float64): its passes stay in cache
LABEL_ENTRIES = 2**21  # with permutations: rows enough that the labels are read few times
F64 = torch.float64


class MMDResult(NamedTuple):
    """An MMD² two-sample statistic: the estimate, its p-value for p = q, and the bandwidth used.

    Parameters
    ----------
    mmd2 : numpy.floating or torch.Tensor
        The MMD² estimate: a NumPy scalar, or a 0-d tensor for tensor input (autograd kept).
    p_value : float or None
        The p-value of the null p = q; None when no test was asked for.
    bandwidth : float
        The kernel's σ, given or from the median heuristic.

    See Also
    --------
    mmd2, mmd2_linear, mmd2_block : what return one.

    Examples
    --------
    >>> res = mmd2([[0.0], [1.0], [2.0]], [[0.5], [1.5], [2.5]], bandwidth=1.0)
    >>> res.p_value is None, res.bandwidth
    (True, 1.0)
    """

    mmd2: float
    p_value: float | None
    bandwidth: float


def median_bandwidth(a: torch.Tensor, b: torch.Tensor, bandwidth, seed: int) -> float:
    """σ: `bandwidth` checked, or the median pairwise distance of ≤ `MEDIAN_SUBSAMPLE` pooled points."""
    if bandwidth is not None:
        sigma = float(bandwidth)
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"bandwidth must be a positive number, got {bandwidth!r}")
        return sigma
    z = torch.cat([a.detach(), b.detach()]).to(device="cpu", dtype=torch.float64)
    if z.shape[0] > MEDIAN_SUBSAMPLE:
        gen = torch.Generator().manual_seed(seed)
        z = z[torch.randperm(z.shape[0], generator=gen)[:MEDIAN_SUBSAMPLE]]
    sigma = float(np.median(distance.pdist(z.numpy())))
    if sigma == 0:
        raise ValueError("the median distance is 0 (most points repeat): pass bandwidth")
    return sigma


def centered(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both shifted by their pooled mean (distances unchanged, fewer digits lost in ‖a‖² + ‖b‖² − 2aᵀb)."""
    mid = torch.cat([a.detach(), b.detach()]).mean(0)
    return a - mid, b - mid


def _labels(N: int, m: int, permutations: int, seed: int, device) -> torch.Tensor:
    """(N, 1 + permutations) 0/1 labels of x (bytes): the observed split, then seeded shuffles of it."""
    gen = torch.Generator().manual_seed(seed)
    observed = torch.cat([torch.ones(m, dtype=torch.uint8), torch.zeros(N - m, dtype=torch.uint8)])
    cols = [observed] + [observed[torch.randperm(N, generator=gen)] for _ in range(permutations)]
    return torch.stack(cols, 1).to(device)


def _spans(m: int, N: int, rows: int):
    """Row blocks [s, e) of at most `rows` rows, none across the boundary m between x and y."""
    for lo, hi in ((0, m), (m, N)):
        for s in range(lo, hi, rows):
            yield s, min(hi, s + rows)


def _pooled_pass(z: torch.Tensor, m: int, gamma: float, labels: torch.Tensor | None, max_memory: int):
    """Σ_xx, Σ_yy, Σ_xy of the kernel over i ≠ j and, with 0/1 labels l (N, P), every lᵀKl and K1.

    One pass over the blocks on and above the diagonal of the pooled kernel matrix K (its
    diagonal zeroed), each block one matrix product and one exp (`gaussian_block`). The
    permuted statistics follow from lᵀKl (a matrix product of the block with the labels) and
    r = K1: Σ_xx = lᵀKl, Σ_xy = l·r − lᵀKl, Σ_yy = 1ᵀr − 2 l·r + lᵀKl.
    """
    N, size = z.shape[0], z.element_size()
    P = 0 if labels is None else labels.shape[1]
    per_row = N * size + 2 * P * size  # the block row and its product with the labels
    rows = max(1, min(max_memory // per_row, (LABEL_ENTRIES if P else KERNEL_ENTRIES) // N))
    A, BT = augmented(z, z, gamma)
    buffer = z.new_empty(min(rows, N) * N)
    xx, yy, xy = [], [], []
    quad = torch.zeros(P, dtype=F64, device=z.device)
    r = torch.zeros(N, dtype=F64, device=z.device)
    for s, e in _spans(m, N, rows):
        k = gaussian_block(A[s:e], BT[:, s:], buffer)  # (e − s, N − s)
        k[:, : e - s].diagonal().zero_()
        square = k[:, : e - s].sum(dtype=F64)
        if e <= m:
            xx.append(2 * k[:, : m - s].sum(dtype=F64) - square)
            xy.append(k[:, m - s :].sum(dtype=F64))
        else:
            yy.append(2 * k.sum(dtype=F64) - square)
        if labels is not None:
            li = labels[s:e]
            kl, ks = k @ labels[s:], k[:, : e - s] @ li
            quad += 2 * (li * kl).sum(0, dtype=F64) - (li * ks).sum(0, dtype=F64)
            r[s:e] += k.sum(1, dtype=F64)
            r[e:] += k[:, e - s :].sum(0, dtype=F64)
    total = [torch.stack(part).sum() if part else quad.new_zeros(()) for part in (xx, yy, xy)]
    return total, quad, r


def _null(quad: torch.Tensor, r: torch.Tensor, labels: torch.Tensor, m: int) -> torch.Tensor:
    """MMD²_u for every column of labels, from `_pooled_pass`'s lᵀKl and r = K1."""
    n = labels.shape[0] - m
    lr = labels.to(F64).T @ r
    sxx, sxy, syy = quad, lr - quad, r.sum() - 2 * lr + quad
    return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)


def _exact(u: torch.Tensor, v: torch.Tensor, gamma: float, labels, biased: bool, mem: int):
    """MMD² over all pairs, and MMD²_u for every column of labels (None without permutations)."""
    m, n = u.shape[0], v.shape[0]
    want_grad = grad_wanted(u, v)
    if labels is not None or not want_grad:  # one pass: the value without autograd, every permutation
        with torch.no_grad():
            z = torch.cat([u.detach(), v.detach()])
            sums, quad, r = _pooled_pass(z, m, gamma, None if labels is None else labels.to(z.dtype), mem)
    if want_grad:  # the value block by block, each block recomputed in the backward pass
        kern = gaussian_kernel(gamma)
        sums = [self_pair_sum(u, kern, mem), self_pair_sum(v, kern, mem), pair_sum(u, v, kern, mem)]
    sxx, syy, sxy = sums
    if biased:
        value = (sxx + m) / m**2 + (syy + n) / n**2 - 2 * sxy / (m * n)
    else:
        value = sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)
    return value, None if labels is None else _null(quad, r, labels, m)


def _fourier(u, v, sigma: float, features: int, labels, biased: bool, seed: int, mem: int):
    """`_exact` with k(a, b) replaced by φ(a)·φ(b), φ(a) = √(2/D) cos(Wᵀa + c) (D = `features`)."""
    m, N = u.shape[0], u.shape[0] + v.shape[0]
    gen = torch.Generator().manual_seed(seed)
    w = (torch.randn(u.shape[1], features, generator=gen, dtype=F64) / sigma).to(u)
    c = (torch.rand(1, features, generator=gen, dtype=F64) * (2 * math.pi)).to(u)
    wc = torch.cat([w, c])  # [a, 1] @ [W; c] = Wᵀa + c
    observed = torch.cat([u.new_ones(m), u.new_zeros(N - m)])[:, None]
    z = torch.cat([torch.cat([u, v]), u.new_ones(N, 1)], 1)
    value = _feature_stats(z, wc, observed, m, biased, mem)[0]
    if labels is None:
        return value, None
    with torch.no_grad():
        return value, _feature_stats(z.detach(), wc, labels, m, False, mem)


def _feature_stats(z, wc, labels, m: int, biased: bool, mem: int) -> torch.Tensor:
    """MMD² for every column of 0/1 labels from the feature sums Φᵀl, in row blocks of Φ."""
    (N, D), P = (z.shape[0], wc.shape[1]), labels.shape[1]
    rows = max(1, min(mem // (3 * D * 8), KERNEL_ENTRIES // D))
    sx, total = z.new_zeros(D, P, dtype=F64), z.new_zeros(D, dtype=F64)
    qx, qsum = z.new_zeros(P, dtype=F64), z.new_zeros((), dtype=F64)
    fast, scale = not grad_wanted(z), math.sqrt(2 / D)
    for s in range(0, N, rows):
        arg, lab = z[s : s + rows] @ wc, labels[s : s + rows].to(F64)
        phi = (arg.cos_().mul_(scale) if fast else torch.cos(arg) * scale).to(F64)  # (r, D)
        q = (phi * phi).sum(1)  # ‖φ(zᵢ)‖², the i = j terms
        sx, total = sx + phi.T @ lab, total + phi.sum(0)
        qx, qsum = qx + lab.T @ q, qsum + q.sum()
    n, sy = N - m, total[:, None] - sx
    if biased:
        return ((sx / m - sy / n) ** 2).sum(0)
    sxx, syy, sxy = (sx * sx).sum(0) - qx, (sy * sy).sum(0) - (qsum - qx), (sx * sy).sum(0)
    return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)


def mmd2(
    x,
    y,
    *,
    bandwidth=None,
    permutations: int = 0,
    biased: bool = False,
    seed: int = 0,
    max_memory=None,
    features: int | None = None,
) -> MMDResult:
    r"""Squared maximum mean discrepancy with the Gaussian kernel, and its permutation p-value.

    Exact over all pairs, in blocks of bounded memory (never the (m + n)² kernel matrix), or
    approximated by random Fourier features; unbiased unless `biased`.

    Parameters
    ----------
    x, y : array_like or torch.Tensor
        Samples (m, d) and (n, d), or (m,) and (n,) for scalars; finite, at least 2 each. Torch
        tensors keep autograd (the p-value and σ are not differentiated) and their device.
    bandwidth : float, optional
        σ > 0; None for the median heuristic (the median pairwise distance of at most
        `MEDIAN_SUBSAMPLE` pooled points, a random subset drawn with `seed` when there are more).
    permutations : int, default 0
        Shuffles of the pooled sample for the p-value; 0: no test (``p_value`` None).
    biased : bool, default False
        The V-statistic (the i = j terms kept, 1/m² and 1/n²), which is ≥ 0, instead of the
        U-statistic.
    seed : int, default 0
        Seeds the permutations, the bandwidth subsample and the Fourier features.
    max_memory : int, optional
        Bytes of kernel blocks (or feature blocks) held at once; None: 256 MiB.
    features : int, optional
        D random Fourier features instead of the exact kernel; None: exact.

    Returns
    -------
    MMDResult
        ``(mmd2, p_value, bandwidth)``; mmd2 a NumPy scalar in the input's floating dtype
        (float64 for lists and integers), or a 0-d tensor for tensor input.

    Raises
    ------
    ValueError
        If the samples are not finite (NaN or ±inf), differ in dimension or number fewer than 2
        on a side, `bandwidth`, `permutations`, `max_memory` or `features` is not valid, or the
        median heuristic finds a median distance of 0 (most points repeat).

    See Also
    --------
    mmd2_linear : linear time and a normal null, for millions of samples.
    mmd2_block : the B-test, between the two in power and cost.

    Notes
    -----
    .. math::

        \mathrm{MMD}^2_u = \frac{1}{m(m-1)} \sum_{i \ne j} k(x_i, x_j)
            + \frac{1}{n(n-1)} \sum_{i \ne j} k(y_i, y_j) - \frac{2}{mn} \sum_{i, j} k(x_i, y_j),
        \qquad k(a, b) = e^{-\|a - b\|^2 / (2\sigma^2)}.

    E MMD²_u = MMD², which is 0 iff p = q for this kernel, so the estimate is negative at times.
    With `permutations` = P the p-value of p = q is (1 + #{permuted MMD²_u ≥ observed MMD²_u}) /
    (1 + P), the pooled labels shuffled by a generator seeded with `seed`; all permutations share
    one pass over the kernel blocks. Cost O((m + n)² (d + P)) time, O((m + n)(d + P)) memory plus
    the blocks.

    With `features` = D, k(a, b) is replaced by φ(a)·φ(b), φ(a) = √(2/D) cos(Wᵀa + c),
    W ~ N(0, σ⁻² I), c ~ U[0, 2π): O((m + n) D (d + P)) time, linear in the sample size, with an
    error in MMD² of order 1/√D.

    References
    ----------
    Gretton, Borgwardt, Rasch, Schölkopf & Smola, "A kernel two-sample test", JMLR 13 (2012),
    lemma 6 and §8 (median heuristic). Rahimi & Recht, "Random features for large-scale kernel
    machines", NeurIPS (2007); Zhao & Meng, "FastMMD" (2015).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> same = mmd2(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)), permutations=200)
    >>> shifted = mmd2(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 0.5, permutations=200)
    >>> bool(same.p_value > 0.01), bool(shifted.p_value < 0.01)
    (True, True)
    """
    a, b = samples(x, y, names=("x", "y"))
    m, n = a.shape[0], b.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"mmd2 needs at least 2 samples on each side, got {m} and {n}")
    permutations = check_count(permutations, "permutations", minimum=0)
    mem = budget(max_memory)
    sigma = median_bandwidth(a, b, bandwidth, seed)
    gamma = 1 / (2 * sigma * sigma)
    u, v = centered(a, b)
    labels = _labels(m + n, m, permutations, seed, u.device) if permutations else None
    if features is None:
        value, stats = _exact(u, v, gamma, labels, biased, mem)
    else:
        value, stats = _fourier(u, v, sigma, check_count(features, "features"), labels, biased, seed, mem)
    p_value = None
    if stats is not None:
        p_value = (1 + int((stats[1:] >= stats[0]).sum())) / (1 + permutations)
    return MMDResult(answer(value, a, x, y), p_value, sigma)
