"""klvae.measures.mixture_bounds: the bounds bracket the KL (quadrature in 1-D, Monte Carlo in 2-D)."""

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal

import klvae
from klvae import kl_gaussian_mixtures

D = torch.float64


def t(*x):
    return torch.tensor(x, dtype=D)


def mix1(w, m, s):
    return MixtureSameFamily(Categorical(t(*w)), Normal(t(*m), t(*s)))


CASES_1D = [
    (Normal(t(0.5), t(0.5)), mix1([0.5, 0.5], [-2.0, 2.0], [1.0, 1.0])),  # a VAE posterior against a mixture prior
    (mix1([0.3, 0.7], [-1.0, 1.5], [0.5, 1.2]), mix1([0.5, 0.5], [-2.0, 2.0], [1.0, 1.0])),
    (mix1([0.2, 0.5, 0.3], [-3.0, 0.0, 2.0], [0.4, 1.0, 0.7]), Normal(t(0.0), t(2.0))),
    (mix1([0.5, 0.5], [-0.1, 0.1], [1.0, 1.0]), mix1([0.5, 0.5], [-0.1, 0.1], [1.0, 1.01])),
]


@pytest.mark.parametrize("case", range(len(CASES_1D)))
def test_bounds_bracket_the_quadrature_kl_and_the_monte_carlo_interval(case):
    p, q = CASES_1D[case]
    r = kl_gaussian_mixtures(p, q, n=40_000)
    exact = klvae.kl_divergence(p, q)  # 1-D: quadrature with its error bound (independent of the bounds)
    assert exact.method == "quadrature"
    assert float(r.lower) <= float(exact) + 1e-12 <= float(r.upper) + 2e-12
    mc, se = float(r.monte_carlo), float(r.monte_carlo.stderr)
    assert abs(mc - float(exact)) < 5 * se + 1e-12
    assert float(r.lower) <= mc + 5 * se and mc - 5 * se <= float(r.upper)


def test_single_gaussians_make_the_variational_approximation_exact():
    p, q = Normal(t(0.5), t(0.5)), Normal(t(0.0), t(2.0))
    r = kl_gaussian_mixtures(p, q, n=1000)
    assert float(r.variational) == pytest.approx(float(klvae.kl_divergence(p, q)), rel=1e-13)


def test_two_dimensional_mixtures_are_bracketed_and_batched():
    g = torch.Generator().manual_seed(1)
    locs = torch.randn(3, 2, 2, generator=g, dtype=D)  # batch 3, 2 components, 2-D
    p = MixtureSameFamily(Categorical(torch.ones(3, 2, dtype=D)), Independent(Normal(locs, 0.7), 1))
    cov = torch.tensor([[1.0, 0.3], [0.3, 0.8]], dtype=D)
    q = MixtureSameFamily(
        Categorical(t(0.6, 0.4)), MultivariateNormal(t([0.0, 0.0], [1.0, -1.0]), covariance_matrix=cov.expand(2, 2, 2))
    )
    r = kl_gaussian_mixtures(p, q, n=40_000)
    assert r.lower.shape == r.upper.shape == r.monte_carlo.shape == (3,)
    mc, se = r.monte_carlo, r.monte_carlo.stderr
    assert bool((r.lower <= mc + 5 * se).all() and (mc - 5 * se <= r.upper).all())
    assert bool((r.lower <= r.upper).all())


def test_errors():
    with pytest.raises(TypeError, match="must be Gaussians"):
        kl_gaussian_mixtures(torch.distributions.Laplace(0.0, 1.0), Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="one dimension, got 1 and 2"):
        kl_gaussian_mixtures(Normal(t(0.0), t(1.0)), MultivariateNormal(t(0.0, 0.0), torch.eye(2, dtype=D)))
