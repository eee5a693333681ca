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
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from klvae.vae.densities import log_normal_dims

__all__ = ["PRIORS", "standard_normal_log_prob", "VampPrior", "LatentPrior"]

PRIORS = ("normal", "vamp")


def standard_normal_log_prob(z: torch.Tensor, dims: bool = False) -> torch.Tensor:
    """log N(z; 0, I): summed over the last axis, or per dimension with `dims=True`."""
    logp = -0.5 * (z.square() + math.log(2 * math.pi))
    return logp if dims else logp.sum(-1)


class VampPrior(nn.Module):
    r"""The VampPrior's K pseudo-inputs u_k in (0, 1), learned with the model.

    Parameters
    ----------
    n : int
        K, the number of pseudo-inputs.
    image_shape : tuple of int
        (C, H, W) of one pseudo-input.

    Raises
    ------
    ValueError
        If `n` is below 1.

    See Also
    --------
    VAE : the model whose encoder gives the components.

    Notes
    -----
    u = sigmoid(raw) of a free parameter (½ until `init_from`). The prior is the mixture of the
    encoder's posteriors at the u_k, whose components `log_prob` and `sample` take:

    .. math::

        p(z) = \frac1K \sum_{k=1}^K q(z \mid u_k).

    References
    ----------
    Tomczak & Welling, "VAE with a VampPrior" (2018), eq. 9.

    Examples
    --------
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
        """K, the number of pseudo-inputs."""
        return self.raw.shape[0]

    def pseudo_inputs(self) -> torch.Tensor:
        """The pseudo-inputs u_k in (0, 1).

        Returns
        -------
        torch.Tensor
            (K, C, H, W).

        Examples
        --------
        >>> VampPrior(2, (1, 1, 1)).pseudo_inputs().flatten().tolist()
        [0.5, 0.5]
        """
        return torch.sigmoid(self.raw)

    @torch.no_grad()
    def init_from(self, images: torch.Tensor, generator: torch.Generator | None = None) -> None:
        r"""Start the u_k at K training images drawn at random, each averaged with the mean image.

        Parameters
        ----------
        images : torch.Tensor
            Training images, (N, C, H, W), in [0, 1].
        generator : torch.Generator, optional
            The generator of the K picks.

        Notes
        -----
        :math:`u_k = \operatorname{clamp}(\tfrac12 x_{i_k} + \tfrac12 \bar x, 0.02, 0.98)`, so no
        pseudo-input starts saturated.

        Examples
        --------
        >>> prior = VampPrior(2, (1, 1, 1))
        >>> prior.init_from(torch.ones(5, 1, 1, 1))
        >>> [round(u, 2) for u in prior.pseudo_inputs().flatten().tolist()]
        [0.98, 0.98]
        """
        pick = torch.randint(len(images), (self.n,), generator=generator)
        u = 0.5 * images[pick].to(self.raw) + 0.5 * images.mean(0).to(self.raw)  # (K, C, H, W)
        self.raw.copy_(torch.logit(u.clamp(0.02, 0.98)))

    @staticmethod
    def log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dims: bool = False) -> torch.Tensor:
        r"""log p(z) of the mixture of K diagonal Gaussians.

        Parameters
        ----------
        z : torch.Tensor
            Points, (..., d).
        mu : torch.Tensor
            The components' means, (K, d).
        logvar : torch.Tensor
            Their log σ², (K, d).
        dims : bool, default False
            Each dimension's marginal (a 1-D mixture) instead of the joint.

        Returns
        -------
        torch.Tensor
            (...), or (..., d) with `dims`, in z's dtype.

        Notes
        -----
        .. math::

            \log p(z) = \operatorname{logsumexp}_k \log \mathcal N(z; \mu_k, \sigma_k^2) - \log K.

        The K log-densities of all z come from two matrix products,

        .. math::

            \sum_j \frac{(z_j - \mu_{kj})^2}{\sigma^2_{kj}} = z^2 \cdot \frac{1}{\sigma^2_k}
            - 2 z \cdot \frac{\mu_k}{\sigma^2_k} + \sum_j \frac{\mu^2_{kj}}{\sigma^2_{kj}},

        computed in float64 so the expanded squares do not cancel.

        References
        ----------
        Tomczak & Welling, "VAE with a VampPrior" (2018), eq. 9.

        Examples
        --------
        >>> mu, logvar = torch.tensor([[0.0], [2.0]]), torch.zeros(2, 1)
        >>> round(float(VampPrior.log_prob(torch.tensor([1.0]), mu, logvar)), 4)  # both at distance 1
        -1.4189
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
        """n draws z ~ p(z): a component k uniformly, then z ~ q(z | u_k).

        Parameters
        ----------
        n : int
            Number of draws.
        mu : torch.Tensor
            The components' means, (K, d).
        logvar : torch.Tensor
            Their log σ², (K, d).
        generator : torch.Generator, optional
            The generator of the draws.

        Returns
        -------
        torch.Tensor
            (n, d).

        Examples
        --------
        >>> z = VampPrior.sample(1000, torch.tensor([[5.0]]), torch.full((1, 1), -20.0))
        >>> round(float(z.mean()), 3)
        5.0
        """
        k = torch.randint(mu.shape[0], (n,), generator=generator).to(mu.device)
        eps = torch.randn(n, mu.shape[1], generator=generator, dtype=mu.dtype).to(mu.device)
        return mu[k] + torch.exp(0.5 * logvar[k]) * eps


