"""The numerical KL between densities that have no closed form, with its error estimate.

`kl_numerical` gives KL(p‖q) between two 1-D or 2-D densities: the closed form where p and q
are single Gaussians, adaptive quadrature between breakpoints at every component (1-D) or
Simpson's rule with a Richardson error estimate (2-D) otherwise. The answer is a `NumericalKL`, a
float carrying ``error`` and ``method``. Targets are read by `klvae.measures.mixture`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy import integrate
from torch.distributions import MixtureSameFamily, MultivariateNormal, Normal

from klvae.measures.gaussian import kl_normal
from klvae.measures.mixture import DTYPE, event_dim, extent, gaussian_moments, log_prob_points
from klvae.measures.mvn import kl_mvn

__all__ = ["kl_numerical", "NumericalKL"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
# breakpoints of the 1-D quadrature, in standard deviations either side of each component
_SIGMAS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 40.0)


class NumericalKL(float):
    """KL(p‖q) in nats, a float that carries its error estimate and its method.

    Parameters
    ----------
    value : float
        The KL, in nats.
    error : float
        An estimate of its absolute error, in nats (``.error``).
    method : str
        ``"closed form"``, ``"quadrature"`` (1-D) or ``"simpson"`` (2-D) (``.method``).

    See Also
    --------
    kl_numerical : what returns one.

    Examples
    --------
    >>> kl = NumericalKL(0.5, 1e-12, "quadrature")
    >>> kl + 1.0, kl.error, kl.method
    (1.5, 1e-12, 'quadrature')
    """

    error: float
    method: str

    def __new__(cls, value: float, error: float, method: str):
        out = super().__new__(cls, value)
        out.error, out.method = float(error), method
        return out


def _single_gaussian(dist):
    """(mean (D,), cov (D, D)) of a single Gaussian (also a one-component mixture), else None."""
    if (
        isinstance(dist, MixtureSameFamily)
        and dist.batch_shape == ()
        and dist.mixture_distribution.probs.shape[-1] == 1
    ):
        comp = dist.component_distribution
        if isinstance(comp, Normal):
            return comp.loc.reshape(1).to(DTYPE), comp.scale.reshape(1, 1).square().to(DTYPE)
        if isinstance(comp, MultivariateNormal):
            return comp.loc[0].to(DTYPE), comp.covariance_matrix[0].to(DTYPE)
        return None
    if isinstance(dist, (Normal, MultivariateNormal)):
        return gaussian_moments(dist)
    return None


def _components_1d(dist):
    """(log weights, means, sds) as NumPy (K,) of a 1-D Normal or mixture of Normals, else None."""
    if isinstance(dist, Normal) and dist.batch_shape == ():
        return (
            np.zeros(1),
            dist.loc.detach().double().reshape(1).numpy(),
            dist.scale.detach().double().reshape(1).numpy(),
        )
    if (
        isinstance(dist, MixtureSameFamily)
        and dist.batch_shape == ()
        and isinstance(dist.component_distribution, Normal)
    ):
        comp = dist.component_distribution
        log_w = dist.mixture_distribution.logits.detach().double()
        log_w = (log_w - torch.logsumexp(log_w, -1)).numpy()
        return log_w, comp.loc.detach().double().numpy(), comp.scale.detach().double().numpy()
    return None


def _log_density_1d(dist):
    """A scalar function x -> log p(x): NumPy for Gaussian mixtures, torch's log_prob otherwise."""
    parts = _components_1d(dist)
    if parts is None:

        def log_p(x):
            with torch.no_grad():
                return float(dist.log_prob(torch.tensor(x, dtype=DTYPE)))

        return log_p
    log_w, mu, sd = parts
    log_norm = log_w - np.log(sd) - _LOG_SQRT_2PI

    def log_p(x):
        z = (x - mu) / sd
        terms = log_norm - 0.5 * z * z
        top = terms.max()
        return float(top + math.log(np.exp(terms - top).sum()))

    return log_p


