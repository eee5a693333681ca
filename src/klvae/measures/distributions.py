"""The exact KL divergences between ``torch.distributions`` objects: klvae's closed forms, then torch's.

`exact_kl(p, q)` takes the first of

1. a closed form of klvae's, written so that it does not cancel where p ≈ q (the pairs
   in `CLOSED_FORMS`: Normal, LogNormal, Cauchy, MultivariateNormal,
   LowRankMultivariateNormal (O(d r²)), Independent, Bernoulli, Binomial (equal counts),
   Geometric, Categorical, OneHotCategorical, Poisson, Exponential, Gamma, Chi2, Beta,
   Dirichlet, Laplace, Uniform);
2. ``torch.distributions.kl_divergence``'s registry;

and `closed_kl(p, q)` returns its value or refuses the pair. Batch shapes broadcast as in torch.
The pairs with neither (mixtures, StudentT, …) take quadrature, summation or Monte Carlo in
`klvae.measures.distribution_kl`, where `kl_distributions` and `kl_method` live.

The closed forms are the textbook ones (Gil, Alajaji & Linder 2013; Penny 2001 for
Gamma and Dirichlet) regrouped into non-negative parts: for Gamma, Beta and Dirichlet
each part is a Bregman divergence of log Γ,

    B(y, δ) = log Γ(y + δ) − log Γ(y) − ψ(y) δ,

summed from small positive parts where |δ| < y/100 (`klvae.measures._lgamma`), so Beta(a, b)
against Beta(a(1 + 1e-8), b) keeps its digits where the textbook sum loses all of them; for the
rate families (Exponential, Poisson, Bernoulli) the parts are x − 1 − log x and p log(p/q) − p + q,
likewise by series near equality; Cauchy's and Uniform's are log1p of exact small differences.

Each closed form is written once over arrays or tensors (`klvae.measures._array_forms`): NumPy on
the CPU without gradient, the exact partials with one (all but Cauchy, MVN, low rank, Categorical).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Cauchy,
    Chi2,
    Dirichlet,
    Exponential,
    Gamma,
    Geometric,
    Independent,
    Laplace,
    LogNormal,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    Poisson,
    Uniform,
)

from klvae.measures._array_forms import digamma, on_arrays, trigamma, two_point, where
from klvae.measures._checks import broadcast_shapes
from klvae.measures._kernels import (
    cpu_without_grad,
    expm1_minus_x,
    kl_term_partials,
    kl_terms,
    kl_terms_log,
    log_ratio,
    ratio_term,
)
from klvae.measures._lgamma import SERIES_NEAR, bregman_lgamma, bregman_rows, bregman_sum
from klvae.measures._numpy_kernels import row_sums
from klvae.measures.entropies import given_by_logits
from klvae.measures.gaussian import normal_kl_terms
from klvae.measures.lowrank import kl_lowrank_mvn
from klvae.measures.mvn import kl_mvn

__all__ = ["closed_kl", "exact_kl", "check_shapes", "empty_batch", "parameter_dtype", "CLOSED_FORMS"]

CLOSED_FORMS: dict[tuple[type, type], object] = {}  # (type of p, type of q) -> KL function


def _pair(tp, tq):
    def register(fn):
        CLOSED_FORMS[(tp, tq)] = fn
        return fn

    return register


# ------------------------------------------------------------------ closed forms


@_pair(Normal, Normal)
@_pair(LogNormal, LogNormal)  # KL is invariant under x ↦ eˣ
def _kl_normal_normal(p, q):
    return on_arrays(normal_kl_terms, p.loc, p.scale, q.loc, q.scale, partials=_normal_partials)


def _normal_partials(m1, s1, m2, s2):
    """∂KL/∂(μ₁, σ₁, μ₂, σ₂) of two normals: z/σ₂, (r² − 1)/σ₁, −z/σ₂, −(r² − 1 + z²)/σ₂, with
    z = (μ₁ − μ₂)/σ₂, r = σ₁/σ₂ and r² − 1 = u (u + 2), u = (σ₁ − σ₂)/σ₂ exact near r = 1."""
    z, u = (m1 - m2) / s2, (s1 - s2) / s2
    square = u * (u + 2)
    return z / s2, square / s1, -z / s2, -(square + z * z) / s2


@_pair(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p, q):  # log[((γ₁ + γ₂)² + Δ²)/(4γ₁γ₂)] = log1p(((γ₁ − γ₂)² + Δ²)/(4γ₁γ₂))
    def kl(m1, g1, m2, g2):
        dg, dm = g1 - g2, m1 - m2
        return (np if isinstance(dg, np.ndarray) else torch).log1p((dg * dg + dm * dm) / (4 * g1 * g2))

    return on_arrays(kl, p.loc, p.scale, q.loc, q.scale)


@_pair(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p, q):
    return kl_mvn(p.loc, mu2=q.loc, scale_tril1=p.scale_tril, scale_tril2=q.scale_tril, validate=False)


@_pair(LowRankMultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrank_lowrank(p, q):
    # torch factors each capacitance matrix on construction: reuse them when it has
    trils = (getattr(p, "_capacitance_tril", None), getattr(q, "_capacitance_tril", None))
    return kl_lowrank_mvn(
        p.loc,
        p.cov_factor,
        p.cov_diag,
        q.loc,
        q.cov_factor,
        q.cov_diag,
        validate=False,
        capacitance_trils=None if None in trils else trils,
    )


@_pair(LowRankMultivariateNormal, MultivariateNormal)
@_pair(MultivariateNormal, LowRankMultivariateNormal)
def _kl_mvn_lowrank(p, q):  # one side is dense: its O(d³) factor is needed anyway
    return kl_mvn(p.loc, mu2=q.loc, scale_tril1=p.scale_tril, scale_tril2=q.scale_tril, validate=False)


@_pair(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        return None
    inner = _closed(p.base_dist, q.base_dist)
    if inner is None:
        return None
    kl = inner(p.base_dist, q.base_dist)
    if kl is None:
        return None
    n = p.reinterpreted_batch_ndims
    if not n:
        return kl
    if cpu_without_grad(kl) and kl.dim() > n:  # NumPy's sum: a fraction of torch's per call
        return torch.from_numpy(kl.numpy().sum(tuple(range(-n, 0))))
    return kl.sum(tuple(range(-n, 0)))


@_pair(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    tp, tq, kl, _, partials = two_point(p, q)
    return on_arrays(kl, tp, tq, partials=partials)


@_pair(Binomial, Binomial)
def _kl_binomial_binomial(p, q):
    if not bool((p.total_count == q.total_count).all()):
        return None
    tp, tq, kl, _, partials = two_point(p, q)

    counts_graded = p.total_count.requires_grad

    def scaled(n, a, b):  # n KL: ∂n = KL (taken only when the count asks for it), the others n times the Bernoulli's
        da, db = partials(a, b)
        return (kl(a, b) if counts_graded else 0 * n), n * da, n * db

    return on_arrays(lambda n, a, b: n * kl(a, b), p.total_count, tp, tq, partials=scaled)


@_pair(Geometric, Geometric)
def _kl_geometric_geometric(p, q):  # E_p[k] = (1 − p)/p trials before the success
    tp, tq, kl, sides_p, partials = two_point(p, q)
    p_logits = given_by_logits(p)

    def per_success(a, b):  # KL/p: ∂a = (∂a KL − KL ∂a p / p)/p, ∂p/∂a = 1 or σ(a)σ(−a)
        (pp, pm), value = sides_p(a), kl(a, b)
        da, db = partials(a, b)
        slope = value * pm if p_logits else value / pp  # KL · (∂p/∂a) / p
        return (da - slope) / pp, db / pp

    return on_arrays(lambda a, b: kl(a, b) / sides_p(a)[0], tp, tq, partials=per_success)


@_pair(Categorical, Categorical)
@_pair(OneHotCategorical, OneHotCategorical)
def _kl_categorical_categorical(p, q):
    if given_by_logits(p) and given_by_logits(q):  # both given by logits: stay in log space
        lp, lq = torch.broadcast_tensors(p.logits, q.logits)
        return kl_terms_log(lp, lq).sum(-1)
    return on_arrays(lambda a, b: row_sums(kl_terms(a, b, overflow=True)), p.probs, q.probs, rows=True)


@_pair(Poisson, Poisson)
def _kl_poisson_poisson(p, q):
    return on_arrays(kl_terms, p.rate, q.rate, partials=kl_term_partials)


@_pair(Exponential, Exponential)
def _kl_exponential_exponential(p, q):  # r − 1 − log r, r = λ_q/λ_p; ∂λ_p = −(r − 1)/λ_p, ∂λ_q = (r − 1)/λ_q
    def partials(a, b):
        u = (b - a) / a  # r − 1
        return -u / a, u / b

    return on_arrays(lambda a, b: ratio_term(b, a, 1), p.rate, q.rate, partials=partials)


@_pair(Gamma, Gamma)
@_pair(Chi2, Chi2)
def _kl_gamma_gamma(p, q):  # shape α, rate β; r = β_q/β_p
    def kl(a1, b1, a2, b2):
        return bregman_lgamma(a1, a2 - a1, a2) + a1 * ratio_term(b2, b1, 1) + (a1 - a2) * log_ratio(b2, b1)

    def partials(a1, b1, a2, b2):  # δ = α₂ − α₁, u = r − 1, s = α₁u − δ:
        delta, u = a2 - a1, (b2 - b1) / b1  # ∂α₁ = u − ψ′(α₁)δ, ∂β₁ = −s/β₁, ∂α₂ = ψ(α₂) − ψ(α₁) − log r, ∂β₂ = s/β₂
        slope = a1 * u - delta
        return u - trigamma(a1) * delta, -slope / b1, digamma(a2) - digamma(a1) - log_ratio(b2, b1), slope / b2

    return on_arrays(kl, p.concentration, p.rate, q.concentration, q.rate, partials=partials)


@_pair(Beta, Beta)
def _kl_beta_beta(p, q):  # B(a) + B(b) − B(a + b), the three in one call
    if cpu_without_grad(p._dirichlet.concentration, q._dirichlet.concentration):
        return on_arrays(_dirichlet_rows, p._dirichlet.concentration, q._dirichlet.concentration, rows=True)

    def kl(a1, b1, a2, b2):
        if isinstance(a1, np.ndarray):
            return _dirichlet_rows(np.stack([a1, b1], -1), np.stack([a2, b2], -1))
        da, db = a2 - a1, b2 - b1
        return bregman_sum([(a1, da, a2), (b1, db, b2), (a1 + b1, da + db, a2 + b2)], [1, 1, -1])

    def partials(a1, b1, a2, b2):
        stack = np.stack if isinstance(a1, np.ndarray) else torch.stack
        ga, gb = _dirichlet_partials(stack([a1, b1], -1), stack([a2, b2], -1))
        return ga[..., 0], ga[..., 1], gb[..., 0], gb[..., 1]

    params = (p.concentration1, p.concentration0, q.concentration1, q.concentration0)
    return on_arrays(kl, *torch.broadcast_tensors(*params), partials=partials)


@_pair(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p, q):  # Σᵢ B(αᵢ) − B(α₀)
    if cpu_without_grad(p.concentration, q.concentration):
        return on_arrays(_dirichlet_rows, p.concentration, q.concentration, rows=True)

    def kl(a, b):
        if isinstance(a, np.ndarray):
            return _dirichlet_rows(*np.broadcast_arrays(a, b))
        a, b = torch.broadcast_tensors(a, b)
        d = b - a
        return bregman_lgamma(a, d, b, summed=-1).sum(-1) - bregman_lgamma(a.sum(-1), d.sum(-1), b.sum(-1))

    return on_arrays(kl, p.concentration, q.concentration, rows=True, partials=_dirichlet_partials)


def _dirichlet_partials(a, b):
    """∂KL/∂α = ψ′(α₀)δ₀ − ψ′(α)δ and ∂KL/∂β = ψ(β) − ψ(α) − (ψ(β₀) − ψ(α₀)) of two Dirichlets
    (δ = β − α, ₀ the sums along the last axis)."""
    a0, b0 = a.sum(-1)[..., None], b.sum(-1)[..., None]
    return trigamma(a0) * (b0 - a0) - trigamma(a) * (b - a), digamma(b) - digamma(a) - (digamma(b0) - digamma(a0))


def _dirichlet_rows(a1, a2):
    """KL(Dir(α)‖Dir(β)) = Σᵢ B(αᵢ, βᵢ − αᵢ) − B(α₀, β₀ − α₀) of NumPy (…, K) arrays: the K + 1
    parts as rows (y, δ, x) of one `bregman_rows` call (Beta: K = 2). The α₀ row is near wherever
    the others are (|Σ δᵢ| < Σ αᵢ/100)."""
    shape, k = a1.shape[:-1], a1.shape[-1]
    y, d, x = np.empty((3, k + 1, a1.size // k))
    for rows, a in ((y, a1), (x, a2)):
        rows[:k] = a.reshape(-1, k).T
        np.sum(rows[:k], axis=0, out=rows[k])
    np.subtract(x[:k], y[:k], out=d[:k])
    np.sum(d[:k], axis=0, out=d[k])
    near = (np.abs(d[:k]) < SERIES_NEAR * y[:k]).all(0)
    return bregman_rows(y, d, x, [1] * k + [-1], near=near).reshape(shape).astype(np.result_type(a1, a2), copy=False)


@_pair(Laplace, Laplace)
def _kl_laplace_laplace(p, q):  # r − 1 − log r + r φ(|Δ|/b₁), r = b₁/b₂, φ(z) = e^{−z} − 1 + z
    def kl(m1, b1, m2, b2):
        return ratio_term(b1, b2, 1, plus=b1 / b2 * expm1_minus_x(-abs(m1 - m2) / b1))

    def partials(m1, b1, m2, b2):  # with z = |Δ|/b₁, u = r − 1, e = e^{−z}:
        # ∂μ₁ = −∂μ₂ = −sign(Δ) expm1(−z)/b₂, ∂b₁ = (u e (1 + z) + φ(z) + z expm1(−z))/b₁, ∂b₂ = −(u + r φ(z))/b₂
        xp = np if isinstance(m1, np.ndarray) else torch
        delta = m1 - m2
        z = abs(delta) / b1
        u, drop, phi = (b1 - b2) / b2, xp.expm1(-z), expm1_minus_x(-z)
        dm = -xp.sign(delta) * drop / b2
        return dm, (u * (drop + 1) * (1 + z) + phi + z * drop) / b1, -dm, -(u + (u + 1) * phi) / b2

    return on_arrays(kl, p.loc, p.scale, q.loc, q.scale, partials=partials)


@_pair(Uniform, Uniform)
def _kl_uniform_uniform(p, q):  # log(w₂/w₁) = log1p((a + b)/w₁), a = hi₂ − hi₁ ≥ 0, b = lo₁ − lo₂ ≥ 0
    def kl(lo1, hi1, lo2, hi2):  # a and b are exact where the supports nearly agree (w₂ − w₁ of
        xp = np if isinstance(lo1, np.ndarray) else torch  # the rounded widths is not)
        above, below = hi2 - hi1, lo1 - lo2
        width = hi1 - lo1
        with np.errstate(over="ignore"):
            value = xp.log1p((above + below) / width)
        finite = value.max() < math.inf if xp is np else torch.isfinite(value).all()
        if not bool(finite):  # (a + b)/w₁ overflowed: log w₂ − log w₁
            value = where(xp.isfinite(value), value, log_ratio(hi2 - lo2, width))
        return where(xp.minimum(above, below) >= 0, value, math.inf)  # +inf outside q's support

    def partials(lo1, hi1, lo2, hi2):  # log w₂ − log w₁ inside q's support; 0 where the KL is +inf
        inside = (lo2 <= lo1) & (hi1 <= hi2)
        g1, g2 = where(inside, 1 / (hi1 - lo1), 0.0), where(inside, 1 / (hi2 - lo2), 0.0)
        return g1, -g1, -g2, g2

    return on_arrays(kl, p.low, p.high, q.low, q.high, partials=partials)


# ------------------------------------------------------------------ dispatch


def _closed(p, q):
    return CLOSED_FORMS.get((type(p), type(q)))


def check_shapes(p, q) -> None:
    """Event shapes must be equal and batch shapes broadcast: a ValueError before any sampling."""
    if p.event_shape != q.event_shape:
        raise ValueError(
            f"p and q have different event shapes: {tuple(p.event_shape)} and {tuple(q.event_shape)}; "
            "a measure compares distributions over the same space"
        )
    if p.batch_shape == q.batch_shape:
        return
    try:
        broadcast_shapes(p.batch_shape, q.batch_shape)
    except RuntimeError:
        raise ValueError(
            f"batch shapes do not broadcast: p {tuple(p.batch_shape)} and q {tuple(q.batch_shape)}"
        ) from None


def empty_batch(p, q) -> torch.Size | None:
    """The broadcast batch shape of p (and q) when it holds no element, else None."""
    if 0 not in p.batch_shape and (q is None or 0 not in q.batch_shape):
        return None
    if q is None:
        return p.batch_shape
    check_shapes(p, q)
    shape = torch.broadcast_shapes(p.batch_shape, q.batch_shape)
    return shape if 0 in shape else None


def parameter_dtype(d) -> torch.dtype:
    """The floating dtype of d's parameters (the default dtype when none is a tensor)."""
    for name in d.arg_constraints:
        value = d.__dict__.get(name)
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.dtype
    return torch.get_default_dtype()


def exact_kl(p, q):
    """(method, value) of the first exact way that answers: klvae's closed form, then torch's.

    The one place the method is decided: a closed form that does not cover the pair (unequal
    Binomial counts, Independent of unequal ranks) returns None, and torch's function is tried
    for real (its registry may hold a pair its function then refuses). (None, None) when neither.
    """
    fn = _closed(p, q)
    if fn is not None:
        value = fn(p, q)
        if value is not None:
            return "closed form", value
    try:
        return "torch", torch.distributions.kl_divergence(p, q)
    except NotImplementedError:
        return None, None


def closed_kl(p, q) -> torch.Tensor:
    """KL(p‖q) by klvae's closed form or torch's (`exact_kl`); ValueError naming the pair when neither has one.

    >>> float(closed_kl(Exponential(torch.tensor(2.0)), Exponential(torch.tensor(2.0))))
    0.0
    """
    method, value = exact_kl(p, q)
    if method is None:
        raise ValueError(f"KL({type(p).__name__}‖{type(q).__name__}) has no closed form here or in torch")
    return value
