"""The VAE network: encoder → (μ, log σ²), reparameterized z, decoder → parameters of p(x|z).

Names follow Kingma & Welling (2014), "Auto-Encoding Variational Bayes": `encode`,
`reparameterize`, `decode`; the settings are a `klvae.vae.config.VAEConfig`. One class covers
the plain VAE, the conditional VAE (the label enters encoder and decoder: q(z|x, y), p(x|z, y);
Sohn et al. 2015) and the VampPrior (`klvae.vae.priors`); two stochastic layers are
`klvae.vae.two_layer`. Every model gives its importance weights through one method,
`log_weights`, on which the ELBO, the IWAE bound and the evaluation are built. Files:
`klvae.vae.files`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from klvae.vae.config import VAEConfig
from klvae.vae.densities import log_likelihood, log_normal
from klvae.vae.priors import VampPrior, standard_normal_log_prob

__all__ = ["VAE", "Draw", "mlp", "one_hot", "with_label"]

# Bounds of log σ for the learned-σ Gaussian: σ ∈ (1e-3, 1). A pixel in [0, 1] never needs σ > 1,
# and σ → 0 would let the density of a constant pixel grow without bound (a degenerate maximum).
LOG_SIGMA_MIN = math.log(1e-3)
LOG_SIGMA_MAX = 0.0


@dataclass
class Draw:
    """k draws of the latents for each of B examples and the terms of their importance weights,
    log w = log p(x|z) + log p(z) − log q(z|x), each (k, B) in nats; `z` the first layer's draws
    (k, B, latent_dim) and (mu, logvar) its posterior (B, latent_dim). `dreg_at`: where the
    doubly-reparameterized gradient scales the gradient of log w (each layer's draws as log w
    sees them; empty: `z`)."""

    log_px_z: torch.Tensor
    log_pz: torch.Tensor
    log_qz: torch.Tensor
    z: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    dreg_at: tuple[torch.Tensor, ...] = ()

    def log_w(self, beta: float | torch.Tensor = 1.0) -> torch.Tensor:
        """log p(x|z) + β (log p(z) − log q(z|x)): the log importance weights at β = 1, (k, B)."""
        return self.log_px_z + beta * (self.log_pz - self.log_qz)


def one_hot(y: torch.Tensor | None, width: int, like: torch.Tensor) -> torch.Tensor | None:
    """The labels y (B,) as one-hot rows (B, width) of `like`'s dtype and device; None without labels."""
    if width == 0:
        return None
    if y is None:
        raise ValueError("this VAE is conditional: give the labels y of the images")
    if y.dtype.is_floating_point or (y.numel() and (int(y.min()) < 0 or int(y.max()) >= width)):
        raise ValueError(f"labels must be integers in 0 … {width - 1}")
    return F.one_hot(y.long(), width).to(device=like.device, dtype=like.dtype)


