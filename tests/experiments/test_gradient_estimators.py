"""klvae.experiments.gradient_estimators against closed forms and scipy quad integration written out here."""

import math

import numpy as np
import pytest
import torch

from klvae.experiments.gradient_estimators import (
    estimate_gradient,
    pathwise_gradients,
    score_function_gradients,
    variance_table,
)
from klvae.experiments.gradient_theory import (
    ESTIMATORS,
    analytic_gradient,
    cosine,
    exact_variance,
    gaussian_bump,
    quadratic,
)
from reference import MU, SIGMA, ref_variances

pytestmark = pytest.mark.usefixtures("one_thread")


COSTS = [quadratic(0.0), gaussian_bump(10.0), cosine(5.0)]


# ----------------------------------------------------------------- unbiased, measured variance


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("cost", COSTS, ids=lambda c: c.name)
def test_every_estimator_is_unbiased(cost, estimator):
    g = estimate_gradient(estimator, cost.f, MU, SIGMA, 8, repeats=5000, seed=11)  # (R, 2)
    se = g.std(0) / math.sqrt(g.shape[0])
    truth = torch.as_tensor(analytic_gradient(cost, MU, SIGMA))
    assert ((g.mean(0) - truth).abs() < 4 * se).all(), (g.mean(0), truth, se)


@pytest.mark.parametrize("cost", COSTS, ids=lambda c: c.name)
def test_measured_per_sample_variances_match_quadrature(cost):
    ref = ref_variances(cost.name)
    n = 400_000
    path = pathwise_gradients(cost.f, MU, SIGMA, n, seed=2)[0]  # (n, 2)
    score = score_function_gradients(cost.f, MU, SIGMA, n, seed=3)[0]
    np.testing.assert_allclose(path.var(0).numpy(), ref["pathwise"], rtol=0.10)
    np.testing.assert_allclose(score.var(0).numpy(), ref["score"], rtol=0.10)


@pytest.mark.parametrize("n", [2, 5])
def test_leave_one_out_variance_formula_matches_simulation(n):
    cost = gaussian_bump(10.0)
    g = estimate_gradient("score_baseline", cost.f, MU, SIGMA, n, repeats=100_000, seed=4 + n)
    np.testing.assert_allclose((n * g.var(0)).numpy(), exact_variance("score_baseline", cost, MU, SIGMA, n), rtol=0.10)


def test_a_baseline_lowers_the_score_function_variance_for_the_quadratic():
    cost = quadratic(0.0)
    plain = estimate_gradient("score", cost.f, MU, SIGMA, 32, repeats=4000, seed=5).var(0)
    loo = estimate_gradient("score_baseline", cost.f, MU, SIGMA, 32, repeats=4000, seed=5).var(0)
    assert (loo < 0.8 * plain).all()
    assert (exact_variance("score_baseline", cost, MU, SIGMA, 32) < exact_variance("score", cost, MU, SIGMA)).all()


# ----------------------------------------------------------------- .sample() blocks gradients


def test_variance_table_rows_and_values():
    table = variance_table(ns=(2, 16), repeats=200, seed=1)
    assert len(table["rows"]) == 3 * 2 * 3
    row = next(r for r in table["rows"] if r["cost"] == "x^2" and r["param"] == "mu" and r["estimator"] == "score")
    assert row["analytic"] == pytest.approx(2.0)
    assert row["exact_var"] == pytest.approx([30.0, 30.0], rel=1e-6)
    assert abs(row["mean"] - 2.0) < 4 * row["stderr"]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="sigma must be positive, got 0"):
        pathwise_gradients(quadratic().f, 0.0, 0.0, 4)
    with pytest.raises(ValueError, match="n and repeats must be positive, got n=0"):
        pathwise_gradients(quadratic().f, 0.0, 1.0, 0)
    with pytest.raises(ValueError, match="baseline='loo' needs n >= 2 samples"):
        score_function_gradients(quadratic().f, 0.0, 1.0, 1, baseline="loo")
    with pytest.raises(ValueError, match="baseline must be None, a number or 'loo', got 'mean'"):
        score_function_gradients(quadratic().f, 0.0, 1.0, 4, baseline="mean")
    with pytest.raises(ValueError, match="estimator must be one of pathwise, score, score_baseline, got 'x'"):
        estimate_gradient("x", quadratic().f, 0.0, 1.0, 4)
    with pytest.raises(ValueError, match="estimator must be one of"):
        exact_variance("x", quadratic(), 0.0, 1.0)
    with pytest.raises(ValueError, match="baseline='loo' needs n >= 2 samples"):
        exact_variance("score_baseline", quadratic(), 0.0, 1.0, 1)


def test_constant_baseline_keeps_the_estimator_unbiased():
    cost = cosine(5.0)
    g = score_function_gradients(cost.f, 0.2, 0.5, 50_000, seed=8, baseline=0.7)[0].mean(0)
    se = score_function_gradients(cost.f, 0.2, 0.5, 50_000, seed=8, baseline=0.7)[0].std(0) / math.sqrt(50_000)
    assert ((g - torch.as_tensor(analytic_gradient(cost, 0.2, 0.5))).abs() < 4 * se).all()


def test_the_baseline_E_f_is_not_always_better():
    # for exp(−10x²) the σ-score (ε²−1) is small where f is large: subtracting E f adds variance
    cost = gaussian_bump(10.0)
    plain = estimate_gradient("score", cost.f, MU, SIGMA, 32, repeats=4000, seed=6).var(0)
    loo = estimate_gradient("score_baseline", cost.f, MU, SIGMA, 32, repeats=4000, seed=6).var(0)
    assert loo[1] > 2 * plain[1]
    assert exact_variance("score_baseline", cost, MU, SIGMA)[1] > 2 * exact_variance("score", cost, MU, SIGMA)[1]