def _breakpoints_1d(p, q):
    """Sorted points where p's or q's shape changes: each component's mean ± _SIGMAS sds."""
    points = []
    for dist in (p, q):
        parts = _components_1d(dist)
        if parts is None:
            lo, hi = extent(dist, 1)
            points.append(np.linspace(lo[0], hi[0], 65))
            continue
        _, mu, sd = parts
        s = np.array(_SIGMAS)
        points.append((mu[:, None] + np.concatenate([-s, s])[None, :] * sd[:, None]).ravel())
    p_points = np.sort(points[0])
    lo, hi = p_points[0], p_points[-1]  # the integrand vanishes where p does
    q_points = points[1][(points[1] > lo) & (points[1] < hi)]
    return np.unique(np.concatenate([p_points, q_points]))


def _quadrature_1d(p, q, lo=None, hi=None):
    """∫ p (log p − log q) by scipy.integrate.quad between breakpoints: (value, error)."""
    log_p, log_q = _log_density_1d(p), _log_density_1d(q)

    def integrand(x):
        lp = log_p(x)
        if lp < -745.0:  # p(x) underflows: the term is 0 even where log q is very negative
            return 0.0
        return math.exp(lp) * (lp - log_q(x))

    points = _breakpoints_1d(p, q)
    if lo is not None:
        points = np.unique(np.concatenate([[lo, hi], points[(points > lo) & (points < hi)]]))
    value = error = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)  # summed into `error` instead
        for a, b in zip(points[:-1], points[1:]):
            v, e = integrate.quad(integrand, a, b, epsabs=1e-300, epsrel=1e-12, limit=200)
            value, error = value + v, error + e
    return value, error


def _simpson_2d(p, q, lo, hi, n):
    """∫∫ p (log p − log q) by Simpson's rule on an n × n grid: (value, |S_n − S_(n+1)/2|)."""
    n += 1 - n % 2  # odd: the half grid is every other point
    gx, gy = np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)
    xx, yy = np.meshgrid(gx, gy, indexing="ij")
    pts = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=DTYPE)  # (n², 2)
    with torch.no_grad():
        lp, lq = log_prob_points(p, pts), log_prob_points(q, pts)
    f = torch.where(lp > -745, lp.exp() * (lp - lq), torch.zeros_like(lp)).numpy().reshape(n, n)
    full = integrate.simpson(integrate.simpson(f, x=gy, axis=1), x=gx)
    half = integrate.simpson(integrate.simpson(f[::2, ::2], x=gy[::2], axis=1), x=gx[::2])
    return float(full), float(abs(full - half))


