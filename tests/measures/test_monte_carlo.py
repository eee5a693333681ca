"""klvae.measures.monte_carlo: Monte Carlo KL against closed forms and numerical integration; every
closed form of klvae.measures.gaussian within 4 standard errors of it; seeding; gradients."""

import doctest

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

import klvae.measures.monte_carlo
from klvae.measures.gaussian import kl_normal, kl_std_normal
from klvae.measures.monte_carlo import MCEstimate, check_closed_form, mc_kl
from klvae.measures.mvn import kl_mvn

F64 = torch.float64
N = 20_000


def test_docstring_examples_run():
    assert doctest.testmod(klvae.measures.monte_carlo).failed == 0


def test_estimate_agrees_with_torch_closed_forms():
    gen = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(2, 4, dtype=F64, generator=gen), torch.randn(4, dtype=F64, generator=gen)
    s1, s2 = torch.rand(2, 4, dtype=F64, generator=gen) + 0.5, torch.rand(4, dtype=F64, generator=gen) + 0.5
    p, q = Normal(mu1, s1), Normal(mu2, s2)
    est = mc_kl(p, q, N, seed=1)
    assert isinstance(est, MCEstimate) and est.n == N
    assert est.value.shape == est.stderr.shape == (2, 4)
    z = (kl_divergence(p, q) - est.value) / est.stderr
    assert z.abs().max() < 4


# --- every closed form of klvae.measures.gaussian within 4 standard errors --------------------------


def test_kl_normal_within_4_standard_errors():
    gen = torch.Generator().manual_seed(2)
    mu1, mu2 = torch.randn(6, dtype=F64, generator=gen), torch.randn(6, dtype=F64, generator=gen)
    s1, s2 = torch.rand(6, dtype=F64, generator=gen) * 2 + 0.3, torch.rand(6, dtype=F64, generator=gen) * 2 + 0.3
    closed = kl_normal(mu1, s1, mu2, s2)
    assert check_closed_form(closed, Normal(mu1, s1), Normal(mu2, s2), N, seed=3).abs().max() < 4
    closed = kl_normal(mu1, s1, mu2, s2, axis=-1)
    p, q = Independent(Normal(mu1, s1), 1), Independent(Normal(mu2, s2), 1)
    assert check_closed_form(closed, p, q, N, seed=4).abs() < 4


def test_kl_std_normal_within_4_standard_errors():
    gen = torch.Generator().manual_seed(5)
    mu, logvar = torch.randn(3, 5, dtype=F64, generator=gen), torch.randn(3, 5, dtype=F64, generator=gen)
    p = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    q = Independent(Normal(torch.zeros(5, dtype=F64), torch.ones(5, dtype=F64)), 1)
    assert check_closed_form(kl_std_normal(mu, logvar), p, q, N, seed=6).abs().max() < 4


@pytest.mark.parametrize("form1, form2", [("cov", "cov"), ("precision", "scale_tril"), ("var", "cov")])
def test_kl_mvn_within_4_standard_errors(form1, form2):
    gen = torch.Generator().manual_seed(7)
    d = 4
    mu1, mu2 = torch.randn(3, d, dtype=F64, generator=gen), torch.randn(3, d, dtype=F64, generator=gen)
    a1, a2 = (torch.randn(3, d, d, dtype=F64, generator=gen) for _ in range(2))
    cov1, cov2 = a1 @ a1.mT / d + 0.5 * torch.eye(d, dtype=F64), a2 @ a2.mT / d + 0.5 * torch.eye(d, dtype=F64)
    if form1 == "var":
        cov1 = torch.diag_embed(cov1.diagonal(dim1=-2, dim2=-1))
    args = {
        "cov": lambda c: c,
        "precision": torch.linalg.inv,
        "scale_tril": torch.linalg.cholesky,
        "var": lambda c: c.diagonal(dim1=-2, dim2=-1),
    }
    closed = kl_mvn(mu1, mu2=mu2, **{f"{form1}1": args[form1](cov1), f"{form2}2": args[form2](cov2)})
    gap = check_closed_form(closed, MultivariateNormal(mu1, cov1), MultivariateNormal(mu2, cov2), N, seed=8)
    assert gap.shape == (3,) and gap.abs().max() < 4


# --- pairs with no closed form --------------------------------------------------------------


