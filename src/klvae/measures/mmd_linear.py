"""MMD² tests with a normal null, for samples too large for all pairs: linear time and the B-test.

- `mmd2_linear`: Gretton et al.'s linear-time statistic, O(n d) time and memory, for n in the
  millions;
- `mmd2_block`: the B-test (the mean of U-statistics over blocks of B pairs), O(n B d).

Each is a mean of i.i.d. terms, so its null is asymptotically normal and the p-value is its upper
tail, with no permutations. The kernel, the bandwidth's median heuristic and the answer's type are
those of `mmd2` (`klvae.measures.mmd`).
"""

from __future__ import annotations

import math

import torch
from scipy import special

from klvae.measures._checks import check_count
from klvae.measures._sample_blocks import answer, augmented, budget, grad_wanted, samples
from klvae.measures.mmd import KERNEL_ENTRIES, MMDResult, centered, median_bandwidth

__all__ = ["mmd2_linear", "mmd2_block"]

F64 = torch.float64


def _normal_test(h: torch.Tensor, sigma: float, like, x, y) -> MMDResult:
    """Mean of the i.i.d. terms h and its one-sided p-value under N(0, var(h)/len(h))."""
    h64 = h.to(torch.float64)
    mean = h64.mean()
    se = float(h64.detach().std()) / math.sqrt(h.shape[0])
    p = float(special.ndtr(-float(mean.detach()) / se)) if se > 0 else (0.0 if float(mean) > 0 else 1.0)
    return MMDResult(answer(mean, like, x, y), p, sigma)


def mmd2_linear(x, y, *, bandwidth=None, seed: int = 0) -> MMDResult:
    r"""Gretton et al.'s linear-time unbiased MMD² and its asymptotic p-value, O(n d).

    Far less powerful than `mmd2` for the same n, but for n in the millions it is the test that
    fits. Uses the first 2n₂ samples of each, n₂ = ⌊min(m, n)/2⌋, in their order: shuffle ordered
    data first.

    Parameters
    ----------
    x, y : array_like or torch.Tensor
        Samples (m, d) and (n, d), or (m,) and (n,); finite, at least 4 each. Tensors keep
        autograd (the p-value and σ are not differentiated) and their device.
    bandwidth : float, optional
        σ > 0; None for the median heuristic of `mmd2`.
    seed : int, default 0
        Seeds the median heuristic's subsample.

    Returns
    -------
    MMDResult
        ``(mmd2, p_value, bandwidth)``; mmd2 a NumPy scalar in the input's floating dtype, or a
        0-d tensor for tensor input.

    Raises
    ------
    ValueError
        If the samples are not finite, differ in dimension or number fewer than 4 on a side,
        `bandwidth` is not valid, or the median heuristic finds a median distance of 0.

    See Also
    --------
    mmd2 : all pairs, a permutation test.
    mmd2_block : blocks of B pairs.

    Notes
    -----
    .. math::

        \mathrm{MMD}^2_l = \frac{1}{n_2} \sum_{i=0}^{n_2 - 1} h_i, \qquad
        h_i = k(x_{2i}, x_{2i+1}) + k(y_{2i}, y_{2i+1}) - k(x_{2i}, y_{2i+1}) - k(x_{2i+1}, y_{2i}),

    (samples indexed from 0), k the Gaussian kernel of `mmd2`. The hᵢ are i.i.d., so under p = q,
    √n₂ MMD²_l / sd(h) → N(0, 1): the p-value is its upper tail.

    References
    ----------
    Gretton, Borgwardt, Rasch, Schölkopf & Smola, "A kernel two-sample test", JMLR 13 (2012),
    §6, lemma 14 and corollary 16.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> res = mmd2_linear(rng.normal(size=(20_000, 2)), rng.normal(size=(20_000, 2)) + 0.3)
    >>> bool(res.p_value < 0.01)
    True
    """
    a, b = samples(x, y, names=("x", "y"))
    n2 = min(a.shape[0], b.shape[0]) // 2
    if n2 < 2:
        raise ValueError(f"mmd2_linear needs at least 4 samples on each side, got {a.shape[0]} and {b.shape[0]}")
    sigma = median_bandwidth(a, b, bandwidth, seed)
    u, v = centered(a, b)
    x0, x1, y0, y1 = u[0 : 2 * n2 : 2], u[1 : 2 * n2 : 2], v[0 : 2 * n2 : 2], v[1 : 2 * n2 : 2]

    def k(p, q):
        return torch.exp(((p - q) ** 2).sum(1) / (-2 * sigma * sigma))

    return _normal_test(k(x0, x1) + k(y0, y1) - k(x0, y1) - k(x1, y0), sigma, a, x, y)


def mmd2_block(x, y, *, block_size: int | None = None, bandwidth=None, seed: int = 0, max_memory=None) -> MMDResult:
    r"""The B-test: the mean of unbiased MMD²_u over disjoint blocks of B pairs, O(n B d).

    Between `mmd2_linear` (B = 2) and `mmd2` (one block) in power and cost.

    Parameters
    ----------
    x, y : array_like or torch.Tensor
        Samples (m, d) and (n, d), or (m,) and (n,); finite. Tensors keep autograd (the p-value
        and σ are not differentiated) and their device.
    block_size : int, optional
        B ≥ 2; None: ⌊√min(m, n)⌋ (at least 2). There must be at least 2 blocks.
    bandwidth : float, optional
        σ > 0; None for the median heuristic of `mmd2`.
    seed : int, default 0
        Seeds the median heuristic's subsample.
    max_memory : int, optional
        Bytes of kernel blocks held at once; None: 256 MiB.

    Returns
    -------
    MMDResult
        ``(mmd2, p_value, bandwidth)``; mmd2 a NumPy scalar in the input's floating dtype, or a
        0-d tensor for tensor input.

    Raises
    ------
    ValueError
        If the samples are not finite or differ in dimension, `block_size` is not an integer ≥ 2
        or leaves fewer than 2 blocks, `bandwidth` or `max_memory` is not valid, or the median
        heuristic finds a median distance of 0.

    See Also
    --------
    mmd2 : all pairs, a permutation test.
    mmd2_linear : linear time.

    Notes
    -----
    The first b·B samples of each, b = ⌊min(m, n)/B⌋, are cut into b blocks and the U-statistic
    of `mmd2` (m = n = B) is computed within each:

    .. math::

        \widehat{\mathrm{MMD}}^2_B = \frac1b \sum_{j=1}^{b} \mathrm{MMD}^2_u(X_j, Y_j).

    The block values are i.i.d., so their mean is asymptotically normal: the p-value is its upper
    tail, the variance estimated from the blocks.

    References
    ----------
    Zaremba, Gretton & Blaschko, "B-tests: low variance kernel two-sample tests", NeurIPS (2013), §3.

    Examples
    --------
    >>> import numpy as np
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
    sigma = median_bandwidth(a, b, bandwidth, seed)
    u, v = centered(a, b)
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