def kl_numerical(
    p, q, *, bounds=None, n_grid: int | None = None, rtol: float = 1e-6, atol: float = 1e-10
) -> NumericalKL:
    r"""KL(p‖q) between two 1-D or 2-D densities by numerical integration, in nats, with its error.

    Parameters
    ----------
    p, q : torch.distributions.Distribution
        Targets with ``log_prob`` (and ``sample``) of the same event dimension, 1 or 2: Gaussian
        mixtures (`gaussian_mixture`), Gaussians, or any other density.
    bounds : tuple, optional
        (lo, hi), each a number or one per axis, restricting the integral; by default where p
        has mass (1-D: its components ± 40 standard deviations) or, in 2-D, the box of `extent`
        around p and q (every component ± 12 standard deviations).
    n_grid : int, optional
        2-D only: the Simpson grid is `n_grid` × `n_grid` (made odd; default 801).
    rtol : float, default 1e-6
        A `RuntimeWarning` giving the bound is issued when the error estimate exceeds
        max(`atol`, `rtol`·|KL|).
    atol : float, default 1e-10
        See `rtol`.

    Returns
    -------
    NumericalKL
        A float with ``.error`` (the absolute error estimate, nats) and ``.method``
        (``"closed form"``, ``"quadrature"`` or ``"simpson"``).

    Raises
    ------
    ValueError
        If p and q differ in dimension, or the dimension is not 1 or 2.

    See Also
    --------
    kl_gaussian_mixtures : guaranteed bounds and Monte Carlo, in any dimension.

    Notes
    -----
    .. math:: \mathrm{KL}(p \,\|\, q) = \int p(x) \big[\log p(x) - \log q(x)\big]\, dx.

    - p and q single Gaussians (``Normal``, ``MultivariateNormal`` or one-component mixtures)
      and no `bounds`: the closed form (`kl_normal`, `kl_mvn`), error 0.
    - 1-D: ``scipy.integrate.quad`` on each interval between breakpoints at every component's
      mean ± (0, 1, 2, 4, 8, 16, 40) standard deviations (of p, and of q inside p's range), so a
      component of width 1e-6 is resolved as well as one of width 1; the integrand is formed from
      log densities. The error is the sum of quad's estimates.
    - 2-D: Simpson's rule; the error is :math:`|S_n - S_{(n+1)/2}|`, the change from the grid of
      every other point.

    References
    ----------
    Piessens et al., *QUADPACK* (1983) (scipy's quad); Hershey & Olsen, "Approximating the
    Kullback Leibler divergence between Gaussian mixture models" (2007), for why mixtures need a
    numerical or Monte Carlo KL.

    Examples
    --------
    >>> from klvae import gaussian_mixture, parse_mixture
    >>> p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    >>> q = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(10.0, dtype=torch.float64).sqrt())
    >>> kl = kl_numerical(p, q)
    >>> round(kl, 4), kl.method, kl.error < 1e-9
    (0.462, 'quadrature', True)
    >>> narrow = parse_mixture("1:0:1e-6")  # KL(N(0, 1e-12) ‖ N(0, 1)) = ½(1e-12 − 1) − log 1e-6
    >>> round(kl_numerical(narrow, parse_mixture("1:0:1")), 4)
    13.3155
    """
    dim = event_dim(p)
    if event_dim(q) != dim:
        raise ValueError(f"p and q must have the same dimension, got {dim} and {event_dim(q)}")
    if dim not in (1, 2):
        raise ValueError(f"kl_numerical integrates 1-D and 2-D densities only, got dimension {dim}")
    if bounds is None and dim == 1:
        cp, cq = _components_1d(p), _components_1d(q)
        if cp is not None and cq is not None and len(cp[1]) == len(cq[1]) == 1:  # sds, not variances:
            value = kl_normal(cp[1][0], cp[2][0], cq[1][0], cq[2][0])  # σ = 1e-300 squares to 0
            return NumericalKL(float(value), 0.0, "closed form")
    gp, gq = _single_gaussian(p), _single_gaussian(q)
    if bounds is None and dim == 2 and gp is not None and gq is not None:
        return NumericalKL(float(kl_mvn(gp[0], gp[1], gq[0], gq[1])), 0.0, "closed form")
    if bounds is not None:
        lo, hi = (np.broadcast_to(np.asarray(b, dtype=float), (dim,)) for b in bounds)
    if dim == 1:
        value, error = _quadrature_1d(p, q, *((lo[0], hi[0]) if bounds is not None else ()))
        method = "quadrature"
    else:
        if bounds is None:
            (lo_p, hi_p), (lo_q, hi_q) = extent(p, dim), extent(q, dim)
            lo, hi = np.minimum(lo_p, lo_q), np.maximum(hi_p, hi_q)
        value, error = _simpson_2d(p, q, lo, hi, n_grid or 801)
        method = "simpson"
    if not error <= max(atol, rtol * abs(value)):
        warnings.warn(
            f"kl_numerical: {value:.10g} nats has an estimated error of {error:.3g} "
            f"(asked: {max(atol, rtol * abs(value)):.3g}); "
            + ("narrow the bounds or split the mixture" if dim == 1 else "use a finer n_grid"),
            RuntimeWarning,
            stacklevel=2,
        )
    return NumericalKL(value, error, method)
