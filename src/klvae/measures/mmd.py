"""The squared maximum mean discrepancy (Gaussian kernel) and its two-sample tests, at any size.

- `mmd2`: the exact U- (unbiased) or V- (biased) statistic over all pairs, O((m + n)² d) time
  in blocks of bounded memory, with a permutation p-value from one pass of blocked kernel sums;
  or, with `features`, its random Fourier features approximation in O((m + n) D d);
- `mmd2_linear`: Gretton et al.'s linear-time statistic, O(n d) time and memory, with its
  asymptotic normal null, for n in the millions;
- `mmd2_block`: the B-test (mean of U-statistics over blocks of B pairs), O(n B d), normal null.

All take NumPy arrays, lists or torch tensors (n, d); tensors keep autograd (an MMD loss for
training) and their device, and the answer follows the input's dtype, with every sum
accumulated in float64. The bandwidth σ of k(a, b) = exp(−‖a − b‖²/(2σ²)) is the median
pairwise distance of at most `MEDIAN_SUBSAMPLE` pooled points (all of them when there are no
more; a seeded random subset otherwise) unless given.

Reference: Gretton, Borgwardt, Rasch, Schölkopf & Smola (2012), "A kernel two-sample test",
JMLR 13 (lemma 6, §6 linear time, §8 median heuristic); Zaremba, Gretton & Blaschko (2013),
"B-tests: low variance kernel two-sample tests", NeurIPS; Rahimi & Recht (2007), "Random
features for large-scale kernel machines", NeurIPS.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy import special
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

__all__ = ["MMDResult", "mmd2", "mmd2_linear", "mmd2_block", "MEDIAN_SUBSAMPLE"]

MEDIAN_SUBSAMPLE = 2000  # pooled points whose pairwise distances give the median heuristic
KERNEL_ENTRIES = 2**20  # kernel block size (8 MiB in float64): its passes stay in cache
LABEL_ENTRIES = 2**21  # with permutations: rows enough that the labels are read few times
F64 = torch.float64


class MMDResult(NamedTuple):
    """The MMD² estimate, its p-value for p = q (None without a test), and the bandwidth σ."""

    mmd2: float
    p_value: float | None
    bandwidth: float


def _bandwidth(a: torch.Tensor, b: torch.Tensor, bandwidth, seed: int) -> float:
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


def _centered(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
    """Squared maximum mean discrepancy with the Gaussian kernel, and its permutation p-value.

        MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(xᵢ, xⱼ) + 1/(n(n−1)) Σ_{i≠j} k(yᵢ, yⱼ) − 2/(mn) Σ k(xᵢ, yⱼ)

    with k(a, b) = exp(−‖a − b‖²/(2σ²)). Unbiased (E MMD²_u = MMD², which is 0 iff p = q for
    this kernel), hence negative at times; `biased=True` gives the V-statistic instead (the
    i = j terms kept, 1/m² and 1/n²), which is ≥ 0. σ is the median heuristic (see the
    module) unless given. With `permutations` > 0, the p-value of p = q is
    (1 + #{permuted MMD²_u ≥ observed}) / (1 + permutations), the pooled labels shuffled by a
    generator seeded with `seed`; all permutations share one pass over the kernel blocks.

    Cost O((m + n)² (d + permutations)) time; memory O((m + n)(d + permutations)) plus blocks
    of at most `max_memory` bytes (256 MiB by default) — never the (m + n)² matrix.

    With `features` = D, k is replaced by its random Fourier features approximation
    φ(a)·φ(b), φ(a) = √(2/D) cos(Wᵀa + c), W ~ N(0, σ⁻² I), c ~ U[0, 2π) (drawn with `seed`):
    O((m + n) D (d + permutations)) time, linear in the sample size, the error in MMD² of
    order 1/√D (Rahimi & Recht 2007; Zhao & Meng 2015, "FastMMD").

    Args:
        x, y: samples (m, d) and (n, d), or (m,) and (n,) for scalars; at least 2 each. Torch
            tensors keep autograd (the p-value and σ are not differentiated) and their device.
        bandwidth: σ > 0, or None for the median heuristic.
        permutations: shuffles for the p-value (0: no test, p_value None).
        biased: the V-statistic instead of the U-statistic.
        seed: seeds the permutations, the bandwidth subsample and the Fourier features.
        max_memory: bytes of kernel blocks (or feature blocks) held at once.
        features: D random Fourier features instead of the exact kernel, or None (exact).

    Returns:
        `MMDResult(mmd2, p_value, bandwidth)`: mmd2 a NumPy scalar in the input's floating
        dtype (float64 for lists and integers), or a 0-d tensor for tensor input.

    Raises:
        ValueError: samples that are not finite (NaN or ±inf), of different dimension or
            fewer than 2; a bad `bandwidth`, `permutations`, `max_memory` or `features`.

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
    sigma = _bandwidth(a, b, bandwidth, seed)
    gamma = 1 / (2 * sigma * sigma)
    u, v = _centered(a, b)
    labels = _labels(m + n, m, permutations, seed, u.device) if permutations else None
    if features is None:
        value, stats = _exact(u, v, gamma, labels, biased, mem)
    else:
        value, stats = _fourier(u, v, sigma, check_count(features, "features"), labels, biased, seed, mem)
    p_value = None
    if stats is not None:
        p_value = (1 + int((stats[1:] >= stats[0]).sum())) / (1 + permutations)
    return MMDResult(answer(value, a, x, y), p_value, sigma)


def _normal_test(h: torch.Tensor, sigma: float, like, x, y) -> MMDResult:
    """Mean of the i.i.d. terms h and its one-sided p-value under N(0, var(h)/len(h))."""
    h64 = h.to(torch.float64)
    mean = h64.mean()
    se = float(h64.detach().std()) / math.sqrt(h.shape[0])
    p = float(special.ndtr(-float(mean.detach()) / se)) if se > 0 else (0.0 if float(mean) > 0 else 1.0)
    return MMDResult(answer(mean, like, x, y), p, sigma)


def mmd2_linear(x, y, *, bandwidth=None, seed: int = 0) -> MMDResult:
    """Gretton et al.'s linear-time unbiased MMD² and its asymptotic p-value, O(n d).

        MMD²_l = (1/n₂) Σᵢ h(i),  h(i) = k(x₂ᵢ, x₂ᵢ₊₁) + k(y₂ᵢ, y₂ᵢ₊₁) − k(x₂ᵢ, y₂ᵢ₊₁) − k(x₂ᵢ₊₁, y₂ᵢ)

    over the n₂ = ⌊min(m, n)/2⌋ disjoint pairs of the first 2n₂ samples of each (shuffle
    ordered data first). The h(i) are i.i.d., so under p = q, √n₂ MMD²_l / sd(h) → N(0, 1):
    the p-value is its upper tail. Far less powerful than `mmd2` for the same n, but for n in
    the millions it is the test that fits. Arguments, the kernel and the answer's type as in
    `mmd2` (`bandwidth` None: median heuristic on a subsample, seeded by `seed`); samples must
    be finite (NaN or ±inf raise ValueError).

    Reference: Gretton et al. (2012), JMLR 13, lemma 14 and corollary 16.

    >>> rng = np.random.default_rng(0)
    >>> res = mmd2_linear(rng.normal(size=(20_000, 2)), rng.normal(size=(20_000, 2)) + 0.3)
    >>> bool(res.p_value < 0.01)
    True
    """
    a, b = samples(x, y, names=("x", "y"))
    n2 = min(a.shape[0], b.shape[0]) // 2
    if n2 < 2:
        raise ValueError(f"mmd2_linear needs at least 4 samples on each side, got {a.shape[0]} and {b.shape[0]}")
    sigma = _bandwidth(a, b, bandwidth, seed)
    u, v = _centered(a, b)
    x0, x1, y0, y1 = u[0 : 2 * n2 : 2], u[1 : 2 * n2 : 2], v[0 : 2 * n2 : 2], v[1 : 2 * n2 : 2]

    def k(p, q):
        return torch.exp(((p - q) ** 2).sum(1) / (-2 * sigma * sigma))

    return _normal_test(k(x0, x1) + k(y0, y1) - k(x0, y1) - k(x1, y0), sigma, a, x, y)


def mmd2_block(x, y, *, block_size: int | None = None, bandwidth=None, seed: int = 0, max_memory=None) -> MMDResult:
    """The B-test: the mean of unbiased MMD²_u over disjoint blocks of B pairs, O(n B d).

    The first ⌊min(m, n)/B⌋·B samples of each are cut into blocks of B (`block_size`, default
    ⌊√min(m, n)⌋, at least 2) and MMD²_u is computed within each block (as `mmd2`, m = n = B);
    the block values are i.i.d., so their mean over the blocks is asymptotically normal
    and the p-value is its upper tail with the variance estimated from the blocks (at least 2).
    Between `mmd2_linear` (B = 2) and `mmd2` (one block) in power and cost. Arguments, the
    kernel and the answer's type as in `mmd2`; samples must be finite.

    Reference: Zaremba, Gretton & Blaschko (2013), "B-tests", NeurIPS, §3.

    >>> rng = np.random.default_rng(0)
    >>> res = mmd2_block(rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)) + 0.3)
    >>> bool(res.p_value < 0.01)
    True
    """
    a, b = samples(x, y, names=("x", "y"))
    size = min(a.shape[0], b.shape[0])
    bs = max(2, math.isqrt(size)) if block_size is None else check_count(block_size, "block_size", minimum=2)
    blocks = size // bs
    if blocks < 2:
        raise ValueError(f"block_size = {bs} leaves fewer than 2 blocks of {size} samples: lower it")
    mem = budget(max_memory)
    sigma = _bandwidth(a, b, bandwidth, seed)
    u, v = _centered(a, b)
    u, v = u[: blocks * bs].reshape(blocks, bs, -1), v[: blocks * bs].reshape(blocks, bs, -1)
    chunk = max(1, min(mem // (8 * bs * bs * a.element_size()), KERNEL_ENTRIES // (bs * bs)))
    fast = not grad_wanted(u, v)

    def k(p, q, self_pairs=False):  # (chunk, B, B) kernel values, the diagonal dropped for self pairs
        if fast:
            A, BT = augmented(p, q, 1 / (2 * sigma * sigma))
            kern = torch.bmm(A, BT).clamp_(max=0).exp_()
            if self_pairs:
                kern.diagonal(dim1=1, dim2=2).zero_()
            return kern
        sq = ((p * p).sum(2)[:, :, None] + (q * q).sum(2)[:, None, :] - 2 * p @ q.transpose(1, 2)).clamp_min(0)
        kern = torch.exp(sq / (-2 * sigma * sigma))
        return kern * (1 - torch.eye(bs, dtype=a.dtype, device=a.device)) if self_pairs else kern

    h = []
    for s in range(0, blocks, chunk):
        p, q = u[s : s + chunk], v[s : s + chunk]
        within = (k(p, p, True).sum((1, 2), dtype=F64) + k(q, q, True).sum((1, 2), dtype=F64)) / (bs * (bs - 1))
        h.append(within - 2 * k(p, q).sum((1, 2), dtype=F64) / (bs * bs))
    return _normal_test(torch.cat(h), sigma, a, x, y)
