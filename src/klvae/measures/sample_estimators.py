"""Information measures estimated from samples alone, for models without a density (a GAN).

- `knn_entropy`: Kozachenko–Leonenko differential entropy from k-nearest-neighbour distances;
- `knn_kl_divergence`: Wang, Kulkarni & Verdú's (2009) k-NN estimate of KL(p‖q);
- `ksg_mutual_information`: Kraskov, Stögbauer & Grassberger's (2004) algorithm 1;
- `mmd2`: the unbiased squared maximum mean discrepancy with a Gaussian kernel (median
  heuristic bandwidth) and a permutation-test p-value;
- `energy_distance`: Székely's energy distance;
- `sliced_wasserstein`: W_p averaged over seeded random 1-D projections;
- `wasserstein_distance_nd`: the exact W_p between two equal-size samples in any dimension,
  by an optimal assignment (Hungarian algorithm).

Samples are (n, d) arrays (NumPy, torch or lists; a 1-d array is n scalar samples); the
answers are NumPy floats (torch 0-d tensors for tensor input) in nats where they have units.
Neighbour searches go through ``scipy.spatial.cKDTree`` (O(n log n) for small d), never an
n × n distance matrix; MMD, energy distance and the assignment need all pairs (O(n²)).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy import optimize, special
from scipy.spatial import cKDTree

from klvae.measures.arrays import is_torch

__all__ = [
    "knn_entropy",
    "knn_kl_divergence",
    "ksg_mutual_information",
    "mmd2",
    "MMDResult",
    "energy_distance",
    "sliced_wasserstein",
    "wasserstein_distance_nd",
]


def _samples(x, name: str) -> np.ndarray:
    """(n, d) float64 NumPy array of finite samples."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got an array of dtype {a.dtype}")
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (n, d) samples, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has NaN or infinite entries")
    return a


def _out(value: float, *inputs):
    """A NumPy float64, or a 0-d float64 tensor when any input was a tensor."""
    return torch.tensor(value, dtype=torch.float64) if is_torch(*inputs) else np.float64(value)


def _check_k(k, n, name="k"):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    if k >= n:
        raise ValueError(f"{name} = {k} needs more than {k} samples, got {n}")


def _log_ball(d: int) -> float:
    """log of the volume of the unit Euclidean ball in d dimensions, π^{d/2}/Γ(d/2 + 1)."""
    return 0.5 * d * math.log(math.pi) - special.gammaln(0.5 * d + 1)


def _positive(dist: np.ndarray, name: str) -> np.ndarray:
    if (dist <= 0).any():
        raise ValueError(f"{name} has repeated points (a k-NN distance is 0): add a little noise or raise k")
    return dist


def knn_entropy(x, *, k: int = 3, base=None):
    """Kozachenko–Leonenko estimate of the differential entropy H(X) = −E log p(X).

        Ĥ = ψ(n) − ψ(k) + log V_d + (d/n) Σᵢ log εᵢ

    with εᵢ the Euclidean distance from xᵢ to its k-th nearest neighbour among the other
    samples and V_d the volume of the unit d-ball. Asymptotically unbiased; the bias of
    finite n grows with d. Units: nats (`base=None`), bits (`base=2`).

    Args:
        x: samples (n, d), or (n,) for scalars. Repeated points raise (distance 0).
        k: the neighbour used (3 is the usual trade of bias for variance).

    Reference: Kozachenko & Leonenko (1987); Kraskov, Stögbauer & Grassberger (2004), eq. 20.

    >>> rng = np.random.default_rng(0)
    >>> h = knn_entropy(rng.normal(size=(20_000, 1)))
    >>> bool(abs(h - 0.5 * np.log(2 * np.pi * np.e)) < 0.03)  # N(0, 1)
    True
    """
    a = _samples(x, "x")
    n, d = a.shape
    _check_k(k, n)
    eps = _positive(cKDTree(a).query(a, k=k + 1)[0][:, k], "x")
    h = special.digamma(n) - special.digamma(k) + _log_ball(d) + d * np.mean(np.log(eps))
    return _out(h / (1.0 if base is None else math.log(base)), x)


