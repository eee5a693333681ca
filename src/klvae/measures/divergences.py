"""The f-divergence and Rényi families: Hellinger, total variation, χ², Rényi, Amari α, any f.

For discrete distributions the arguments are probability arrays, read exactly as by
`klvae.kl_divergence`: lists, NumPy arrays or torch tensors (autograd kept) along `axis`,
broadcasting the other axes, checked as probabilities (``normalize=True`` rescales), and
the same conventions: 0·log 0 = 0, +inf where p > 0 = q for the divergences that are
unbounded there. Given two Gaussians as ``torch.distributions`` objects (``Normal``,
``Independent(Normal, 1)``, ``MultivariateNormal``) they use the closed forms of
`klvae.measures.gaussian_divergences` instead.

Every member is an f-divergence D_f(p‖q) = Σ q f(p/q) with f convex and f(1) = 0:

    KL             f(t) = t log t
    total variation  f(t) = |t − 1|/2
    Hellinger²     f(t) = (√t − 1)²/2
    Pearson χ²     f(t) = (t − 1)²
    Amari α        f(t) = (t^α − α t − (1 − α)) / (α(α − 1))

and Rényi's D_α = log(Σ p^α q^{1−α})/(α − 1) is a monotone function of the Amari one.
Reference: Liese & Vajda (2006), "On divergences and informations in statistics and
information theory"; van Erven & Harremoës (2014), "Rényi divergence and Kullback–Leibler
divergence".
"""

from __future__ import annotations

import math

import torch

from klvae.measures._checks import convert, finish, validate
from klvae.measures._numpy_path import log_base
from klvae.measures.discrete import kl_divergence
from klvae.measures.distribution_measures import distribution_measure, is_distribution
from klvae.measures.gaussian_divergences import (
    alpha_gaussian,
    chi2_gaussian,
    hellinger_gaussian,
    is_gaussian,
    renyi_gaussian,
    tv_gaussian,
)

__all__ = [
    "hellinger_distance",
    "total_variation",
    "chi2_divergence",
    "renyi_divergence",
    "alpha_divergence",
    "f_divergence",
]


def _gaussians(p, q, name) -> bool:
    """True when p and q are Gaussian distribution objects; TypeError for other objects."""
    dists = [isinstance(x, torch.distributions.Distribution) for x in (p, q)]
    if not any(dists):
        return False
    if all(dists) and is_gaussian(p) and is_gaussian(q):
        return True
    raise TypeError(
        f"{name} takes probability arrays, or two Gaussians (Normal, Independent(Normal, 1), "
        f"MultivariateNormal); got {type(p).__name__} and {type(q).__name__}"
    )


def _rows(p, q, axis, normalize):
    """Validated probability rows (p, q), the outcome axis, and the `Inputs` to answer with."""
    inputs = convert((p, q), ("p", "q"), axis)
    (tp, tq), _ = validate(inputs.tensors, ("p", "q"), inputs.axis, normalize, False, inputs.tols)
    return tp, tq, inputs.axis, inputs


def _safe(t, ok):
    return torch.where(ok, t, 1.0)  # keeps the unused branch (and its gradient) finite


def hellinger_distance(p, q, *, axis=-1, normalize=False, exact=False):
    """Hellinger distance H(p, q) = √(½ Σᵢ (√pᵢ − √qᵢ)²) = √(1 − Σᵢ √(pᵢ qᵢ)).

    A metric with values in [0, 1] (1 for disjoint supports), unitless. Summed as the
    non-negative terms (√p − √q)², so nearly equal rows keep their relative accuracy
    (1 − BC would cancel). The gradient is infinite at p = q. For two Gaussians:
    √(1 − exp(−D_½/2)) in closed form (`klvae.measures.gaussian_divergences`).

    Args:
        p, q: distributions along `axis` (they broadcast), or two Gaussian objects.
        axis, normalize: as in `klvae.kl_divergence`.

    Returns:
        The broadcast batch shape.

    Reference: Le Cam & Yang (2000), *Asymptotics in Statistics*, §3.2.

    >>> float(hellinger_distance([1.0, 0.0], [0.0, 1.0]))
    1.0
    >>> p, q = [0.36, 0.64], [0.64, 0.36]  # BC = 2·0.48 = 0.96: H² = 0.04
    >>> round(float(hellinger_distance(p, q)) ** 2, 15)
    0.04
    """
    if is_distribution(p) or is_distribution(q):  # klvae.measures.distribution_measures
        return distribution_measure("hellinger", p, q, exact=exact)
    if _gaussians(p, q, "hellinger_distance"):
        return hellinger_gaussian(p, q)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    h2 = 0.5 * (tp.sqrt() - tq.sqrt()).square().sum(axis)
    return finish(h2.sqrt(), inputs)