class LatentPrior:
    """The prior side of a VAE: p(z)'s components, its log-density and draws from it.

    A base of `klvae.vae.VAE`, which gives ``prior`` (a `VampPrior` or None for N(0, I)),
    ``encode``, ``config``, ``dtype`` and ``device``; `klvae.vae.TwoLayerVAE` overrides the
    methods for its top layer z2.
    """

    if TYPE_CHECKING:  # what the model class gives
        prior: VampPrior | None
        config: Any

        @property
        def dtype(self) -> torch.dtype: ...

        @property
        def device(self) -> torch.device: ...

        def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...

    def prior_components(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The VampPrior's K components (μ_k, log σ²_k), the top layer's posterior at the pseudo-inputs.

        Returns
        -------
        tuple of torch.Tensor or None
            (μ, log σ²), each (K, latent); None for the N(0, I) prior.

        Examples
        --------
        >>> from klvae.vae import VAE, VAEConfig
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> model.prior_components() is None
        True
        """
        if self.prior is None:
            return None
        return self.encode(self.prior.pseudo_inputs())

    def log_prior(self, z: torch.Tensor, components=None, dims: bool = False) -> torch.Tensor:
        r"""log p(z) of top-layer latents.

        Parameters
        ----------
        z : torch.Tensor
            Latents, (..., d).
        components : tuple of torch.Tensor, optional
            The VampPrior's components when already computed (`prior_components`).
        dims : bool, default False
            Per dimension (the marginals) instead of summed.

        Returns
        -------
        torch.Tensor
            (...), or (..., d) with `dims`.

        Notes
        -----
        N(0, I): :math:`-\tfrac12 \sum_j (z_j^2 + \log 2\pi)`; VampPrior:
        :math:`\log \frac1K \sum_k q(z|u_k)`.

        Examples
        --------
        >>> from klvae.vae import VAE, VAEConfig
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> round(float(model.log_prior(torch.zeros(2))), 4)  # −log 2π
        -1.8379
        """
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
        """n draws of the top latent from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        generator : torch.Generator, optional
            The generator of the draws.

        Returns
        -------
        torch.Tensor
            (n, top_size).

        Examples
        --------
        >>> from klvae.vae import VAE, VAEConfig
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> tuple(model.sample_top(5).shape)
        (5, 2)
        """
        components = self.prior_components()
        if self.prior is None or components is None:
            return torch.randn(n, self.top_size, generator=generator, dtype=self.dtype).to(self.device)
        return self.prior.sample(n, *components, generator=generator)

    def sample_latent(
        self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """n draws of the latent the decoder reads (z, or z1 of two layers) from the prior.

        Parameters
        ----------
        n : int
            Number of draws.
        generator : torch.Generator, optional
            The generator of the draws.
        y : torch.Tensor, optional
            Labels of a conditional model; they matter only where the prior depends on them.

        Returns
        -------
        torch.Tensor
            (n, latent_dim).

        Examples
        --------
        >>> from klvae.vae import VAE, VAEConfig
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> tuple(model.sample_latent(5, torch.Generator().manual_seed(0)).shape)
        (5, 2)
        """
        return self.sample_top(n, generator)
