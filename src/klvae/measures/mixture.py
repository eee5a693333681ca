"""Gaussian mixtures, and what every target with ``log_prob`` is read by.

`gaussian_mixture` builds p(x) = Σ_k w_k N(x; μ_k, Σ_k) as a float64
``torch.distributions.MixtureSameFamily``; `parse_mixture` reads the "w:mu:sigma,..." text
of the command line. `event_dim`, `log_prob_points`, `gaussian_moments` and `extent` read any
target with ``log_prob`` (and ``sample``); the numerical KL (`klvae.measures.numerical_kl`),
`klvae.experiments.gaussian_fits` and the figures use them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.distributions import Categorical, Distribution, MixtureSameFamily, MultivariateNormal, Normal

__all__ = ["gaussian_mixture", "parse_mixture", "event_dim", "log_prob_points", "gaussian_moments", "extent", "DTYPE"]

DTYPE = torch.float64  # mixtures and numerical integrals are float64 throughout


def gaussian_mixture(weights, means, scales) -> MixtureSameFamily:
    r"""A Gaussian mixture p(x) = Σ_k w_k N(x; μ_k, Σ_k) in float64.

    Parameters
    ----------
    weights : array_like
        (K,) positive weights summing to 1 (within 1e-6).
    means : array_like
        (K,) for a 1-D mixture, (K, D) for a D-dimensional one.
    scales : array_like
        1-D: (K,) standard deviations. D-dim: (K,) isotropic standard deviations or (K, D, D)
        covariance matrices.

    Returns
    -------
    torch.distributions.MixtureSameFamily
        Of ``Normal`` (1-D) or ``MultivariateNormal`` components, without torch's per-call
        argument checks (the parameters are checked here).

    Raises
    ------
    ValueError
        If the weights are not positive, finite and summing to 1, the counts of components
        differ, or a mean or scale is not finite or a standard deviation not positive.

    Notes
    -----
    .. math::

        p(x) = \sum_k w_k\, \mathcal{N}(x; \mu_k, \Sigma_k), \qquad
        \operatorname{Var}_p = \sum_k w_k \Sigma_k + \sum_k w_k (\mu_k - \bar\mu)(\mu_k - \bar\mu)^\top.

    References
    ----------
    Bishop, *Pattern Recognition and Machine Learning* (2006), §2.3.9.

    Examples
    --------
    >>> p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    >>> round(float(p.variance), 6)   # within-component 1 + between-component 9
    10.0
    """
    w = torch.as_tensor(np.asarray(weights, dtype=float), dtype=DTYPE)
    mu = torch.as_tensor(np.asarray(means, dtype=float), dtype=DTYPE)
    sc = torch.as_tensor(np.asarray(scales, dtype=float), dtype=DTYPE)
    if w.ndim != 1 or w.numel() == 0:
        raise ValueError(f"weights must be a non-empty 1-D list, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all() or (w <= 0).any():
        raise ValueError("mixture weights must be positive and finite")
    if abs(float(w.sum()) - 1.0) > 1e-6:
        raise ValueError(f"mixture weights must sum to 1, got {float(w.sum()):.6g}")
    if mu.shape[0] != w.shape[0] or sc.shape[0] != w.shape[0]:
        raise ValueError("weights, means and scales must have the same number of components")
    if not torch.isfinite(mu).all() or not torch.isfinite(sc).all():
        raise ValueError("mixture means and scales must be finite")
    components: Distribution
    if mu.ndim == 1:
        if sc.ndim != 1 or (sc <= 0).any():
            raise ValueError("1-D mixture scales must be positive standard deviations")
        components = Normal(mu, sc, validate_args=False)
    else:
        dim = mu.shape[1]
        if sc.ndim == 1:
            if (sc <= 0).any():
                raise ValueError("isotropic mixture scales must be positive")
            covs = sc[:, None, None].square() * torch.eye(dim, dtype=DTYPE)
        else:
            covs = sc
        components = MultivariateNormal(mu, covariance_matrix=covs, validate_args=False)
    # parameters are checked above; skipping torch's per-call sample checks makes log_prob fast
    return MixtureSameFamily(Categorical(probs=w, validate_args=False), components, validate_args=False)


def parse_mixture(text: str) -> MixtureSameFamily:
    """Parse a 1-D Gaussian mixture written "w:mu:sigma,w:mu:sigma,...".

    Parameters
    ----------
    text : str
        Comma-separated components, each weight, mean and standard deviation separated by colons.

    Returns
    -------
    torch.distributions.MixtureSameFamily
        The mixture, as `gaussian_mixture` builds it.

    Raises
    ------
    ValueError
        If the text is empty, a component is not three numbers, or `gaussian_mixture` refuses them.

    Examples
    --------
    >>> p = parse_mixture("0.5:-3:1,0.5:3:1")
    >>> p.component_distribution.loc.tolist()
    [-3.0, 3.0]
    """
    parts = [s.strip() for s in text.split(",") if s.strip()]
    if not parts:
        raise ValueError("mixture must be written 'w:mu:sigma,w:mu:sigma,...', got an empty string")
    rows = []
    for part in parts:
        fields = part.split(":")
        try:
            if len(fields) != 3:
                raise ValueError
            rows.append([float(f) for f in fields])
        except ValueError:
            raise ValueError(f"mixture component {part!r} is not 'w:mu:sigma' with three numbers") from None
    w, mu, sigma = np.array(rows).T
    return gaussian_mixture(w, mu, sigma)


def event_dim(p) -> int:
    """Event dimension D of a target (1 for scalar events).

    Parameters
    ----------
    p : torch.distributions.Distribution
        A target with ``event_shape``, or else with ``sample``.

    Returns
    -------
    int
        D for vector events of shape (D,), 1 for scalar events.

    Raises
    ------
    ValueError
        If the events have more than one axis.

    Examples
    --------
    >>> event_dim(parse_mixture("1:0:1")), event_dim(gaussian_mixture([1.0], [[0.0, 0.0]], [1.0]))
    (1, 2)
    """
    shape = p.event_shape if hasattr(p, "event_shape") else p.sample((1,)).shape[1:]
    if len(shape) > 1:
        raise ValueError(f"target events must be scalars or vectors, got event shape {tuple(shape)}")
    return 1 if len(shape) == 0 else int(shape[0])


def log_prob_points(p, x: torch.Tensor) -> torch.Tensor:
    """log p at points x of shape (N, D), for scalar and vector events alike.

    Parameters
    ----------
    p : torch.distributions.Distribution
        A target with ``log_prob``.
    x : torch.Tensor
        (N, D) points; for scalar events D = 1.

    Returns
    -------
    torch.Tensor
        (N,) log densities.

    Examples
    --------
    >>> import math
    >>> x = torch.zeros(3, 1, dtype=DTYPE)
    >>> want = torch.full((3,), -0.5 * math.log(2 * math.pi), dtype=DTYPE)
    >>> bool(torch.allclose(log_prob_points(parse_mixture("1:0:1"), x), want))
    True
    """
    return p.log_prob(x[:, 0] if event_dim(p) == 1 and len(getattr(p, "event_shape", ())) == 0 else x)


def gaussian_moments(p) -> tuple[torch.Tensor, torch.Tensor] | None:
    r"""Exact mean and covariance of a Gaussian or a Gaussian mixture.

    Parameters
    ----------
    p : torch.distributions.Distribution
        A ``Normal``, ``MultivariateNormal`` or ``MixtureSameFamily`` of either, without batch
        shape; anything else gives None.

    Returns
    -------
    tuple of torch.Tensor or None
        Mean (D,) and covariance (D, D) in float64, or None.

    Notes
    -----
    The law of total covariance:

    .. math:: \Sigma = \mathbb{E}_k[\Sigma_k] + \operatorname{Cov}_k[\mu_k].

    References
    ----------
    Bishop, *Pattern Recognition and Machine Learning* (2006), §2.3.9.

    Examples
    --------
    >>> mean, cov = gaussian_moments(parse_mixture("0.5:-3:1,0.5:3:1"))
    >>> float(mean[0]), float(cov[0, 0])  # 1 within + 9 between
    (0.0, 10.0)
    """
    if isinstance(p, Normal) and p.batch_shape == ():
        return p.loc.reshape(1).to(DTYPE), p.scale.reshape(1, 1).square().to(DTYPE)
    if isinstance(p, MultivariateNormal) and p.batch_shape == ():
        return p.loc.to(DTYPE), p.covariance_matrix.to(DTYPE)
    if isinstance(p, MixtureSameFamily) and p.batch_shape == ():
        w = p.mixture_distribution.probs.to(DTYPE)  # (K,)
        comp = p.component_distribution
        if isinstance(comp, Normal):
            mu, cov = comp.loc[:, None], comp.scale.square()[:, None, None]  # (K, 1), (K, 1, 1)
        elif isinstance(comp, MultivariateNormal):
            mu, cov = comp.loc, comp.covariance_matrix  # (K, D), (K, D, D)
        else:
            return None
        mu, cov = mu.to(DTYPE), cov.to(DTYPE)
        mean = w @ mu  # (D,)
        centred = mu - mean  # (K, D)
        # law of total covariance: E[Σ_k] + Cov[μ_k]
        total = (w[:, None, None] * (cov + centred[:, :, None] * centred[:, None, :])).sum(0)
        return mean, total
    return None


def extent(dist, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A box (lo, hi) holding all but a negligible part of `dist`'s mass.

    Parameters
    ----------
    dist : torch.distributions.Distribution
        A target with ``log_prob`` and ``sample``.
    dim : int
        Its event dimension D (`event_dim`).

    Returns
    -------
    tuple of numpy.ndarray
        lo and hi, each (D,): every component mean ± 12 standard deviations for a Gaussian
        mixture, the mean ± 12 standard deviations for a Gaussian, and otherwise the range of
        20 000 samples (seed 0, the global generator left untouched) padded by 6 standard
        deviations.

    Examples
    --------
    >>> lo, hi = extent(parse_mixture("0.5:-3:1,0.5:3:2"), 1)
    >>> float(lo[0]), float(hi[0])
    (-21.0, 27.0)
    """
    if isinstance(dist, MixtureSameFamily) and isinstance(dist.component_distribution, (Normal, MultivariateNormal)):
        comp = dist.component_distribution
        if isinstance(comp, Normal):
            mu, sd = comp.loc[:, None], comp.scale[:, None]
        else:
            mu, sd = comp.loc, comp.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()
        lo, hi = (mu - 12 * sd).min(0).values, (mu + 12 * sd).max(0).values
        return lo.detach().numpy(), hi.detach().numpy()
    moments = gaussian_moments(dist)
    if moments is not None:
        mean, cov = moments
        sd = cov.diagonal().sqrt()
        return (mean - 12 * sd).detach().numpy(), (mean + 12 * sd).detach().numpy()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        x = dist.sample((20_000,)).to(DTYPE).reshape(20_000, dim)
    pad = 6 * x.std(0)
    return (x.min(0).values - pad).numpy(), (x.max(0).values + pad).numpy()
