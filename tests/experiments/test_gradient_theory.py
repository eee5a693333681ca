"""klvae.experiments.gradient_theory against closed forms and scipy quad integration written out here."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from klvae.experiments.gradient_theory import (
    analytic_gradient,
    cosine,
    exact_variance,
    gaussian_bump,
    quadratic,
    sampling_blocks_gradients,
)
from reference import MU, NUMPY_COSTS, SIGMA, quad_var, ref_variances

pytestmark = pytest.mark.usefixtures("one_thread")


COSTS = [quadratic(0.0), gaussian_bump(10.0), cosine(5.0)]


# ----------------------------------------------------------------- the costs' numbers


def test_the_cost_table_numbers():
    """Mohamed et al. (2020) §3 at μ = σ = 1: the variances of the ∂μ estimators."""
    ref = {name: ref_variances(name) for name in NUMPY_COSTS}
    assert ref["x^2"]["pathwise"][0] == pytest.approx(4.0, rel=1e-9)
    assert ref["x^2"]["score"][0] == pytest.approx(30.0, rel=1e-9)
    assert ref["exp(-10x^2)"]["pathwise"][0] == pytest.approx(0.94, abs=0.005)
    assert ref["exp(-10x^2)"]["score"][0] == pytest.approx(0.077, abs=0.0005)
    # cos: Var[−5 sin 5x] = 25·E[sin² 5x] − (E[−5 sin 5x])², E[sin² 5x] = (1 − cos(10μ)e^{−50σ²})/2
    e_sin2 = (1 - math.cos(10) * math.exp(-50)) / 2
    e_dsin = -5 * math.sin(5) * math.exp(-12.5)
    assert ref["cos(5x)"]["pathwise"][0] == pytest.approx(25 * e_sin2 - e_dsin**2, rel=1e-7)
    assert ref["cos(5x)"]["pathwise"][0] == pytest.approx(12.5, abs=1e-4)
    assert ref["cos(5x)"]["score"][0] == pytest.approx(0.5, abs=1e-4)
    for cost in COSTS:
        for est in ("pathwise", "score"):
            np.testing.assert_allclose(exact_variance(est, cost, MU, SIGMA), ref[cost.name][est], rtol=1e-6)


@settings(max_examples=10, deadline=None)
@given(k=st.floats(-2, 3))
def test_quadratic_score_variance_is_a4_plus_14a2_plus_15(k):
    a = MU - k
    cost = quadratic(k)
    assert exact_variance("score", cost, MU, 1.0)[0] == pytest.approx(a**4 + 14 * a**2 + 15, rel=1e-6)
    assert exact_variance("pathwise", cost, MU, 1.0)[0] == pytest.approx(4.0, rel=1e-6)


def test_analytic_gradients_match_hand_derivatives():
    # E[(x−k)²] = (μ−k)² + σ²; E[cos ωx] = cos(ωμ)e^{−ω²σ²/2}; E[e^{−ax²}] by quad
    assert analytic_gradient(quadratic(0.5), 1.2, 0.8) == pytest.approx([2 * 0.7, 2 * 0.8])
    w, mu, s = 5.0, 0.3, 0.4
    env = math.exp(-((w * s) ** 2) / 2)
    assert analytic_gradient(cosine(w), mu, s) == pytest.approx(
        [-w * math.sin(w * mu) * env, -(w**2) * s * math.cos(w * mu) * env]
    )
    grad_mu = integrate.quad(lambda x: -20 * x * np.exp(-10 * x**2) * stats.norm.pdf(x, mu, s), -8, 8)[0]
    grad_s = integrate.quad(lambda x: -20 * x * np.exp(-10 * x**2) * (x - mu) / s * stats.norm.pdf(x, mu, s), -8, 8)[0]
    assert analytic_gradient(gaussian_bump(10.0), mu, s) == pytest.approx([grad_mu, grad_s], rel=1e-8)


def test_leave_one_out_limit_is_the_variance_with_baseline_E_f():
    f, _ = NUMPY_COSTS["exp(-10x^2)"]
    mean_f = math.exp(-10 / 21) / math.sqrt(21)
    ref = (quad_var(lambda e: (f(1 + e) - mean_f) * e), quad_var(lambda e: (f(1 + e) - mean_f) * (e * e - 1)))
    np.testing.assert_allclose(exact_variance("score_baseline", gaussian_bump(10.0), MU, SIGMA), ref, rtol=1e-6)


def test_pathwise_wins_for_the_quadratic_and_loses_for_bump_and_cosine():
    for cost, pathwise_wins in zip(COSTS, (True, False, False)):
        path, score = exact_variance("pathwise", cost, MU, SIGMA), exact_variance("score", cost, MU, SIGMA)
        assert bool((path < score).all()) == pathwise_wins, cost.name


def test_sample_blocks_gradients_and_rsample_lets_them_through():
    demo = sampling_blocks_gradients(MU, SIGMA, seed=7)
    assert demo["sample"]["requires_grad"] is False
    assert demo["sample"]["grad_mu"] is None and demo["sample"]["grad_sigma"] is None
    for how in ("rsample", "mu_plus_sigma_eps"):
        z = demo[how]["z"]
        eps = (z - MU) / SIGMA
        assert demo[how]["requires_grad"] is True
        assert demo[how]["grad_mu"] == pytest.approx(2 * z)  # d z²/dμ = 2z
        assert demo[how]["grad_sigma"] == pytest.approx(2 * z * eps)  # d z²/dσ = 2z·ε
    assert demo["sample"]["z"] == demo["rsample"]["z"]  # same seed, same draw
    x = torch.distributions.Normal(torch.tensor(0.0, requires_grad=True), 1.0).sample()
    assert x.grad_fn is None
