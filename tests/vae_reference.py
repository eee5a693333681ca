"""A hand-set 2-pixel, 1-latent VAE and its ELBO computed by hand (NumPy, Gauss–Hermite quadrature):
the independent reference the VAE objective and evaluation tests compare against."""

import math

import numpy as np
import torch

from klvae.vae import VAE, VAEConfig

__all__ = ["tiny_model", "hand_encode", "hand_log_px_z", "hand_elbo"]

# A hand-set 2-pixel, 1-latent VAE: encoder 2 → 2 (ReLU) → (μ, log σ²), decoder 1 → 2 (ReLU) → 2.
W1, B1 = np.array([[1.0, -0.5], [0.3, 0.8]]), np.array([0.1, -0.2])
W2, B2 = np.array([[0.7, -0.4], [0.2, -0.9]]), np.array([0.05, -0.3])  # rows: μ, log σ²
V1, C1 = np.array([[1.5], [-2.0]]), np.array([0.2, 0.1])
V2, C2 = np.array([[2.0, -1.0], [-1.5, 0.5]]), np.array([-0.3, 0.4])


def tiny_model(likelihood="bernoulli", sigma=0.5):
    cfg = VAEConfig(hidden=(2,), latent_dim=1, likelihood=likelihood, sigma=sigma, image_shape=(1, 1, 2))
    model = VAE(cfg).double()
    if likelihood == "gaussian-learned":
        return model
    with torch.no_grad():
        for layer, (w, b) in zip(
            [model.encoder[0], model.encoder[2], model.decoder[0], model.decoder[2]],
            [(W1, B1), (W2, B2), (V1, C1), (V2, C2)],
        ):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    return model


def hand_encode(x):
    h = np.maximum(W1 @ x + B1, 0)
    mu, logvar = W2 @ h + B2
    return mu, logvar


def hand_decoder_output(z):
    return V2 @ np.maximum(V1[:, 0] * z + C1, 0) + C2  # (2,) pre-activation


def hand_log_px_z(x, z, likelihood="bernoulli", sigma=0.5):
    out = hand_decoder_output(z)
    if likelihood == "bernoulli":
        # log σ(o) = −log(1 + e^{−o}), log(1 − σ(o)) = −log(1 + e^{o}), written stably
        return float(np.sum(-x * np.logaddexp(0, -out) - (1 - x) * np.logaddexp(0, out)))
    m = 1 / (1 + np.exp(-out))
    return float(np.sum(-0.5 * (x - m) ** 2 / sigma**2 - 0.5 * np.log(2 * np.pi * sigma**2)))


def hand_elbo(x, likelihood="bernoulli", sigma=0.5):
    """E_q log p(x|z) by 80-point Gauss–Hermite quadrature, KL by the textbook formula."""
    mu, logvar = hand_encode(x)
    s = math.exp(0.5 * logvar)
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)  # ∫ f(t) e^{−t²/2} dt
    expect = sum(w * hand_log_px_z(x, mu + s * t, likelihood, sigma) for t, w in zip(nodes, weights))
    expect /= math.sqrt(2 * math.pi)
    kl = 0.5 * (mu**2 + s**2 - logvar - 1)
    return expect - kl, -expect, kl
