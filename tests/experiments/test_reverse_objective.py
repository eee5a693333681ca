"""The reverse-KL objective and its minimizer against the Gaussian KL written out here."""

import math

import numpy as np
import pytest
import torch

from klvae.experiments.reverse_objective import minimize_kl, reverse_objective
from klvae.measures.mixture import gaussian_mixture

pytestmark = pytest.mark.usefixtures("one_thread")


def kl_normal_1d(m, s, mp, sp):
    """KL(N(m, s²) ‖ N(mp, sp²)), the textbook closed form."""
    return math.log(sp / s) + (s * s + (m - mp) ** 2) / (2 * sp * sp) - 0.5


def kl_mvn(m, cov, mp, covp):
    inv = np.linalg.inv(covp)
    d = len(m)
    diff = mp - m
    return 0.5 * (np.trace(inv @ cov) + diff @ inv @ diff - d + math.log(np.linalg.det(covp) / np.linalg.det(cov)))


@pytest.mark.parametrize("m, s", [(0.0, 1.0), (1.5, 0.5), (-2.0, 3.0)])
def test_quadrature_objective_is_the_gaussian_kl(m, s):
    p = gaussian_mixture([1.0], [1.0], [2.0])
    fn = reverse_objective(p, 1, "quadrature", 64, 0, 0)
    value = fn(torch.tensor([m], dtype=torch.float64), torch.tensor([[s]], dtype=torch.float64))
    assert float(value) == pytest.approx(kl_normal_1d(m, s, 1.0, 2.0), abs=1e-10)


def test_monte_carlo_objective_is_near_the_gaussian_kl_and_deterministic():
    p = gaussian_mixture([1.0], [[1.0, -1.0]], [1.5])
    fn = reverse_objective(p, 2, "mc", 0, 200_000, 3)
    mean = torch.tensor([0.5, 0.0], dtype=torch.float64)
    L = torch.tensor([[1.0, 0.0], [0.3, 0.8]], dtype=torch.float64)
    want = kl_mvn(mean.numpy(), (L @ L.T).numpy(), np.array([1.0, -1.0]), 2.25 * np.eye(2))
    assert float(fn(mean, L)) == pytest.approx(want, abs=0.01)
    assert float(fn(mean, L)) == float(fn(mean, L))  # common random numbers: the same draws each call


def test_minimize_kl_finds_a_gaussian_target():
    p = gaussian_mixture([1.0], [1.0], [2.0])
    fn = reverse_objective(p, 1, "quadrature", 64, 0, 0)
    start = (torch.tensor([-1.0], dtype=torch.float64), torch.tensor([[0.5]], dtype=torch.float64))
    mean, cov, value, converged = minimize_kl(fn, *start, steps=50, lr=0.05, span=20.0)
    assert float(mean[0]) == pytest.approx(1.0, abs=1e-6) and float(cov[0, 0]) == pytest.approx(4.0, abs=1e-5)
    assert value == pytest.approx(0.0, abs=1e-10) and converged
