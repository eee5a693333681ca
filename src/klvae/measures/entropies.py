"""Closed-form entropies of ``torch.distributions`` objects in NumPy, for the CPU without gradient.

`entropy_numpy(p)` answers H(p) for any batch of the families below from their parameters, each
converted to NumPy once (``Tensor.numpy()`` shares the memory) and the answer back once: on a
few thousand distributions NumPy's per-call cost is a fraction of torch's, so this is the path
``klvae.entropy(p)`` takes where nothing asks for a gradient. It returns None (and the caller
takes ``p.entropy()``) for a family not listed, a parameter on another device or wanting a
gradient, or a Binomial of unequal counts.

The formulas are the textbook ones torch also evaluates (Cover & Thomas 2006, table 17.1;
Lazo & Rathie 1978), with ``scipy.special`` for log Γ, ψ and −x log x (0 at x = 0):

- Normal ½ log(2πe) + log σ; LogNormal that + μ; Laplace 1 + log 2b; Cauchy log 4πγ;
  Exponential 1 − log λ; Uniform log(b − a);
- Gamma (and Chi2) α − log β + log Γ(α) + (1 − α) ψ(α); Beta and Dirichlet
  Σ log Γ(αᵢ) − log Γ(α₀) − (K − α₀) ψ(α₀) − Σ (αᵢ − 1) ψ(αᵢ); StudentT
  log σ + ½ log ν + log B(ν/2, ½) + (ν + 1)/2 [ψ((ν + 1)/2) − ψ(ν/2)];
- Bernoulli −p log p − (1 − p) log(1 − p) (1 − p from the logits where they were given),
  Geometric that over p, Binomial −Σₖ pₖ log pₖ over k = 0 … n, Categorical and
  OneHotCategorical −Σ pᵢ log pᵢ;
- MultivariateNormal ½ d log(2πe) + Σ log Lᵢᵢ (L the scale's Cholesky factor),
  LowRankMultivariateNormal ½ d log(2πe) + Σ log √Dᵢ + Σ log Cᵢᵢ (C the capacitance factor);
- Independent: the base's entropy summed over the reinterpreted dimensions.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sc
import torch
from torch import distributions as td

from klvae.measures._kernels import LOG_2PI_E, cpu_without_grad
from klvae.measures._numpy_kernels import row_sums

__all__ = ["entropy_numpy", "given_by_logits", "two_sides"]

_HALF_LOG_2PI_E = 0.5 * LOG_2PI_E


def given_by_logits(d) -> bool:
    """Whether a Bernoulli, Geometric, Binomial, Categorical or OneHotCategorical was given by its
    logits: torch computes the other parameter on first use and caches it beside the given one,
    so the given one is whichever of the two the object's attributes hold first."""
    for key in getattr(d, "_categorical", d).__dict__:
        if key in ("probs", "logits"):
            return key == "logits"
    return False


def two_sides(d):
    """(the parameter tensor, a function of its array or tensor giving p and 1 − p) for a
    Bernoulli, Geometric or Binomial: from the logits where they were given, each side its own
    sigmoid (1 − p would lose a small 1 − p)."""
    if not given_by_logits(d):
        return d.probs, lambda p: (p, 1 - p)
    return d.logits, _sigmoids


def _sigmoids(logits):
    if isinstance(logits, torch.Tensor):
        return torch.sigmoid(logits), torch.sigmoid(-logits)
    with np.errstate(over="ignore"):  # e^{±l} = inf: that side is 0
        return 1 / (1 + np.exp(-logits)), 1 / (1 + np.exp(logits))


def _categorical(p):
    """−Σ p log p along the last axis."""
    return -row_sums(p * np.log(p)) if p.min() > 0 else row_sums(sc.entr(p))


