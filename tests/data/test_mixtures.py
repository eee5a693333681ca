"""The 2-D mode-coverage mixtures: their means as written in the papers, and draws with the right spread."""

import math

import numpy as np
import pytest
import torch

from klvae.data.mixtures import mode_mixture, sample_mixture


def test_ring8_means_are_eight_distinct_angles_on_the_unit_circle():
    means, sigma = mode_mixture("ring8")
    assert means.shape == (8, 2) and sigma == 0.01
    np.testing.assert_allclose(torch.linalg.norm(means, dim=1).numpy(), 1.0, atol=1e-6)
    angles = np.mod(np.arctan2(means[:, 1].numpy(), means[:, 0].numpy()), 2 * np.pi)
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-6)
    assert torch.pdist(means.double()).min() > 0.7  # 2 sin(π/8) ≈ 0.765: no repeated mode


def test_grid25_means_are_the_grid():
    means, sigma = mode_mixture("grid25")
    assert means.shape == (25, 2) and sigma == 0.05
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(m) for m in means.tolist()} == expected


def test_mode_mixture_unknown_name():
    with pytest.raises(ValueError, match=r"unknown mixture 'ring7'; expected 'ring8' or 'grid25'"):
        mode_mixture("ring7")


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_sample_mixture_std_labels_and_weights(name):
    means, sigma = mode_mixture(name)
    g = torch.Generator().manual_seed(3)
    n = 40_000
    x, labels = sample_mixture(means.double(), sigma, n, generator=g)
    assert x.shape == (n, 2) and x.dtype == torch.float64 and labels.dtype == torch.int64
    resid = x - means.double()[labels]
    # The standard error of a sample std is σ/√(2n); allow 5 of them.
    np.testing.assert_allclose(resid.std(dim=0).numpy(), sigma, rtol=5 / math.sqrt(2 * n))
    assert abs(float(resid.mean())) < 5 * sigma / math.sqrt(2 * n)
    nearest = torch.cdist(x, means.double()).argmin(dim=1)
    assert torch.equal(nearest, labels)
    counts = torch.bincount(labels, minlength=len(means)).double()
    k = len(means)  # multinomial counts: sd √(n p (1−p)) with p = 1/k
    assert (counts - n / k).abs().max() < 5 * math.sqrt(n / k * (1 - 1 / k))


def test_sample_mixture_is_reproducible_with_a_generator():
    means, sigma = mode_mixture("ring8")
    a = sample_mixture(means, sigma, 10, torch.Generator().manual_seed(1))
    b = sample_mixture(means, sigma, 10, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match=r"n must be non-negative, got -1"):
        sample_mixture(means, sigma, -1)
    with pytest.raises(ValueError, match=r"sigma > 0"):
        sample_mixture(means, 0.0, 3)