def total_variation(p, q, *, axis=-1, normalize=False, n: int = 100_000, seed: int | None = 0, exact=False):
    """Total variation distance TV(p, q) = sup_A |p(A) − q(A)| = ½ Σᵢ |pᵢ − qᵢ|.

    Unitless, in [0, 1]. Discrete: exact (one subtraction per outcome). Two Gaussians
    (`klvae.measures.gaussian_divergences.tv_gaussian`): univariate exactly, from the points where
    the densities cross (absolute error a few ulps); equal covariances exactly,
    erf(Mahalanobis distance / 2√2); otherwise there is no closed form and the answer is
    a Monte Carlo `MCEstimate` (value, stderr, n) from `n` samples seeded by `seed`.

    Reference: Tsybakov (2009), *Introduction to Nonparametric Estimation*, §2.4.

    >>> float(total_variation([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]))
    0.5
    """
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("tv", p, q, exact=exact, n=n, seed=seed)
    if _gaussians(p, q, "total_variation"):
        return tv_gaussian(p, q, n=n, seed=seed)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    return finish(0.5 * (tp - tq).abs().sum(axis), inputs)


def chi2_divergence(p, q, *, axis=-1, normalize=False, exact=False):
    """Pearson χ²(p‖q) = Σᵢ (pᵢ − qᵢ)²/qᵢ = Σᵢ pᵢ²/qᵢ − 1.

    Unitless, ≥ 0; terms with pᵢ = qᵢ = 0 are 0 and pᵢ > 0 = qᵢ gives +inf. Summed as the
    non-negative terms (p − q)²/q. KL ≤ log(1 + χ²). For two Gaussians exp(D₂) − 1, +inf
    unless 2Σ₂ − Σ₁ is positive definite.

    Reference: Pearson (1900); Liese & Vajda (2006).

    >>> float(chi2_divergence([0.5, 0.5], [0.25, 0.75]))  # 0.0625/0.25 + 0.0625/0.75
    0.3333333333333333
    """
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("chi2", p, q, exact=exact)
    if _gaussians(p, q, "chi2_divergence"):
        return chi2_gaussian(p, q)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    pos = tq > 0
    terms = torch.where(pos, (tp - tq).square() / _safe(tq, pos), torch.where(tp > 0, math.inf, 0.0))
    return finish(terms.sum(axis), inputs)


def _log_moment(tp, tq, t, axis):
    """log Σ_{p>0} p·(p/q)^t along `axis` (t = α − 1 ≥ −1), without cancellation near t = 0.

    Rows where every |t log(p/q)| < 1 use log1p(Σ p·expm1(t log(p/q))) (Σ p = 1), which is
    ≈ t·KL for small t; other rows use logsumexp(log p + t log(p/q)).
    """
    pos = tp > 0
    lp = torch.log(_safe(tp, pos))
    log_ratio = torch.where(pos, lp - torch.log(tq), 0.0)  # +inf where p > 0 = q
    expo = t * log_ratio
    near = (expo.detach().abs() < 1).all(axis)
    small = torch.log1p((tp * torch.expm1(torch.where(expo.abs() < 1, expo, 0.0))).sum(axis))
    large = torch.logsumexp(torch.where(pos, lp + expo, -math.inf), axis)
    return torch.where(near, small, large)


def _check_alpha(alpha, low):
    a = float(alpha)
    if math.isnan(a) or a < low:
        raise ValueError(f"alpha must be a number ≥ {low}" + (" or inf" if low == 0 else "") + f", got {alpha!r}")
    return a


def renyi_divergence(p, q, alpha, *, base=None, axis=-1, normalize=False, exact=False):
    """Rényi divergence of order α: D_α(p‖q) = log(Σᵢ pᵢ^α qᵢ^{1−α}) / (α − 1).

    α ∈ [0, ∞], non-decreasing in α and continuous through α = 1, where it is KL(p‖q)
    (computed as log1p(Σ p·expm1((α − 1) log(p/q)))/(α − 1) near α = 1, so there is no
    0/0). α = 0 gives −log q(supp p); α = ½ gives −2 log BC, twice the Bhattacharyya
    distance (and H² = 1 − exp(−D_½/2)); α = 2 gives log(1 + χ²); α = inf gives the
    max-divergence log maxᵢ pᵢ/qᵢ over pᵢ > 0. +inf where some pᵢ > 0 = qᵢ and α ≥ 1, or
    for disjoint supports. Units as `base` (nats by default). Two Gaussians: closed form
    (`klvae.measures.gaussian_divergences.renyi_gaussian`).

    Args:
        p, q: distributions along `axis`, or two Gaussian objects.
        alpha: the order, a number in [0, inf].
        base, axis, normalize: as in `klvae.kl_divergence`.

    Returns:
        The broadcast batch shape.

    Reference: Rényi (1961); van Erven & Harremoës (2014), eqs. 1–4.

    >>> p, q = [0.5, 0.5], [0.25, 0.75]
    >>> bool(abs(renyi_divergence(p, q, 1) - kl_divergence(p, q)) < 1e-16)
    True
    >>> bool(abs(renyi_divergence(p, q, 2) - math.log1p(chi2_divergence(p, q))) < 1e-15)
    True
    >>> float(renyi_divergence(p, q, math.inf, base=2))  # log₂ max(2, 2/3)
    1.0
    """
    a = _check_alpha(alpha, 0)
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("renyi", p, q, alpha=a, base=base, exact=exact)
    if _gaussians(p, q, "renyi_divergence"):
        return renyi_gaussian(p, q, a) / log_base(base)
    if a == 1:
        return kl_divergence(p, q, base=base, axis=axis, normalize=normalize)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    if 0 < a < 0.5:  # D_α(p‖q) = α/(1 − α) D_{1−α}(q‖p): the near-1 form keeps small α accurate
        swapped = _log_moment(tq, tp, -a, axis) / -a
        return finish(swapped * (a / (1.0 - a)) / log_base(base), inputs)
    if a == math.inf:
        pos = tp > 0
        out = torch.where(pos, torch.log(_safe(tp, pos)) - torch.log(tq), -math.inf).amax(axis)
    else:
        out = _log_moment(tp, tq, a - 1.0, axis) / (a - 1.0)
    return finish(out / log_base(base), inputs)


