"""klvae.measures.sample_distances: scipy, the definitions on all pairs, gradients, memory."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.spatial
import scipy.stats
import torch

from klvae import energy_distance, sliced_wasserstein, wasserstein_distance_nd


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


@pytest.mark.parametrize("max_memory", [100, 4_000, None])
def test_energy_blocked_equals_all_pairs_and_1d_equals_scipy(max_memory):
    rng = np.random.default_rng(20)
    x, y = rng.normal(size=(61, 4)) + 50, rng.standard_t(3, size=(47, 4)) + 50
    dist = scipy.spatial.distance.cdist
    want = math.sqrt(2 * dist(x, y).mean() - dist(x, x).mean() - dist(y, y).mean())
    assert float(energy_distance(x, y, max_memory=max_memory)) == pytest.approx(want, rel=1e-12)
    u, v = np.round(rng.normal(size=3000), 1), rng.normal(size=2000) + 0.05  # with ties
    assert float(energy_distance(u, v)) == pytest.approx(scipy.stats.energy_distance(u, v), rel=1e-10)


@pytest.mark.parametrize("max_memory", [1_000, 100_000, None])
def test_sliced_chunks_do_not_change_the_answer(max_memory):
    rng = np.random.default_rng(21)
    for n, m in ((300, 300), (300, 170)):
        x, y = rng.normal(size=(n, 3)), rng.normal(size=(m, 3)) + [1.0, 0.0, 0.0]
        whole = sliced_wasserstein(x, y, n_projections=40, max_memory=2**30)
        assert sliced_wasserstein(x, y, n_projections=40, max_memory=max_memory) == pytest.approx(whole, rel=1e-13)
    # the 1-D W_p against the quantile functions sampled on a fine grid (an independent route)
    u, v = rng.normal(size=120), rng.exponential(size=70)
    t = (np.arange(840_000) + 0.5) / 840_000  # a common multiple of 120 and 70: exact on each piece
    qu, qv = np.sort(u)[(t * 120).astype(int)], np.sort(v)[(t * 70).astype(int)]
    want = np.mean(np.abs(qu - qv) ** 3) ** (1 / 3)
    assert float(sliced_wasserstein(u, v, p=3, max_memory=500)) == pytest.approx(want, rel=1e-10)


def test_gradients_flow_for_tensors():
    rng = np.random.default_rng(22)
    x = torch.tensor(rng.normal(size=(7, 3)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(5, 3)) + 0.4, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: energy_distance(a, b, max_memory=100), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: energy_distance(a[:, 0], b[:, 0]), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: sliced_wasserstein(a, b, n_projections=5, max_memory=200), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: sliced_wasserstein(a, b[:5], n_projections=5), (x[:5], y))
    assert torch.autograd.gradcheck(lambda a, b: wasserstein_distance_nd(a, b, p=2), (x[:5], y))
    # blocked (checkpointed) against the autograd of all pairs at once
    big_x = torch.tensor(rng.normal(size=(40, 3)), requires_grad=True)
    e = energy_distance(big_x, y, max_memory=300)
    dist = lambda a, b: torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")  # noqa: E731
    ref = (2 * dist(big_x, y).mean() - dist(big_x, big_x).mean() - dist(y, y).mean()).sqrt()
    got, want = torch.autograd.grad(e, big_x)[0], torch.autograd.grad(ref, big_x)[0]
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_dtype_and_device_follow_the_input():
    rng = np.random.default_rng(23)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(200, 3)) + 0.3
    for f in (energy_distance, sliced_wasserstein):
        want = f(x, y)
        assert isinstance(want, np.float64)
        got = f(x.astype(np.float32), y.astype(np.float32))
        assert isinstance(got, np.float32) and got == pytest.approx(want, rel=1e-4)
        t = f(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
        assert t.dtype == torch.float32 and t.dim() == 0 and float(t) == pytest.approx(want, rel=1e-4)
        if torch.cuda.is_available():
            tc = f(torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda"))
            assert tc.device.type == "cuda" and float(tc) == pytest.approx(want, rel=1e-9)


def test_memory_stays_within_the_budget():
    """Peak resident memory of a fresh process (ru_maxrss; freed blocks unmapped): MMD², energy in 3-d, sliced W."""
    code = """
import resource, numpy as np, torch, klvae
torch.set_num_threads(1)
rng = np.random.default_rng(0)
x, y = rng.normal(size=(3000, 3)), rng.normal(size=(3000, 3))
u, v = rng.normal(size=(60_000, 3)), rng.normal(size=(50_000, 3))
klvae.energy_distance(x[:50], y[:50]), klvae.sliced_wasserstein(x[:50], y[:40]), klvae.mmd2(x[:9], y[:9])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
klvae.mmd2(x, y, bandwidth=1.0, permutations=3, max_memory=2 * 2**20)  # 6000² kernel values: 0.3 GB
klvae.energy_distance(x, y, max_memory=2 * 2**20)  # 6000² distances: 0.3 GB at once
klvae.sliced_wasserstein(u, v, n_projections=50, max_memory=4 * 2**20)  # 50 sorts at once: ~0.13 GB
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}  # large blocks go back to the system when freed
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    grew_mb = int(out.stdout.strip()) / 1024
    assert grew_mb < 40, grew_mb


def test_energy_from_random_pairs_converges_to_the_u_statistic():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(150, 3)) + 0.4
    cdist = scipy.spatial.distance.cdist
    u = 2 * cdist(x, y).mean() - cdist(x, x).sum() / (200 * 199) - cdist(y, y).sum() / (150 * 149)
    err = [
        np.mean([abs(float(energy_distance(x, y, pairs=b, seed=s, max_memory=20_000)) ** 2 - u) for s in range(8)])
        for b in (1_000, 100_000)
    ]
    assert err[1] < err[0] / 4 and err[1] < 0.01, (err, u)  # Monte Carlo error ~ 1/√B
    xt = torch.tensor(x, requires_grad=True)
    energy_distance(xt, y, pairs=500).backward()
    assert xt.grad is not None and torch.isfinite(xt.grad).all() and xt.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="pairs must be a positive integer, got 0"):
        energy_distance(x, y, pairs=0)
    with pytest.raises(ValueError, match="with pairs needs at least 2 samples on each side, got 1 and 150"):
        energy_distance(x[:1], y, pairs=10)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"x and y must have the same shape \(equal sizes\)"):
        wasserstein_distance_nd(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="x and y must have the same dimension, got 2 and 3"):
        sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n_projections must be a positive integer, got 0"):
        sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 2)), n_projections=0)
    with pytest.raises(ValueError, match="p must be a finite number ≥ 1, got 0.5"):
        sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 2)), p=0.5)
    with pytest.raises(ValueError, match="x must be finite, got inf"):
        energy_distance([0.0, math.inf], [1.0])
    with pytest.raises(ValueError, match="max_memory must be a positive number of bytes"):
        energy_distance([0.0, 1.0], [1.0], max_memory=-5)
