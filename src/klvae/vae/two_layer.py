"""A VAE with two stochastic layers, as in Burda et al. (2016), "Importance Weighted Autoencoders", §5:

    generative  p(z2) p(z1 | z2) p(x | z1),      inference  q(z1 | x) q(z2 | z1),

each conditional a diagonal Gaussian (p(x|z1) the run's likelihood) from its own network. The
importance weight of one draw (z1, z2) ~ q is

    log w = log p(x|z1) + log p(z1|z2) + log p(z2) − log q(z1|x) − log q(z2|z1),

so the ELBO (k = 1), the IWAE bound and the test −log p(x) are those of the one-layer model
with these terms. No closed-form KL: the ELBO's KL term is the Monte Carlo log q − log p.
"""

from __future__ import annotations

import torch

from klvae.vae.config import VAEConfig
from klvae.vae.densities import Draw, log_likelihood, log_normal
from klvae.vae.layers import mlp, one_hot, with_label
from klvae.vae.model import VAE

__all__ = ["TwoLayerVAE"]


class TwoLayerVAE(VAE):
    r"""A VAE with two stochastic layers: x → z1 (latent_dim) → z2 (latent_dim2).

    The x ↔ z1 networks are those of `VAE` (widths `hidden`); the z1 ↔ z2 networks have widths
    `hidden2`. With the VampPrior, p(z2) is the mixture of q(z2 | z1 = μ1(u_k)) at the
    pseudo-inputs u_k.

    Parameters
    ----------
    config : VAEConfig
        The settings, with ``stochastic_layers=2`` and `image_shape` set.

    Raises
    ------
    ValueError
        If `config.stochastic_layers` is not 2, or `config.image_shape` is not set.

    See Also
    --------
    VAE : one stochastic layer.

    Notes
    -----
    .. math::

        p(x, z_1, z_2) = p(x|z_1)\,p(z_1|z_2)\,p(z_2),\qquad q(z_1, z_2|x) = q(z_1|x)\,q(z_2|z_1),

    so :math:`\log w = \log p(x|z_1) + \log p(z_1|z_2) + \log p(z_2) - \log q(z_1|x) - \log q(z_2|z_1)`.

    References
    ----------
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016), §5.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> cfg = VAEConfig(hidden=(16,), latent_dim=4, stochastic_layers=2, image_shape=(1, 4, 4))
    >>> model = TwoLayerVAE(cfg)
    >>> tuple(model.log_weights(torch.rand(3, 1, 4, 4).bernoulli(), k=5).log_px_z.shape)
    (5, 3)
    """

    def __init__(self, config: VAEConfig):
        if config.stochastic_layers != 2:
            raise ValueError(f"a TwoLayerVAE has stochastic_layers = 2, got {config.stochastic_layers}")
        super().__init__(config)
        assert config.latent_dim is not None and config.latent_dim2 is not None and config.hidden2 is not None
        c1, c2, n_y = config.latent_dim, config.latent_dim2, config.label_width
        self.encoder2 = mlp([c1 + n_y, *config.hidden2, 2 * c2])  # z1 → (μ2, log σ2²) of q(z2|z1)
        self.decoder2 = mlp([c2 + n_y, *reversed(config.hidden2), 2 * c1])  # z2 → (μ, log σ²) of p(z1|z2)

    @property
    def analytic_kl(self) -> bool:
        """False: the KL of two layers has no closed form (the ELBO's KL is Monte Carlo)."""
        return False

    @property
    def eps_size(self) -> int:
        """latent_dim + latent_dim2: the standard-normal numbers of one draw of z1 and z2."""
        return int(self.config.latent_dim or 0) + int(self.config.latent_dim2 or 0)

    def encode2(self, z1: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z2 | z1): the second layer's posterior parameters.

        Parameters
        ----------
        z1 : torch.Tensor
            First-layer latents, (..., B, latent_dim).
        y : torch.Tensor, optional
            Labels (B,) of a conditional model.

        Returns
        -------
        mu : torch.Tensor
            (..., B, latent_dim2).
        logvar : torch.Tensor
            (..., B, latent_dim2), log σ².

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> cfg = VAEConfig(hidden=(16,), latent_dim=4, stochastic_layers=2, image_shape=(1, 4, 4))
        >>> model = TwoLayerVAE(cfg)
        >>> [tuple(t.shape) for t in model.encode2(torch.zeros(3, 4))]
        [(3, 2), (3, 2)]
        """
        h = self.encoder2(with_label(z1, one_hot(y, self.config.label_width, z1))).to(z1.dtype)
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar

    def prior1(self, z2: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z1 | z2): the first layer's conditional prior.

        Parameters
        ----------
        z2 : torch.Tensor
            Top latents, (..., B, latent_dim2).
        y : torch.Tensor, optional
            Labels (B,) of a conditional model.

        Returns
        -------
        mu : torch.Tensor
            (..., B, latent_dim).
        logvar : torch.Tensor
            (..., B, latent_dim), log σ².

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> cfg = VAEConfig(hidden=(16,), latent_dim=4, stochastic_layers=2, image_shape=(1, 4, 4))
        >>> model = TwoLayerVAE(cfg)
        >>> [tuple(t.shape) for t in model.prior1(torch.zeros(3, 2))]
        [(3, 4), (3, 4)]
        """
        h = self.decoder2(with_label(z2, one_hot(y, self.config.label_width, z2))).to(z2.dtype)
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar

    def prior_components(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The VampPrior's components over z2: q(z2 | z1 = μ1(u_k)) at the pseudo-inputs.

        Returns
        -------
        tuple of torch.Tensor or None
            (μ, log σ²), each (K, latent_dim2); None for the N(0, I) prior.
        """
        if self.prior is None:
            return None
        return self.encode2(self.encode(self.prior.pseudo_inputs())[0])

    @property
    def top_size(self) -> int:
        """latent_dim2: the prior p(z2) is over the top layer."""
        return int(self.config.latent_dim2 or 0)

    def sample_latent(
        self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """z2 ~ p(z2), then z1 ~ p(z1 | z2): draws of the latent the decoder reads.

        Parameters
        ----------
        n : int
            Number of draws.
        generator : torch.Generator, optional
            The generator of the draws.
        y : torch.Tensor, optional
            Labels (n,) of a conditional model.

        Returns
        -------
        torch.Tensor
            (n, latent_dim).

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> cfg = VAEConfig(hidden=(16,), latent_dim=4, stochastic_layers=2, image_shape=(1, 4, 4))
        >>> model = TwoLayerVAE(cfg)
        >>> tuple(model.sample_latent(5).shape)
        (5, 4)
        """
        mu, logvar = self.prior1(self.sample_top(n, generator), y)  # (n, latent_dim) each
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def layer_means(self, x: torch.Tensor, y: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The posterior means [μ1, μ2 at z1 = μ1].

        Parameters
        ----------
        x : torch.Tensor
            Images, (B, C, H, W).
        y : torch.Tensor, optional
            Labels (B,) of a conditional model.

        Returns
        -------
        list of torch.Tensor
            (B, latent_dim) and (B, latent_dim2).
        """
        mu1 = self.encode(x, y)[0]
        return [mu1, self.encode2(mu1, y)[0]]

    def log_weights(self, x, y=None, k=1, eps=None, *, stop_q=False, components=None) -> Draw:
        """As `VAE.log_weights`, with the two layers' terms.

        Parameters
        ----------
        x : torch.Tensor
            Images, (B, C, H, W).
        y : torch.Tensor, optional
            Labels (B,) of a conditional model.
        k : int, default 1
            Draws per example.
        eps : torch.Tensor, optional
            The standard-normal draws, (k, B, eps_size): z1's first, then z2's.
        stop_q : bool, default False
            DReG: log q(z1|x) + log q(z2|z1) with the encoders' parameters held fixed, z2's density
            still a function of z1.
        components : tuple of torch.Tensor, optional
            The VampPrior's components, when already computed for this batch.

        Returns
        -------
        Draw
            The (k, B) terms; `z`, `mu`, `logvar` are the first layer's.

        Notes
        -----
        With `stop_q`, log w reads the draws through views of z1 and z2 (`Draw.dreg_at`) where DReG
        scales its gradient by w̃; the path z1 → q(z2|z1) → z2 of the reparameterization runs outside
        the views, so every path from log w to an encoder parameter crosses exactly one of them.

        References
        ----------
        Tucker, Lawson, Gu & Maddison, "Doubly Reparameterized Gradient Estimators for Monte Carlo
        Objectives" (2019).

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> cfg = VAEConfig(hidden=(16,), latent_dim=4, stochastic_layers=2, image_shape=(1, 4, 4))
        >>> model = TwoLayerVAE(cfg)
        >>> draw = model.log_weights(torch.rand(3, 1, 4, 4).bernoulli(), k=2, stop_q=True)
        >>> len(draw.dreg_at)
        2
        """
        c1 = int(self.config.latent_dim or 0)
        mu1, logvar1 = self.encode(x, y)  # (B, c1) each
        if eps is None:
            eps = torch.randn(k, *mu1.shape[:-1], self.eps_size, dtype=mu1.dtype, device=mu1.device)
        z1 = self.reparameterize(mu1, logvar1, eps=eps[..., :c1])  # (k, B, c1)
        mu2, logvar2 = self.encode2(z1, y)  # (k, B, c2) each
        z2 = self.reparameterize(mu2, logvar2, eps=eps[..., c1:])  # (k, B, c2)
        dreg_at: tuple[torch.Tensor, ...] = ()
        if stop_q:  # log q with its parameters held fixed, as a function of (z1, z2) only
            z1, z2 = z1.view_as(z1), z2.view_as(z2)  # log w's own view of the draws: see below
            fixed = {name: p.detach() for name, p in self.encoder2.named_parameters()}
            h = torch.func.functional_call(
                self.encoder2, fixed, (with_label(z1, one_hot(y, self.config.label_width, z1)),)
            )
            log_qz = log_normal(z1, mu1.detach(), logvar1.detach()) + log_normal(z2, *h.to(z1.dtype).chunk(2, -1))
            dreg_at = (z1, z2)
        else:
            log_qz = log_normal(z1, mu1, logvar1) + log_normal(z2, mu2, logvar2)  # (k, B)
        log_pz = self.log_prior(z2, components) + log_normal(z1, *self.prior1(z2, y))  # (k, B)
        log_px_z = log_likelihood(self.decode(z1, y), x, self.config.likelihood, self.config.sigma)  # (k, B)
        return Draw(log_px_z, log_pz, log_qz, z1, mu1, logvar1, dreg_at)
