"""Fit a Gaussian q to a target p by forward KL(p‖q) or reverse KL(q‖p).

Forward KL(p‖q) = E_p[log p − log q] punishes q for missing mass where p has it, so the
best Gaussian covers every mode of p: it is the moment match (mean and covariance of p).
Reverse KL(q‖p) = E_q[log q − log p] punishes q for putting mass where p has none, so a
Gaussian settles inside one mode (Bishop, *Pattern Recognition and Machine Learning*,
2006, §10.1.2, Fig. 10.3; Minka, "Divergence measures and message passing", 2005).

The reverse objective is not convex: it is minimized from several initial means spread
over p's range, and every restart is reported where it converged. In 1-D the objective
E_q[log q − log p] = −H(q) − E_q[log p] is evaluated by Gauss–Hermite quadrature of
E_q[log p] on reparameterized nodes x_i = μ + σ·z_i (deterministic, so the optimum is found
to many digits); in more dimensions by Monte Carlo with fixed common random numbers
x_i = μ + L·ε_i. The KLs reported for each fit are computed by numerical integration
(`klvae.measures.numerical_kl.kl_numerical`), independently of the objective that was minimized.

Targets are any object with `log_prob` and `sample` (torch.distributions); Gaussian
mixtures are built with `klvae.measures.mixture.gaussian_mixture` or parsed from "w:mu:sigma,..."
text (`klvae.measures.mixture.parse_mixture`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import MultivariateNormal, Normal

from klvae.experiments.reverse_objective import minimize_kl, reverse_objective
from klvae.measures.mixture import DTYPE, event_dim, extent, gaussian_moments
from klvae.measures.numerical_kl import kl_numerical

__all__ = ["GaussianFit", "fit_forward", "fit_reverse"]


@dataclass
class GaussianFit:
    r"""A fitted Gaussian q = N(mean, cov) and its two KLs to the target, in nats.

    Parameters
    ----------
    mean : numpy.ndarray
        (D,).
    cov : numpy.ndarray
        (D, D).
    kl_forward : float
        KL(p‖q) by numerical integration.
    kl_reverse : float
        KL(q‖p) by numerical integration.
    init_mean : numpy.ndarray, optional
        (D,), where a reverse restart started.
    objective : float, default nan
        The minimized objective's final value.
    converged : bool, default True
        The objective's gradient norm was below tolerance at the end.

    See Also
    --------
    fit_forward, fit_reverse

    Notes
    -----
    Both KLs are computed by `klvae.measures.kl_numerical`, independently of the objective that
    was minimized: :math:`\mathrm{KL}(p\,\|\,q) = \int p \log (p/q)\,dx`.

    References
    ----------
    Bishop, *Pattern Recognition and Machine Learning* (2006), §10.1.2.

    Examples
    --------
    >>> from klvae.measures import gaussian_mixture
    >>> p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    >>> fit = fit_forward(p)
    >>> sorted(fit.to_dict())
    ['kl_forward', 'kl_reverse', 'mean', 'std']
    """

    mean: np.ndarray  # (D,)
    cov: np.ndarray  # (D, D)
    kl_forward: float  # KL(p‖q) by numerical integration
    kl_reverse: float  # KL(q‖p) by numerical integration
    init_mean: np.ndarray | None = None  # (D,) where a reverse restart started
    objective: float = math.nan  # the minimized objective's final value
    converged: bool = True  # gradient norm of the objective below tolerance at the end

    @property
    def std(self) -> np.ndarray:
        """The standard deviations, √diag(cov), (D,)."""
        return np.sqrt(np.diag(self.cov))

    def distribution(self) -> Normal | MultivariateNormal:
        """q as a torch distribution.

        Returns
        -------
        torch.distributions.Normal or torch.distributions.MultivariateNormal
            Normal in 1-D, MultivariateNormal otherwise (float64).

        Examples
        --------
        >>> from klvae.measures import gaussian_mixture
        >>> p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
        >>> fit_forward(p).distribution()
        Normal(loc: 0.0, scale: 3.1622776601683795)
        """
        if self.mean.shape[0] == 1:
            return Normal(torch.tensor(self.mean[0], dtype=DTYPE), torch.tensor(self.std[0], dtype=DTYPE))
        return MultivariateNormal(torch.tensor(self.mean, dtype=DTYPE), torch.tensor(self.cov, dtype=DTYPE))

    def to_dict(self) -> dict:
        """The fit as JSON-ready values.

        Returns
        -------
        dict
            1-D fits: scalar ``mean`` and ``std``; others: ``mean`` and ``cov`` lists; then
            ``kl_forward``, ``kl_reverse`` and, for a reverse restart, ``init_mean`` and ``converged``.

        Examples
        --------
        >>> from klvae.measures import gaussian_mixture
        >>> p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
        >>> round(fit_forward(p).to_dict()["std"] ** 2, 6)
        10.0
        """
        out: dict = {}
        if self.mean.shape[0] == 1:
            out.update(mean=float(self.mean[0]), std=float(self.std[0]))
        else:
            out.update(mean=self.mean.tolist(), cov=self.cov.tolist())
        out.update(kl_forward=float(self.kl_forward), kl_reverse=float(self.kl_reverse))
        if self.init_mean is not None:
            init = self.init_mean
            out["init_mean"] = float(init[0]) if init.shape[0] == 1 else init.tolist()
            out["converged"] = bool(self.converged)
        return out


def _fit(p, mean: torch.Tensor, cov: torch.Tensor, **extra) -> GaussianFit:
    fit = GaussianFit(mean.detach().numpy().copy(), cov.detach().numpy().copy(), math.nan, math.nan, **extra)
    q = fit.distribution()
    fit.kl_forward, fit.kl_reverse = float(kl_numerical(p, q)), float(kl_numerical(q, p))
    return fit


# --------------------------------------------------------------------------- forward KL


def fit_forward(p, *, method: str = "moments", n: int = 100_000, seed: int = 0) -> GaussianFit:
    r"""The Gaussian q minimizing forward KL(p‖q) = E_p[log p − log q].

    Parameters
    ----------
    p : torch.distributions.Distribution
        The target: any object with ``log_prob`` and ``sample``; ``method="moments"`` needs a
        Gaussian or Gaussian mixture (`klvae.measures.gaussian_mixture`).
    method : str, default "moments"
        ``"moments"``: the exact mean and covariance of p; ``"mc"``: draw `n` samples
        x_i ~ p and minimize −(1/n) Σ log q(x_i).
    n : int, default 100000
        Samples of ``method="mc"``.
    seed : int, default 0
        Seeds those samples (torch's generator, restored afterwards).

    Returns
    -------
    GaussianFit
        The fit and its two KLs.

    Raises
    ------
    ValueError
        For an unknown `method`, ``"moments"`` on a target that is not Gaussian (mixture), or
        `n` below 2.

    See Also
    --------
    fit_reverse : the other direction.

    Notes
    -----
    Only :math:`-\mathbb E_p[\log q]` depends on q; over the Gaussians its minimizer is the moment
    match

    .. math::

        q^\star = \mathcal N\big(\mathbb E_p[x],\ \operatorname{Cov}_p[x]\big),

    which covers every mode of p. With samples, the sample mean and the (1/n) sample covariance.

    References
    ----------
    Bishop, *Pattern Recognition and Machine Learning* (2006), §10.7, eq. 10.187; Minka,
    "Divergence measures and message passing" (2005).

    Examples
    --------
    >>> from klvae.measures import gaussian_mixture
    >>> p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    >>> fit = fit_forward(p)
    >>> round(float(fit.mean[0]), 6), round(float(fit.std[0]) ** 2, 6)
    (0.0, 10.0)
    """
    dim = event_dim(p)
    if method == "moments":
        moments = gaussian_moments(p)
        if moments is None:
            raise ValueError("method='moments' needs a Gaussian or Gaussian-mixture target; use method='mc'")
        return _fit(p, *moments)
    if method == "mc":
        if n < 2:
            raise ValueError(f"n must be at least 2, got {n}")
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            x = p.sample((n,)).to(DTYPE).reshape(n, dim)  # (n, D)
        mean = x.mean(0)
        centred = x - mean
        return _fit(p, mean, centred.T @ centred / n)
    raise ValueError(f"method must be 'moments' or 'mc', got {method!r}")


# --------------------------------------------------------------------------- reverse KL


def _initial_means(p, dim: int, n_restarts: int) -> np.ndarray:
    """Initial means spread over p's range: 2%–98% sample quantiles, (R, D)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        x = p.sample((20_000,)).to(DTYPE).reshape(20_000, dim).numpy()
    lo, hi = np.quantile(x, 0.02, axis=0), np.quantile(x, 0.98, axis=0)
    if dim == 1:
        return np.linspace(lo, hi, n_restarts).reshape(n_restarts, 1)
    k = max(2, math.ceil(n_restarts ** (1 / dim)))
    axes = [np.linspace(lo[i], hi[i], k) for i in range(dim)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dim)
    return grid[:n_restarts] if len(grid) >= n_restarts else grid


def fit_reverse(
    p,
    *,
    inits=None,
    n_restarts: int | None = None,
    init_std: float | None = None,
    objective: str = "auto",
    n_nodes: int = 1024,
    n_samples: int = 4096,
    steps: int = 300,
    lr: float = 0.05,
    seed: int = 0,
) -> list[GaussianFit]:
    r"""Gaussians q minimizing reverse KL(q‖p) = E_q[log q − log p], one per restart.

    Each restart starts at a mean from `inits` with covariance `init_std`² I, runs `steps` Adam
    steps on the reparameterized objective and polishes with L-BFGS.

    Parameters
    ----------
    p : torch.distributions.Distribution
        The target: any object with ``log_prob`` and ``sample``.
    inits : array_like, optional
        Initial means, (R,) or (R, D); None: `n_restarts` means spread over p's 2%–98% quantiles.
    n_restarts : int, optional
        Restarts when `inits` is None (7 in 1-D, a 3×3 grid in 2-D).
    init_std : float, optional
        Initial standard deviation (default half of p's standard deviation).
    objective : str, default "auto"
        ``"quadrature"`` (1-D; the default there) or ``"mc"`` (the default in 2-D and above).
    n_nodes : int, default 1024
        Gauss–Hermite nodes of the quadrature objective (~1000 are needed for q much wider than
        p's modes, because log p bends sharply between modes).
    n_samples : int, default 4096
        Fixed draws ε ~ N(0, I) of the Monte Carlo objective (common random numbers).
    steps : int, default 300
        Adam steps before L-BFGS.
    lr : float, default 0.05
        Adam's learning rate.
    seed : int, default 0
        Seeds the Monte Carlo draws.

    Returns
    -------
    list of GaussianFit
        Every restart, sorted by ``kl_reverse`` (numerical integration), best first; restarts that
        converge to the same optimum are all kept.

    Raises
    ------
    ValueError
        For an unknown `objective`, quadrature on a target of more than one dimension,
        `n_restarts` below 1 or a non-positive `init_std`.

    See Also
    --------
    fit_forward : the other direction.
    reverse_kl_sweep : the reverse fit as two modes move apart.

    Notes
    -----
    The objective is not convex: it is minimized from several starts. In 1-D

    .. math::

        \mathrm{KL}(q\,\|\,p) = -H(q) - \mathbb E_q[\log p]
        \approx -\tfrac12 \log(2\pi e \sigma^2) - \sum_i w_i \log p(\mu + \sigma z_i),

    with Gauss–Hermite nodes :math:`z_i` and weights :math:`w_i`; in more dimensions
    :math:`x_i = \mu + L\varepsilon_i` with fixed :math:`\varepsilon_i`. A Gaussian settles
    inside one mode (mode seeking).

    References
    ----------
    Bishop, *Pattern Recognition and Machine Learning* (2006), §10.1.2, Fig. 10.3; Minka,
    "Divergence measures and message passing" (2005).

    Examples
    --------
    >>> from klvae.measures import gaussian_mixture
    >>> p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    >>> best = fit_reverse(p, inits=[2.0])[0]
    >>> round(float(best.mean[0]), 3), round(float(best.std[0]), 3), round(best.kl_reverse, 3)
    (2.984, 1.023, 0.689)
    """
    dim = event_dim(p)
    if objective == "auto":
        objective = "quadrature" if dim == 1 else "mc"
    if objective not in ("quadrature", "mc"):
        raise ValueError(f"objective must be 'auto', 'quadrature' or 'mc', got {objective!r}")
    if objective == "quadrature" and dim != 1:
        raise ValueError("objective='quadrature' is for 1-D targets; use objective='mc'")
    if inits is None:
        if n_restarts is None:
            n_restarts = 7 if dim == 1 else 9
        if n_restarts < 1:
            raise ValueError(f"n_restarts must be at least 1, got {n_restarts}")
        inits = _initial_means(p, dim, n_restarts)
    inits = np.asarray(inits, dtype=float).reshape(-1, dim)
    if init_std is None:
        moments = gaussian_moments(p)
        if moments is None:
            with torch.random.fork_rng():
                torch.manual_seed(0)
                x = p.sample((20_000,)).to(DTYPE).reshape(20_000, dim)
            init_std = 0.5 * float(x.std(0).mean())
        else:
            init_std = 0.5 * float(moments[1].diagonal().sqrt().mean())
    if not init_std > 0:
        raise ValueError(f"init_std must be positive, got {init_std}")
    objective_fn = reverse_objective(p, dim, objective, n_nodes, n_samples, seed)
    lo, hi = extent(p, dim)
    span = float(np.max(hi - lo))
    fits = []
    for init in inits:
        mean0 = torch.as_tensor(init, dtype=DTYPE)
        L0 = init_std * torch.eye(dim, dtype=DTYPE)
        mean, cov, value, converged = minimize_kl(objective_fn, mean0, L0, steps, lr, span)
        fits.append(_fit(p, mean, cov, init_mean=init.copy(), objective=value, converged=converged))
    return sorted(fits, key=lambda f: f.kl_reverse)
