"""Closed forms of the Rényi family for pairs of distributions: which pair takes which form.

`renyi_closed(p, q, α)` gives D_α(p‖q) in nats, or None when no closed form covers the pair:

- two Gaussians, full, diagonal or low-rank covariance (`Normal`, `Independent(Normal, 1)`,
  `MultivariateNormal`, `LowRankMultivariateNormal`, the last as its full covariance, O(d³)):
  `klvae.measures.gaussian_divergences.renyi_gaussian`;
- two members of one exponential family: `klvae.measures.exponential_family`;
- a Normal and a Laplace, either way round: ∫ p^α q^{1−α} is a Gaussian integral on each side
  of the Laplace's location, written with log Φ (finite for every α > 0 with the Normal first,
  for α < 1 with the Laplace first, +inf beyond);
- two Uniforms: ∫ p^α q^{1−α} = |overlap| L_p^{−α} L_q^{α−1} (+inf for α ≥ 1 unless p's
  interval lies inside q's);
- `Independent` pairs with the same reinterpreted dimensions: the sum over the components.

`bhattacharyya_distance(p, q)` = −log ∫√(pq) = D_½/2 for the same pairs.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Independent, Laplace, LowRankMultivariateNormal, MultivariateNormal, Normal, Uniform

from klvae.measures._checks import broadcast_shapes
from klvae.measures.distributions import closed_kl
from klvae.measures.exponential_family import has_geodesic, renyi_exponential_family
from klvae.measures.gaussian_divergences import is_gaussian, renyi_gaussian

__all__ = ["renyi_closed", "as_gaussian", "bhattacharyya_distance"]

_LOG_2PI = math.log(2 * math.pi)


def as_gaussian(d):
    """d, with a LowRankMultivariateNormal as the MultivariateNormal of its covariance."""
    if isinstance(d, LowRankMultivariateNormal):
        return MultivariateNormal(d.loc, covariance_matrix=d.covariance_matrix, validate_args=False)
    return d


def _log_gauss_abs(a, mu, c, m):
    """log ∫ exp(−a (x − μ)² − c |x − m|) dx for a > 0 and any real c, without overflow."""
    shift = c / (2 * a)
    root = torch.sqrt(a)
    half = 0.5 * (math.log(math.pi) - torch.log(a))  # log √(π/a)
    right = torch.special.log_ndtr(-math.sqrt(2) * root * (m - (mu - shift))) - c * (mu - m)
    left = torch.special.log_ndtr(-math.sqrt(2) * root * ((mu + shift) - m)) + c * (mu - m)
    return half + c * c / (4 * a) + torch.logaddexp(right, left)  # erfc(z) = 2Φ(−√2 z): the ½ and 2 cancel


def _renyi_normal_laplace(p, q, alpha):
    """D_α between a Normal and a Laplace (either first), nats."""
    if alpha == 1:
        return closed_kl(p, q)
    normal, laplace = (p, q) if isinstance(p, Normal) else (q, p)
    w_n = alpha if isinstance(p, Normal) else 1.0 - alpha  # power of the Normal density
    var, b = normal.scale.square(), laplace.scale
    if w_n <= 0:
        return torch.full(broadcast_shapes(var.shape, b.shape), math.inf, dtype=var.dtype)
    log_c = -0.5 * w_n * (_LOG_2PI + torch.log(var)) - (1.0 - w_n) * torch.log(2 * b)
    log_i = log_c + _log_gauss_abs(w_n / (2 * var), normal.loc, (1.0 - w_n) / b, laplace.loc)
    return log_i / (alpha - 1.0)


def _renyi_uniform(p, q, alpha):
    lp, lq = p.high - p.low, q.high - q.low
    overlap = (torch.minimum(p.high, q.high) - torch.maximum(p.low, q.low)).clamp_min(0.0)
    inside = (q.low <= p.low) & (p.high <= q.high)
    if alpha == 1:
        return closed_kl(p, q)
    log_i = torch.log(overlap) - alpha * torch.log(lp) + (alpha - 1.0) * torch.log(lq)
    d = log_i / (alpha - 1.0)
    if alpha > 1:
        d = torch.where(inside, d, math.inf)
    return torch.where(overlap > 0, d, math.inf)


def renyi_closed(p, q, alpha: float):
    """D_α(p‖q) in nats by a closed form (see the module), or None when none covers the pair."""
    gp, gq = as_gaussian(p), as_gaussian(q)
    if is_gaussian(gp) and is_gaussian(gq):  # a Normal against a multivariate one: its TypeError
        return renyi_gaussian(gp, gq, alpha)
    if math.isinf(alpha):
        return None
    if has_geodesic(p, q):
        return renyi_exponential_family(p, q, alpha)
    if {type(p), type(q)} == {Normal, Laplace}:
        return _renyi_normal_laplace(p, q, alpha)
    if type(p) is Uniform and type(q) is Uniform:
        return _renyi_uniform(p, q, alpha)
    if isinstance(p, Independent) and isinstance(q, Independent):
        n = p.reinterpreted_batch_ndims
        if n != q.reinterpreted_batch_ndims:
            return None
        inner = renyi_closed(p.base_dist, q.base_dist, alpha)
        return None if inner is None else (inner.sum(tuple(range(-n, 0))) if n else inner)
    return None


def bhattacharyya_distance(p, q) -> torch.Tensor:
    r"""Bhattacharyya distance D_B(p, q) = −log ∫ √(p q) = ½ D_½(p‖q), in nats, in closed form.

    Parameters
    ----------
    p, q : torch.distributions.Distribution
        A pair with a closed-form Rényi divergence: Gaussians of any covariance, one exponential
        family, Normal–Laplace, Uniforms, or Independent of these.

    Returns
    -------
    torch.Tensor
        The broadcast batch shape.

    Raises
    ------
    TypeError
        For another pair.

    See Also
    --------
    renyi_divergence : D_α for any α.
    hellinger_distance : :math:`\sqrt{1 - e^{-D_B}}`.

    Notes
    -----
    .. math::

        D_B(p, q) = -\log \int \sqrt{p(x)\, q(x)}\, dx = \tfrac12 D_{1/2}(p \,\|\, q);

    for unit-variance normals :math:`D_B = (\mu_1 - \mu_2)^2 / 8`.

    References
    ----------
    Bhattacharyya (1943); Kailath, "The divergence and Bhattacharyya distance measures in signal
    selection" (1967).

    Examples
    --------
    >>> n = lambda m: Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    >>> float(bhattacharyya_distance(n(0.0), n(2.0)))  # (μ₁ − μ₂)²/8 for unit variances
    0.5
    """
    d = renyi_closed(p, q, 0.5)
    if d is None:
        raise TypeError(f"no closed-form Bhattacharyya distance between {type(p).__name__} and {type(q).__name__}")
    return 0.5 * d
