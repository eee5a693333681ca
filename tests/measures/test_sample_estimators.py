"""klvae.measures.sample_estimators: bias and spread against Gaussian closed forms, scipy and scikit-learn."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.feature_selection import mutual_info_regression

import klvae
from klvae.measures.sample_estimators import (
    energy_distance,
    knn_entropy,
    knn_kl_divergence,
    ksg_mutual_information,
    mmd2,
    sliced_wasserstein,
    wasserstein_distance_nd,
)

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


def test_mmd_is_unbiased_under_the_null_and_the_test_has_power():
    null = [
        mmd2(
            np.random.default_rng(s).normal(size=(200, 2)),
            np.random.default_rng(100 + s).normal(size=(200, 2)),
            bandwidth=1.0,
        ).mmd2
        for s in range(20)
    ]
    bias, sd = spread(null, 0.0)
    assert abs(bias) < 3 * sd / math.sqrt(20)  # E MMD²_u = 0 when p = q
    assert min(null) < 0  # unbiased, so negative at times
    rng = np.random.default_rng(5)
    res = mmd2(rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + [0.4, 0.0], permutations=300)
    assert res.p_value < 0.01 and res.mmd2 > 0
    res0 = mmd2(rng.normal(size=(200, 2)), rng.normal(size=(150, 2)), permutations=300)
    assert res0.p_value > 0.01 and 1 / 301 <= res0.p_value <= 1


def test_mmd_against_a_direct_double_sum():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(25, 3)) + 0.2
    sigma = 0.9

    def k(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * sigma**2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    want = (kxx.sum() - np.trace(kxx)) / (30 * 29) + (kyy.sum() - np.trace(kyy)) / (25 * 24) - 2 * kxy.mean()
    assert mmd2(x, y, bandwidth=sigma).mmd2 == pytest.approx(want, rel=1e-12)
    pooled = np.vstack([x, y])
    med = np.median(scipy.spatial.distance.pdist(pooled))
    assert mmd2(x, y).bandwidth == pytest.approx(med, rel=1e-12)


def test_energy_distance_matches_scipy_in_1d_and_the_definition_in_nd():
    rng = np.random.default_rng(7)
    u, v = rng.normal(size=300), rng.exponential(size=200)
    assert float(energy_distance(u, v)) == pytest.approx(scipy.stats.energy_distance(u, v), rel=1e-12)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    dist = scipy.spatial.distance.cdist
    want = math.sqrt(2 * dist(x, y).mean() - dist(x, x).mean() - dist(y, y).mean())
    assert float(energy_distance(x, y)) == pytest.approx(want, rel=1e-12)
    assert isinstance(energy_distance(torch.tensor(x), y), torch.Tensor)


def test_sliced_wasserstein():
    rng = np.random.default_rng(8)
    u, v = rng.normal(size=300), rng.normal(size=170) + 1
    assert float(sliced_wasserstein(u, v, p=1)) == pytest.approx(scipy.stats.wasserstein_distance(u, v), rel=1e-12)
    # equal covariances: SW₂² = ‖Δ‖²/d
    d, delta = 4, np.array([2.0, 0.0, 0.0, 0.0])
    x, y = rng.normal(size=(4000, d)), rng.normal(size=(4000, d)) + delta
    sw = float(sliced_wasserstein(x, y, n_projections=500))
    assert sw**2 == pytest.approx(delta @ delta / d, rel=0.1)
    assert sliced_wasserstein(x, y, seed=3) == sliced_wasserstein(x, y, seed=3)
    assert sliced_wasserstein(x, y, seed=3) != sliced_wasserstein(x, y, seed=4)


def test_wasserstein_nd_matches_scipy_and_sorting_in_1d():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + [0.5, 0.0]
    assert float(wasserstein_distance_nd(x, y)) == pytest.approx(scipy.stats.wasserstein_distance_nd(x, y), rel=1e-9)
    u, v = rng.normal(size=50), rng.normal(size=50)
    w2 = math.sqrt(np.mean((np.sort(u) - np.sort(v)) ** 2))  # monotone matching is optimal in 1-D
    assert float(wasserstein_distance_nd(u, v, p=2)) == pytest.approx(w2, rel=1e-12)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="x has repeated points"):
        knn_entropy(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="k = 5 needs more than 5 samples, got 5"):
        knn_entropy(np.random.default_rng(0).normal(size=(5, 1)), k=5)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        knn_kl_divergence([[0.0], [1.0]], [[0.5]], k=0)
    with pytest.raises(ValueError, match="x and y must be paired samples, got 3 and 2"):
        ksg_mutual_information([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="y has NaN or infinite entries"):
        mmd2([[0.0], [1.0]], [[0.0], [math.nan]])
    with pytest.raises(ValueError, match="bandwidth must be a positive number"):
        mmd2([[0.0], [1.0]], [[0.0], [2.0]], bandwidth=-1)
    with pytest.raises(ValueError, match=r"x and y must have the same shape \(equal sizes\)"):
        wasserstein_distance_nd(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="x and y must have the same dimension, got 2 and 3"):
        sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="x must be numeric"):
        energy_distance(["a"], [1.0])


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