def knn_kl_divergence(x, y, *, k: int = 1, base=None):
    """Wang–Kulkarni–Verdú k-NN estimate of KL(p‖q) from x ~ p (n, d) and y ~ q (m, d).

        D̂ = (d/n) Σᵢ log(νₖ(i)/ρₖ(i)) + log(m/(n − 1))

    ρₖ(i): distance from xᵢ to its k-th nearest neighbour among the other x; νₖ(i): to its
    k-th nearest neighbour in y. Consistent as n, m → ∞ for fixed k; can be negative for
    small samples. Units as `base`.

    Reference: Wang, Kulkarni & Verdú (2009), "Divergence estimation for multidimensional
    densities via k-nearest-neighbor distances", IEEE Trans. Inf. Theory 55(5), eq. 5.

    >>> rng = np.random.default_rng(1)
    >>> x, y = rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2)) + [1.0, 0.0]
    >>> bool(abs(knn_kl_divergence(x, y) - 0.5) < 0.1)  # ½‖μ₁ − μ₂‖²
    True
    """
    a, b = _samples(x, "x"), _samples(y, "y")
    (n, d), m = a.shape, b.shape[0]
    if b.shape[1] != d:
        raise ValueError(f"x and y must have the same dimension, got {d} and {b.shape[1]}")
    _check_k(k, n)
    _check_k(k, m + 1)
    rho = _positive(cKDTree(a).query(a, k=k + 1)[0][:, k], "x")
    nu = cKDTree(b).query(a, k=k)[0]
    nu = _positive(nu if nu.ndim == 1 else nu[:, k - 1], "x and y together")
    kl = d * np.mean(np.log(nu) - np.log(rho)) + math.log(m / (n - 1))
    return _out(kl / (1.0 if base is None else math.log(base)), x, y)


def ksg_mutual_information(x, y, *, k: int = 3, base=None):
    """Kraskov–Stögbauer–Grassberger estimate of I(X; Y) (their algorithm 1).

        Î = ψ(k) + ψ(n) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩

    εᵢ is the max-norm distance from (xᵢ, yᵢ) to its k-th neighbour in the joint space;
    n_x(i), n_y(i) count the other points strictly within εᵢ of xᵢ in X and of yᵢ in Y.
    Not scale-invariant across X and Y (the max-norm mixes them): scikit-learn's
    ``mutual_info_regression`` divides each variable by its standard deviation first.
    Can be slightly negative for independent variables (unlike scikit-learn, not clipped).

    Args:
        x: samples of X, (n, d_x) or (n,). y: samples of Y, (n, d_y) or (n,).
        k: the neighbour used in the joint space.

    Reference: Kraskov, Stögbauer & Grassberger (2004), "Estimating mutual information",
    Phys. Rev. E 69, eq. 8.

    >>> rng = np.random.default_rng(2)
    >>> z = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=4000)
    >>> bool(abs(ksg_mutual_information(z[:, 0], z[:, 1]) + 0.5 * np.log(1 - 0.81)) < 0.05)
    True
    """
    a, b = _samples(x, "x"), _samples(y, "y")
    n = a.shape[0]
    if b.shape[0] != n:
        raise ValueError(f"x and y must be paired samples, got {n} and {b.shape[0]}")
    _check_k(k, n)
    joint = np.hstack([a, b])
    eps = cKDTree(joint).query(joint, k=k + 1, p=np.inf)[0][:, k]
    radius = np.nextafter(eps, 0)  # strictly inside εᵢ
    nx = cKDTree(a).query_ball_point(a, radius, p=np.inf, return_length=True) - 1  # without xᵢ itself
    ny = cKDTree(b).query_ball_point(b, radius, p=np.inf, return_length=True) - 1
    mi = special.digamma(k) + special.digamma(n) - np.mean(special.digamma(nx + 1) + special.digamma(ny + 1))
    return _out(mi / (1.0 if base is None else math.log(base)), x, y)


class MMDResult(NamedTuple):
    """The unbiased MMD² estimate, its permutation p-value (None without permutations), σ."""

    mmd2: float
    p_value: float | None
    bandwidth: float


