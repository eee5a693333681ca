"""The f-divergences: Hellinger, total variation, χ², any f.

For discrete distributions the arguments are probability arrays, read exactly as by
`klvae.kl_divergence`: lists, NumPy arrays or torch tensors (autograd kept) along `axis`,
broadcasting the other axes, checked as probabilities (``normalize=True`` rescales), and
the same conventions: 0·log 0 = 0, +inf where p > 0 = q for the divergences that are
unbounded there. Given ``torch.distributions`` objects (or frozen 1-D ``scipy.stats`` ones) they
are measured by `klvae.measures.distribution_measures`: the closed forms of
`klvae.measures.gaussian_divergences` for Gaussians, else quadrature, summation or Monte Carlo.

Every member is an f-divergence D_f(p‖q) = Σ q f(p/q) with f convex and f(1) = 0:

    KL             f(t) = t log t
    total variation  f(t) = |t − 1|/2
    Hellinger²     f(t) = (√t − 1)²/2
    Pearson χ²     f(t) = (t − 1)²
    Amari α        f(t) = (t^α − α t − (1 − α)) / (α(α − 1))

and Rényi's D_α = log(Σ p^α q^{1−α})/(α − 1) is a monotone function of the Amari one (both in
`klvae.measures.renyi`). Reference: Liese & Vajda (2006), "On divergences and informations in
statistics and information theory".
"""

from __future__ import annotations

import math

from klvae.measures._divergence_terms import chi2, hellinger, numpy_terms, torch_path
from klvae.measures._divergence_terms import total_variation as total_variation_terms
from klvae.measures._numpy_path import answer

__all__ = ["hellinger_distance", "total_variation", "chi2_divergence", "f_divergence"]


def hellinger_distance(p, q, *, axis=-1, normalize=False, exact=False):
    r"""Hellinger distance H(p, q), a metric with values in [0, 1], unitless.

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Probabilities along `axis` (they broadcast), or two distribution objects.
    axis : int, default -1
        The outcome axis; the others are batch axes.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of raising.
    exact : bool, default False
        For distribution objects, raise instead of estimating by Monte Carlo.

    Returns
    -------
    numpy.ndarray, torch.Tensor or MeasureResult
        The broadcast batch shape, in the inputs' kind; 1 for disjoint supports. The gradient is
        infinite at p = q.

    Raises
    ------
    ValueError
        If the rows are not probabilities or do not broadcast.

    See Also
    --------
    hellinger_gaussian : the closed form between Gaussians.

    Notes
    -----
    .. math::

        H(p, q) = \sqrt{\tfrac12 \textstyle\sum_i (\sqrt{p_i} - \sqrt{q_i})^2}
        = \sqrt{1 - \textstyle\sum_i \sqrt{p_i q_i}}.

    Summed as the non-negative terms (√p − √q)², so nearly equal rows keep their relative accuracy
    (1 − BC would cancel). Two Gaussians: √(1 − exp(−D_½/2)) in closed form.

    References
    ----------
    Le Cam & Yang, *Asymptotics in Statistics* (2000), §3.2.

    Examples
    --------
    >>> float(hellinger_distance([1.0, 0.0], [0.0, 1.0]))
    1.0
    >>> p, q = [0.36, 0.64], [0.64, 0.36]  # BC = 2·0.48 = 0.96: H² = 0.04
    >>> round(float(hellinger_distance(p, q)) ** 2, 15)
    0.04
    """
    got = numpy_terms(hellinger, p, q, axis, normalize)
    if got is None:
        return torch_path().hellinger_distance(p, q, axis=axis, normalize=normalize, exact=exact)
    return answer(*got)


def total_variation(p, q, *, axis=-1, normalize=False, n: int = 100_000, seed: int | None = 0, exact=False):
    r"""Total variation distance TV(p, q), unitless, in [0, 1].

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Probabilities along `axis` (they broadcast), or two distribution objects.
    axis : int, default -1
        The outcome axis; the others are batch axes.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of raising.
    n : int, default 100_000
        Samples of the Monte Carlo estimate, for distribution objects without another method.
    seed : int or None, default 0
        Its seed.
    exact : bool, default False
        For distribution objects, raise instead of estimating by Monte Carlo.

    Returns
    -------
    numpy.ndarray, torch.Tensor or MeasureResult
        The broadcast batch shape. Discrete: exact (one subtraction per outcome). Two Normals, or
        two Gaussians with one covariance: a closed form (`tv_gaussian`). Other Gaussians: a
        `MeasureResult` with method ``"monte carlo"`` and its ``stderr``.

    Raises
    ------
    ValueError
        If the rows are not probabilities or do not broadcast; with `exact`, where only Monte
        Carlo applies.

    Notes
    -----
    .. math::

        \mathrm{TV}(p, q) = \sup_A |p(A) - q(A)| = \tfrac12 \textstyle\sum_i |p_i - q_i|.

    References
    ----------
    Tsybakov, *Introduction to Nonparametric Estimation* (2009), §2.4.

    Examples
    --------
    >>> float(total_variation([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]))
    0.5
    """
    got = numpy_terms(total_variation_terms, p, q, axis, normalize)
    if got is None:
        return torch_path().total_variation(p, q, axis=axis, normalize=normalize, n=n, seed=seed, exact=exact)
    return answer(*got)


