"""Closed-form Gaussian divergences and entropies."""

from __future__ import annotations

import torch

__all__ = ["kl_std_normal"]


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) in nats, summed over `axis`.

    KL = ½ Σ (μ² + σ² − log σ² − 1), with σ² = exp(logvar) (Kingma & Welling 2014, App. B).
    """
    return 0.5 * (mu.square() + torch.expm1(logvar) - logvar).sum(axis)
