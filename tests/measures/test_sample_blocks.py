"""klvae.measures._sample_blocks: blocked pair sums against direct double sums, for any block size."""

import numpy as np
import pytest
import scipy.spatial
import torch

from klvae.measures._sample_blocks import (
    block_rows,
    budget,
    distances,
    gaussian_kernel,
    pair_sum,
    samples,
    self_pair_sum,
)


@pytest.mark.parametrize("max_memory", [1, 300, 10_000, 2**30])
def test_pair_sums_equal_the_direct_double_sums(max_memory):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(37, 3)), rng.normal(size=(29, 3)) + 0.5
    ta, tb = torch.tensor(a), torch.tensor(b)
    dist = scipy.spatial.distance.cdist
    assert float(pair_sum(ta, tb, distances, max_memory)) == pytest.approx(dist(a, b).sum(), rel=1e-13)
    assert float(self_pair_sum(ta, distances, max_memory)) == pytest.approx(dist(a, a).sum(), rel=1e-13)
    gram = np.exp(-0.7 * dist(a, a, "sqeuclidean"))
    got = float(self_pair_sum(ta, gaussian_kernel(0.7), max_memory))
    assert got == pytest.approx(gram.sum() - np.trace(gram), rel=1e-12)


def test_the_kernel_in_place_equals_the_differentiable_one():
    rng = np.random.default_rng(1)
    a = torch.tensor(rng.normal(size=(20, 4)))
    b = torch.tensor(rng.normal(size=(15, 4)))
    kernel = gaussian_kernel(0.3)
    torch.testing.assert_close(kernel(a, b), kernel(a.requires_grad_(), b).detach(), rtol=1e-14, atol=0)


def test_blocks_and_budget():
    assert block_rows(1000, 8, 80_000) == 10
    assert block_rows(10**9, 8, 80) == 1  # at least one row
    assert budget(None) == 256 * 2**20 and budget(1e6) == 1_000_000
    for bad in (0, -1, float("nan"), "1", True):
        with pytest.raises(ValueError, match="max_memory must be a positive number of bytes"):
            budget(bad)


def test_samples_share_dtype_device_and_dimension():
    a, b = samples(np.zeros((3, 2), dtype=np.float32), torch.zeros(4, 2, dtype=torch.float64), names=("x", "y"))
    assert a.dtype == b.dtype == torch.float64 and a.shape == (3, 2)
    (c,) = samples([1, 2, 3], names=("x",))
    assert c.shape == (3, 1) and c.dtype == torch.float64
    with pytest.raises(ValueError, match="x and y must have the same dimension, got 2 and 3"):
        samples(np.zeros((3, 2)), np.zeros((3, 3)), names=("x", "y"))
    with pytest.raises(ValueError, match=r"x must hold at least one sample"):
        samples(np.zeros((0, 2)), names=("x",))
