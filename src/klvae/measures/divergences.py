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

import importlib
import math

import numpy as np

from klvae.measures._divergence_terms import NUMPY, amari_alpha, chi2, hellinger, renyi
from klvae.measures._divergence_terms import total_variation as total_variation_terms
from klvae.measures._numpy_path import answer, array_inputs, is_plain, log_base, probability_rows
from klvae.measures.discrete import kl_divergence

__all__ = [
    "hellinger_distance",
    "total_variation",
    "chi2_divergence",
    "renyi_divergence",
    "alpha_divergence",
    "f_divergence",
]


def _tensors():
    """The torch path, `klvae.measures._divergences_torch`, imported on the first input that needs it
    (a tensor or a distribution object): NumPy and list input never start torch."""
    return importlib.import_module("klvae.measures._divergences_torch")


def _on_arrays(terms, p, q, axis, normalize, *args):
    """(terms(NUMPY, p, q, axis, *args), the answer's dtype) for NumPy or list probabilities; None
    for input the torch path takes."""
    if not is_plain(p, q):
        return None
    inputs = array_inputs((p, q), ("p", "q"), axis)
    tp, tq = probability_rows(inputs, ("p", "q"), normalize)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # log 0 and p/0 are meant
        return terms(NUMPY, tp, tq, inputs.axis, *args), inputs.out_dtype


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
    got = _on_arrays(hellinger, p, q, axis, normalize)
    if got is None:
        return _tensors().hellinger_distance(p, q, axis=axis, normalize=normalize, exact=exact)
    return answer(*got)


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
    got = _on_arrays(total_variation_terms, p, q, axis, normalize)
    if got is None:
        return _tensors().total_variation(p, q, axis=axis, normalize=normalize, n=n, seed=seed, exact=exact)
    return answer(*got)


def chi2_divergence(p, q, *, axis=-1, normalize=False, exact=False):
    """Pearson χ²(p‖q) = Σᵢ (pᵢ − qᵢ)²/qᵢ = Σᵢ pᵢ²/qᵢ − 1.

    Unitless, ≥ 0; terms with pᵢ = qᵢ = 0 are 0 and pᵢ > 0 = qᵢ gives +inf. Summed as the
    non-negative terms (p − q)²/q. KL ≤ log(1 + χ²). For two Gaussians exp(D₂) − 1, +inf
    unless 2Σ₂ − Σ₁ is positive definite.

    Reference: Pearson (1900); Liese & Vajda (2006).

    >>> float(chi2_divergence([0.5, 0.5], [0.25, 0.75]))  # 0.0625/0.25 + 0.0625/0.75
    0.3333333333333333
    """
    got = _on_arrays(chi2, p, q, axis, normalize)
    if got is None:
        return _tensors().chi2_divergence(p, q, axis=axis, normalize=normalize, exact=exact)
    return answer(*got)


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
    if not is_plain(p, q):
        return _tensors().renyi_divergence(p, q, a, base=base, axis=axis, normalize=normalize, exact=exact)
    if a == 1:
        return kl_divergence(p, q, base=base, axis=axis, normalize=normalize)
    value, dtype = _on_arrays(renyi, p, q, axis, normalize, a)
    return answer(value / log_base(base), dtype)


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
    plain = is_plain(p, q)
    if not plain and _tensors().objects(p, q, "alpha_divergence"):
        return _tensors().alpha_divergence(p, q, a, exact=exact)
    if a == 1:
        return kl_divergence(p, q, axis=axis, normalize=normalize)
    if a == 0:
        return kl_divergence(q, p, axis=axis, normalize=normalize)
    if a < 0.5:  # D_α(p‖q) = D_{1−α}(q‖p): small α by the form that is accurate near 1
        return alpha_divergence(q, p, 1.0 - a, axis=axis, normalize=normalize)
    if not plain:
        return _tensors().alpha_divergence(p, q, a, axis=axis, normalize=normalize)
    return answer(*_on_arrays(amari_alpha, p, q, axis, normalize, a))


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
    return _tensors().f_divergence(p, q, f, axis=axis, normalize=normalize, f_at_infinity=f_at_infinity, exact=exact)
