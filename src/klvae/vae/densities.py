"""The log-densities a VAE is made of, in nats: p(x|z) for each likelihood and diagonal Gaussians.

Every per-example quantity is summed over pixels (or latent dimensions); nothing is divided by
the number of pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["LOG_2PI", "log_likelihood", "log_normal", "log_normal_dims"]

LOG_2PI = math.log(2 * math.pi)


def log_likelihood(params, x: torch.Tensor, likelihood: str, sigma: float = 0.1) -> torch.Tensor:
    """log p(x|z) in nats, summed over (C, H, W): params (..., C, H, W), x (B, C, H, W) → (..., B).

    - bernoulli: Σ x·log σ(l) + (1−x)·log(1−σ(l)) = −BCE-with-logits (stable for any logit l);
    - gaussian: −‖x−m‖²/(2σ²) − D/2·log(2πσ²), σ fixed (the MSE plus the constant that keeps nats);
    - gaussian-learned: Σ −(x−m)²/(2σ²) − log σ − ½ log 2π with σ per pixel.

    >>> logits = torch.zeros(1, 1, 2, 2)  # p = ½ for every pixel
    >>> round(float(log_likelihood(logits, torch.ones(1, 1, 2, 2), "bernoulli")), 4)  # 4·log ½
    -2.7726
    """
    x = x.expand_as(params[0] if isinstance(params, tuple) else params)
    if likelihood == "bernoulli":
        ll = -F.binary_cross_entropy_with_logits(params, x, reduction="none")
    elif likelihood == "gaussian":
        ll = -0.5 * (x - params).square() / sigma**2 - 0.5 * (LOG_2PI + 2 * math.log(sigma))
    elif likelihood == "gaussian-learned":
        mean, log_sigma = params
        ll = -0.5 * (x - mean).square() * torch.exp(-2 * log_sigma) - log_sigma - 0.5 * LOG_2PI
    else:
        raise ValueError(f"unknown likelihood {likelihood!r}")
    return ll.sum((-3, -2, -1))


def log_normal_dims(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z_j; μ_j, exp(logvar_j)) for each dimension j: −½ ((z−μ)²/σ² + log σ² + log 2π), broadcast."""
    return -0.5 * ((z - mu).square() * torch.exp(-logvar) + logvar + LOG_2PI)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag exp(logvar)) summed over the last axis: −½ Σ ((z−μ)²/σ² + log σ² + log 2π).

    >>> round(float(log_normal(torch.zeros(1), torch.zeros(1), torch.zeros(1))), 4)  # −½ log 2π
    -0.9189
    """
    return log_normal_dims(z, mu, logvar).sum(-1)