def with_label(h: torch.Tensor, code: torch.Tensor | None) -> torch.Tensor:
    """h (..., B, F) with the one-hot code (B, n) appended on the last axis (broadcast over `...`)."""
    if code is None:
        return h
    return torch.cat([h, code.expand(*h.shape[:-1], code.shape[-1])], -1)


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Gaussian encoder q(z|x) = N(μ(x), diag σ²(x)), prior p(z) = N(0, I), decoder p(x|z).

    `decode(z)` returns the likelihood's parameters: Bernoulli logits (`bernoulli`), the mean
    in [0, 1] (`gaussian`, σ fixed by the config), or (mean, log σ) per pixel
    (`gaussian-learned`, log σ smoothly bounded to (log 1e-3, 0)).

    >>> model = VAE(VAEConfig(hidden=(32,), latent_dim=2, image_shape=(1, 8, 8)))
    >>> mu, logvar = model.encode(torch.rand(5, 1, 8, 8))
    >>> tuple(mu.shape), tuple(model.decode(mu).shape)
    ((5, 2), (5, 1, 8, 8))
    """

    def __init__(self, config: VAEConfig):
        super().__init__()
        if config.image_shape is None:
            raise ValueError("VAEConfig.image_shape is not set: give the (C, H, W) of the data")
        if config.stochastic_layers != 1 and type(self) is VAE:
            raise ValueError("a VAE with two stochastic layers is a TwoLayerVAE: build it with klvae.vae.build_model")
        assert config.hidden is not None and config.latent_dim is not None  # __post_init__ fills both from image_shape
        self.config = config
        c, d, n_out, n_y = config.latent_dim, config.n_pixels, config.image_shape[0], config.label_width
        self.out_mult = 2 if config.likelihood == "gaussian-learned" else 1  # (mean, log σ) per pixel
        if config.arch == "mlp":
            self.encoder = mlp([d + n_y, *config.hidden, 2 * c])
            self.decoder = mlp([c + n_y, *reversed(config.hidden), self.out_mult * d])
        else:
            h = config.hidden[0]
            self.encoder = nn.Sequential(
                nn.Conv2d(n_out + n_y, 32, 4, 2, 1),  # the label as n_y constant planes
                nn.ReLU(),  # (B, 32, 14, 14)
                nn.Conv2d(32, 64, 4, 2, 1),
                nn.ReLU(),  # (B, 64, 7, 7)
                nn.Flatten(),
                nn.Linear(64 * 7 * 7, h),
                nn.ReLU(),
                nn.Linear(h, 2 * c),
            )
            self.decoder = nn.Sequential(
                nn.Linear(c + n_y, h),
                nn.ReLU(),
                nn.Linear(h, 64 * 7 * 7),
                nn.ReLU(),
                nn.Unflatten(1, (64, 7, 7)),
                nn.ConvTranspose2d(64, 32, 4, 2, 1),
                nn.ReLU(),  # (B, 32, 14, 14)
                nn.ConvTranspose2d(32, self.out_mult * n_out, 4, 2, 1),
            )  # (B, k·C, 28, 28)
        # the VampPrior's components are the top layer's posteriors at its pseudo-inputs
        self.prior = VampPrior(config.pseudo_inputs, config.image_shape) if config.prior == "vamp" else None

    @property
    def analytic_kl(self) -> bool:
        """True when KL(q(z|x) ‖ p(z)) has a closed form: one stochastic layer and the N(0, I) prior."""
        return self.config.stochastic_layers == 1 and self.prior is None

    @property
    def eps_size(self) -> int:
        """Standard-normal numbers one draw of the latents takes (all layers)."""
        return int(self.config.latent_dim or 0)

    @torch.no_grad()
    def init_output_bias(self, pixel_mean: torch.Tensor) -> None:
        """Start the decoder at the data's mean image: output bias = logit(mean pixel), clamped to
        [1e-3, 1 − 1e-3] (the usual start for Bernoulli decoders, as in Burda et al. 2016).

        `pixel_mean` (C, H, W): each pixel's mean over the training set. The MLP decoder gets one
        bias per pixel; the conv decoder, whose last layer has one bias per channel, keeps its own.
        """
        if self.config.arch != "mlp":
            return
        last = self.decoder[-1]
        assert isinstance(last, nn.Linear)  # the MLP decoder ends in a Linear layer
        logit = torch.logit(pixel_mean.to(last.bias).flatten().clamp(1e-3, 1 - 1e-3))  # (D,)
        last.bias[: logit.numel()] = logit  # gaussian-learned: the mean half; the log σ half is left alone

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, H, W) (and labels y (B,) when conditional) → (μ, log σ²), each (B, latent_dim)."""
        code = one_hot(y, self.config.label_width, x)  # (B, n_classes) or None
        if self.config.arch == "mlp":
            x = with_label(x.flatten(1), code)  # (B, D [+ n_classes])
        elif code is not None:
            x = torch.cat([x, code[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)  # (B, C + n, H, W)
        # .to(x.dtype): under bf16 autocast the matmuls run in bf16 but μ, log σ² leave in x's dtype,
        # so the KL, the reparameterization and the loss stay in float32.
        h = self.encoder(x).to(x.dtype)  # (B, 2·latent)
        mu, logvar = h.chunk(2, dim=-1)  # (B, latent) each
        return mu, logvar

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, samples: int | None = None, eps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """z = μ + σ·ε with ε ~ N(0, I) and σ = exp(½ log σ²); gradients flow to μ and log σ².

        `samples=L` draws L z's per input: (B, latent) → (L, B, latent). `eps` gives the draws
        instead (the result's shape), e.g. rows of a draw made for a whole distributed batch.
        """
        std = torch.exp(0.5 * logvar)
        shape = mu.shape if samples is None else (samples, *mu.shape)
        if eps is None:
            eps = torch.randn(shape, dtype=mu.dtype, device=mu.device)  # ([L,] B, latent)
        return mu + std * eps

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """z (..., B, latent) (and labels y (B,) when conditional) → likelihood parameters, each (..., B, C, H, W)."""
        lead = z.shape[:-1]
        z = with_label(z, one_hot(y, self.config.label_width, z))  # (..., B, latent [+ n_classes])
        h = self.decoder(z.reshape(-1, z.shape[-1])).to(z.dtype)  # (N, k·D) or (N, k·C, H, W), z's dtype
        assert self.config.image_shape is not None  # checked in __init__
        c, hh, ww = self.config.image_shape
        h = h.reshape(*lead, self.out_mult * c, hh, ww)  # (..., k·C, H, W)
        if self.config.likelihood == "bernoulli":
            return h  # logits
        if self.config.likelihood == "gaussian":
            return torch.sigmoid(h)  # mean in [0, 1]
        raw_mean, raw_log_sigma = h.chunk(2, dim=-3)
        # log σ = lo + (hi − lo)·sigmoid(raw): smooth, gradient everywhere, never outside the bounds.
        log_sigma = LOG_SIGMA_MIN + (LOG_SIGMA_MAX - LOG_SIGMA_MIN) * torch.sigmoid(raw_log_sigma)
        return torch.sigmoid(raw_mean), log_sigma

    def mean(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E[x | z] in [0, 1] (for Bernoulli, the probabilities σ(logits)), shape (..., C, H, W)."""
        params = self.decode(z, y)
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(params)
        return params[0] if isinstance(params, tuple) else params

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        mu, logvar = self.encode(x, y)
        return self.decode(self.reparameterize(mu, logvar), y), mu, logvar

    def prior_components(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The VampPrior's K components (μ_k, log σ²_k), each (K, latent) — the top layer's posterior
        at the pseudo-inputs; None for the N(0, I) prior."""
        if self.prior is None:
            return None
        return self.encode(self.prior.pseudo_inputs())

    def log_prior(self, z: torch.Tensor, components=None, dims: bool = False) -> torch.Tensor:
        """log p(z) of top-layer latents z (..., d) → (...) (per dimension (..., d) with `dims`)."""
        if self.prior is None:
            return standard_normal_log_prob(z, dims)
        components = components if components is not None else self.prior_components()
        assert components is not None  # the VampPrior has components
        return self.prior.log_prob(z, components[0], components[1], dims)

    @property
    def top_size(self) -> int:
        """Dimensions of the latent the prior p(z) is over (z, or z2 of two layers)."""
        return int(self.config.latent_dim or 0)

    def sample_top(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws of the top latent from the prior: (n, top_size)."""
        components = self.prior_components()
        if self.prior is None or components is None:
            return torch.randn(n, self.top_size, generator=generator, dtype=self.dtype).to(self.device)
        return self.prior.sample(n, *components, generator=generator)

    def sample_latent(
        self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """n draws of the latent the decoder reads (z, or z1 of two layers) from the prior: (n, latent_dim).
        (`y`, the labels of a conditional model, matters only where the prior depends on it.)"""
        return self.sample_top(n, generator)

    def layer_means(self, x: torch.Tensor, y: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The posterior mean of each stochastic layer, (B, size) each: [E_q z] (two layers: z2's at z1 = μ1)."""
        return [self.encode(x, y)[0]]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def log_weights(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        k: int = 1,
        eps: torch.Tensor | None = None,
        *,
        stop_q: bool = False,
        components=None,
    ) -> Draw:
        """k reparameterized draws z ~ q(z|x) per example and the terms of their importance weights.

        log w = log p(x|z) + log p(z) − log q(z|x) (Burda et al. 2016, eq. 8); x (B, C, H, W) →
        a `Draw` of (k, B) terms. `eps` (k, B, eps_size): the standard-normal draws to use.
        `stop_q`: log q(z|x) sees its parameters without gradient (only through z), as the
        doubly-reparameterized gradient needs (Tucker et al. 2019). `components`: the
        VampPrior's, when already computed for this batch.
        """
        mu, logvar = self.encode(x, y)  # (B, latent) each
        z = self.reparameterize(mu, logvar, k, eps)  # (k, B, latent)
        q_mu, q_logvar = (mu.detach(), logvar.detach()) if stop_q else (mu, logvar)
        log_px_z = log_likelihood(self.decode(z, y), x, self.config.likelihood, self.config.sigma)  # (k, B)
        return Draw(log_px_z, self.log_prior(z, components), log_normal(z, q_mu, q_logvar), z, mu, logvar)
