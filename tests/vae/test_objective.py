"""The ELBO against hand computations, torch.distributions and Gauss–Hermite quadrature."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal, kl_divergence

from klvae.vae import VAE, ELBOConfig, VAEConfig, binarize, elbo_terms, vae_loss
from vae_reference import hand_elbo, tiny_model


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_matches_hand_computation(likelihood):
    torch.manual_seed(0)
    model = tiny_model(likelihood)
    x = np.array([1.0, 0.0]) if likelihood == "bernoulli" else np.array([0.8, 0.3])
    elbo, recon_ref, kl_ref = hand_elbo(x, likelihood)
    xb = torch.from_numpy(x).reshape(1, 1, 1, 2).expand(20000, 1, 1, 2)
    with torch.no_grad():
        recon, kl = elbo_terms(model, xb, samples=1)
    assert float(kl[0]) == pytest.approx(kl_ref, rel=1e-10)  # the analytic KL is exact
    se = float(recon.std()) / math.sqrt(len(recon))
    assert abs(float(recon.mean()) - recon_ref) < 4 * se
    assert abs(-float((recon + kl).mean()) - elbo) < 4 * se


def test_kl_matches_torch_distributions():
    model = tiny_model()
    x = torch.tensor([[[[0.0, 1.0]]]], dtype=torch.float64)
    mu, logvar = model.encode(x)
    ref = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    _, kl = elbo_terms(model, x)
    assert torch.allclose(kl, ref, rtol=1e-12)


def test_mc_kl_agrees_with_analytic_within_mc_error():
    torch.manual_seed(1)
    model = tiny_model()
    x = torch.tensor([[[[1.0, 1.0]]]], dtype=torch.float64).expand(40000, 1, 1, 2)
    torch.set_grad_enabled(False)
    _, kl_exact = elbo_terms(model, x, kl="analytic")
    _, kl_mc = elbo_terms(model, x, kl="mc")
    se = float(kl_mc.std()) / math.sqrt(len(kl_mc))
    torch.set_grad_enabled(True)
    assert abs(float(kl_mc.mean()) - float(kl_exact[0])) < 4 * se


def test_loss_is_recon_plus_beta_kl_in_nats_per_example():
    torch.manual_seed(3)
    model = VAE(VAEConfig(hidden=(16,), latent_dim=3, image_shape=(1, 4, 4)))
    x = torch.rand(32, 1, 4, 4).bernoulli()
    torch.manual_seed(4)
    loss, recon, kl = vae_loss(model, x, beta=0.25)
    torch.manual_seed(4)
    r, k = elbo_terms(model, x)
    assert torch.allclose(recon, r.mean()) and torch.allclose(kl, k.mean())
    assert torch.allclose(loss, recon + 0.25 * kl)
    assert float(recon.detach()) > 16 * 0.3  # summed over 16 pixels, not averaged


def test_more_samples_reduce_the_variance_of_the_reconstruction_term():
    torch.manual_seed(5)
    model = tiny_model()
    x = torch.tensor([[[[1.0, 0.0]]]], dtype=torch.float64).expand(5000, 1, 1, 2)
    r1, _ = elbo_terms(model, x, samples=1)
    r10, _ = elbo_terms(model, x, samples=10)
    assert float(r10.var()) < float(r1.var()) / 5
    assert abs(float(r10.mean()) - float(r1.mean())) < 4 * float(r1.std()) / math.sqrt(5000)


def test_binarize_has_the_right_mean():
    g = torch.Generator().manual_seed(0)
    p = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0]).expand(20000, 5)
    b = binarize(p, g)
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(b.mean(0), p[0], atol=4 * math.sqrt(0.25 / 20000))


@settings(max_examples=25, deadline=None)
@given(st.floats(0, 1), st.floats(1, 10))
def test_beta_warmup_ramps_linearly(frac, warmup):
    cfg = ELBOConfig(beta=2.0, warmup_epochs=warmup)
    assert cfg.beta_at(frac * warmup) == pytest.approx(2.0 * frac)
    assert cfg.beta_at(warmup + 1) == 2.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(samples=0), "samples must be at least 1"),
        (dict(beta=-1.0), "beta must be non-negative"),
        (dict(kl="exact"), "kl must be 'analytic' or 'mc'"),
        (dict(warmup_epochs=-1), "warmup_epochs must be non-negative"),
        (dict(iw_k=0), "iw_k must be at least 1"),
    ],
)
def test_objective_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ELBOConfig(**kwargs)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([(7,), (3, 5), (2, 1, 3, 3)]))
def test_binarize_is_exact_on_binary_pixels(seed, shape):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=g) < 0.5).float()
    assert torch.equal(binarize(x, g), x)
