"""The Rényi divergence of order α and Amari's α-divergence, for every order.

Both are functions of one moment, Σᵢ pᵢ^α qᵢ^{1−α}: Rényi's D_α = log(Σ p^α q^{1−α})/(α − 1), in
nats (or `base` units), and Amari's (1 − Σ p^α q^{1−α})/(α(1 − α)), unitless. Their arguments are
read exactly as by the f-divergences of `klvae.measures.divergences`: probability arrays along
`axis` (lists, NumPy arrays or torch tensors, autograd kept), or distribution objects, measured by
`klvae.measures.distribution_measures` (closed forms between Gaussians, one exponential family,
…). The moment is summed without cancellation near α = 1, where both are KL.

Reference: van Erven & Harremoës (2014), "Rényi divergence and Kullback–Leibler divergence";
Amari (2009), "α-divergence is unique, belonging to both f-divergence and Bregman divergence
classes".
"""

from __future__ import annotations

import math

from klvae.measures._divergence_terms import amari_alpha, numpy_terms, renyi, torch_path
from klvae.measures._numpy_path import answer, is_plain, log_base
from klvae.measures.discrete import kl_divergence

__all__ = ["renyi_divergence", "alpha_divergence"]


def _check_alpha(alpha, low):
    a = float(alpha)
    if math.isnan(a) or a < low:
        raise ValueError(f"alpha must be a number ≥ {low}" + (" or inf" if low == 0 else "") + f", got {alpha!r}")
    return a


def renyi_divergence(p, q, alpha, *, base=None, axis=-1, normalize=False, exact=False):
    r"""Rényi divergence of order α, D_α(p‖q), in nats (or `base` units).

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Probabilities along `axis` (they broadcast), or two distribution objects.
    alpha : float
        The order, in [0, inf].
    base : float, optional
        Logarithm base; None for nats, 2 for bits.
    axis : int, default -1
        The outcome axis; the others are batch axes.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of raising.
    exact : bool, default False
        For distribution objects, raise instead of estimating by Monte Carlo.

    Returns
    -------
    numpy.ndarray, torch.Tensor or MeasureResult
        The broadcast batch shape; +inf where some pᵢ > 0 = qᵢ and α ≥ 1, or for disjoint supports.

    Raises
    ------
    ValueError
        If `alpha` is NaN or negative, or the rows are not probabilities.

    See Also
    --------
    renyi_gaussian : the closed form between Gaussians.
    alpha_divergence : Amari's divergence, a function of this one.

    Notes
    -----
    .. math::

        D_\alpha(p \,\|\, q) = \frac{1}{\alpha - 1} \log \sum_i p_i^\alpha q_i^{1 - \alpha}.

    Non-decreasing in α and continuous through α = 1, where it is KL(p‖q) (computed as
    log1p(Σ p·expm1((α − 1) log(p/q)))/(α − 1) near α = 1, so there is no 0/0). α = 0 gives
    −log q(supp p); α = ½ gives −2 log BC, twice the Bhattacharyya distance (and
    H² = 1 − exp(−D_½/2)); α = 2 gives log(1 + χ²); α = inf gives the max-divergence
    log maxᵢ pᵢ/qᵢ over pᵢ > 0.

    References
    ----------
    Rényi (1961); van Erven & Harremoës (2014), eqs. 1–4.

    Examples
    --------
    >>> from klvae import chi2_divergence
    >>> p, q = [0.5, 0.5], [0.25, 0.75]
    >>> bool(abs(renyi_divergence(p, q, 1) - kl_divergence(p, q)) < 1e-16)
    True
    >>> bool(abs(renyi_divergence(p, q, 2) - math.log1p(chi2_divergence(p, q))) < 1e-15)
    True
    >>> float(renyi_divergence(p, q, math.inf, base=2))  # log₂ max(2, 2/3)
    1.0
    """
    a = _check_alpha(alpha, 0)
    if not is_plain(p, q):
        return torch_path().renyi_divergence(p, q, a, base=base, axis=axis, normalize=normalize, exact=exact)
    if a == 1:
        return kl_divergence(p, q, base=base, axis=axis, normalize=normalize)
    value, dtype = numpy_terms(renyi, p, q, axis, normalize, a)
    return answer(value / log_base(base), dtype)


def alpha_divergence(p, q, alpha, *, axis=-1, normalize=False, exact=False):
    r"""Amari's α-divergence D_α(p‖q), for any real α; unitless (nats at α ∈ {0, 1}).

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Probabilities along `axis` (they broadcast), or two distribution objects.
    alpha : float
        The order, any finite real.
    axis : int, default -1
        The outcome axis; the others are batch axes.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of raising.
    exact : bool, default False
        For distribution objects, raise instead of estimating by Monte Carlo.

    Returns
    -------
    numpy.ndarray, torch.Tensor or MeasureResult
        The broadcast batch shape.

    Raises
    ------
    ValueError
        If `alpha` is NaN or infinite, or the rows are not probabilities.

    Notes
    -----
    .. math::

        D_\alpha(p \,\|\, q) = \frac{1 - \sum_i p_i^\alpha q_i^{1 - \alpha}}{\alpha (1 - \alpha)}
        = D_{1 - \alpha}(q \,\|\, p).

    α → 1 gives KL(p‖q), α → 0 gives KL(q‖p) (both returned exactly at those values), α = ½
    gives 4 H² (Hellinger), α = 2 gives ½ χ²(p‖q), α = −1 gives ½ χ²(q‖p). Computed as
    −expm1((α − 1) D^R_α)/(α(1 − α)) from the Rényi divergence D^R_α, without cancellation near
    α = 1.

    References
    ----------
    Amari, "α-divergence is unique, belonging to both f-divergence and Bregman divergence
    classes" (2009); Cichocki & Amari (2010), eq. 4.

    Examples
    --------
    >>> from klvae import hellinger_distance
    >>> p, q = [0.36, 0.64], [0.64, 0.36]
    >>> round(float(alpha_divergence(p, q, 0.5)), 14) == round(4 * float(hellinger_distance(p, q)) ** 2, 14)
    True
    """
    a = float(alpha)
    if math.isnan(a) or math.isinf(a):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    plain = is_plain(p, q)
    if not plain and torch_path().objects(p, q, "alpha_divergence"):
        return torch_path().alpha_divergence(p, q, a, exact=exact)
    if a == 1:
        return kl_divergence(p, q, axis=axis, normalize=normalize)
    if a == 0:
        return kl_divergence(q, p, axis=axis, normalize=normalize)
    if a < 0.5:  # D_α(p‖q) = D_{1−α}(q‖p): small α by the form that is accurate near 1
        return alpha_divergence(q, p, 1.0 - a, axis=axis, normalize=normalize)
    if not plain:
        return torch_path().alpha_divergence(p, q, a, axis=axis, normalize=normalize)
    return answer(*numpy_terms(amari_alpha, p, q, axis, normalize, a))