def _bernoulli(d, per_success=False):
    param, sides = two_sides(d)

    def formula(t):
        p, q = sides(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.log(p)
            h *= p
            side = np.log(q)
            side *= q
            h += side
            total = h.sum()
        if total != total:  # NaN: p = 0 or 1, where 0 log 0 = 0
            h = -sc.entr(p) - sc.entr(q)
        return np.negative(h, out=h) / p if per_success else np.negative(h, out=h)  # a Geometric: H(Bernoulli)/p

    return (param,), formula


def _dirichlet(a):
    """H of Dirichlet(α) along the last axis."""
    k, a0 = a.shape[-1], a.sum(-1)
    return sc.gammaln(a).sum(-1) - sc.gammaln(a0) - (k - a0) * sc.psi(a0) - ((a - 1) * sc.psi(a)).sum(-1)


def _gamma(a, rate):
    return a - np.log(rate) + sc.gammaln(a) + (1 - a) * sc.psi(a)


def _student_t(df, scale):
    half, half_next = 0.5 * df, 0.5 * (df + 1)
    lbeta = sc.gammaln(half) + math.lgamma(0.5) - sc.gammaln(half_next)
    return np.log(scale) + half_next * (sc.psi(half_next) - sc.psi(half)) + 0.5 * np.log(df) + lbeta


def _binomial(n, p, q):
    """−Σₖ pₖ log pₖ over the support of Binomial(n, p) (one count n for the batch), (n + 1, …) at once."""
    k = np.arange(n + 1, dtype=np.float64).reshape(-1, *([1] * p.ndim))
    log_choose = (sc.gammaln(n + 1.0) - sc.gammaln(k + 1) - sc.gammaln(n - k + 1)).astype(p.dtype)  # log C(n, 0) = 0
    k = k.astype(p.dtype)
    with np.errstate(divide="ignore"):
        log_p, log_q = np.log(p), np.log(q)
    if np.isfinite(log_p).all() and np.isfinite(log_q).all():
        log_pmf = log_choose + k * log_p + (n - k) * log_q
        return -(np.exp(log_pmf) * log_pmf).sum(0)
    log_pmf = log_choose + sc.xlogy(k, p) + sc.xlogy(n - k, q)  # 0 log 0 = 0 at p = 0 or 1
    return sc.entr(np.exp(log_pmf)).sum(0)


# family -> its (parameter tensors, H of their NumPy arrays)
_FORMULAS = {
    td.Normal: lambda d: ((d.scale,), lambda s: np.log(s) + _HALF_LOG_2PI_E),
    td.LogNormal: lambda d: ((d.loc, d.scale), lambda m, s: np.log(s) + _HALF_LOG_2PI_E + m),
    td.Laplace: lambda d: ((d.scale,), lambda b: np.log(2 * b) + 1),
    td.Cauchy: lambda d: ((d.scale,), lambda g: np.log(4 * math.pi * g)),
    td.Exponential: lambda d: ((d.rate,), lambda r: 1 - np.log(r)),
    td.Uniform: lambda d: ((d.low, d.high), lambda a, b: np.log(b - a)),
    td.Gamma: lambda d: ((d.concentration, d.rate), _gamma),
    td.Beta: lambda d: ((d._dirichlet.concentration,), _dirichlet),
    td.Dirichlet: lambda d: ((d.concentration,), _dirichlet),
    td.StudentT: lambda d: ((d.df, d.scale), _student_t),
    td.Bernoulli: _bernoulli,
    td.Geometric: lambda d: _bernoulli(d, per_success=True),
    td.Categorical: lambda d: ((d.probs,), _categorical),
    td.OneHotCategorical: lambda d: ((d.probs,), _categorical),
    td.MultivariateNormal: lambda d: (
        (d._unbroadcasted_scale_tril,),
        lambda tril: tril.shape[-1] * _HALF_LOG_2PI_E + np.log(np.diagonal(tril, 0, -2, -1)).sum(-1),
    ),
    td.LowRankMultivariateNormal: lambda d: (
        (d._unbroadcasted_cov_diag, d._capacitance_tril),
        lambda diag, cap: (
            diag.shape[-1] * _HALF_LOG_2PI_E + 0.5 * np.log(diag).sum(-1) + np.log(np.diagonal(cap, 0, -2, -1)).sum(-1)
        ),
    ),
}


_BY_TYPE: dict[type, object] = {}  # each type seen: its formula, found along its MRO once


def _formula(d):
    kind = type(d)
    if kind not in _BY_TYPE:
        _BY_TYPE[kind] = next((_FORMULAS[c] for c in kind.__mro__ if c in _FORMULAS), None)  # Chi2 is a Gamma
    return _BY_TYPE[kind]


def _at_least_1d(t: torch.Tensor) -> np.ndarray:
    a = t.numpy()
    return a if a.ndim else a.reshape(1)  # in-place steps need arrays


def _numpy_value(d) -> np.ndarray | None:
    """H(d) as a NumPy array of d's batch shape, or None off this path."""
    if isinstance(d, td.Independent):
        inner = _numpy_value(d.base_dist)
        n = d.reinterpreted_batch_ndims
        return None if inner is None else inner.sum(tuple(range(-n, 0))) if n else inner
    if isinstance(d, td.Binomial):
        counts = d.total_count
        if not counts.is_cpu or not cpu_without_grad(two_sides(d)[0]) or counts.min() != counts.max():
            return None
        param, sides = two_sides(d)
        return np.asarray(_binomial(int(counts.max()), *sides(_at_least_1d(param))))
    formula = _formula(d)
    if formula is None:
        return None
    params, fn = formula(d)
    if not all(isinstance(t, torch.Tensor) for t in params) or not cpu_without_grad(*params):
        return None
    return np.asarray(fn(*(_at_least_1d(t) for t in params)))


def entropy_numpy(d) -> torch.Tensor | None:
    """H(d) in nats for a distribution object on the CPU without gradient, by its closed form in
    NumPy; None where ``d.entropy()`` is to be taken instead (see the module docstring).

    Parameters
    ----------
    d : torch.distributions.Distribution
        One of the families above, of any batch shape.

    Returns
    -------
    torch.Tensor or None
        Of d's batch shape and dtype.

    Examples
    --------
    >>> from torch.distributions import Normal
    >>> h = entropy_numpy(Normal(torch.zeros(2), torch.ones(2)))
    >>> [round(v, 6) for v in h.tolist()]
    [1.418939, 1.418939]
    >>> entropy_numpy(Normal(torch.zeros(2), torch.ones(2, requires_grad=True))) is None  # torch's, with its gradient
    True
    """
    value = _numpy_value(d)
    if value is None:
        return None
    shape = tuple(d.batch_shape)
    if value.shape != shape:  # a scalar's (1,), or shared parameters' smaller shape
        value = value.reshape(shape) if value.size == math.prod(shape) else np.broadcast_to(value, shape).copy()
    return torch.from_numpy(value)
