"""The variational autoencoder family: models, objectives, honest evaluation (training runs: `klvae.runs.vae.job`).

Models: the VAE, the conditional VAE and the VampPrior (`klvae.vae.model`, `klvae.vae.priors`),
two stochastic layers (`klvae.vae.two_layer`). Objectives: the ELBO (`klvae.vae.objective`),
the IWAE bound with the doubly-reparameterized gradient (`klvae.vae.iwae`), β-TC
(`klvae.vae.tc`). Evaluation: `klvae.vae.evaluate`.

>>> from klvae.vae import VAE, VAEConfig, vae_loss
>>> model = VAE(VAEConfig(hidden=(32,), latent_dim=2, image_shape=(1, 8, 8)))
>>> loss, recon, kl = vae_loss(model, torch.rand(4, 1, 8, 8).bernoulli())  # nats per example
"""

from __future__ import annotations

import torch  # noqa: F401  (used by the doctest above)

from klvae.vae.config import LIKELIHOODS, VAEConfig, size_defaults
from klvae.vae.densities import Draw, log_likelihood, log_normal
from klvae.vae.evaluate import ACTIVE_UNIT_THRESHOLD, evaluate_vae, evaluate_vae_per_image, iw_log_px, paired_difference
from klvae.vae.files import build_model, load_model, load_run, save_model
from klvae.vae.iwae import iwae_loss
from klvae.vae.model import VAE
from klvae.vae.objective import OBJECTIVES, ELBOConfig, binarize, elbo_terms, training_loss, vae_loss
from klvae.vae.priors import VampPrior
from klvae.vae.tc import kl_split, tc_vae_loss
from klvae.vae.two_layer import TwoLayerVAE

__all__ = [
    "VAE",
    "TwoLayerVAE",
    "VampPrior",
    "VAEConfig",
    "Draw",
    "LIKELIHOODS",
    "size_defaults",
    "build_model",
    "save_model",
    "load_model",
    "load_run",
    "ELBOConfig",
    "OBJECTIVES",
    "log_likelihood",
    "log_normal",
    "elbo_terms",
    "vae_loss",
    "iwae_loss",
    "tc_vae_loss",
    "training_loss",
    "binarize",
    "kl_split",
    "iw_log_px",
    "evaluate_vae",
    "evaluate_vae_per_image",
    "paired_difference",
    "ACTIVE_UNIT_THRESHOLD",
]
