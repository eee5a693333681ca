"""The ELBO and its parts, in nats.

ELBO(x) = E_{q(z|x)}[log p(x|z)] − KL(q(z|x) ‖ p(z)) ≤ log p(x)   (Kingma & Welling 2014, eq. 3).

Every per-example quantity is summed over pixels and latent dimensions (nats per example);
training losses average it over the batch. Nothing is divided by the number of pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from klvae.gaussian import kl_std_normal

__all__ = ["ELBOConfig", "log_likelihood", "log_normal", "elbo_terms", "vae_loss", "binarize"]

LOG_2PI = math.log(2 * math.pi)


@dataclass
class ELBOConfig:
    """Settings of the training objective."""

    samples: int = 1  # L, Monte Carlo samples of z per example in the reconstruction term
    beta: float = 1.0  # weight of the KL term (β-VAE); evaluation always uses β = 1
    kl: str = "analytic"  # "analytic" (closed form) or "mc" (log q(z|x) − log p(z) at the sampled z)
    warmup_epochs: float = 0.0  # KL annealing: β ramps linearly from 0 over this many epochs
    binarize: bool | None = None  # dynamic binarization; None → on for bernoulli, off otherwise
    iw_k: int = 1000  # importance samples for the final test −log p(x) estimate

    def __post_init__(self):
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta must be non-negative and finite, got {self.beta}")
        if self.kl not in ("analytic", "mc"):
            raise ValueError(f"kl must be 'analytic' or 'mc', got {self.kl!r}")
        if not self.warmup_epochs >= 0:
            raise ValueError(f"warmup_epochs must be non-negative, got {self.warmup_epochs}")
        if self.iw_k < 1:
            raise ValueError(f"iw_k must be at least 1, got {self.iw_k}")

    def beta_at(self, epoch: float) -> float:
        """β after `epoch` (fractional) epochs: β·min(1, epoch / warmup_epochs)."""
        if self.warmup_epochs <= 0:
            return self.beta
        return self.beta * min(1.0, epoch / self.warmup_epochs)


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


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag exp(logvar)) summed over the last axis: −½ Σ ((z−μ)²/σ² + log σ² + log 2π)."""
    return -0.5 * ((z - mu).square() * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def elbo_terms(model, x: torch.Tensor, *, samples: int = 1, kl: str = "analytic", eps: torch.Tensor | None = None):
    """Per-example reconstruction NLL and KL, in nats: x (B, C, H, W) → (recon (B,), kl (B,)).

    recon = −(1/L) Σ_l log p(x|z_l), z_l = μ + σ·ε_l; the ELBO is −(recon + kl).
    kl = KL(q(z|x) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1) (Kingma & Welling 2014, App. B)
    with kl="analytic"; with kl="mc", (1/L) Σ_l [log q(z_l|x) − log p(z_l)], unbiased for the same.
    `eps` (L, B, latent): the ε draws to use (None: drawn from torch's generator).
    """
    mu, logvar = model.encode(x)  # (B, latent) each
    z = model.reparameterize(mu, logvar, samples, eps)  # (L, B, latent)
    recon = -log_likelihood(model.decode(z), x, model.config.likelihood, model.config.sigma).mean(0)  # (B,)
    if kl == "analytic":
        kl_ = kl_std_normal(mu, logvar)  # ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1), K&W 2014 App. B; (B,)
    elif kl == "mc":
        zeros = torch.zeros_like(mu)
        kl_ = (log_normal(z, mu, logvar) - log_normal(z, zeros, zeros)).mean(0)  # (B,)
    else:
        raise ValueError(f"kl must be 'analytic' or 'mc', got {kl!r}")
    return recon, kl_


def vae_loss(
    model,
    x: torch.Tensor,
    *,
    samples: int = 1,
    beta: float = 1.0,
    kl: str = "analytic",
    eps: torch.Tensor | None = None,
):
    """The training loss −ELBO_β = recon + β·KL, nats per example averaged over the batch.

    Returns (loss, recon, kl), three scalar tensors; `loss` carries the gradient.

    >>> from klvae.vae.model import VAE, VAEConfig
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> loss, recon, kl = vae_loss(model, torch.rand(8, 1, 4, 4).bernoulli())
    >>> bool(torch.isclose(loss, recon + kl))
    True
    """
    recon, kl_ = elbo_terms(model, x, samples=samples, kl=kl, eps=eps)
    recon, kl_ = recon.mean(), kl_.mean()
    return recon + beta * kl_, recon, kl_


def binarize(
    x: torch.Tensor, generator: torch.Generator | None = None, *, u: torch.Tensor | None = None
) -> torch.Tensor:
    """A Bernoulli draw of each pixel with probability equal to its grey level (dynamic binarization).

    Used for each training batch afresh and once, with a fixed seed, for the test set
    (Salakhutdinov & Murray 2008; Burda et al. 2016). Computed as 1[u < x] with u ~ U(0, 1),
    which has P(1) = x exactly and is about 3× faster on CPU than `torch.bernoulli`. `u` (shape
    of x) gives the uniform draws instead of drawing them.

    >>> binarize(torch.tensor([0.0, 1.0])).tolist()
    [0.0, 1.0]
    """
    if u is None:
        u = torch.rand(x.shape, dtype=x.dtype, device=x.device, generator=generator)
    return (u < x).to(x.dtype)