def test_gaussian_mixture_matches_numerical_integration():
    weights, means, scales = [0.3, 0.7], [-2.0, 1.5], [0.6, 1.0]
    mix = MixtureSameFamily(
        Categorical(torch.tensor(weights, dtype=F64)),
        Normal(torch.tensor(means, dtype=F64), torch.tensor(scales, dtype=F64)),
    )
    q = Normal(torch.tensor(0.0, dtype=F64), torch.tensor(2.0, dtype=F64))

    def log_p(x):
        return np.log(sum(w * stats.norm.pdf(x, m, s) for w, m, s in zip(weights, means, scales)))

    def log_q(x):
        return stats.norm.logpdf(x, 0.0, 2.0)

    def kl_by_quadrature(log_a, log_b):  # ∫ a (log a − log b) dx
        return integrate.quad(lambda x: np.exp(log_a(x)) * (log_a(x) - log_b(x)), -30, 30, limit=200)[0]

    # forward and reverse: the mixture on either side
    assert abs(check_closed_form(kl_by_quadrature(log_p, log_q), mix, q, N, seed=9)) < 4
    assert abs(check_closed_form(kl_by_quadrature(log_q, log_p), q, mix, N, seed=9)) < 4


def test_a_wrong_closed_form_is_caught():
    p, q = Normal(0.0, 1.0), Normal(0.5, 1.3)
    right = kl_normal(0.0, 1.0, 0.5, 1.3)
    assert abs(check_closed_form(right, p, q, 50_000, seed=10)) < 4
    assert abs(check_closed_form(right * 1.2, p, q, 50_000, seed=10)) > 4  # 20% off
    # the seeds' VAE term without the -1 (a classic slip) is far off
    slip = 0.5 * (0.5**2 + 1.0 - 0.0)
    assert abs(check_closed_form(slip, Normal(0.5, 1.0), Normal(0.0, 1.0), 1000, seed=11)) > 4


def test_identical_distributions_have_zero_estimate_and_stderr():
    p = Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    est = mc_kl(p, p, 100, seed=0)
    assert torch.equal(est.value, torch.zeros(2)) and torch.equal(est.stderr, torch.zeros(2))
    assert torch.equal(check_closed_form(0.0, p, p, 100), torch.zeros(2))
    assert torch.isinf(check_closed_form(0.1, p, p, 100)).all()


# --- the standard error means what it says ---------------------------------------------------


def test_stderr_matches_the_spread_over_seeds():
    p, q = Normal(0.0, 1.0), Normal(1.0, 0.7)
    ests = [mc_kl(p, q, 200, seed=s) for s in range(300)]
    spread = np.std([float(e.value) for e in ests], ddof=1)
    mean_stderr = np.mean([float(e.stderr) for e in ests])
    assert abs(spread / mean_stderr - 1) < 0.15
    covered = np.mean([abs(float(e.value) - float(kl_normal(0, 1, 1, 0.7))) < 2 * float(e.stderr) for e in ests])
    assert 0.9 < covered < 0.99  # ≈ 95% within 2 standard errors


# --- seeding and gradients -------------------------------------------------------------------


def test_seed_is_reproducible_and_leaves_the_global_rng_alone():
    p, q = Normal(0.0, 1.0), Normal(1.0, 2.0)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b = mc_kl(p, q, 500, seed=7), mc_kl(p, q, 500, seed=7)
    assert torch.equal(a.value, b.value) and torch.equal(a.stderr, b.stderr)
    assert torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(mc_kl(p, q, 500, seed=8).value, a.value)
    mc_kl(p, q, 500)  # seed=None draws from, and advances, the global generator
    assert not torch.equal(torch.get_rng_state(), state)


def test_gradient_through_rsample_estimates_the_true_gradient():
    # d/dμ KL(N(μ, 1) ‖ N(0, 1)) = μ; the reparameterized estimate is μ + mean(ε)
    mu = torch.tensor([0.3, -1.2], dtype=F64, requires_grad=True)
    est = mc_kl(Normal(mu, torch.ones(2, dtype=F64)), Normal(0.0, 1.0), N, seed=12)
    est.value.sum().backward()
    assert torch.all((mu.grad - mu.detach()).abs() < 4 / N**0.5)


def test_distributions_without_rsample_are_sampled():
    mix = MixtureSameFamily(Categorical(torch.ones(2)), Normal(torch.tensor([-1.0, 1.0]), torch.ones(2)))
    assert not mix.has_rsample
    est = mc_kl(mix, Normal(0.0, 2.0), 1000, seed=0)
    assert est.value.shape == () and est.stderr > 0


def test_errors():
    p = Normal(0.0, 1.0)
    with pytest.raises(ValueError, match=r"n must be an integer >= 2, got 1"):
        mc_kl(p, p, 1)
    with pytest.raises(ValueError, match=r"n must be an integer >= 2, got 2.5"):
        mc_kl(p, p, 2.5)
    with pytest.raises(ValueError, match="q must have a log_prob method, got int"):
        mc_kl(p, 3, 10)

    class OnlyDensity:
        def log_prob(self, x):
            return x

    with pytest.raises(ValueError, match="p must have a sample method, got OnlyDensity"):
        mc_kl(OnlyDensity(), p, 10)
