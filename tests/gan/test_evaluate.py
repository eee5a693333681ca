"""klvae.gan.evaluate: mode-coverage metrics on data samples, collapsed generators, by hand."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from klvae.data.mixtures import mode_mixture, sample_mixture
from klvae.gan.evaluate import classifier_scores, mode_coverage

HQ_GAUSSIAN_2D = 1 - math.exp(-4.5)  # P(‖x − μ‖ ≤ 3σ) for a 2-D isotropic Gaussian: χ²₂ tail


@pytest.mark.parametrize("name, k", [("ring8", 8), ("grid25", 25)])
def test_samples_of_the_data_cover_every_mode(name, k):
    means, sigma = mode_mixture(name)
    x, _ = sample_mixture(means, sigma, 2500, torch.Generator().manual_seed(1))
    cov = mode_coverage(x, means, sigma)
    assert cov.modes == k
    assert cov.high_quality == pytest.approx(HQ_GAUSSIAN_2D, abs=0.005)  # 98.89% ± 0.5%
    # a multinomial(n, 1/K) histogram has E KL(q‖u) ≈ (K − 1)/(2n); far below 0.05
    assert 0 <= cov.reverse_kl < 0.05
    assert sum(cov.counts) == round(cov.high_quality * 2500)


@pytest.mark.parametrize("name, k", [("ring8", 8), ("grid25", 25)])
def test_a_generator_collapsed_on_one_mode(name, k):
    means, sigma = mode_mixture(name)
    g = torch.Generator().manual_seed(2)
    x = means[3] + sigma * torch.randn(2500, 2, generator=g)
    cov = mode_coverage(x, means, sigma)
    assert cov.modes == 1
    assert cov.reverse_kl == pytest.approx(math.log(k), abs=1e-12)
    assert cov.counts[3] == sum(cov.counts)


def test_counts_and_reverse_kl_by_hand():
    means = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    samples = np.array([[0.1, 0.0], [0.0, -0.2], [3.9, 0.1], [2.0, 2.0], [0.0, 3.5]])
    cov = mode_coverage(samples, means, 0.1)  # radius 0.3: (2,2) and (0,3.5) are not HQ
    assert cov.counts == (2, 1, 0)
    assert cov.modes == 2
    assert cov.high_quality == pytest.approx(3 / 5)
    q = np.array([2 / 3, 1 / 3, 0.0])
    expected = sum(qi * math.log(qi * 3) for qi in q if qi > 0)
    assert cov.reverse_kl == pytest.approx(expected, rel=1e-12)


def test_no_high_quality_samples_gives_nan_reverse_kl():
    means, sigma = mode_mixture("ring8")
    cov = mode_coverage(torch.full((10, 2), 5.0), means, sigma)
    assert cov.modes == 0 and cov.high_quality == 0.0 and math.isnan(cov.reverse_kl)


def test_non_finite_samples_are_never_high_quality():
    means, sigma = mode_mixture("ring8")
    x = torch.cat([means[:2], torch.tensor([[float("nan"), 0.0], [float("inf"), 1.0]])])
    cov = mode_coverage(x, means, sigma)
    assert cov.high_quality == pytest.approx(0.5)
    assert cov.modes == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 7), min_size=1, max_size=60))
def test_reverse_kl_is_log_k_minus_entropy(labels):
    means, sigma = mode_mixture("ring8")
    cov = mode_coverage(means[torch.tensor(labels)], means, sigma)  # samples exactly on modes
    q = np.bincount(labels, minlength=8) / len(labels)
    entropy = -sum(qi * math.log(qi) for qi in q if qi > 0)
    assert cov.reverse_kl == pytest.approx(math.log(8) - entropy, abs=1e-12)
    assert 0 <= cov.reverse_kl <= math.log(8) + 1e-12
    assert cov.modes == len(set(labels))


@pytest.mark.parametrize(
    "samples, means, sigma, match",
    [
        (
            np.zeros((3, 3)),
            np.zeros((2, 2)),
            1.0,
            r"samples must be \(n, D\) and means \(K, D\) with the same D, got \(3, 3\) and \(2, 2\)",
        ),
        (np.zeros((0, 2)), np.zeros((2, 2)), 1.0, "samples and means must be non-empty"),
        (np.zeros((3, 2)), np.zeros((2, 2)), 0.0, "sigma must be positive and finite, got 0.0"),
    ],
)
def test_mode_coverage_validates(samples, means, sigma, match):
    with pytest.raises(ValueError, match=match):
        mode_coverage(samples, means, sigma)


class _Oracle(torch.nn.Module):
    """Classifies by the first pixel's value: a stand-in classifier with known outputs."""

    def forward(self, x):
        v = x.flatten(1)[:, 0]
        return torch.stack([v * 10, (1 - v) * 10], dim=1)


def test_classifier_scores_by_hand():
    images = torch.zeros(4, 1, 2, 2)
    images[:3, 0, 0, 0] = 1.0  # three of class 0, one of class 1
    labels = torch.tensor([0, 1])  # data histogram (1/2, 1/2)
    s = classifier_scores(_Oracle(), images, labels, 2)
    assert s["class_kl"] == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5), rel=1e-12)
    expected_conf = 1 / (1 + math.exp(-10))
    assert s["confidence"] == pytest.approx(expected_conf, rel=1e-6)
    assert s["class_histogram"] == [0.75, 0.25]