def chi2_divergence(p, q, *, axis=-1, normalize=False, exact=False):
    r"""Pearson χ²(p‖q), unitless, ≥ 0.

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Probabilities along `axis` (they broadcast), or two distribution objects.
    axis : int, default -1
        The outcome axis; the others are batch axes.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of raising.
    exact : bool, default False
        For distribution objects, raise instead of estimating by Monte Carlo.

    Returns
    -------
    numpy.ndarray, torch.Tensor or MeasureResult
        The broadcast batch shape; +inf where some pᵢ > 0 = qᵢ (terms with pᵢ = qᵢ = 0 are 0).
        Two Gaussians: exp(D₂) − 1, +inf unless 2Σ₂ − Σ₁ is positive definite.

    Raises
    ------
    ValueError
        If the rows are not probabilities or do not broadcast.

    Notes
    -----
    .. math::

        \chi^2(p \,\|\, q) = \sum_i \frac{(p_i - q_i)^2}{q_i} = \sum_i \frac{p_i^2}{q_i} - 1,
        \qquad \mathrm{KL}(p \,\|\, q) \le \log(1 + \chi^2).

    Summed as the non-negative terms (p − q)²/q.

    References
    ----------
    Pearson (1900); Liese & Vajda (2006).

    Examples
    --------
    >>> float(chi2_divergence([0.5, 0.5], [0.25, 0.75]))  # 0.0625/0.25 + 0.0625/0.75
    0.3333333333333333
    """
    got = numpy_terms(chi2, p, q, axis, normalize)
    if got is None:
        return torch_path().chi2_divergence(p, q, axis=axis, normalize=normalize, exact=exact)
    return answer(*got)


def f_divergence(p, q, f, *, axis=-1, normalize=False, f_at_infinity=math.inf, exact=False):
    r"""The f-divergence D_f(p‖q) for a convex f with f(1) = 0, in the units f gives.

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Probabilities along `axis` (they broadcast), or two distribution objects.
    f : callable
        A function of a tensor t ≥ 0 giving a tensor (torch operations, so gradients flow); it
        must give 0 at t = 1.
    axis : int, default -1
        The outcome axis; the others are batch axes.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of raising.
    f_at_infinity : float, default inf
        f′(∞) = lim_{t→∞} f(t)/t, the weight of the terms with qᵢ = 0 < pᵢ (+inf for KL and
        χ², ½ for total variation).
    exact : bool, default False
        For distribution objects, raise instead of estimating by Monte Carlo.

    Returns
    -------
    torch.Tensor, numpy.ndarray or MeasureResult
        The broadcast batch shape (nats for f(t) = t log t).

    Raises
    ------
    TypeError
        If `f` is not callable.
    ValueError
        If f(1) ≠ 0, or the rows are not probabilities.

    Notes
    -----
    .. math::

        D_f(p \,\|\, q) = \sum_{q_i > 0} q_i\, f\!\Big(\frac{p_i}{q_i}\Big)
        + f'(\infty) \sum_{q_i = 0} p_i,

    with 0·f(0/0) = 0 (Liese & Vajda 2006).

    References
    ----------
    Csiszár (1967); Ali & Silvey (1966).

    Examples
    --------
    >>> import torch
    >>> from klvae import kl_divergence
    >>> p, q = [0.5, 0.5], [0.25, 0.75]
    >>> kl = f_divergence(p, q, lambda t: torch.special.xlogy(t, t))
    >>> bool(abs(kl - kl_divergence(p, q)) < 1e-15)
    True
    >>> float(f_divergence(p, q, lambda t: (t - 1).abs() / 2, f_at_infinity=0.5)) == float(total_variation(p, q))
    True
    """
    if not callable(f):
        raise TypeError(f"f must be a function of a tensor, got {type(f).__name__}")
    return torch_path().f_divergence(p, q, f, axis=axis, normalize=normalize, f_at_infinity=f_at_infinity, exact=exact)