def _cdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances from differences (the ‖a‖² + ‖b‖² − 2aᵀb shortcut loses digits)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def mmd2(x, y, *, bandwidth=None, permutations: int = 0, seed: int = 0) -> MMDResult:
    """Unbiased squared maximum mean discrepancy with the Gaussian kernel, and its p-value.

        MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(xᵢ, xⱼ) + 1/(n(n−1)) Σ_{i≠j} k(yᵢ, yⱼ) − 2/(mn) Σ k(xᵢ, yⱼ)

    with k(a, b) = exp(−‖a − b‖²/(2σ²)). σ is the median distance between all pooled
    points (the median heuristic) unless given. Unbiased (E MMD²_u = MMD², which is 0 iff
    p = q for this kernel), hence negative at times. With `permutations` > 0, the p-value
    of p = q is (1 + #{permuted MMD²_u ≥ observed}) / (1 + permutations), pooled labels
    shuffled by a seeded generator. Unitless. Cost O((m + n)² (d + permutations)).

    Reference: Gretton, Borgwardt, Rasch, Schölkopf & Smola (2012), "A kernel two-sample
    test", JMLR 13, lemma 6 and §8 (median heuristic).

    >>> rng = np.random.default_rng(3)
    >>> same = mmd2(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)), permutations=200)
    >>> shifted = mmd2(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 0.5, permutations=200)
    >>> bool(same.p_value > 0.01), bool(shifted.p_value < 0.01)
    (True, True)
    """
    a, b = _samples(x, "x"), _samples(y, "y")
    m, n = a.shape[0], b.shape[0]
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {a.shape[1]} and {b.shape[1]}")
    if m < 2 or n < 2:
        raise ValueError(f"mmd2 needs at least 2 samples on each side, got {m} and {n}")
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 0:
        raise ValueError(f"permutations must be a non-negative integer, got {permutations!r}")
    z = torch.from_numpy(np.vstack([a, b]))  # (N, d), N = m + n
    sq = _cdist(z, z).square()  # (N, N)
    if bandwidth is None:
        iu = torch.triu_indices(m + n, m + n, 1)
        sigma = float(sq[iu[0], iu[1]].median().sqrt())
        if sigma == 0:
            raise ValueError("the median distance is 0 (most points repeat): pass bandwidth")
    else:
        sigma = float(bandwidth)
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"bandwidth must be a positive number, got {bandwidth!r}")
    kern = torch.exp(sq / (-2 * sigma * sigma))
    kern.fill_diagonal_(0.0)  # the i = j terms are left out of the unbiased estimate

    def statistic(labels: torch.Tensor) -> torch.Tensor:  # labels (N, B): 1 for x, 0 for y
        kx = kern @ labels  # (N, B)
        sxx = (labels * kx).sum(0)
        sxy = ((1 - labels) * kx).sum(0)
        syy = kern.sum() - sxx - 2 * sxy
        return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)

    observed = torch.cat([torch.ones(m), torch.zeros(n)]).to(kern.dtype)[:, None]
    value = float(statistic(observed)[0])
    p_value = None
    if permutations:
        gen = torch.Generator().manual_seed(seed)
        perms = torch.stack([torch.randperm(m + n, generator=gen) for _ in range(permutations)], 1)  # (N, B)
        null = statistic(observed[:, 0][perms])
        p_value = float((1 + (null >= value).sum()) / (1 + permutations))
    return MMDResult(value, p_value, sigma)


def _mean_distance(a: torch.Tensor, b: torch.Tensor, rows: int = 2048) -> float:
    """Mean Euclidean distance over all pairs (a, b), in row blocks of bounded memory."""
    total = sum(float(_cdist(a[i : i + rows], b).sum()) for i in range(0, a.shape[0], rows))
    return total / (a.shape[0] * b.shape[0])


def energy_distance(x, y):
    """Energy distance √(2 E‖X − Y‖ − E‖X − X′‖ − E‖Y − Y′‖) between two samples.

    Expectations are sample means over all pairs (V-statistics, i = j included), so in 1-D
    this is ``scipy.stats.energy_distance(x, y)``; 0 iff the two empirical distributions
    agree. In the units of the samples. O((m + n)² d) in row blocks.

    Reference: Székely & Rizzo (2013), "Energy statistics: a class of statistics based on
    distances", J. Stat. Plan. Inference 143, eq. 4.

    >>> float(energy_distance([0.0, 1.0], [0.0, 1.0]))
    0.0
    >>> round(float(energy_distance([0.0], [1.0])) ** 2, 12)  # 2·1 − 0 − 0
    2.0
    """
    a, b = (torch.from_numpy(s) for s in (_samples(x, "x"), _samples(y, "y")))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {a.shape[1]} and {b.shape[1]}")
    e2 = 2 * _mean_distance(a, b) - _mean_distance(a, a) - _mean_distance(b, b)
    return _out(math.sqrt(max(e2, 0.0)), x, y)


