"""The log-densities a VAE is made of, in nats: p(x|z) for each likelihood, diagonal Gaussians,
and the `Draw` that holds the terms of a model's importance weights.

Every per-example quantity is summed over pixels (or latent dimensions); nothing is divided by
the number of pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["LOG_2PI", "log_likelihood", "log_normal", "log_normal_dims", "Draw"]

LOG_2PI = math.log(2 * math.pi)


def log_likelihood(params, x: torch.Tensor, likelihood: str, sigma: float = 0.1) -> torch.Tensor:
    r"""log p(x|z) in nats, summed over (C, H, W), for each of the decoder's likelihoods.

    Parameters
    ----------
    params : torch.Tensor or tuple of torch.Tensor
        The decoder's output for z, (..., B, C, H, W): Bernoulli logits (``"bernoulli"``), the
        mean (``"gaussian"``), or a (mean, log σ) pair (``"gaussian-learned"``).
    x : torch.Tensor
        The images, (B, C, H, W), broadcast against `params`.
    likelihood : str
        ``"bernoulli"``, ``"gaussian"`` (σ fixed) or ``"gaussian-learned"`` (σ per pixel).
    sigma : float, default 0.1
        σ of the fixed-σ ``"gaussian"`` likelihood, in pixel units.

    Returns
    -------
    torch.Tensor
        log p(x|z), shape (..., B).

    Raises
    ------
    ValueError
        For an unknown `likelihood`.

    See Also
    --------
    log_normal : the Gaussian log-density of the latents.

    Notes
    -----
    With D pixels, logits l, mean m and σ:

    .. math::

        \log p(x|z) =
        \begin{cases}
        \sum_i x_i \log \sigma(l_i) + (1 - x_i) \log(1 - \sigma(l_i)) & \text{bernoulli (−BCE)} \\
        -\frac{\lVert x - m \rVert^2}{2\sigma^2} - \frac{D}{2} \log(2\pi\sigma^2) & \text{gaussian} \\
        \sum_i -\frac{(x_i - m_i)^2}{2\sigma_i^2} - \log \sigma_i - \tfrac12 \log 2\pi & \text{gaussian-learned}
        \end{cases}

    The Bernoulli term is computed from the logits (binary cross-entropy with logits), stable for
    any l.

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), appendix C.

    Examples
    --------
    >>> logits = torch.zeros(1, 1, 2, 2)  # p = ½ for every pixel
    >>> round(float(log_likelihood(logits, torch.ones(1, 1, 2, 2), "bernoulli")), 4)  # 4·log ½
    -2.7726
    >>> round(float(log_likelihood(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), "gaussian", 1.0)), 4)
    -0.9189
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
    r"""log N(z; μ, diag exp(logvar)) summed over the last axis, in nats.

    Parameters
    ----------
    z : torch.Tensor
        Points, (..., d).
    mu : torch.Tensor
        Means, broadcastable against `z`.
    logvar : torch.Tensor
        log σ², broadcastable against `z`.

    Returns
    -------
    torch.Tensor
        The log-densities, shape of the broadcast without its last axis.

    See Also
    --------
    log_likelihood : log p(x|z) of the decoder.

    Notes
    -----
    .. math::

        \log \mathcal N(z; \mu, \operatorname{diag}\sigma^2)
        = -\tfrac12 \sum_j \Big( \frac{(z_j - \mu_j)^2}{\sigma_j^2} + \log \sigma_j^2 + \log 2\pi \Big).

    References
    ----------
    Bishop, "Pattern Recognition and Machine Learning" (2006), eq. 2.43.

    Examples
    --------
    >>> round(float(log_normal(torch.zeros(1), torch.zeros(1), torch.zeros(1))), 4)  # −½ log 2π
    -0.9189
    >>> round(float(log_normal(torch.tensor([1.0, 1.0]), torch.zeros(2), torch.zeros(2))), 4)  # −1 − log 2π
    -2.8379
    """
    return log_normal_dims(z, mu, logvar).sum(-1)


@dataclass
class Draw:
    r"""k draws of the latents for each of B examples and the terms of their importance weights.

    Parameters
    ----------
    log_px_z : torch.Tensor
        log p(x|z), (k, B), nats.
    log_pz : torch.Tensor
        log p(z) (all layers), (k, B).
    log_qz : torch.Tensor
        log q(z|x) (all layers), (k, B).
    z : torch.Tensor
        The first layer's draws, (k, B, latent_dim).
    mu : torch.Tensor
        The first layer's posterior mean, (B, latent_dim).
    logvar : torch.Tensor
        Its log σ², (B, latent_dim).
    dreg_at : tuple of torch.Tensor, default ()
        Where the doubly-reparameterized gradient scales the gradient of log w (each layer's draws
        as log w sees them); empty: `z`.

    See Also
    --------
    VAE.log_weights : the method that makes one.

    Notes
    -----
    :math:`\log w = \log p(x|z) + \log p(z) - \log q(z|x)`.

    References
    ----------
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016), eq. 8.

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig
    >>> _ = torch.manual_seed(0)
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> draw = model.log_weights(torch.rand(3, 1, 4, 4).bernoulli(), k=5)
    >>> tuple(draw.log_w().shape), tuple(draw.z.shape)
    ((5, 3), (5, 3, 2))
    """

    log_px_z: torch.Tensor
    log_pz: torch.Tensor
    log_qz: torch.Tensor
    z: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    dreg_at: tuple[torch.Tensor, ...] = ()

    def log_w(self, beta: float | torch.Tensor = 1.0) -> torch.Tensor:
        r"""The log importance weights, with the prior-to-posterior ratio weighted by β.

        Parameters
        ----------
        beta : float or torch.Tensor, default 1.0
            Weight of log p(z) − log q(z|x) (a KL warm-up); 1 gives log w.

        Returns
        -------
        torch.Tensor
            :math:`\log p(x|z) + \beta(\log p(z) - \log q(z|x))`, (k, B).

        Examples
        --------
        >>> from klvae.vae import VAE, VAEConfig
        >>> _ = torch.manual_seed(0)
        >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
        >>> draw = model.log_weights(torch.rand(3, 1, 4, 4).bernoulli(), k=2)
        >>> bool(torch.equal(draw.log_w(0.0), draw.log_px_z))
        True
        """
        return self.log_px_z + beta * (self.log_pz - self.log_qz)
