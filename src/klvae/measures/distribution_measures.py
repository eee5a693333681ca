"""Every measure of ``torch.distributions`` objects: closed form, then quadrature or summation, then Monte Carlo.

`distribution_measure(measure, p, q)` (reached from ``klvae.entropy(p)``, ``klvae.kl_divergence(p, q)``,
``klvae.hellinger_distance(p, q)`` … whenever an argument is a distribution object) takes the first of

1. **closed form** (a plain tensor): entropy from torch; KL from `klvae.measures.distributions`
   (klvae's non-cancelling forms, then torch's registry); cross-entropy = entropy + KL; the Rényi
   family (Rényi, Hellinger, χ², Amari α) from `klvae.measures.pairwise_forms` (Gaussians of any
   covariance, one exponential family, Normal–Laplace, Uniforms); total variation of two Normals;
2. **quadrature** (1-D continuous pairs) or **summation** (discrete pairs, exact on a finite
   support, truncated with a tail bound on a counting one), `klvae.measures.distribution_quadrature`,
   returned as a `MeasureResult` carrying ``error_bound``;
3. **Monte Carlo** (`klvae.measures.measure_integrands.mc_measure`), a `MeasureResult` carrying
   ``stderr``; ``exact=True`` refuses it with a ValueError.

A frozen one-dimensional ``scipy.stats`` distribution is accepted wherever a torch one is
(`klvae.measures.scipy_adapter`). `Independent` pairs reduce to their components for the
measures that add over independent coordinates (entropy, cross-entropy, KL, Rényi; Hellinger, χ²
and α through Rényi), whatever method the components take. `measure_method(measure, p, q)` says
which method a pair takes; `kl_distributions` and `kl_method` are the two for KL.
Batch shapes broadcast as in torch. Gradients flow through closed forms, quadrature, summation and
reparameterised Monte Carlo.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch.distributions import Distribution, Independent, Normal

from klvae.measures._numpy_path import log_base
from klvae.measures.distribution_quadrature import integrate_1d, is_discrete, is_scalar_event, sum_discrete
from klvae.measures.distributions import check_shapes, closed_kl, exact_kl
from klvae.measures.gaussian_divergences import eigen_parts, is_gaussian, tv_gaussian
from klvae.measures.measure_integrands import MEASURES, finish_error, mc_measure, measure_spec
from klvae.measures.pairwise_forms import renyi_closed
from klvae.measures.results import MeasureResult
from klvae.measures.scipy_adapter import as_distribution, is_scipy_frozen

__all__ = ["distribution_measure", "measure_method", "is_distribution", "kl_distributions", "kl_method"]

_UNITS = ("entropy", "cross_entropy", "kl", "js", "renyi")  # measures in nats, divided by log(base)
_RENYI_FAMILY = ("renyi", "hellinger", "chi2", "alpha")
_ADDITIVE = ("entropy", "cross_entropy", "kl", "renyi")


def is_distribution(x) -> bool:
    """True for a ``torch.distributions`` object or a frozen 1-D ``scipy.stats`` one."""
    return isinstance(x, Distribution) or is_scipy_frozen(x)


class _Answer(NamedTuple):
    value: torch.Tensor
    method: str
    error: torch.Tensor | None = None
    stderr: torch.Tensor | None = None
    n: int | None = None


# ------------------------------------------------------------------ closed forms


def _entropy_closed(p):
    try:
        return p.entropy()
    except NotImplementedError:
        return None


def _kl_closed(p, q):
    try:
        return closed_kl(p, q)
    except (ValueError, NotImplementedError):
        return None


def _order(spec):
    return {"hellinger": 0.5, "chi2": 2.0}.get(spec.name, spec.alpha)


def _from_renyi(spec, d):
    """The Rényi-family measure `spec` from D_α (α as `_order(spec)`)."""
    if spec.name == "renyi":
        return d
    if spec.name == "hellinger":
        return torch.sqrt(-torch.expm1(-0.5 * d))
    if spec.name == "chi2":
        return torch.expm1(d)
    a = spec.alpha
    return -torch.expm1((a - 1.0) * d) / (a * (1.0 - a))


def _closed(spec, p, q):
    """The closed-form value of the measure, or None."""
    name = spec.name
    if name == "entropy":
        return _entropy_closed(p)
    if name == "kl":
        return _kl_closed(p, q)
    if name == "cross_entropy":
        h = _entropy_closed(p)
        kl = None if h is None else _kl_closed(p, q)
        return None if kl is None else h + kl
    if name in _RENYI_FAMILY:
        a = _order(spec)
        if name == "alpha" and a == 0:
            return _kl_closed(q, p)
        swap = name == "alpha" and a < 0.5  # D_α(p‖q) = D_{1−α}(q‖p)
        d = renyi_closed(q, p, 1.0 - a) if swap else renyi_closed(p, q, a)
        if d is None:
            return _kl_closed(p, q) if a == 1 else None
        if name == "alpha" and a == 1:
            return d
        return -torch.expm1(-a * d) / (a * (1.0 - a)) if swap else _from_renyi(spec, d)
    if name == "tv" and is_gaussian(p) and is_gaussian(q) and _equal_covariances(p, q):
        return tv_gaussian(p, q)
    return None


def _equal_covariances(p, q) -> bool:
    """Two Normals, or two Gaussians with one covariance: total variation in closed form."""
    if type(p) is Normal and type(q) is Normal:
        return True
    if isinstance(p, Normal) or isinstance(q, Normal):
        return False
    return bool((eigen_parts(p, q)[0] == 0).all())


# ------------------------------------------------------------------ the plan


def _kind(p, q):
    """'quadrature', 'summation' or None (not a 1-D pair) for numerical integration of (p, q)."""
    dists = [d for d in (p, q) if d is not None]
    if not all(is_scalar_event(d) or _one_hot(d) for d in dists):
        return None
    discrete = [is_discrete(d) for d in dists]
    if any(discrete) != all(discrete):
        raise ValueError(
            "p and q must both be discrete or both continuous, got "
            f"{type(p).__name__} ({'discrete' if discrete[0] else 'continuous'}) and {type(q).__name__}"
        )
    if discrete[0]:
        return "summation"
    return "quadrature" if all(is_scalar_event(d) for d in dists) else None


def _one_hot(d) -> bool:
    return isinstance(d, torch.distributions.OneHotCategorical)


def _independent_pair(spec, p, q) -> bool:
    if not isinstance(p, Independent) or (q is not None and not isinstance(q, Independent)):
        return False
    if q is not None and p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        return False
    if spec.name == "alpha":  # through Rényi of the same order, additive over the components (α ∉ {0, 1})
        return spec.alpha is not None and spec.alpha > 0 and spec.alpha != 1
    return spec.name in _ADDITIVE or spec.name in _RENYI_FAMILY


def _compute(spec, p, q, exact, n, seed) -> _Answer:
    closed = _closed(spec, p, q)
    if closed is not None:
        return _Answer(closed, "closed form")
    if _independent_pair(spec, p, q):
        return _independent(spec, p, q, exact, n, seed)
    if spec.alpha is not None and math.isinf(spec.alpha):
        raise ValueError("alpha = inf is taken in closed form only (two Gaussians) or for probability arrays")
    kind = _kind(p, q)
    if kind == "quadrature":
        integral, err, pieces = integrate_1d(spec, p, q)
        return _Answer(spec.finish(integral), kind, finish_error(spec, integral, err), n=pieces)
    if kind == "summation":
        total, err, points = sum_discrete(spec, p, q)
        return _Answer(spec.finish(total), kind, finish_error(spec, total, err), n=points)
    if exact:
        names = type(p).__name__ + ("" if q is None else f"‖{type(q).__name__}")
        raise ValueError(f"{spec.name}({names}) has no closed form or quadrature here; exact=True refuses Monte Carlo")
    value, se = mc_measure(spec, p, q, n, seed)
    return _Answer(value, "monte carlo", stderr=se, n=n)


def _independent(spec, p, q, exact, n, seed) -> _Answer:
    """An Independent pair through its components (Rényi for Hellinger, χ² and Amari α)."""
    k = p.reinterpreted_batch_ndims
    inner = spec if spec.name in _ADDITIVE else measure_spec("renyi", alpha=_order(spec))
    ans = _compute(inner, p.base_dist, None if q is None else q.base_dist, exact, n, seed)
    dims = tuple(range(-k, 0))
    value = ans.value.sum(dims) if k else ans.value
    error = None if ans.error is None else ans.error.sum(dims)
    stderr = None if ans.stderr is None else ans.stderr.square().sum(dims).sqrt()
    if inner is not spec:
        out = _from_renyi(spec, value)
        spread = error if error is not None else stderr
        if spread is not None:
            spread = (_from_renyi(spec, value.detach() + spread) - out.detach()).abs()
        error, stderr = (spread, None) if error is not None else (None, spread)
        value = out
    return _Answer(value, ans.method, error, stderr, ans.n)


def _check(measure, p, q):
    if not is_distribution(p):
        raise TypeError(f"p must be a distribution object here, got {type(p).__name__}")
    if measure == "entropy":
        if q is not None:
            raise ValueError("entropy takes one distribution, p")
    elif not is_distribution(q):
        raise TypeError(f"q must be a distribution object when p is one, got {type(q).__name__}")
    elif not (measure in (*_RENYI_FAMILY, "tv") and is_gaussian(p) and is_gaussian(q)):  # else its TypeError
        check_shapes(p, q)


def measure_method(measure: str, p, q=None, *, alpha=None) -> str:
    """How `distribution_measure` computes `measure` of (p, q): 'closed form', 'quadrature',
    'summation' or 'monte carlo'.

    >>> from torch.distributions import StudentT
    >>> measure_method("kl", Normal(0.0, 1.0), Normal(1.0, 2.0)), measure_method("kl", Normal(0.0, 1.0), StudentT(3.0))
    ('closed form', 'quadrature')
    """
    spec = measure_spec(measure, alpha=alpha, f=(lambda t: t) if measure == "f" else None)
    p, q = as_distribution(p), as_distribution(q)
    _check(measure, p, q)
    if _closed(spec, p, q) is not None:
        return "closed form"
    if _independent_pair(spec, p, q):
        return measure_method(
            "renyi" if spec.name not in _ADDITIVE else measure,
            p.base_dist,
            getattr(q, "base_dist", None),
            alpha=_order(spec),
        )
    kind = _kind(p, q)
    return kind if kind is not None else "monte carlo"


def distribution_measure(
    measure: str, p, q=None, *, alpha=None, f=None, f_at_infinity=math.inf, base=None, exact=False,
    n: int = 100_000, seed: int | None = 0,
):  # fmt: skip
    """`measure` (one of entropy, cross_entropy, kl, js, hellinger, tv, chi2, renyi, alpha, f) of
    distribution objects p (and q), by the first method that applies (see the module).

    Args:
        measure: the measure's name; `alpha` is the order of renyi and alpha; `f` and
            `f_at_infinity` define the f-divergence as in `klvae.f_divergence`.
        p, q: distribution objects with broadcastable batch shapes (q absent for entropy).
        base: logarithm base of measures in nats (entropy, cross-entropy, KL, JS, Rényi).
        exact: raise ValueError rather than estimate by Monte Carlo.
        n, seed: samples and seed of the Monte Carlo fallback.

    Returns:
        A tensor of the broadcast batch shape for a closed form; a `MeasureResult` otherwise.

    >>> from torch.distributions import StudentT
    >>> r = distribution_measure("kl", Normal(0.0, 1.0), StudentT(3.0))
    >>> round(float(r), 5), r.method, bool(r.error_bound < 1e-9)
    (0.06915, 'quadrature', True)
    """
    if measure == "kl" and isinstance(p, Distribution) and isinstance(q, Distribution):
        check_shapes(p, q)  # the common case first: a closed form (klvae's, then torch's) answers
        method, value = exact_kl(p, q)
        if method is not None:
            return value if base is None else value / log_base(base)
    spec = measure_spec(measure, alpha=alpha, f=f, f_at_infinity=f_at_infinity)
    p, q = as_distribution(p), as_distribution(q)
    _check(measure, p, q)
    if spec.name in ("renyi", "alpha") and spec.alpha is None:
        raise ValueError(f"{measure} needs its order alpha")
    if spec.name == "f" and not callable(f):
        raise TypeError(f"f must be a function of a tensor, got {type(f).__name__}")
    ans = _compute(spec, p, q, exact, n, seed)
    scale = log_base(base) if spec.name in _UNITS else 1.0
    if ans.method == "closed form":
        return ans.value / scale
    return MeasureResult.wrap(ans.value, method=ans.method, error_bound=ans.error, stderr=ans.stderr, n=ans.n).scaled(
        scale
    )


def kl_distributions(p, q, *, exact: bool = False, base=None, n: int = 100_000, seed: int | None = 0):
    """KL(p‖q) = E_p[log p(x) − log q(x)] between two distribution objects: `distribution_measure` for "kl".

    A closed form where klvae or torch has one (klvae's first: written not to cancel where
    p ≈ q, see `klvae.measures.distributions`), else quadrature or summation with its error
    bound, else Monte Carlo with its standard error; `kl_method(p, q)` tells which.

    Args:
        p, q: ``torch.distributions`` (or frozen 1-D ``scipy.stats``) objects with broadcastable batch shapes.
        exact: refuse a Monte Carlo answer (ValueError).
        base: logarithm base of the result; None for nats.
        n, seed: samples and seed of the Monte Carlo fallback.

    Returns:
        A tensor of the broadcast batch shape: plain for a closed form, a `MeasureResult`
        (``method``, ``error_bound`` or ``stderr`` and ``n``) otherwise.

    Reference: Gil, Alajaji & Linder (2013); Penny (2001), "KL-divergences of Normal,
    Gamma, Dirichlet and Wishart densities".

    >>> from torch.distributions import Beta, Categorical, Independent, MixtureSameFamily, MultivariateNormal
    >>> b = lambda a: Beta(torch.tensor(a, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    >>> float(kl_distributions(b(3.0), b(3.0)))
    0.0
    >>> bool(kl_distributions(b(3.0), b(3.0 * (1 + 1e-8))) > 0)  # torch gives 0 or a negative number here
    True
    >>> mix = MixtureSameFamily(Categorical(torch.ones(2)), Normal(torch.tensor([-2.0, 2.0]), torch.ones(2)))
    >>> r = kl_distributions(mix, Normal(0.0, 1.0))  # one dimension: quadrature
    >>> r.method, bool(r.error_bound < 1e-9)
    ('quadrature', True)
    >>> mix2 = MixtureSameFamily(Categorical(torch.ones(2)), Independent(Normal(torch.zeros(2, 2), 1.0), 1))
    >>> r = kl_distributions(mix2, MultivariateNormal(torch.zeros(2), torch.eye(2)), n=1000)
    >>> r.method, r.n, bool(r.stderr >= 0)
    ('monte carlo', 1000, True)
    """
    if not (is_distribution(p) and is_distribution(q)):
        raise TypeError(
            f"p and q must both be torch.distributions objects, got {type(p).__name__} and {type(q).__name__}"
        )
    return distribution_measure("kl", p, q, base=base, exact=exact, n=n, seed=seed)


def kl_method(p, q) -> str:
    """How `kl_distributions` computes KL(p‖q): 'closed form' (klvae's), 'torch' (torch's registry),
    'quadrature', 'summation' or 'monte carlo'. An exact answer is computed to find out.

    >>> from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, StudentT
    >>> kl_method(Normal(0.0, 1.0), Normal(1.0, 2.0)), kl_method(Normal(0.0, 1.0), StudentT(3.0))
    ('closed form', 'quadrature')
    >>> mix = MixtureSameFamily(Categorical(torch.ones(2)), Independent(Normal(torch.zeros(2, 2), 1.0), 1))
    >>> kl_method(mix, MultivariateNormal(torch.zeros(2), torch.eye(2)))
    'monte carlo'
    """
    if isinstance(p, Distribution) and isinstance(q, Distribution):
        check_shapes(p, q)
        method, _ = exact_kl(p, q)
        if method is not None:
            return method
    return measure_method("kl", p, q)


assert set(MEASURES) >= set(_UNITS)