def _wasserstein_1d(u: torch.Tensor, v: torch.Tensor, p: float) -> torch.Tensor:
    """W_p^p between the columns' empirical distributions: u (n, L), v (m, L) -> (L,).

    ∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt is exact on the merged quantile levels i/n and j/m.
    """
    n, m = u.shape[0], v.shape[0]
    u, v = u.sort(0).values, v.sort(0).values
    f64 = torch.float64
    levels = torch.unique(torch.cat([torch.arange(1, n + 1, dtype=f64) / n, torch.arange(1, m + 1, dtype=f64) / m]))
    widths = torch.diff(levels, prepend=levels.new_zeros(1))  # (K,)
    mid = levels - widths / 2
    iu = torch.clamp(torch.ceil(mid * n).long() - 1, 0, n - 1)
    iv = torch.clamp(torch.ceil(mid * m).long() - 1, 0, m - 1)
    return ((u[iu] - v[iv]).abs().pow(p) * widths[:, None]).sum(0)


def sliced_wasserstein(x, y, *, p: float = 2, n_projections: int = 200, seed: int = 0):
    """Sliced Wasserstein distance SW_p = (E_θ W_p^p(θᵀX, θᵀY))^{1/p}, θ uniform on the sphere.

    The expectation is a mean over `n_projections` directions drawn by a generator seeded
    with `seed` (the same directions for the same seed and d); each 1-D W_p is exact
    (quantile functions on the merged levels), so sample sizes may differ. In 1-D with
    p = 1 it is ``scipy.stats.wasserstein_distance``. In the units of the samples.
    For N(μ₁, σ²I) and N(μ₂, σ²I): SW₂² = ‖μ₁ − μ₂‖²/d.

    Reference: Bonneel, Rabin, Peyré & Pfister (2015), "Sliced and Radon Wasserstein
    barycenters of measures", J. Math. Imaging Vis. 51, eq. 7.

    >>> float(sliced_wasserstein([[0.0], [1.0]], [[2.0], [3.0]], p=1))
    2.0
    """
    a, b = (torch.from_numpy(s) for s in (_samples(x, "x"), _samples(y, "y")))
    d = a.shape[1]
    if b.shape[1] != d:
        raise ValueError(f"x and y must have the same dimension, got {d} and {b.shape[1]}")
    if not (p >= 1 and math.isfinite(p)):
        raise ValueError(f"p must be a finite number ≥ 1, got {p!r}")
    if isinstance(n_projections, bool) or not isinstance(n_projections, int) or n_projections < 1:
        raise ValueError(f"n_projections must be a positive integer, got {n_projections!r}")
    if d == 1:
        theta = torch.ones(1, 1, dtype=torch.float64)
    else:
        gen = torch.Generator().manual_seed(seed)
        theta = torch.randn(d, n_projections, generator=gen, dtype=torch.float64)
        theta /= theta.norm(dim=0, keepdim=True)  # (d, L), uniform on the sphere
    w = _wasserstein_1d(a @ theta, b @ theta, p).mean()
    return _out(float(w) ** (1 / p), x, y)


def wasserstein_distance_nd(x, y, *, p: float = 1):
    """Exact W_p = (min_π (1/n) Σᵢ ‖xᵢ − y_π(i)‖^p)^{1/p} between two samples of equal size n.

    For equal-weight empirical distributions of the same size an optimal plan is a
    permutation (Birkhoff–von Neumann), found by ``scipy.optimize.linear_sum_assignment``
    on the n × n cost matrix in O(n³). Euclidean ground distance; p = 1 agrees with
    ``scipy.stats.wasserstein_distance_nd``. In the units of the samples.

    Reference: Peyré & Cuturi (2019), *Computational Optimal Transport*, prop. 2.1.

    >>> float(wasserstein_distance_nd([[0.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 1.0]]))
    1.0
    """
    a, b = _samples(x, "x"), _samples(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape (equal sizes), got {a.shape} and {b.shape}")
    if not (p >= 1 and math.isfinite(p)):
        raise ValueError(f"p must be a finite number ≥ 1, got {p!r}")
    cost = _cdist(torch.from_numpy(a), torch.from_numpy(b)).pow(p).numpy()
    rows, cols = optimize.linear_sum_assignment(cost)
    return _out(float(cost[rows, cols].mean()) ** (1 / p), x, y)
