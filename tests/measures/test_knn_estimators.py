"""klvae.measures.knn_estimators: bias and spread against Gaussian closed forms, scikit-learn and scipy's trees."""

import math

import numpy as np
import pytest
import scipy.spatial
import scipy.special
import scipy.stats
import torch
from sklearn.feature_selection import mutual_info_regression

import klvae
from klvae import energy_distance, knn_entropy, knn_kl_divergence, ksg_mutual_information, mmd2
from klvae.measures.knn_estimators import _count, _count_1d, _kth

SEEDS = range(8)


def gaussian_entropy(cov):
    d = cov.shape[0]
    return 0.5 * (d * math.log(2 * math.pi * math.e) + np.linalg.slogdet(cov)[1])


def spread(values, want):
    values = np.asarray(values, dtype=float)
    return values.mean() - want, values.std(ddof=1)


def test_knn_entropy_bias_and_spread_on_gaussians():
    cov = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 0.5]])
    want = gaussian_entropy(cov)
    est = [knn_entropy(np.random.default_rng(s).multivariate_normal(np.zeros(3), cov, size=3000)) for s in SEEDS]
    bias, sd = spread(est, want)
    assert abs(bias) < 0.05 and sd < 0.05, (bias, sd)
    assert float(knn_entropy(np.random.default_rng(0).normal(size=2000), base=2)) == pytest.approx(
        float(knn_entropy(np.random.default_rng(0).normal(size=2000))) / math.log(2)
    )


def test_knn_kl_bias_and_spread_on_gaussians():
    c1, c2 = np.diag([1.0, 0.5]), np.array([[2.0, 0.3], [0.3, 1.0]])
    mu = np.array([0.5, -0.5])
    want = float(klvae.kl_mvn(np.zeros(2), c1, mu, c2))
    est = []
    for s in SEEDS:
        rng = np.random.default_rng(s)
        est.append(
            knn_kl_divergence(rng.multivariate_normal(np.zeros(2), c1, 3000), rng.multivariate_normal(mu, c2, 3000))
        )
    bias, sd = spread(est, want)
    assert abs(bias) < 0.05 and sd < 0.06, (bias, sd)


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.95])
def test_ksg_bias_on_correlated_gaussians(rho):
    want = -0.5 * math.log(1 - rho**2)
    est = [
        ksg_mutual_information(*np.random.default_rng(s).multivariate_normal([0, 0], [[1, rho], [rho, 1]], 2000).T)
        for s in SEEDS
    ]
    bias, sd = spread(est, want)
    assert abs(bias) < 0.03 and sd < 0.04, (bias, sd)


def test_ksg_is_scikit_learns_algorithm():
    for seed in range(3):
        rng = np.random.default_rng(seed)
        z = rng.multivariate_normal([0, 0], [[2.0, 0.8], [0.8, 1.0]], 1500)
        sk = mutual_info_regression(z[:, :1], z[:, 1], n_neighbors=3, random_state=0)[0]
        x, y = z[:, 0] / z[:, 0].std(ddof=1), z[:, 1] / z[:, 1].std(ddof=1)  # scikit-learn scales each
        assert float(ksg_mutual_information(x, y, k=3)) == pytest.approx(sk, abs=2e-3)


def test_ksg_multivariate_blocks():
    rng = np.random.default_rng(4)
    cov = np.eye(4)
    cov[0, 2] = cov[2, 0] = 0.7
    cov[1, 3] = cov[3, 1] = 0.5
    z = rng.multivariate_normal(np.zeros(4), cov, 3000)
    want = -0.5 * (math.log(1 - 0.49) + math.log(1 - 0.25))
    assert float(ksg_mutual_information(z[:, :2], z[:, 2:])) == pytest.approx(want, abs=0.05)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="x has repeated points"):
        knn_entropy(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="k = 5 needs more than 5 samples, got 5"):
        knn_entropy(np.random.default_rng(0).normal(size=(5, 1)), k=5)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        knn_kl_divergence([[0.0], [1.0]], [[0.5]], k=0)
    with pytest.raises(ValueError, match="x and y must be paired samples, got 3 and 2"):
        ksg_mutual_information([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"y contains NaN at index \(1, 0\)"):
        mmd2([[0.0], [1.0]], [[0.0], [math.nan]])
    with pytest.raises(ValueError, match="x must be finite, got inf"):
        knn_entropy([0.0, 1.0, math.inf, 2.0], k=1)
    with pytest.raises(ValueError, match="x must be numeric"):
        energy_distance(["a"], [1.0])
    with pytest.raises(ValueError, match=r"x must be \(n, d\) samples, got shape \(2, 2, 2\)"):
        knn_entropy(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="workers must be a positive integer or -1"):
        knn_entropy(np.arange(5.0), workers=0)


def _message(fn, *args, **kw) -> str:
    with pytest.raises(ValueError) as err:
        fn(*args, **kw)
    return str(err.value)


@pytest.mark.parametrize("base", [-2, 1, 0, math.inf, "e"])
def test_base_is_checked_with_the_discrete_measures_message(base):
    want = _message(klvae.entropy, [0.5, 0.5], base=base)
    assert "base" in want
    x = np.random.default_rng(0).normal(size=(50, 2))
    assert _message(knn_entropy, x, base=base) == want
    assert _message(knn_kl_divergence, x, x + 1, base=base) == want
    assert _message(ksg_mutual_information, x[:, 0], x[:, 1], base=base) == want


@pytest.mark.parametrize("k", [0, -1, True, 2.5, "3"])
def test_k_must_be_a_positive_integer(k):
    x = np.random.default_rng(0).normal(size=(20, 2))
    for call in (lambda: knn_entropy(x, k=k), lambda: knn_kl_divergence(x, x + 1, k=k)):
        with pytest.raises(ValueError, match=f"k must be a positive integer, got {k!r}"):
            call()
    with pytest.raises(ValueError, match="k must be a positive integer"):
        ksg_mutual_information(x[:, 0], x[:, 1], k=k)


def test_dtype_and_device_follow_the_input():
    x = np.random.default_rng(1).normal(size=(500, 2))
    h64 = knn_entropy(x)
    h32 = knn_entropy(x.astype(np.float32))
    assert isinstance(h64, np.float64) and isinstance(h32, np.float32)
    assert float(h32) == pytest.approx(float(h64), rel=1e-5)
    t = knn_kl_divergence(torch.tensor(x, dtype=torch.float32), torch.tensor(x + 0.5))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.dim() == 0  # promoted as in torch
    t = ksg_mutual_information(torch.tensor(x[:, 0], dtype=torch.float32), torch.tensor(x[:, 1], dtype=torch.float32))
    assert t.dtype == torch.float32 and t.device == torch.device("cpu")
    if torch.cuda.is_available():
        assert knn_entropy(torch.tensor(x, device="cuda")).device.type == "cuda"


def test_workers_do_not_change_the_answer():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3000, 3)), rng.normal(size=(2000, 3))
    assert knn_entropy(x, workers=1) == knn_entropy(x, workers=-1)
    assert knn_kl_divergence(x, y, workers=1) == knn_kl_divergence(x, y, workers=2)
    z = x[:, 2] + 0.5 * x[:, 0]
    assert ksg_mutual_information(x[:, :2], z, workers=1) == ksg_mutual_information(x[:, :2], z, workers=-1)


