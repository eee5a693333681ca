"""The variational autoencoder: model, ELBO, honest evaluation (training runs: `klvae.runs.vae`).

>>> from klvae.vae import VAE, VAEConfig, vae_loss
>>> model = VAE(VAEConfig(hidden=(32,), latent_dim=2, image_shape=(1, 8, 8)))
>>> loss, recon, kl = vae_loss(model, torch.rand(4, 1, 8, 8).bernoulli())  # nats per example
"""

from __future__ import annotations

import torch  # noqa: F401  (used by the doctest above)

from klvae.vae.evaluate import ACTIVE_UNIT_THRESHOLD, evaluate_vae, iw_log_px
from klvae.vae.model import LIKELIHOODS, VAE, VAEConfig, load_model, load_run, save_model, size_defaults
from klvae.vae.objective import ELBOConfig, binarize, elbo_terms, log_likelihood, log_normal, vae_loss

__all__ = [
    "VAE",
    "VAEConfig",
    "LIKELIHOODS",
    "size_defaults",
    "save_model",
    "load_model",
    "load_run",
    "ELBOConfig",
    "log_likelihood",
    "log_normal",
    "elbo_terms",
    "vae_loss",
    "binarize",
    "iw_log_px",
    "evaluate_vae",
    "ACTIVE_UNIT_THRESHOLD",
]
