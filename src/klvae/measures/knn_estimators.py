"""Information measures from k-nearest-neighbour distances, for models without a density (a GAN).

- `knn_entropy`: Kozachenko–Leonenko differential entropy;
- `knn_kl_divergence`: Wang, Kulkarni & Verdú's (2009) estimate of KL(p‖q);
- `ksg_mutual_information`: Kraskov, Stögbauer & Grassberger's (2004) algorithm 1.

Samples are (n, d) arrays (NumPy, torch or lists; a 1-d array is n scalar samples) of finite
values: NaN or ±inf raise ValueError. Neighbour searches in 1-D use the sorted sample (the k
values on either side of each point, O(n log n)); in 2 to 15 dimensions ``scipy.spatial.cKDTree``,
O(n log n) for small d, queried on `workers` cores (-1: all); from 16 dimensions on, where
trees degrade to brute force, blocks of all pairs (matrix products, O(n² d), bounded memory);
never an n × n distance matrix at once. The KSG counts of a 1-D marginal come from one sorted
array (binary search), of a larger one from scikit-learn's counting k-d tree query. The work is
done in float64 on the CPU; the answer comes back in the input's floating dtype (float64 for
lists and integers): a NumPy scalar, or a 0-d tensor on the input's device for tensor input,
without autograd (the estimates are not differentiable in the samples).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy import special
from scipy.spatial import cKDTree

from klvae.measures._checks import check_count
from klvae.measures._numpy_path import log_base
from klvae.measures._sample_blocks import MAX_MEMORY, answer, block_rows, samples

__all__ = ["knn_entropy", "knn_kl_divergence", "ksg_mutual_information"]


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(device="cpu", dtype=torch.float64).numpy()


def _check_k(k, n: int, name: str = "k") -> int:
    k = check_count(k, name)
    if k >= n:
        raise ValueError(f"{name} = {k} needs more than {k} samples, got {n}")
    return k


def _workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or not (workers >= 1 or workers == -1):
        raise ValueError(f"workers must be a positive integer or -1 (all cores), got {workers!r}")
    return int(workers)


def _log_ball(d: int) -> float:
    """log of the volume of the unit Euclidean ball in d dimensions, π^{d/2}/Γ(d/2 + 1)."""
    return 0.5 * d * math.log(math.pi) - special.gammaln(0.5 * d + 1)


def _positive(dist: np.ndarray, name: str) -> np.ndarray:
    if (dist <= 0).any():
        raise ValueError(f"{name} has repeated points (a k-NN distance is 0): add a little noise or raise k")
    return dist


BRUTE_FORCE_DIM = 16  # from this dimension on, blocks of all distances beat a k-d tree


def _kth_brute(ref: np.ndarray, points: np.ndarray, k: int) -> np.ndarray:
    """Euclidean distance from each point to its k-th neighbour in `ref`, by blocks of all pairs.

    Candidates come from ‖q‖² + ‖r‖² − 2qᵀr on centered data (a matrix product); the k
    chosen are then measured from their differences.
    """
    mid = ref.mean(0)
    r, q = torch.from_numpy(ref - mid), torch.from_numpy(points - mid)
    rn = (r * r).sum(1)[None, :]
    rows = block_rows(r.shape[0], 16, MAX_MEMORY)
    out = torch.empty(q.shape[0], dtype=torch.float64)
    for s in range(0, q.shape[0], rows):
        qb = q[s : s + rows]
        d2 = torch.addmm(rn, qb, r.T, beta=1, alpha=-2).add_((qb * qb).sum(1)[:, None])
        idx = d2.topk(k, dim=1, largest=False).indices  # (rows, k)
        out[s : s + rows] = (qb[:, None, :] - r[idx]).norm(dim=2).sort(1).values[:, k - 1]
    return out.numpy()


def _kth_1d(ref: np.ndarray, points: np.ndarray, k: int, self_pairs: bool) -> np.ndarray:
    """Distance from each 1-D point to its k-th neighbour in `ref` (the point itself not one of
    them when `self_pairs`, `points` then being `ref`), from the k sorted values on either side.

    The candidates' distances L₁ ≤ … ≤ L_k (below) and R₁ ≤ … ≤ R_k (above) are each sorted,
    so the k-th smallest of both is min over j of max(L_j, R_{k−j}) (L₀ = R₀ = 0): O(n log n + n k).
    """
    n = ref.shape[0]
    if self_pairs:
        order = np.argsort(ref)
        s = q = ref[order]
        below, above = np.arange(n), np.arange(1, n + 1)  # the neighbours at i − t and i + t
    else:
        s, q = np.sort(ref), points
        below = above = np.searchsorted(s, q)  # s[pos − 1] < q ≤ s[pos]
    t = np.arange(1, k + 1)
    lo, hi = below[:, None] - t, above[:, None] + t - 1
    left = np.where(lo >= 0, q[:, None] - s[np.clip(lo, 0, n - 1)], np.inf)
    right = np.where(hi < n, s[np.clip(hi, 0, n - 1)] - q[:, None], np.inf)
    zero = np.zeros((q.shape[0], 1))
    kth = np.maximum(np.hstack([zero, left]), np.hstack([right[:, ::-1], zero])).min(1)
    if self_pairs:
        kth[order] = kth.copy()
    return kth


def _kth(ref: np.ndarray, points: np.ndarray, k: int, workers: int, p: float = 2) -> np.ndarray:
    """Distance from each point to its k-th neighbour in `ref` (k = 1: the nearest; a point of
    `ref` is its own first neighbour when `points` is `ref`).

    In 1-D by the sorted values (`_kth_1d`); a k-d tree (``cKDTree``) queried on `workers`
    cores below `BRUTE_FORCE_DIM` dimensions (and for the max-norm), the points in a tree's
    leaf order (near points one after the other: 2–3× faster than in random order, the same
    distances); blocks of all pairs from there on.
    """
    if ref.shape[1] == 1:
        if points is ref:
            return np.zeros(ref.shape[0]) if k == 1 else _kth_1d(ref[:, 0], ref[:, 0], k - 1, True)
        return _kth_1d(ref[:, 0], points[:, 0], k, False)
    if p == 2 and ref.shape[1] >= BRUTE_FORCE_DIM:
        return _kth_brute(ref, points, k)
    tree = cKDTree(ref)
    order = tree.indices if points is ref else cKDTree(points).indices  # leaf order: neighbours stay in cache
    out = np.empty(points.shape[0])
    out[order] = tree.query(points[order], k=[k], p=p, workers=workers)[0][:, 0]
    return out


def knn_entropy(x, *, k: int = 3, base=None, workers: int = -1):
    r"""Kozachenko–Leonenko estimate of the differential entropy H(X) = −E log p(X).

    Asymptotically unbiased; the bias of finite n grows with d.

    Parameters
    ----------
    x : array_like or torch.Tensor
        Samples (n, d), or (n,) for scalars; finite, no point repeated (a distance of 0).
    k : int, default 3
        The neighbour used, below n (3 is the usual trade of bias for variance).
    base : float, optional
        The logarithm's base: None for nats, 2 for bits; a positive number other than 1.
    workers : int, default -1
        Cores for the k-d tree queries (-1: all).

    Returns
    -------
    numpy.floating or torch.Tensor
        A NumPy scalar in x's floating dtype (float64 for lists and integers), or a 0-d tensor on
        x's device, without autograd.

    Raises
    ------
    ValueError
        If x is not finite or has repeated points, `k` is not a positive integer below n, or
        `base` or `workers` is not valid.

    See Also
    --------
    knn_kl_divergence, ksg_mutual_information : the same neighbour distances, other measures.

    Notes
    -----
    .. math::

        \hat H = \psi(n) - \psi(k) + \log V_d + \frac{d}{n} \sum_{i=1}^n \log \varepsilon_i,

    εᵢ the Euclidean distance from xᵢ to its k-th nearest neighbour among the other samples, V_d
    the volume of the unit d-ball and ψ the digamma function.

    References
    ----------
    Kozachenko & Leonenko, "Sample estimate of the entropy of a random vector", Probl. Inf.
    Transm. 23 (1987); Kraskov, Stögbauer & Grassberger (2004), eq. 20.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> h = knn_entropy(rng.normal(size=(20_000, 1)))
    >>> bool(abs(h - 0.5 * np.log(2 * np.pi * np.e)) < 0.03)  # N(0, 1)
    True
    """
    (t,) = samples(x, names=("x",))
    scale, workers = log_base(base), _workers(workers)
    a = _numpy(t)
    n, d = a.shape
    k = _check_k(k, n)
    eps = _positive(_kth(a, a, k + 1, workers), "x")
    h = special.digamma(n) - special.digamma(k) + _log_ball(d) + d * np.mean(np.log(eps))
    return answer(h / scale, t, x)


def knn_kl_divergence(x, y, *, k: int = 1, base=None, workers: int = -1):
    r"""Wang–Kulkarni–Verdú k-NN estimate of KL(p‖q) from x ~ p (n, d) and y ~ q (m, d).

    Consistent as n, m → ∞ for fixed k; can be negative for small samples.

    Parameters
    ----------
    x, y : array_like or torch.Tensor
        Samples (n, d) of p and (m, d) of q, or (n,) and (m,); finite, no point repeated within
        x or shared by x and y.
    k : int, default 1
        The neighbour used: below n and at most m.
    base : float, optional
        The logarithm's base: None for nats, 2 for bits.
    workers : int, default -1
        Cores for the k-d tree queries (-1: all).

    Returns
    -------
    numpy.floating or torch.Tensor
        As `knn_entropy`, in x's dtype.

    Raises
    ------
    ValueError
        If the samples are not finite, differ in dimension or repeat a point, `k` is out of
        range, or `base` or `workers` is not valid.

    See Also
    --------
    knn_entropy : the entropy from the same distances.
    kl_divergence : KL between discrete distributions.

    Notes
    -----
    .. math::

        \hat D = \frac{d}{n} \sum_{i=1}^n \log \frac{\nu_k(i)}{\rho_k(i)} + \log \frac{m}{n - 1},

    ρₖ(i) the distance from xᵢ to its k-th nearest neighbour among the other x, νₖ(i) to its
    k-th nearest neighbour in y.

    References
    ----------
    Wang, Kulkarni & Verdú, "Divergence estimation for multidimensional densities via
    k-nearest-neighbor distances", IEEE Trans. Inf. Theory 55(5) (2009), eq. 5.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x, y = rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2)) + [1.0, 0.0]
    >>> bool(abs(knn_kl_divergence(x, y) - 0.5) < 0.1)  # ½‖μ₁ − μ₂‖²
    True
    """
    tx, ty = samples(x, y, names=("x", "y"))
    scale, workers = log_base(base), _workers(workers)
    a, b = _numpy(tx), _numpy(ty)
    (n, d), m = a.shape, b.shape[0]
    k = _check_k(k, n)
    _check_k(k, m + 1)
    rho = _positive(_kth(a, a, k + 1, workers), "x")
    nu = _positive(_kth(b, a, k, workers), "x and y together")
    kl = d * np.mean(np.log(nu) - np.log(rho)) + math.log(m / (n - 1))
    return answer(kl / scale, tx, x, y)


def _count_1d(v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """#{j: |vⱼ − vᵢ| ≤ rᵢ} for each i, by binary search in the sorted values.

    The search bounds vᵢ ± rᵢ are rounded; the ends are then moved until they agree with the
    test on the differences themselves (what a tree query does), which the sorted order
    keeps contiguous.
    """
    s = np.sort(v)
    n = s.shape[0]
    lo = np.searchsorted(s, v - r, "left")
    hi = np.searchsorted(s, v + r, "right")

    def inside(idx):
        return np.abs(s[np.clip(idx, 0, n - 1)] - v) <= r

    while True:
        down = (lo > 0) & inside(lo - 1)
        up = ~down & (lo < hi) & ~inside(lo)
        out = (hi < n) & inside(hi)
        back = ~out & (hi > lo) & ~inside(hi - 1)
        if not (down.any() or up.any() or out.any() or back.any()):
            return hi - lo
        lo = lo - down + up
        hi = hi + out - back


def _count(a: np.ndarray, r: np.ndarray, workers: int) -> np.ndarray:
    """#{j ≠ i: ‖aⱼ − aᵢ‖_∞ ≤ rᵢ}: one sorted array in 1-D, else one k-d tree counting query
    (scikit-learn's, which only counts, unlike ``cKDTree.query_ball_point``), rows in threads."""
    if a.shape[1] == 1:
        return _count_1d(a[:, 0], r) - 1
    from sklearn.neighbors import KDTree

    tree = KDTree(a, metric="chebyshev")
    order = np.asarray(tree.get_arrays()[1])  # the tree's leaf order: neighbours stay in cache
    threads = (os.cpu_count() or 1) if workers == -1 else workers
    with ThreadPoolExecutor(threads) as pool:
        parts = np.array_split(order, min(threads * 4, a.shape[0]))
        counts = np.empty(a.shape[0], dtype=np.intp)
        for i, c in zip(parts, pool.map(lambda i: tree.query_radius(a[i], r[i], count_only=True), parts)):
            counts[i] = c
        return counts - 1


def ksg_mutual_information(x, y, *, k: int = 3, base=None, workers: int = -1):
    r"""Kraskov–Stögbauer–Grassberger estimate of the mutual information I(X; Y) (their algorithm 1).

    Not scale-invariant across X and Y (the max-norm mixes them): scikit-learn's
    ``mutual_info_regression`` divides each variable by its standard deviation first. Can be
    slightly negative for independent variables (unlike scikit-learn's, not clipped at 0).

    Parameters
    ----------
    x : array_like or torch.Tensor
        Samples of X, (n, d_x) or (n,); finite.
    y : array_like or torch.Tensor
        The paired samples of Y, (n, d_y) or (n,); finite.
    k : int, default 3
        The neighbour used in the joint space, below n.
    base : float, optional
        The logarithm's base: None for nats, 2 for bits.
    workers : int, default -1
        Cores for the tree queries and the counts (-1: all).

    Returns
    -------
    numpy.floating or torch.Tensor
        As `knn_entropy`, in the promoted dtype of x and y.

    Raises
    ------
    ValueError
        If the samples are not finite or not paired (different n), `k` is not a positive integer
        below n, or `base` or `workers` is not valid.

    See Also
    --------
    mutual_information : I(X; Y) of a discrete joint table.

    Notes
    -----
    .. math::

        \hat I = \psi(k) + \psi(n) - \frac1n \sum_{i=1}^n \big[\psi(n_x(i) + 1) + \psi(n_y(i) + 1)\big],

    εᵢ the max-norm distance from (xᵢ, yᵢ) to its k-th neighbour in the joint space; n_x(i),
    n_y(i) count the other points strictly within εᵢ of xᵢ in X and of yᵢ in Y.

    References
    ----------
    Kraskov, Stögbauer & Grassberger, "Estimating mutual information", Phys. Rev. E 69 (2004),
    eq. 8.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> z = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=4000)
    >>> bool(abs(ksg_mutual_information(z[:, 0], z[:, 1]) + 0.5 * np.log(1 - 0.81)) < 0.05)
    True
    """
    tx, ty = (samples(v, names=(name,))[0] for v, name in ((x, "x"), (y, "y")))
    scale, workers = log_base(base), _workers(workers)
    a, b = _numpy(tx), _numpy(ty)
    n = a.shape[0]
    if b.shape[0] != n:
        raise ValueError(f"x and y must be paired samples, got {n} and {b.shape[0]}")
    k = _check_k(k, n)
    joint = np.hstack([a, b])
    eps = _kth(joint, joint, k + 1, workers, p=np.inf)
    radius = np.nextafter(eps, 0)  # strictly inside εᵢ
    nx, ny = _count(a, radius, workers), _count(b, radius, workers)
    mi = special.digamma(k) + special.digamma(n) - np.mean(special.digamma(nx + 1) + special.digamma(ny + 1))
    dtype = torch.promote_types(tx.dtype, ty.dtype)
    return answer(mi / scale, tx.to(dtype), x, y)
