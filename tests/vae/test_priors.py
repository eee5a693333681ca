"""The VampPrior against scipy: a normalized density (numerical integration on grids), the
mixture formula (scipy.stats), its samples (Kolmogorov–Smirnov against the mixture's CDF), and a
VAE whose prior is its encoder's posteriors at the pseudo-inputs."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp

from klvae.vae import VAE, VAEConfig, VampPrior, build_model
from klvae.vae.priors import standard_normal_log_prob

pytestmark = pytest.mark.usefixtures("one_thread")  # many small tensor operations


def random_components(k, d, seed):
    g = torch.Generator().manual_seed(seed)
    mu = 3 * torch.rand(k, d, generator=g, dtype=torch.float64) - 1.5  # means in (−1.5, 1.5)
    logvar = 2 * torch.log(0.3 + 1.2 * torch.rand(k, d, generator=g, dtype=torch.float64))  # σ in (0.3, 1.5)
    return mu, logvar


def scipy_log_mixture(z, mu, logvar):
    """log (1/K) Σ_k N(z; μ_k, diag σ_k²) with scipy.stats.multivariate_normal: z (n, d) → (n,)."""
    mu, var = mu.numpy(), np.exp(logvar.numpy())
    per = np.stack([stats.multivariate_normal(mu[j], np.diag(var[j])).logpdf(z) for j in range(len(mu))])
    return logsumexp(per.reshape(len(mu), -1), axis=0) - math.log(len(mu))


def mixture_cdf_1d(t, mu, sd):
    """CDF of (1/K) Σ_k N(μ_k, σ_k²) in one dimension (scipy.stats.norm)."""
    return np.mean([stats.norm.cdf(t, m, s) for m, s in zip(mu, sd)], axis=0)


# --- a normalized density equal to the mixture formula ---------------------------------------


def test_density_integrates_to_one_in_1d():
    mu, logvar = random_components(5, 1, 0)
    t = np.linspace(-14, 14, 20001)
    p = torch.exp(VampPrior.log_prob(torch.from_numpy(t)[:, None], mu, logvar)).numpy()
    assert p.shape == t.shape
    assert np.trapezoid(p, t) == pytest.approx(1.0, abs=1e-4)


def test_density_integrates_to_one_in_2d():
    mu, logvar = random_components(4, 2, 1)
    t = np.linspace(-11, 11, 701)
    grid = np.stack(np.meshgrid(t, t, indexing="ij"), -1)  # (701, 701, 2)
    p = torch.exp(VampPrior.log_prob(torch.from_numpy(grid), mu, logvar)).numpy()  # (701, 701)
    assert p.shape == (701, 701)
    total = np.trapezoid(np.trapezoid(p, t, axis=1), t)
    assert total == pytest.approx(1.0, abs=1e-4)


def test_per_dimension_marginals_integrate_to_one_and_match_the_1d_mixture():
    mu, logvar = random_components(4, 3, 2)
    t = np.linspace(-14, 14, 20001)
    z = torch.from_numpy(t)[:, None].expand(-1, 3)  # the same grid in each of the 3 dimensions
    log_marg = VampPrior.log_prob(z, mu, logvar, dims=True).numpy()  # (n, 3)
    assert log_marg.shape == (len(t), 3)
    for j in range(3):
        assert np.trapezoid(np.exp(log_marg[:, j]), t) == pytest.approx(1.0, abs=1e-4)
        ref = np.log(
            np.mean([stats.norm.pdf(t, m, s) for m, s in zip(mu[:, j].numpy(), np.exp(0.5 * logvar[:, j].numpy()))], 0)
        )
        inside = np.abs(t) < 8  # where the pdf is far from underflow in scipy's linear space
        np.testing.assert_allclose(log_marg[inside, j], ref[inside], rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_log_prob_is_the_mixture_of_gaussians(k, d, seed):
    mu, logvar = random_components(k, d, seed)
    z = torch.from_numpy(np.random.default_rng(seed).normal(0, 4, (7, d)))  # some points far in the tails
    got = VampPrior.log_prob(z, mu, logvar).numpy()
    assert got.shape == (7,)
    np.testing.assert_allclose(got, scipy_log_mixture(z.numpy(), mu, logvar), rtol=1e-10, atol=1e-10)


def test_log_prob_keeps_batch_axes_and_is_finite_far_out():
    mu, logvar = random_components(3, 2, 3)
    z = torch.randn(4, 5, 2, dtype=torch.float64)
    assert VampPrior.log_prob(z, mu, logvar).shape == (4, 5)
    assert VampPrior.log_prob(z, mu, logvar, dims=True).shape == (4, 5, 2)
    far = VampPrior.log_prob(torch.tensor([[300.0, -300.0]], dtype=torch.float64), mu, logvar)
    ref = scipy_log_mixture(np.array([[300.0, -300.0]]), mu, logvar)  # logpdf: no underflow
    assert torch.isfinite(far).all() and float(far[0]) == pytest.approx(float(ref[0]), rel=1e-10)


def test_one_component_is_that_gaussian_and_the_standard_normal_log_prob():
    z = torch.randn(6, 3, dtype=torch.float64)
    ref = stats.norm.logpdf(z.numpy()).sum(-1)
    zeros = torch.zeros(1, 3, dtype=torch.float64)
    np.testing.assert_allclose(VampPrior.log_prob(z, zeros, zeros).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(standard_normal_log_prob(z).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(standard_normal_log_prob(z, dims=True).numpy(), stats.norm.logpdf(z.numpy()))


# --- samples -------------------------------------------------------------------------------


def test_samples_follow_the_mixture():
    mu, logvar = random_components(3, 2, 4)
    mu[0] += 4.0  # a well-separated component, so a wrong choice of component would show
    z = VampPrior.sample(20000, mu, logvar, generator=torch.Generator().manual_seed(5))
    assert z.shape == (20000, 2) and z.dtype == torch.float64
    sd = torch.exp(0.5 * logvar)
    for j in range(2):
        result = stats.kstest(z[:, j].numpy(), lambda t, j=j: mixture_cdf_1d(t, mu[:, j].numpy(), sd[:, j].numpy()))
        assert result.pvalue > 1e-3, (j, result)
    # and the mixture's first two moments
    mean = mu.mean(0)
    second = (sd.square() + mu.square()).mean(0)
    se_mean = torch.sqrt((second - mean.square()) / 20000)
    assert (torch.abs(z.mean(0) - mean) < 4 * se_mean).all()
    assert torch.allclose(z.square().mean(0), second, rtol=0.05)


def test_sampling_is_reproducible_with_a_generator():
    mu, logvar = random_components(3, 2, 6)
    a = VampPrior.sample(10, mu, logvar, generator=torch.Generator().manual_seed(1))
    b = VampPrior.sample(10, mu, logvar, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


# --- pseudo-inputs ----------------------------------------------------------------------------


def test_pseudo_inputs_lie_in_the_unit_interval():
    prior = VampPrior(6, (1, 3, 3))
    assert prior.n == 6 and prior.pseudo_inputs().shape == (6, 1, 3, 3)
    assert torch.allclose(prior.pseudo_inputs(), torch.full((6, 1, 3, 3), 0.5))  # the start: sigmoid(0)
    with torch.no_grad():
        # |raw| ≤ 15: beyond ≈ 16.6 float32's sigmoid rounds to exactly 1
        prior.raw.copy_(torch.linspace(-15, 15, 54).reshape(6, 1, 3, 3))
    u = prior.pseudo_inputs()
    assert float(u.min()) > 0 and float(u.max()) < 1
    assert torch.allclose(u, 1 / (1 + torch.exp(-prior.raw)))


def test_init_from_starts_strictly_inside_the_unit_interval_at_training_images():
    g = torch.Generator().manual_seed(7)
    images = (torch.rand(40, 1, 2, 3, generator=g) < 0.5).float()  # binary: 0s and 1s
    images[0] = 1.0  # a saturated image
    images[1] = 0.0
    prior = VampPrior(25, (1, 2, 3))
    prior.init_from(images, generator=torch.Generator().manual_seed(8))
    u = prior.pseudo_inputs()
    assert float(u.min()) > 0.01 and float(u.max()) < 0.99  # none saturated
    # each is half a training image plus half the mean image (grey levels clamped to [0.02, 0.98])
    candidates = (0.5 * images + 0.5 * images.mean(0)).clamp(0.02, 0.98)  # (40, 1, 2, 3)
    dist = (u[:, None] - candidates[None]).abs().flatten(2).amax(-1)  # (25, 40)
    assert float(dist.min(1).values.max()) < 1e-5


# --- a VAE with the VampPrior -------------------------------------------------------------------


def vamp_model(seed=0, latent=2, pseudo=5, layers=1):
    torch.manual_seed(seed)
    cfg = VAEConfig(
        hidden=(6,),
        latent_dim=latent,
        prior="vamp",
        pseudo_inputs=pseudo,
        stochastic_layers=layers,
        image_shape=(1, 2, 2),
    )
    model = build_model(cfg).double()
    with torch.no_grad():
        model.prior.raw.copy_(2 * torch.randn_like(model.prior.raw))
    return model


def test_vamp_vae_prior_is_the_mixture_of_its_posteriors_at_the_pseudo_inputs():
    model = vamp_model(1, latent=3, pseudo=4)
    with torch.no_grad():
        u = 1 / (1 + torch.exp(-model.prior.raw))  # (K, 1, 2, 2)
        h = model.encoder(u.flatten(1))  # the encoder by hand: (K, 2·latent)
        mu_k, logvar_k = h[:, :3], h[:, 3:]
        z = 2 * torch.randn(10, 3, dtype=torch.float64)
        got = model.log_prior(z).numpy()
        ref = scipy_log_mixture(z.numpy(), mu_k, logvar_k)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)
        # given components are used as they are
        comps = model.prior_components()
        np.testing.assert_allclose(model.log_prior(z, comps).numpy(), ref, rtol=1e-10, atol=1e-10)
        assert model.log_prior(z, dims=True).shape == (10, 3)
        assert not model.analytic_kl


def test_vamp_log_weights_use_the_vamp_prior():
    model = vamp_model(2)
    x = torch.rand(3, 1, 2, 2, dtype=torch.float64).bernoulli()
    eps = torch.randn(4, 3, 2, dtype=torch.float64)
    with torch.no_grad():
        draw = model.log_weights(x, k=4, eps=eps)
        mu_k, logvar_k = model.encoder(torch.sigmoid(model.prior.raw).flatten(1)).chunk(2, -1)
        ref = scipy_log_mixture(draw.z.reshape(-1, 2).numpy(), mu_k, logvar_k).reshape(4, 3)
    np.testing.assert_allclose(draw.log_pz.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_gradients_reach_the_pseudo_inputs_and_the_encoder_through_log_prior():
    model = vamp_model(3)
    z = torch.randn(7, 2, dtype=torch.float64)
    model.log_prior(z).sum().backward()
    assert model.prior.raw.grad is not None and float(model.prior.raw.grad.abs().sum()) > 0
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.encoder.parameters())
    assert all(p.grad is None for p in model.decoder.parameters())  # the prior does not involve the decoder


def test_log_prior_gradient_with_respect_to_the_pseudo_inputs_matches_finite_differences():
    model = vamp_model(4, pseudo=3)
    z = torch.randn(5, 2, dtype=torch.float64)

    def f(raw):
        u = torch.sigmoid(raw)
        mu_k, logvar_k = model.encode(u)
        return model.log_prior(z, (mu_k, logvar_k))

    raw = model.prior.raw.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (raw,), eps=1e-6, atol=1e-7)
    # and the model's own path (components from prior_components) gives the same gradient
    (auto,) = torch.autograd.grad(model.log_prior(z).sum(), model.prior.raw)
    (ref,) = torch.autograd.grad(f(raw).sum(), raw)
    torch.testing.assert_close(auto, ref)


def test_vamp_sample_latent_follows_the_mixture():
    model = vamp_model(5, latent=2, pseudo=3)
    with torch.no_grad():
        z = model.sample_latent(8000, torch.Generator().manual_seed(9))
        mu_k, logvar_k = model.encoder(torch.sigmoid(model.prior.raw).flatten(1)).chunk(2, -1)
    assert z.shape == (8000, 2)
    sd = torch.exp(0.5 * logvar_k)
    for j in range(2):
        cdf = lambda t, j=j: mixture_cdf_1d(t, mu_k[:, j].numpy(), sd[:, j].numpy())  # noqa: E731
        assert stats.kstest(z[:, j].numpy(), cdf).pvalue > 1e-3


# --- errors ------------------------------------------------------------------------------------


def test_vamp_prior_needs_a_pseudo_input():
    with pytest.raises(ValueError, match="the VampPrior needs at least one pseudo-input, got 0"):
        VampPrior(0, (1, 2, 2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(prior="flow"), "prior must be one of"),
        (dict(prior="vamp", pseudo_inputs=0), "pseudo_inputs must be at least 1, got 0"),
        (dict(prior="vamp", conditional=True, n_classes=3), "a conditional VAE has the N\\(0, I\\) prior"),
    ],
)
def test_prior_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAEConfig(hidden=(4,), latent_dim=2, image_shape=(1, 2, 2), **kwargs)


def test_normal_prior_model_has_no_components():
    model = VAE(VAEConfig(hidden=(4,), latent_dim=2, image_shape=(1, 2, 2)))
    assert model.prior is None and model.prior_components() is None and model.analytic_kl
