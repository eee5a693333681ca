"""Priors p(z) over a VAE's top latent: the standard normal, and the VampPrior.

VampPrior (Tomczak & Welling 2018, "VAE with a VampPrior", eq. 9): the prior is the mixture of
the encoder's own posteriors at K learned pseudo-inputs u_k,

    p(z) = (1/K) Σ_k q(z | u_k),

a normalized mixture of K diagonal Gaussians whose components move with the encoder. Its KL
to q(z|x) has no closed form: the ELBO's KL term becomes the Monte Carlo estimate
log q(z|x) − log p(z) at the sampled z.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from klvae.vae.densities import log_normal_dims

__all__ = ["PRIORS", "standard_normal_log_prob", "VampPrior"]

PRIORS = ("normal", "vamp")


def standard_normal_log_prob(z: torch.Tensor, dims: bool = False) -> torch.Tensor:
    """log N(z; 0, I): summed over the last axis, or per dimension with `dims=True`."""
    logp = -0.5 * (z.square() + math.log(2 * math.pi))
    return logp if dims else logp.sum(-1)


class VampPrior(nn.Module):
    """K pseudo-inputs u_k (K, C, H, W) in (0, 1), learned with the model (u = sigmoid of a free
    parameter). `log_prob(z, mu, logvar)` takes the encoder's posteriors at the u_k.

    >>> prior = VampPrior(3, (1, 2, 2))
    >>> mu, logvar = torch.zeros(3, 2), torch.zeros(3, 2)  # three identical N(0, I) components
    >>> round(float(prior.log_prob(torch.zeros(2), mu, logvar)), 4)  # log N(0; 0, I) in 2-D = −log 2π
    -1.8379
    """

    def __init__(self, n: int, image_shape: tuple[int, ...]):
        super().__init__()
        if n < 1:
            raise ValueError(f"the VampPrior needs at least one pseudo-input, got {n}")
        self.raw = nn.Parameter(torch.zeros(n, *image_shape))  # (K, C, H, W); u = sigmoid(raw) = ½ until set

    @property
    def n(self) -> int:
        return self.raw.shape[0]

    def pseudo_inputs(self) -> torch.Tensor:
        """The pseudo-inputs u_k in (0, 1): (K, C, H, W)."""
        return torch.sigmoid(self.raw)

    @torch.no_grad()
    def init_from(self, images: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Start the u_k at K training images drawn at random (grey levels clamped to [0.02, 0.98]),
        each averaged with the mean image so no pseudo-input starts saturated."""
        pick = torch.randint(len(images), (self.n,), generator=generator)
        u = 0.5 * images[pick].to(self.raw) + 0.5 * images.mean(0).to(self.raw)  # (K, C, H, W)
        self.raw.copy_(torch.logit(u.clamp(0.02, 0.98)))

    @staticmethod
    def log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dims: bool = False) -> torch.Tensor:
        """log p(z) = logsumexp_k log q(z | u_k) − log K; z (..., d), mu and logvar (K, d) → (...)
        (or (..., d): each dimension's marginal, a 1-D mixture, with `dims=True`).

        The K Gaussian log-densities of all z come from two matrix products,
        Σ_j (z_j − μ_kj)²/σ²_kj = z² · (1/σ²_k) − 2 z · (μ_k/σ²_k) + Σ_j μ²_kj/σ²_kj, computed in
        float64 so the expanded squares do not cancel, and returned in z's dtype.
        """
        if dims:
            per = log_normal_dims(z.unsqueeze(-2), mu, logvar)  # (..., K, d)
            return torch.logsumexp(per, -2) - math.log(mu.shape[0])  # (..., d)
        z64, mu64, logvar64 = z.double(), mu.double(), logvar.double()
        prec = torch.exp(-logvar64)  # (K, d): 1/σ²
        const = (mu64.square() * prec + logvar64).sum(-1) + mu.shape[1] * math.log(2 * math.pi)  # (K,)
        quad = z64.square() @ prec.T - 2 * (z64 @ (mu64 * prec).T)  # (..., K)
        per = -0.5 * (quad + const)  # (..., K): log q(z | u_k)
        return (torch.logsumexp(per, -1) - math.log(mu.shape[0])).to(z.dtype)

    @staticmethod
    def sample(n: int, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None):
        """n draws z ~ p(z): a component k uniformly, then z ~ q(z | u_k): (n, d)."""
        k = torch.randint(mu.shape[0], (n,), generator=generator).to(mu.device)
        eps = torch.randn(n, mu.shape[1], generator=generator, dtype=mu.dtype).to(mu.device)
        return mu[k] + torch.exp(0.5 * logvar[k]) * eps
