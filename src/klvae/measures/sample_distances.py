"""Distances between two samples: energy distance, sliced and exact Wasserstein.

- `energy_distance`: Székely's energy distance; O(N log N) in 1-D (sorted cumulative counts,
  as scipy), O(N² d) in blocks of bounded memory in d > 1 (N = m + n), or an incomplete
  U-statistic from B random pairs in O(B d) for very large samples;
- `sliced_wasserstein`: W_p averaged over seeded random 1-D projections, taken in chunks of
  projections so memory is O(N · chunk);
- `wasserstein_distance_nd`: the exact W_p between two equal-size samples by an optimal
  assignment (O(n³) time, an n × n cost matrix: for n up to a few thousand).

All take NumPy arrays, lists or torch tensors (n, d) ((n,) for scalars) of finite values
(NaN or ±inf raise ValueError); tensors keep autograd and their device, the answer follows
the input's floating dtype (float64 for lists and integers), sums accumulate in float64.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy import optimize

from klvae.measures._checks import check_count
from klvae.measures._sample_blocks import (
    answer,
    blockwise,
    budget,
    distances,
    grad_wanted,
    pair_sum,
    samples,
    self_pair_sum,
)

__all__ = ["energy_distance", "sliced_wasserstein", "wasserstein_distance_nd"]

F64 = torch.float64


def _energy_1d(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """E² = 2∫(F − G)² between the empirical CDFs, on the sorted pooled sample."""
    m, n = a.shape[0], b.shape[0]
    z, order = torch.cat([a[:, 0], b[:, 0]]).sort()
    from_x = (order < m).to(F64)
    gap = (z[1:] - z[:-1]).to(F64)
    return 2 * (gap * (from_x.cumsum(0)[:-1] / m - (1 - from_x).cumsum(0)[:-1] / n) ** 2).sum()


def _energy_pairs(a: torch.Tensor, b: torch.Tensor, pairs: int, seed: int, mem: int) -> torch.Tensor:
    """The incomplete U-statistic of E²: each expectation a mean over `pairs` random pairs
    (i, j) drawn with replacement, i ≠ j within a sample, in chunks of bounded memory."""
    gen = torch.Generator().manual_seed(seed)
    chunk = max(1, mem // (4 * a.shape[1] * a.element_size() + 16))

    def mean_dist(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # p is q: pairs i ≠ j
        total = p.new_zeros((), dtype=F64)
        for s in range(0, pairs, chunk):
            k = min(chunk, pairs - s)
            i = torch.randint(p.shape[0], (k,), generator=gen)
            if p is q:
                j = (i + torch.randint(1, p.shape[0], (k,), generator=gen)) % p.shape[0]
            else:
                j = torch.randint(q.shape[0], (k,), generator=gen)
            total = total + torch.linalg.vector_norm(p[i.to(p.device)] - q[j.to(p.device)], dim=1).sum(dtype=F64)
        return total / pairs

    return 2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)


def energy_distance(x, y, *, max_memory=None, pairs: int | None = None, seed: int = 0):
    r"""Energy distance √(2 E‖X − Y‖ − E‖X − X′‖ − E‖Y − Y′‖) between two samples.

    In the units of the samples; 0 iff the two empirical distributions agree. In 1-D it is
    ``scipy.stats.energy_distance(x, y)``.

    Parameters
    ----------
    x, y : array_like or torch.Tensor
        Samples (m, d) and (n, d), or (m,) and (n,); finite. With `pairs`, at least 2 each.
    max_memory : int, optional
        Bytes of distance blocks held at once (d > 1); None: 256 MiB.
    pairs : int, optional
        B random pairs per expectation (an incomplete U-statistic), or None: all pairs.
    seed : int, default 0
        Seeds the pairs.

    Returns
    -------
    numpy.floating or torch.Tensor
        A NumPy scalar in the input's floating dtype (float64 for lists and integers), or a 0-d
        tensor (autograd kept, on the input's device) for tensor input.

    Raises
    ------
    ValueError
        If the samples are not finite or differ in dimension, `max_memory` is not a positive
        number or `pairs` a positive integer, or a side has fewer than 2 samples with `pairs`.

    See Also
    --------
    sliced_wasserstein : another distance between samples, in any dimension.

    Notes
    -----
    .. math::

        E^2 = \frac{2}{mn} \sum_{i,j} \|x_i - y_j\| - \frac{1}{m^2} \sum_{i,j} \|x_i - x_j\|
            - \frac{1}{n^2} \sum_{i,j} \|y_i - y_j\|,

    the expectations' V-statistics (i = j included). In 1-D it is computed as 2∫(F − G)² between
    the empirical CDFs over the sorted pooled sample, O(N log N) (N = m + n); in d > 1 from all
    pairwise distances in blocks of at most `max_memory` bytes, O(N² d) time and O(N d) memory.

    With `pairs` = B each of the three expectations is instead a mean over B random pairs (i ≠ j
    within a sample), O(B d) time: its expectation over the draws is the complete U-statistic
    (i = j left out, which differs from the V-statistic by O(1/N)), its Monte Carlo error of
    order 1/√B. The estimate of E² is clamped at 0 before the square root.

    References
    ----------
    Székely & Rizzo, "Energy statistics: a class of statistics based on distances", J. Stat.
    Plan. Inference 143 (2013), eq. 4. Blom (1976) and Janson (1984) on incomplete U-statistics.

    Examples
    --------
    >>> float(energy_distance([0.0, 1.0], [0.0, 1.0]))
    0.0
    >>> round(float(energy_distance([0.0], [1.0])) ** 2, 12)  # 2·1 − 0 − 0
    2.0
    """
    a, b = samples(x, y, names=("x", "y"))
    mem = budget(max_memory)
    m, n = a.shape[0], b.shape[0]
    if pairs is not None:
        pairs = check_count(pairs, "pairs")
        if m < 2 or n < 2:
            raise ValueError(f"energy_distance with pairs needs at least 2 samples on each side, got {m} and {n}")
        e2 = _energy_pairs(a, b, pairs, seed, mem)
    elif a.shape[1] == 1:
        e2 = _energy_1d(a, b)
    else:
        ab = pair_sum(a, b, distances, mem, per_entry=3 * a.element_size())
        aa = self_pair_sum(a, distances, mem, per_entry=3 * a.element_size())
        bb = self_pair_sum(b, distances, mem, per_entry=3 * a.element_size())
        e2 = 2 * ab / (m * n) - aa / m**2 - bb / n**2
    return answer(e2.clamp_min(0).sqrt(), a, x, y)


def _merged_levels(n: int, m: int, device):
    """Indices into the sorted samples and widths of the merged quantile levels i/n ∪ j/m."""
    levels = torch.unique(torch.cat([torch.arange(1, n + 1, dtype=F64) / n, torch.arange(1, m + 1, dtype=F64) / m]))
    widths = torch.diff(levels, prepend=levels.new_zeros(1))
    mid = levels - widths / 2
    iu = torch.clamp(torch.ceil(mid * n).long() - 1, 0, n - 1)
    iv = torch.clamp(torch.ceil(mid * m).long() - 1, 0, m - 1)
    return iu.to(device), iv.to(device), widths.to(device)


def _sorted_rows(t: torch.Tensor) -> torch.Tensor:
    """Each row of `t` sorted: by torch with autograd or off the CPU, else by NumPy in place, rows in threads."""
    if grad_wanted(t) or t.device.type != "cpu":
        return t.sort(1).values
    rows = t.contiguous().numpy()  # a fresh product: sorted where it lies
    threads = min(rows.shape[0], torch.get_num_threads())
    if threads == 1:
        rows.sort(1)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda row: row.sort(), rows))
    return torch.from_numpy(rows)


def _power(diff: torch.Tensor, p: float) -> torch.Tensor:
    """|diff|^p, in place on `diff` when no gradient is wanted (a square for p = 2, no abs)."""
    if grad_wanted(diff):
        return diff.abs().pow(p)
    if p == 2:
        return diff.square_()
    return diff.abs_() if p == 1 else diff.abs_().pow_(p)


def sliced_wasserstein(x, y, *, p: float = 2, n_projections: int = 200, seed: int = 0, max_memory=None):
    r"""Sliced Wasserstein distance SW_p = (E_θ W_p^p(θᵀX, θᵀY))^{1/p}, θ uniform on the sphere.

    In the units of the samples; sample sizes may differ. In 1-D with p = 1 it is
    ``scipy.stats.wasserstein_distance``.

    Parameters
    ----------
    x, y : array_like or torch.Tensor
        Samples (m, d) and (n, d), or (m,) and (n,); finite.
    p : float, default 2
        The order, a finite number ≥ 1.
    n_projections : int, default 200
        L, the directions θ averaged over (in 1-D the one direction, exact).
    seed : int, default 0
        Seeds the directions.
    max_memory : int, optional
        Bytes of projected chunks held at once; None: 256 MiB.

    Returns
    -------
    numpy.floating or torch.Tensor
        As `energy_distance`: the input's floating dtype, a 0-d tensor with autograd for tensor
        input.

    Raises
    ------
    ValueError
        If the samples are not finite or differ in dimension, `p` is not a finite number ≥ 1, or
        `n_projections` or `max_memory` is not positive.

    See Also
    --------
    wasserstein_distance_nd : the exact W_p, for equal sizes up to a few thousand.
    energy_distance : another distance between samples.

    Notes
    -----
    .. math::

        \mathrm{SW}_p(X, Y) \approx \Big(\frac1L \sum_{l=1}^{L} W_p^p(\theta_l^\top X, \theta_l^\top Y)\Big)^{1/p},

    the θₗ drawn (in float64, on the CPU) by a generator seeded with `seed`: the same directions
    for the same seed and d on any device. Each 1-D W_p is exact (quantile functions on the
    merged levels i/m ∪ j/n). For N(μ₁, σ²I) and N(μ₂, σ²I): SW₂² = ‖μ₁ − μ₂‖²/d.

    Projections are sorted a chunk at a time, the chunk as large as `max_memory` allows:
    O(L N log N) time, O(N (d + chunk)) memory, for N = m + n points.

    References
    ----------
    Bonneel, Rabin, Peyré & Pfister, "Sliced and Radon Wasserstein barycenters of measures",
    J. Math. Imaging Vis. 51 (2015), eq. 7.

    Examples
    --------
    >>> float(sliced_wasserstein([[0.0], [1.0]], [[2.0], [3.0]], p=1))
    2.0
    """
    a, b = samples(x, y, names=("x", "y"))
    (n, d), m = a.shape, b.shape[0]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not (p >= 1 and math.isfinite(p)):
        raise ValueError(f"p must be a finite number ≥ 1, got {p!r}")
    n_projections = check_count(n_projections, "n_projections")
    mem = budget(max_memory)
    if d == 1:
        theta = torch.ones(1, 1, dtype=F64)
    else:
        gen = torch.Generator().manual_seed(seed)
        theta = torch.randn(d, n_projections, generator=gen, dtype=F64)
        theta /= theta.norm(dim=0, keepdim=True)  # (d, L), uniform on the sphere
    theta = theta.to(device=a.device, dtype=a.dtype)
    merged = None if n == m else _merged_levels(n, m, a.device)
    width = n if merged is None else merged[2].shape[0]
    per_projection = (n + m) * (2 * a.element_size() + 8) + width * 3 * a.element_size()
    chunk = max(1, mem // per_projection)

    def wpp(a: torch.Tensor, b: torch.Tensor, th: torch.Tensor) -> torch.Tensor:  # W_p^p per projection
        u, v = _sorted_rows(th.T @ a), _sorted_rows(th.T @ b)  # (chunk, n), (chunk, m), rows contiguous
        if merged is not None:
            iu, iv, widths = merged
            return (_power(u[:, iu] - v[:, iv], p).to(F64) * widths).sum(1)
        diff = u - v if grad_wanted(u, v) else u.sub_(v)
        return _power(diff, p).sum(1, dtype=F64) / n

    at, bt = a.T.contiguous(), b.T.contiguous()  # (d, n): each projection a matrix product into rows
    w = torch.cat([blockwise(wpp, at, bt, theta[:, s : s + chunk]) for s in range(0, theta.shape[1], chunk)])
    return answer(w.mean() ** (1 / p), a, x, y)


def wasserstein_distance_nd(x, y, *, p: float = 1):
    r"""Exact W_p = (min_π (1/n) Σᵢ ‖xᵢ − y_π(i)‖^p)^{1/p} between two samples of equal size n.

    Euclidean ground distance, in the units of the samples; p = 1 agrees with
    ``scipy.stats.wasserstein_distance_nd``. O(n³) time and O(n²) memory: for n up to a few
    thousand (`sliced_wasserstein` scales).

    Parameters
    ----------
    x, y : array_like or torch.Tensor
        Samples of the same shape, (n, d) or (n,); finite.
    p : float, default 1
        The order, a finite number ≥ 1.

    Returns
    -------
    numpy.floating or torch.Tensor
        The input's floating dtype; for tensor input a 0-d tensor whose gradient is that of the
        cost at the optimal assignment.

    Raises
    ------
    ValueError
        If the samples are not finite or differ in shape, or `p` is not a finite number ≥ 1.

    See Also
    --------
    sliced_wasserstein : projections, for large samples.
    wasserstein_distance_samples : W₁ between 1-D samples of any sizes.

    Notes
    -----
    .. math::

        W_p = \Big(\min_{\pi \in S_n} \frac1n \sum_{i=1}^n \|x_i - y_{\pi(i)}\|^p\Big)^{1/p}.

    For equal-weight empirical distributions of the same size an optimal plan is a permutation
    (Birkhoff–von Neumann), found by ``scipy.optimize.linear_sum_assignment`` on the n × n cost
    matrix.

    References
    ----------
    Peyré & Cuturi, *Computational Optimal Transport* (2019), prop. 2.1.

    Examples
    --------
    >>> float(wasserstein_distance_nd([[0.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 1.0]]))
    1.0
    """
    a, b = samples(x, y, names=("x", "y"))
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape (equal sizes), got {tuple(a.shape)} and {tuple(b.shape)}")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not (p >= 1 and math.isfinite(p)):
        raise ValueError(f"p must be a finite number ≥ 1, got {p!r}")
    cost = distances(a, b).pow(p)
    rows, cols = optimize.linear_sum_assignment(cost.detach().to(device="cpu", dtype=F64).numpy())
    picked = cost[torch.from_numpy(np.asarray(rows)).to(a.device), torch.from_numpy(np.asarray(cols)).to(a.device)]
    return answer(picked.mean(dtype=F64) ** (1 / p), a, x, y)
