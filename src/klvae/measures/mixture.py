"""Gaussian mixtures and the numerical KL between densities that have no closed form.

`gaussian_mixture` builds p(x) = Σ_k w_k N(x; μ_k, Σ_k) as a float64
``torch.distributions.MixtureSameFamily``; `parse_mixture` reads the "w:mu:sigma,..." text
of the command line. `kl_numerical` gives KL(p‖q) between two 1-D or 2-D densities with
its error estimate: the closed form where p and q are single Gaussians, adaptive
quadrature (1-D) or Simpson's rule with a Richardson error estimate (2-D) otherwise.
`event_dim`, `log_prob_points`, `gaussian_moments` and `extent` read any target with
``log_prob`` (and ``sample``); `klvae.experiments.gaussian_fits` and the figures use them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy import integrate
from torch.distributions import Categorical, Distribution, MixtureSameFamily, MultivariateNormal, Normal

from klvae.measures.gaussian import kl_normal
from klvae.measures.mvn import kl_mvn

__all__ = [
    "gaussian_mixture",
    "parse_mixture",
    "event_dim",
    "log_prob_points",
    "gaussian_moments",
    "extent",
    "kl_numerical",
    "NumericalKL",
    "DTYPE",
]

DTYPE = torch.float64  # mixtures and numerical integrals are float64 throughout
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
# breakpoints of the 1-D quadrature, in standard deviations either side of each component
_SIGMAS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 40.0)


# --------------------------------------------------------------------------- targets


def gaussian_mixture(weights, means, scales) -> MixtureSameFamily:
    """A Gaussian mixture p(x) = Σ_k w_k N(x; μ_k, Σ_k) in float64.

    Shapes: `weights` (K,); 1-D: `means` (K,), `scales` (K,) standard deviations;
    D-dim: `means` (K, D), `scales` (K,) isotropic standard deviations or (K, D, D)
    covariance matrices. Weights must be positive and sum to 1.

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

    >>> event_dim(parse_mixture("1:0:1")), event_dim(gaussian_mixture([1.0], [[0.0, 0.0]], [1.0]))
    (1, 2)
    """
    shape = p.event_shape if hasattr(p, "event_shape") else p.sample((1,)).shape[1:]
    if len(shape) > 1:
        raise ValueError(f"target events must be scalars or vectors, got event shape {tuple(shape)}")
    return 1 if len(shape) == 0 else int(shape[0])


def log_prob_points(p, x: torch.Tensor) -> torch.Tensor:
    """log p at points x of shape (N, D) -> (N,), for scalar and vector events alike.

    >>> x = torch.zeros(3, 1, dtype=DTYPE)
    >>> want = torch.full((3,), -0.5 * math.log(2 * math.pi), dtype=DTYPE)
    >>> bool(torch.allclose(log_prob_points(parse_mixture("1:0:1"), x), want))
    True
    """
    return p.log_prob(x[:, 0] if event_dim(p) == 1 and len(getattr(p, "event_shape", ())) == 0 else x)


def gaussian_moments(p) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Exact mean (D,) and covariance (D, D) of a Gaussian or Gaussian mixture, else None.

    Σ = E[Σₖ] + Cov[μₖ] (the law of total covariance).

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
    """A box (lo, hi), each (D,), holding all but a negligible part of `dist`'s mass.

    Gaussian (mixture) components: every mean ± 12 standard deviations; other targets:
    the range of 20 000 seeded samples padded by 6 standard deviations.

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


# --------------------------------------------------------------------------- numerical KL


class NumericalKL(float):
    """KL(p‖q) in nats (a float) that carries `error`, an estimate of its absolute error,
    and `method`: "closed form", "quadrature" (1-D) or "simpson" (2-D)."""

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
    """KL(p‖q) = ∫ p(x) [log p(x) − log q(x)] dx in nats, with an error estimate.

    - p and q single Gaussians (``Normal``, ``MultivariateNormal`` or one-component
      mixtures) and no `bounds`: the closed form (`kl_normal`, `kl_mvn`), error 0.
    - 1-D: ``scipy.integrate.quad`` on each interval between breakpoints at every
      component's mean ± (0, 1, 2, 4, 8, 16, 40) standard deviations (of p, and of q inside
      p's range), so a component of width 1e-6 is resolved as well as one of width 1;
      the integrand p·(log p − log q) is formed from log densities. The error is the sum
      of quad's estimates.
    - 2-D: Simpson's rule on an `n_grid`² grid (default 801²) over `bounds` (default
      ±12 sds of every component); the error is |S_n − S_(n+1)/2|, the change from the
      grid of every other point.

    A `RuntimeWarning` giving the bound is issued when the error estimate exceeds
    max(`atol`, `rtol`·|KL|). `bounds` is (lo, hi) per axis, restricting the integral.

    Returns:
        A `NumericalKL`: a float with ``.error`` (absolute error estimate, nats) and
        ``.method`` ("closed form", "quadrature" or "simpson").

    Reference: Piessens et al. (1983), *QUADPACK* (scipy's quad); Hershey & Olsen (2007)
    for why mixtures need a numerical or Monte Carlo KL.

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
