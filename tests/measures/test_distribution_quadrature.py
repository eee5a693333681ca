"""klvae.measures.distribution_quadrature: the integrals and sums against scipy, their bounds honest."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Cauchy, Gamma, Geometric, Normal, Poisson, Uniform

from klvae.measures.distribution_quadrature import integrate_1d, sum_discrete
from klvae.measures.measure_integrands import measure_spec

D = torch.float64


def t(*x):
    return torch.tensor(x, dtype=D)


@pytest.mark.parametrize(
    ("p", "twin"),
    [
        (Normal(t(0.0, 3.0), t(1.0, 1e-3)), [stats.norm(0, 1), stats.norm(3, 1e-3)]),  # a narrow one too
        (Cauchy(t(0.0), t(2.0)), [stats.cauchy(0, 2)]),  # heavy tails
        (Gamma(t(0.3, 5.0), t(1.0, 2.0)), [stats.gamma(0.3), stats.gamma(5.0, scale=0.5)]),  # a singular edge
        (Uniform(t(-1.0), t(3.0)), [stats.uniform(-1, 4)]),
    ],
)
def test_entropies_by_quadrature_match_scipy_within_the_bound(p, twin):
    value, bound, pieces = integrate_1d(measure_spec("entropy"), p)
    want = np.array([d.entropy() for d in twin])
    assert value.shape == p.batch_shape and pieces > 0
    np.testing.assert_allclose(value.numpy(), want, rtol=1e-9, atol=1e-12)
    assert bool((bound.numpy() < 1e-8 * np.maximum(np.abs(want), 1)).all())


def test_a_kink_is_resolved_by_bisection_and_the_bound_covers_the_error():
    p, q = Normal(t(0.0), t(1.0)), Normal(t(1.0), t(2.0))
    value, bound, _ = integrate_1d(measure_spec("tv"), p, q)
    f = lambda x: 0.5 * abs(stats.norm.pdf(x) - stats.norm.pdf(x, 1, 2))  # noqa: E731
    want = sum(integrate.quad(f, a, b, epsabs=1e-14)[0] for a, b in [(-40, -2.0), (-2.0, 0.0), (0.0, 2.0), (2.0, 40)])
    assert abs(float(value) - want) <= float(bound) + 1e-12 and float(bound) < 1e-8


def test_sums_exact_on_finite_supports_and_bounded_when_truncated():
    value, bound, points = sum_discrete(measure_spec("entropy"), Poisson(t(4.0, 400.0)))
    np.testing.assert_allclose(
        value.numpy(), [stats.poisson(4.0).entropy(), stats.poisson(400.0).entropy()], rtol=1e-12
    )
    assert points > 400 and bool((bound < 1e-14).all())
    value, bound, _ = sum_discrete(measure_spec("kl"), Geometric(t(0.01)), Geometric(t(0.02)))
    a, b = 0.01, 0.02  # KL of two geometric laws: log(a/b) + (1 − a)/a · log((1 − a)/(1 − b))
    assert float(value) == pytest.approx(math.log(a / b) + (1 - a) / a * math.log((1 - a) / (1 - b)), rel=1e-12)
    assert float(bound) <= 1e-15 * float(value)
