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

import torch
from torch import nn

from klvae.vae.config import VAEConfig
from klvae.vae.densities import Draw, log_likelihood, log_normal
from klvae.vae.layers import mlp, one_hot, with_label
from klvae.vae.priors import LatentPrior, VampPrior

__all__ = ["VAE"]

# Bounds of log σ for the learned-σ Gaussian: σ ∈ (1e-3, 1). A pixel in [0, 1] never needs σ > 1,
# and σ → 0 would let the density of a constant pixel grow without bound (a degenerate maximum).
LOG_SIGMA_MIN = math.log(1e-3)
LOG_SIGMA_MAX = 0.0


class VAE(LatentPrior, nn.Module):
    r"""Gaussian encoder q(z|x) = N(μ(x), diag σ²(x)), prior p(z), decoder p(x|z).

    Parameters
    ----------
    config : VAEConfig
        The settings, with `image_shape` set and one stochastic layer (two: `TwoLayerVAE`).

    Raises
    ------
    ValueError
        If `config.image_shape` is not set, or it asks for two stochastic layers.

    See Also
    --------
    TwoLayerVAE : two stochastic layers.
    build_model : the right class for a configuration.

    Notes
    -----
    `decode` returns the likelihood's parameters: Bernoulli logits (``bernoulli``), the mean in
    [0, 1] (``gaussian``, σ fixed by the config), or (mean, log σ) per pixel
    (``gaussian-learned``, log σ smoothly bounded to (log 1e-3, 0)). The model is trained on

    .. math::

        \mathrm{ELBO}(x) = \mathbb E_{q(z|x)}[\log p(x|z)] - \mathrm{KL}(q(z|x) \,\|\, p(z)) \le \log p(x).

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014).

    Examples
    --------
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
        """Start the decoder at the data's mean image.

        Parameters
        ----------
        pixel_mean : torch.Tensor
            Each pixel's mean over the training set, (C, H, W).

        Notes
        -----
        Output bias = logit(mean pixel), clamped to [1e-3, 1 − 1e-3] (the usual start for Bernoulli
        decoders). The MLP decoder gets one bias per pixel; the conv decoder, whose last layer has one
        bias per channel, keeps its own.

        References
        ----------
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016), appendix C.

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> model.init_output_bias(torch.full((1, 4, 4), 0.5))
        >>> float(model.decoder[-1].bias.abs().max())
        0.0
        """
        if self.config.arch != "mlp":
            return
        last = self.decoder[-1]
        assert isinstance(last, nn.Linear)  # the MLP decoder ends in a Linear layer
        logit = torch.logit(pixel_mean.to(last.bias).flatten().clamp(1e-3, 1 - 1e-3))  # (D,)
        last.bias[: logit.numel()] = logit  # gaussian-learned: the mean half; the log σ half is left alone

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's parameters (μ, log σ²) of each image.

        Parameters
        ----------
        x : torch.Tensor
            Images, (B, C, H, W).
        y : torch.Tensor, optional
            Labels (B,) of a conditional model.

        Returns
        -------
        mu : torch.Tensor
            (B, latent_dim), in x's dtype.
        logvar : torch.Tensor
            (B, latent_dim), log σ².

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> [tuple(t.shape) for t in model.encode(torch.rand(3, 1, 4, 4))]
        [(3, 2), (3, 2)]
        """
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
        r"""z = μ + σ·ε with ε ~ N(0, I): draws whose gradients flow to μ and log σ².

        Parameters
        ----------
        mu : torch.Tensor
            Means, (B, latent).
        logvar : torch.Tensor
            log σ², (B, latent).
        samples : int, optional
            L draws per input: the result is (L, B, latent); None: one, (B, latent).
        eps : torch.Tensor, optional
            The standard-normal draws to use (the result's shape), e.g. rows of a draw made for a whole
            distributed batch.

        Returns
        -------
        torch.Tensor
            The draws z.

        Notes
        -----
        .. math::

            z = \mu + \exp(\tfrac12 \log \sigma^2) \odot \varepsilon,\qquad \varepsilon \sim \mathcal N(0, I).

        References
        ----------
        Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), §2.4.

        Examples
        --------
        >>> VAE.reparameterize(torch.tensor([1.0]), torch.tensor([0.0]), eps=torch.tensor([2.0])).tolist()
        [3.0]
        """
        std = torch.exp(0.5 * logvar)
        shape = mu.shape if samples is None else (samples, *mu.shape)
        if eps is None:
            eps = torch.randn(shape, dtype=mu.dtype, device=mu.device)  # ([L,] B, latent)
        return mu + std * eps

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        """The likelihood's parameters for latents z.

        Parameters
        ----------
        z : torch.Tensor
            Latents, (..., B, latent_dim).
        y : torch.Tensor, optional
            Labels (B,) of a conditional model.

        Returns
        -------
        torch.Tensor or tuple of torch.Tensor
            Bernoulli logits, the Gaussian mean in [0, 1], or (mean, log σ), each (..., B, C, H, W).

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> tuple(model.decode(torch.zeros(7, 3, 2)).shape)
        (7, 3, 1, 4, 4)
        """
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
        """E[x | z] in [0, 1] (for Bernoulli, the probabilities σ(logits)).

        Parameters
        ----------
        z : torch.Tensor
            Latents, (..., latent_dim).
        y : torch.Tensor, optional
            Labels (B,) of a conditional model.

        Returns
        -------
        torch.Tensor
            (..., C, H, W).

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> m = model.mean(torch.zeros(3, 2))
        >>> tuple(m.shape), bool(((m >= 0) & (m <= 1)).all())
        ((3, 1, 4, 4), True)
        """
        params = self.decode(z, y)
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(params)
        return params[0] if isinstance(params, tuple) else params

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        mu, logvar = self.encode(x, y)
        return self.decode(self.reparameterize(mu, logvar), y), mu, logvar

    def layer_means(self, x: torch.Tensor, y: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The posterior mean of each stochastic layer.

        Parameters
        ----------
        x : torch.Tensor
            Images, (B, C, H, W).
        y : torch.Tensor, optional
            Labels (B,) of a conditional model.

        Returns
        -------
        list of torch.Tensor
            [E_q z], (B, latent_dim); two layers: [μ1, μ2 at z1 = μ1].

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> [tuple(m.shape) for m in model.layer_means(torch.rand(3, 1, 4, 4))]
        [(3, 2)]
        """
        return [self.encode(x, y)[0]]

    @property
    def device(self) -> torch.device:
        """The device of the parameters."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters."""
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
        r"""k reparameterized draws z ~ q(z|x) per example and the terms of their importance weights.

        Parameters
        ----------
        x : torch.Tensor
            Images, (B, C, H, W).
        y : torch.Tensor, optional
            Labels (B,) of a conditional model.
        k : int, default 1
            Draws per example.
        eps : torch.Tensor, optional
            The standard-normal draws, (k, B, eps_size).
        stop_q : bool, default False
            log q(z|x) sees its parameters without gradient (only through z), as the
            doubly-reparameterized gradient needs.
        components : tuple of torch.Tensor, optional
            The VampPrior's components, when already computed for this batch.

        Returns
        -------
        Draw
            The (k, B) terms of log w.

        Notes
        -----
        .. math::

            \log w = \log p(x|z) + \log p(z) - \log q(z|x),\qquad z \sim q(z|x).

        References
        ----------
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016), eq. 8; Tucker et
        al., "Doubly Reparameterized Gradient Estimators for Monte Carlo Objectives" (2019).

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> tuple(model.log_weights(torch.rand(3, 1, 4, 4).bernoulli(), k=4).log_px_z.shape)
        (4, 3)
        """
        mu, logvar = self.encode(x, y)  # (B, latent) each
        z = self.reparameterize(mu, logvar, k, eps)  # (k, B, latent)
        q_mu, q_logvar = (mu.detach(), logvar.detach()) if stop_q else (mu, logvar)
        log_px_z = log_likelihood(self.decode(z, y), x, self.config.likelihood, self.config.sigma)  # (k, B)
        return Draw(log_px_z, self.log_prior(z, components), log_normal(z, q_mu, q_logvar), z, mu, logvar)