def alpha_divergence(p, q, alpha, *, axis=-1, normalize=False, exact=False):
    """Amari's α-divergence D_α(p‖q) = (1 − Σᵢ pᵢ^α qᵢ^{1−α}) / (α(1 − α)).

    Any real α: α → 1 gives KL(p‖q), α → 0 gives KL(q‖p) (both returned exactly at those
    values), α = ½ gives 4 H² (Hellinger), α = 2 gives ½ χ²(p‖q), α = −1 gives ½ χ²(q‖p);
    D_α(p‖q) = D_{1−α}(q‖p). Computed as −expm1((α − 1) D^R_α)/(α(1 − α)) from the
    Rényi divergence D^R_α, without cancellation near α = 1. Unitless (nats at α ∈ {0, 1}).

    Reference: Amari (2009), "α-divergence is unique, belonging to both f-divergence and
    Bregman divergence classes"; Cichocki & Amari (2010), eq. 4.

    >>> p, q = [0.36, 0.64], [0.64, 0.36]
    >>> round(float(alpha_divergence(p, q, 0.5)), 14) == round(4 * float(hellinger_distance(p, q)) ** 2, 14)
    True
    """
    a = float(alpha)
    if math.isnan(a) or math.isinf(a):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("alpha", p, q, alpha=a, exact=exact)
    if _gaussians(p, q, "alpha_divergence"):
        return alpha_gaussian(p, q, a)
    if a == 1:
        return kl_divergence(p, q, axis=axis, normalize=normalize)
    if a == 0:
        return kl_divergence(q, p, axis=axis, normalize=normalize)
    if a < 0.5:  # D_α(p‖q) = D_{1−α}(q‖p): small α by the form that is accurate near 1
        return alpha_divergence(q, p, 1.0 - a, axis=axis, normalize=normalize)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    log_m = _log_moment(tp, tq, a - 1.0, axis)  # log Σ p^α q^{1−α}
    return finish(-torch.expm1(log_m) / (a * (1.0 - a)), inputs)


def f_divergence(p, q, f, *, axis=-1, normalize=False, f_at_infinity=math.inf, exact=False):
    """The f-divergence D_f(p‖q) = Σᵢ qᵢ f(pᵢ/qᵢ) for a convex f with f(1) = 0.

    Conventions (Liese & Vajda 2006): 0·f(0/0) = 0; terms with qᵢ = 0 < pᵢ are
    pᵢ·f′(∞), f′(∞) = lim_{t→∞} f(t)/t, given as `f_at_infinity` (+inf by default, as for
    KL and χ²; ½ for total variation). The value is in the units f gives (nats for
    f(t) = t log t).

    Args:
        p, q: distributions along `axis` (they broadcast).
        f: a function of a tensor t ≥ 0 giving a tensor (torch operations, so gradients
            flow); it must give 0 at t = 1.
        axis, normalize: as in `klvae.kl_divergence`.
        f_at_infinity: f′(∞).

    Returns:
        The broadcast batch shape.

    Reference: Csiszár (1967); Ali & Silvey (1966).

    >>> import torch
    >>> p, q = [0.5, 0.5], [0.25, 0.75]
    >>> kl = f_divergence(p, q, lambda t: torch.special.xlogy(t, t))
    >>> bool(abs(kl - kl_divergence(p, q)) < 1e-15)
    True
    >>> float(f_divergence(p, q, lambda t: (t - 1).abs() / 2, f_at_infinity=0.5)) == float(total_variation(p, q))
    True
    """
    if not callable(f):
        raise TypeError(f"f must be a function of a tensor, got {type(f).__name__}")
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("f", p, q, f=f, f_at_infinity=f_at_infinity, exact=exact)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    one = f(torch.ones((), dtype=tp.dtype, device=tp.device))
    if not torch.is_tensor(one) or one.numel() != 1 or abs(float(one)) > 1e-12:
        raise ValueError(f"f must be 0 at t = 1 (f(1) = {one!r}): it does not define a divergence")
    pos = tq > 0
    inside = tq * f(torch.where(pos, tp, 1.0) / _safe(tq, pos))
    edge = torch.where(tp > 0, tp * f_at_infinity, 0.0)
    return finish(torch.where(pos, inside, edge).sum(axis), inputs)
