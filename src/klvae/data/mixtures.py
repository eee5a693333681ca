"""The standard 2-D mode-coverage mixtures of GAN papers (ring8, grid25) and draws from them.

Both are equal-weight mixtures of isotropic Gaussians, (1/K) Σ_k N(m_k, σ² I), far enough apart
that a generator's samples can be assigned to the nearest mode: how many modes it covers, and how
many of its samples are of high quality, measure mode collapse (`klvae.gan.mode_coverage`).
`klvae.data.load_dataset` draws the ``ring8`` and ``grid25`` data sets from them.
"""

from __future__ import annotations

import math

import torch

__all__ = ["mode_mixture", "sample_mixture"]


def mode_mixture(name: str) -> tuple[torch.Tensor, float]:
    r"""The means and common σ of a standard 2-D mode-coverage mixture.

    Parameters
    ----------
    name : str
        ``"ring8"``: 8 means on the unit circle at angles 2πi/8, i = 0..7, σ = 0.01;
        ``"grid25"``: 25 means on the grid {−4, −2, 0, 2, 4}², σ = 0.05.

    Returns
    -------
    means : torch.Tensor
        (K, 2) float32.
    sigma : float
        The common standard deviation.

    Raises
    ------
    ValueError
        For another name.

    See Also
    --------
    sample_mixture : draws from it.

    Notes
    -----
    The density is :math:`\frac1K \sum_k \mathcal N(x; m_k, \sigma^2 I)`.

    References
    ----------
    Lin et al., "PacGAN: The Power of Two Samples in Generative Adversarial Networks" (2018);
    Srivastava et al., "VEEGAN" (2017), §5.1.

    Examples
    --------
    >>> means, sigma = mode_mixture("ring8")
    >>> tuple(means.shape), sigma
    ((8, 2), 0.01)
    """
    if name == "ring8":
        angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8  # not linspace: no repeat
        means = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (8, 2)
        return means.float(), 0.01
    if name == "grid25":
        ticks = torch.arange(-4.0, 5.0, 2.0)  # -4, -2, 0, 2, 4
        return torch.cartesian_prod(ticks, ticks), 0.05  # (25, 2)
    raise ValueError(f"unknown mixture {name!r}; expected 'ring8' or 'grid25'")


def sample_mixture(
    means: torch.Tensor, sigma: float, n: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw n points from the equal-weight mixture (1/K) Σ_k N(means[k], σ² I).

    Parameters
    ----------
    means : torch.Tensor
        (K, D).
    sigma : float
        The common standard deviation, positive.
    n : int
        Points to draw, non-negative.
    generator : torch.Generator, optional
        The generator of the draws.

    Returns
    -------
    x : torch.Tensor
        (n, D), in the dtype of `means`.
    labels : torch.Tensor
        (n,) int64, the mode each point came from.

    Raises
    ------
    ValueError
        If `n` is negative, `means` is not (K, D) or `sigma` is not positive.

    Notes
    -----
    :math:`k \sim \mathrm{Uniform}\{1..K\}`, then :math:`x = m_k + \sigma \varepsilon`,
    :math:`\varepsilon \sim \mathcal N(0, I)`.

    References
    ----------
    Srivastava et al., "VEEGAN" (2017), §5.1.

    Examples
    --------
    >>> means, sigma = mode_mixture("grid25")
    >>> x, k = sample_mixture(means, sigma, 4, torch.Generator().manual_seed(0))
    >>> bool(((x - means[k]).abs() < 1).all())
    True
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if means.dim() != 2 or not sigma > 0:
        raise ValueError(f"means must be (K, D) and sigma > 0, got {tuple(means.shape)} and {sigma}")
    labels = torch.randint(len(means), (n,), generator=generator)  # (n,)
    noise = torch.randn(n, means.shape[1], generator=generator, dtype=means.dtype)  # (n, D)
    return means[labels] + sigma * noise, labels
