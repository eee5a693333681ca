"""The VAE network: shapes, reparameterization, the learned σ's bounds."""

import math

import pytest
import torch

from klvae.vae import VAE, VAEConfig


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian-learned"])
@pytest.mark.parametrize("hidden", [(16,), (24, 12)])
def test_shapes(likelihood, hidden):
    model = VAE(VAEConfig(hidden=hidden, latent_dim=3, likelihood=likelihood, image_shape=(1, 8, 8)))
    mu, logvar = model.encode(torch.rand(5, 1, 8, 8))
    assert mu.shape == logvar.shape == (5, 3)
    z = model.reparameterize(mu, logvar, 7)
    assert z.shape == (7, 5, 3)
    out = model.decode(z)
    out = out if isinstance(out, tuple) else (out,)
    assert all(o.shape == (7, 5, 1, 8, 8) for o in out)
    assert model.mean(mu).shape == (5, 1, 8, 8) and 0 <= float(model.mean(mu).detach().min())


def test_conv_arch_on_28x28():
    model = VAE(VAEConfig(arch="conv", hidden=(64,), latent_dim=4, image_shape=(1, 28, 28)))
    mu, logvar = model.encode(torch.rand(2, 1, 28, 28))
    assert mu.shape == (2, 4) and model.decode(mu).shape == (2, 1, 28, 28)


def test_reparameterize_has_the_right_moments_and_gradients():
    torch.manual_seed(0)
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = VAE.reparameterize(mu, logvar, 100000)  # (L, 2)
    assert torch.allclose(z.mean(0), mu.detach(), atol=0.03)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), rtol=0.02)
    z.mean().backward()  # dz/dμ = 1 per sample: the mean over L·2 entries gives ½ each
    assert torch.allclose(mu.grad, torch.tensor([0.5, 0.5]))
    assert logvar.grad is not None


def test_model_needs_the_image_shape():
    with pytest.raises(ValueError, match=r"VAEConfig.image_shape is not set"):
        VAE(VAEConfig())


def test_learned_sigma_stays_in_bounds():
    model = VAE(VAEConfig(hidden=(8,), latent_dim=2, likelihood="gaussian-learned", image_shape=(1, 2, 2)))
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.fill_(50.0)
    _, log_sigma = model.decode(torch.full((4, 2), 10.0))
    assert float(log_sigma.detach().min()) >= math.log(1e-3) and float(log_sigma.detach().max()) <= 0.0
