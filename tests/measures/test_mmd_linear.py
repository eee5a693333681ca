"""klvae.measures.mmd_linear: the linear-time and block statistics against their definitions, their
null levels and power, gradients, dtypes and errors."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from klvae import mmd2_block, mmd2_linear
from reference import direct_mmd2


def _rejections(test, reps, n, alpha=0.05, shift=0.0):
    hits = 0
    for s in range(reps):
        rng = np.random.default_rng(1000 + s)
        hits += test(rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + shift, bandwidth=1.0).p_value < alpha
    return hits


@pytest.fixture
def one_thread():
    """Small problems many times: one thread avoids waiting on busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("test", [mmd2_linear, mmd2_block])
def test_asymptotic_tests_hold_their_level_and_have_power(test, one_thread):
    reps, alpha = 400, 0.05
    lo, hi = scipy.stats.binom.ppf([0.0005, 0.9995], reps, alpha)  # 99.9 % of the null's count
    assert lo <= _rejections(test, reps, 1000, alpha) <= hi
    assert _rejections(test, 20, 2000, alpha, shift=0.5) >= 18


def test_linear_and_block_against_their_definitions():
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=(41, 2)), rng.normal(size=(40, 2)) + 0.2
    k = lambda a, b: np.exp(-((a - b) ** 2).sum(1) / 2)  # noqa: E731
    h = k(x[0:40:2], x[1:40:2]) + k(y[0::2], y[1::2]) - k(x[0:40:2], y[1::2]) - k(x[1:40:2], y[0::2])
    res = mmd2_linear(x, y, bandwidth=1.0)
    assert res.mmd2 == pytest.approx(h.mean(), rel=1e-12)
    assert res.p_value == pytest.approx(scipy.stats.norm.sf(h.mean() / (h.std(ddof=1) / math.sqrt(20))), rel=1e-10)
    blocks = [direct_mmd2(x[i : i + 8], y[i : i + 8], 1.0) for i in range(0, 40, 8)]
    res = mmd2_block(x, y, block_size=8, bandwidth=1.0)
    assert res.mmd2 == pytest.approx(np.mean(blocks), rel=1e-12)
    assert res.p_value == pytest.approx(scipy.stats.norm.sf(np.mean(blocks) / (np.std(blocks, ddof=1) / math.sqrt(5))))


def test_gradients_flow_through_both_statistics():
    rng = np.random.default_rng(14)
    small = (torch.tensor(rng.normal(size=(6, 3)), requires_grad=True), torch.tensor(rng.normal(size=(5, 3)) + 0.5))
    small[1].requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: mmd2_linear(a, b, bandwidth=1.0).mmd2, small)
    assert torch.autograd.gradcheck(lambda a, b: mmd2_block(a, b, block_size=2, bandwidth=1.0).mmd2, small)


def test_the_fast_block_path_without_autograd_equals_the_differentiable_one():
    rng = np.random.default_rng(16)
    x, y = torch.tensor(rng.normal(size=(90, 3)) + 50), torch.tensor(rng.normal(size=(80, 3)) + 50.2)
    fast = mmd2_block(x, y, bandwidth=1.1, block_size=9).mmd2
    slow = mmd2_block(x.clone().requires_grad_(), y, bandwidth=1.1, block_size=9).mmd2
    assert float(fast) == pytest.approx(float(slow), rel=1e-11, abs=1e-15)


def test_dtype_follows_the_input():
    rng = np.random.default_rng(15)
    x, y = rng.normal(size=(200, 4)), rng.normal(size=(150, 4)) + 0.2
    assert mmd2_block(torch.tensor(x), y).mmd2.dtype == torch.float64
    assert isinstance(mmd2_linear(x.astype(np.float32), y.astype(np.float32)).mmd2, np.float32)


def test_errors_name_the_argument():
    x = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="x and y must have the same dimension, got 2 and 3"):
        mmd2_linear(x, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="mmd2_linear needs at least 4 samples on each side, got 3 and 10"):
        mmd2_linear(x[:3], x)
    with pytest.raises(ValueError, match="block_size = 6 leaves fewer than 2 blocks of 10 samples"):
        mmd2_block(x, x, block_size=6)
    with pytest.raises(ValueError, match="block_size must be an integer ≥ 2, got 1"):
        mmd2_block(x, x, block_size=1)
