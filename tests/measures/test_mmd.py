"""klvae.measures.mmd: direct double sums, the permutation test recomputed, unbiasedness, Fourier features, gradients.

The memory bound of the blocks is tested with the other pair sums in test_sample_distances.
"""

import math

import numpy as np
import pytest
import scipy.spatial
import scipy.stats
import torch

from klvae import mmd2, mmd2_linear
from reference import direct_mmd2


def spread(values, want):
    values = np.asarray(values, dtype=float)
    return values.mean() - want, values.std(ddof=1)


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


@pytest.mark.parametrize("max_memory", [200, 5_000, 60_000, None])
def test_blocked_equals_the_full_matrix_for_any_block_size(max_memory):
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(70, 3)) * [1, 2, 3] + 100, rng.normal(size=(53, 3)) + 100.3
    for biased in (False, True):
        got = mmd2(x, y, bandwidth=1.7, biased=biased, max_memory=max_memory).mmd2
        assert got == pytest.approx(direct_mmd2(x, y, 1.7, biased), rel=1e-12, abs=1e-15)


def test_the_permutation_pass_equals_one_statistic_per_permutation():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(25, 2)), rng.normal(size=(20, 2)) + 0.1
    res = mmd2(x, y, bandwidth=1.0, permutations=40, seed=5, max_memory=3_000)
    pooled, gen = np.vstack([x, y]), torch.Generator().manual_seed(5)
    labels = torch.cat([torch.ones(25), torch.zeros(20)])
    null = []
    for _ in range(40):  # the same shuffles, each statistic computed afresh
        is_x = labels[torch.randperm(45, generator=gen)].numpy() == 1
        null.append(direct_mmd2(pooled[is_x], pooled[~is_x], 1.0))
    observed = direct_mmd2(x, y, 1.0)
    assert res.p_value == (1 + sum(v >= observed - 1e-12 for v in null)) / 41
    assert 0.1 < res.p_value < 1


def test_fourier_features_converge_to_the_exact_statistic():
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=(150, 2)), rng.normal(size=(120, 2)) * 1.3
    for biased in (False, True):
        exact = direct_mmd2(x, y, 0.8, biased)
        err = [
            np.mean([abs(mmd2(x, y, bandwidth=0.8, biased=biased, features=f, seed=s).mmd2 - exact) for s in range(8)])
            for f in (30, 3_000, 300_000)
        ]
        assert err[2] < err[1] / 4 < err[0] / 16 and err[2] < 3e-4, err  # error ~ 1/√D: 10× per 100× D
    res = mmd2(x, y + 0.5, bandwidth=0.8, features=2_000, permutations=100, max_memory=20_000)
    assert res.p_value < 0.05 and res.mmd2 == pytest.approx(direct_mmd2(x, y + 0.5, 0.8), abs=1e-2)
    with pytest.raises(ValueError, match="features must be a positive integer, got 0"):
        mmd2(x, y, features=0)


def test_median_heuristic_on_a_subsample():
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(1500, 2)), rng.normal(size=(1500, 2)) * 2
    full = np.median(scipy.spatial.distance.pdist(np.vstack([x, y])))
    sigma = mmd2_linear(x, y).bandwidth  # 2000 of the 3000 points
    assert sigma != full and sigma == pytest.approx(full, rel=0.03)


def _torch_mmd2(x, y, sigma):
    def k(a, b):
        return torch.exp(-torch.cdist(a, b).square() / (2 * sigma**2))

    m, n = len(x), len(y)
    return (k(x, x).sum() - m) / (m * (m - 1)) + (k(y, y).sum() - n) / (n * (n - 1)) - 2 * k(x, y).mean()


def test_gradients_flow_through_the_blocks():
    rng = np.random.default_rng(14)
    x = torch.tensor(rng.normal(size=(30, 3)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(20, 3)) + 0.5, requires_grad=True)
    got = torch.autograd.grad(mmd2(x, y, bandwidth=1.3, max_memory=2_000).mmd2, (x, y))
    want = torch.autograd.grad(_torch_mmd2(x, y, 1.3), (x, y))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    small = (x[:6].detach().clone().requires_grad_(), y[:5].detach().clone().requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b: mmd2(a, b, bandwidth=1.0, max_memory=500).mmd2, small)


def test_the_fast_path_without_autograd_equals_the_differentiable_one():
    rng = np.random.default_rng(16)
    x, y = torch.tensor(rng.normal(size=(90, 3)) + 50), torch.tensor(rng.normal(size=(80, 3)) + 50.2)
    for kw in ({"max_memory": 3_000}, {"biased": True}):
        fast = mmd2(x, y, bandwidth=1.1, **kw).mmd2
        slow = mmd2(x.clone().requires_grad_(), y, bandwidth=1.1, **kw).mmd2
        assert float(fast) == pytest.approx(float(slow), rel=1e-11, abs=1e-15)


def test_dtype_and_device_follow_the_input():
    rng = np.random.default_rng(15)
    x, y = rng.normal(size=(200, 4)), rng.normal(size=(150, 4)) + 0.2
    want = mmd2(x, y, bandwidth=2.0).mmd2
    assert isinstance(want, np.float64)
    got = mmd2(x.astype(np.float32), y.astype(np.float32), bandwidth=2.0).mmd2
    assert isinstance(got, np.float32) and got == pytest.approx(want, rel=1e-4)
    t = mmd2(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), bandwidth=2.0).mmd2
    assert t.dtype == torch.float32 and float(t) == pytest.approx(want, rel=1e-4)
    if torch.cuda.is_available():
        tc = mmd2(torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda"), bandwidth=2.0).mmd2
        assert tc.device.type == "cuda" and float(tc) == pytest.approx(want, rel=1e-10)


def test_errors_name_the_argument():
    x = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="bandwidth must be a positive number"):
        mmd2(x, x, bandwidth=-1)
    with pytest.raises(ValueError, match="permutations must be an integer ≥ 0, got -1"):
        mmd2(x, x, permutations=-1)
    with pytest.raises(ValueError, match="max_memory must be a positive number of bytes, got 0"):
        mmd2(x, x, max_memory=0)
    with pytest.raises(ValueError, match="mmd2 needs at least 2 samples on each side, got 1 and 10"):
        mmd2(x[:1], x)
    with pytest.raises(ValueError, match="x and y must have the same dimension, got 2 and 3"):
        mmd2(x, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="the median distance is 0"):
        mmd2(np.zeros((5, 2)), np.zeros((5, 2)))