@pytest.mark.parametrize("kind", ["continuous", "ties", "radius on a point"])
def test_sorted_1d_counts_equal_a_tree_query(kind):
    rng = np.random.default_rng(3)
    v = rng.normal(size=2000) * 1e3
    if kind == "ties":
        v = np.round(v / 100.0)
    r = np.abs(rng.normal(size=2000)) * 50
    if kind == "radius on a point":  # rᵢ = |vⱼ − vᵢ| exactly, for a random j: the boundary counts
        r = np.abs(v[rng.permutation(2000)] - v)
    tree = scipy.spatial.cKDTree(v[:, None]).query_ball_point(v[:, None], r, p=np.inf, return_length=True)
    np.testing.assert_array_equal(_count_1d(v, r), tree)


@pytest.mark.parametrize("kind", ["continuous", "ties"])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_sorted_1d_neighbours_equal_a_tree_query(kind, k):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(700, 1)), rng.normal(size=(500, 1)) + 0.3
    if kind == "ties":
        x, y = np.round(x * 10), np.round(y * 10)
    np.testing.assert_array_equal(_kth(x, x, k + 1, 1), scipy.spatial.cKDTree(x).query(x, k=k + 1)[0][:, k])
    np.testing.assert_array_equal(_kth(y, x, k, 1), scipy.spatial.cKDTree(y).query(x, k=[k])[0][:, 0])


@pytest.mark.parametrize("workers", [1, 2])
def test_counts_in_several_dimensions_equal_a_ball_query(workers):
    rng = np.random.default_rng(6)
    a = np.round(rng.normal(size=(1500, 3)) * 20)  # ties, and radii on points
    r = np.abs(a[rng.permutation(1500)] - a).max(1)
    want = scipy.spatial.cKDTree(a).query_ball_point(a, r, p=np.inf, return_length=True) - 1
    np.testing.assert_array_equal(_count(a, r, workers), want)


def test_lazy_exports():
    assert klvae.knn_entropy is knn_entropy and "mmd2" in klvae.__all__


def test_import_klvae_leaves_scipy_spatial_and_sklearn_unloaded():
    import subprocess
    import sys

    code = (
        "import sys, klvae; "
        "print(sorted(m for m in ('scipy.spatial', 'sklearn', 'scipy.integrate') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_high_dimensions_use_blocks_of_all_pairs_with_the_trees_answer():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(400, 20)), rng.normal(size=(300, 20)) + 0.3
    tree_x = scipy.spatial.cKDTree(x).query(x, k=4)[0][:, 3]
    tree_y = scipy.spatial.cKDTree(y).query(x, k=2)[0][:, 1]
    d, n, m = 20, 400, 300
    log_ball = 0.5 * d * math.log(math.pi) - scipy.special.gammaln(0.5 * d + 1)
    want_h = scipy.special.digamma(n) - scipy.special.digamma(3) + log_ball + d * np.mean(np.log(tree_x))
    assert float(knn_entropy(x)) == pytest.approx(want_h, rel=1e-12)
    rho = scipy.spatial.cKDTree(x).query(x, k=3)[0][:, 2]
    want_kl = d * np.mean(np.log(tree_y) - np.log(rho)) + math.log(m / (n - 1))
    assert float(knn_kl_divergence(x, y, k=2)) == pytest.approx(want_kl, rel=1e-10)
