"""Discrete information measures on arrays: entropy, cross-entropy, KL, Jensen–Shannon, MI, W1.

Every function takes probability vectors along `axis` (default -1), broadcasts the other
axes, and returns the batch shape. Inputs are lists, NumPy arrays or torch tensors (any
device, autograd kept); the result comes back in the same kind (`klvae.measures.arrays`).

Units: ``base=None`` gives nats, ``base=2`` bits, ``base=10`` dits; any other positive
base except 1 gives "base-b units" (the value in nats divided by ln b).

Conventions (Cover & Thomas, *Elements of Information Theory*, 2nd ed., ch. 2):

- 0·log 0 = 0 and 0·log(0/q) = 0; p > 0 where q = 0 makes KL and cross-entropy ``+inf``
  (never NaN). Jensen–Shannon is always finite, at most ln 2 nats.
- Probabilities are checked: negative, NaN or infinite entries, or rows that do not sum
  to 1 within ``sqrt(eps)`` of the dtype (1.5e-8 for float64, 3.5e-4 for float32) raise
  ``ValueError`` naming the argument. ``normalize=True`` rescales rows instead.
- ``logits=True`` reads every distribution argument as unnormalised log-probabilities
  (model outputs); they go through ``log_softmax`` along `axis` and the measure is computed
  in log space, which is the stable path for network outputs. ``-inf`` marks a zero
  probability. To pass probabilities for one argument and logits for the other, give
  ``log(p)`` for the probabilities.

KL is summed as Σ [p log(p/q) − p + q]: every term is ≥ 0 (the added −p + q terms sum to
zero for normalised rows), so the sum does not cancel, and each term is computed as
q·g((p − q)/q) with g(x) = (1 + x) log1p(x) − x, switching to its Taylor series where
|x| is small. Nearly equal distributions therefore keep full relative accuracy: a KL of
1e-17 between two rows differing by 1e-8 comes out right, where Σ p log p − Σ p log q
(cross-entropy minus entropy) returns rounding noise. For rows that sum to 1 only up to
rounding, the value is the generalized KL Σ[p log(p/q) − p + q] of those floats, which
differs from Σ p log(p/q) by Σq − Σp (zero for exactly normalized rows, and otherwise
the part of Σ p log(p/q) that measures a mismatch of total mass, not of shape).
Gradients are those of Σ p log(p/q), finite wherever the measure is (float32 and float64): an
entry with p = 0 carries no mass, and its partial in p, whose one-sided limit is −∞, is 0; every
other partial is exact, computed from the closed-form derivatives (log(p/q) + 1, −p/q, and for
Jensen–Shannon ½ log(p/m), ½ log(q/m)) so that subnormal entries do not overflow it. With
`logits=True` a −inf logit has gradient 0, its limit, and log-ratios past e^x's overflow point
(709.8 in float64, 88.7 in float32) keep the value and the gradient finite.

Speed: for CPU input that needs no gradient (NumPy arrays, lists, CPU tensors without
``requires_grad``), entropy, KL and Jensen–Shannon of probabilities run as NumPy ufuncs on
the same memory, in row chunks that are validated and measured while in cache, on as
many threads as ``torch.get_num_threads()``; NumPy's float64 log is about 3× faster than
torch's on CPU. Tensors that require grad, other devices and ``logits=True`` use torch.

The NumPy path lives in `klvae.measures._numpy_path`, the argument checks both paths share in
`klvae.measures._checks`; the two Wasserstein-1 functions are `klvae.measures.wasserstein`'s,
re-exported here.
"""

from __future__ import annotations

import math

import torch

from klvae.measures._checks import broadcast_elementwise, convert, finish, log_base, prepare, validate
from klvae.measures._kernels import (
    entropy_rows,
    js_rows,
    js_terms,
    js_terms_log,
    kl_rows,
    kl_terms,
    kl_terms_log,
    log_prob_difference,
    textbook_gradient,
)
from klvae.measures._numpy_path import numpy_path_ok, numpy_rows
from klvae.measures.arrays import from_tensor, is_torch, rowwise, to_tensors
from klvae.measures.distribution_measures import distribution_measure, is_distribution

__all__ = [
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "js_divergence",
    "js_distance",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "unit_name",
]

_REDUCTIONS = ("none", "sum", "mean")


def unit_name(base=None) -> str:
    """The unit of a result computed with `base`: 'nats', 'bits', 'dits' or 'base-b units'."""
    log_base(base)
    if base is None or float(base) == math.e:
        return "nats"
    return {2.0: "bits", 10.0: "dits"}.get(float(base), f"base-{float(base):g} units")


# ------------------------------------------------------------------ public measures


def entropy(p, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    """Shannon entropy H(p) = −Σ_i p_i log p_i along `axis`.

    0·log 0 = 0, so 0 ≤ H(p) ≤ log K for K outcomes. Units: nats (`base=None`), bits
    (`base=2`), dits (`base=10`).

    Args:
        p: probabilities, shape (..., K, ...) with the K outcomes along `axis`; with
            `logits=True`, unnormalised log-probabilities (log_softmax is applied).
        base: logarithm base; None for nats.
        axis: the outcome axis; all other axes are batch axes.
        normalize: rescale rows to sum to 1 instead of raising.
        logits: read `p` as logits.

    Returns:
        The batch shape (`p.shape` without `axis`); a NumPy scalar for 1-d NumPy input.

    Reference: Cover & Thomas (2006), eq. 2.1.

    >>> float(entropy([0.5, 0.25, 0.25], base=2))
    1.5
    >>> float(entropy([0.0, 1.0]))
    0.0
    """
    if is_distribution(p):  # a distribution object: klvae.measures.distribution_measures
        return distribution_measure("entropy", p, base=base, exact=exact)
    inputs = convert((p,), ("p",), axis)
    tensors, axis = inputs.tensors, inputs.axis
    h = None
    if numpy_path_ok(tensors, logits):
        h = numpy_rows(entropy_rows, tensors, ("p",), axis, normalize, inputs.tols)
    if h is not None:
        return finish(h / log_base(base) + 0.0, inputs)
    (t,), has_zero = validate(tensors, ("p",), axis, normalize, logits, inputs.tols)
    if logits:  # a −inf log-probability stands in as 0: its p·log p is 0, and so is its gradient
        h = -(t.exp() * torch.where(t == -math.inf, 0.0, t)).sum(axis) if has_zero else -(t.exp() * t).sum(axis)
    elif has_zero:  # 0·log 0 = 0 with gradient 0 (no mass), not log 0 + 1 = −inf
        h = -(t * torch.log(torch.where(t == 0, 1.0, t))).sum(axis)
    else:
        h = rowwise(lambda a: -torch.linalg.vecdot(a, torch.log(a), dim=axis), [t], axis)
    return finish(h / log_base(base) + 0.0, inputs)  # + 0.0 turns -0.0 into 0.0


def cross_entropy(p, q, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    """Cross-entropy H(p, q) = −Σ_i p_i log q_i = H(p) + KL(p‖q) along `axis`.

    ``+inf`` when some p_i > 0 has q_i = 0; terms with p_i = 0 contribute 0.

    Args:
        p: the true distribution, shape (..., K, ...) along `axis`.
        q: the model distribution; broadcasts against `p`.
        base, axis, normalize, logits: as in :func:`entropy` (`logits` applies to both).

    Returns:
        The broadcast batch shape.

    Reference: Cover & Thomas (2006), §2.3 and problem 2.10 (H(p, q) = H(p) + D(p‖q)).

    >>> p, q = [0.5, 0.25, 0.25], [0.25, 0.25, 0.5]
    >>> float(cross_entropy(p, q, base=2))
    1.75
    >>> bool(abs(cross_entropy(p, q) - entropy(p) - kl_divergence(p, q)) < 1e-15)
    True
    """
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("cross_entropy", p, q, base=base, exact=exact)
    (tp, tq), has_zero, inputs = prepare((p, q), ("p", "q"), axis, normalize, logits)
    axis = inputs.axis
    zero_p = (tp == -math.inf) if logits else (tp == 0)
    zero_q = ((tq == -math.inf) if logits else (tq == 0)) & ~zero_p
    if logits:  # stand-ins keep masked entries finite in value and gradient
        terms = tp.exp() * torch.where(zero_p | zero_q, 0.0, tq)
    else:
        terms = tp * torch.log(torch.where(zero_p | zero_q, 1.0, tq))
    if has_zero:  # p = 0: no term; p > 0 = q: +inf
        terms = torch.where(zero_q, -math.inf, torch.where(zero_p, 0.0, terms))
    ce = -terms.sum(axis)
    return finish(ce / log_base(base), inputs)


def kl_divergence(p, q, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    """Kullback–Leibler divergence KL(p‖q) = Σ_i p_i log(p_i / q_i) along `axis`.

    Two ``torch.distributions`` objects are also accepted: then KL(p‖q) = E_p[log p − log q]
    comes from `klvae.measures.distributions.kl_distributions` (a closed form, torch's registry, or
    a Monte Carlo `MCEstimate` with its standard error, which `exact=True` refuses;
    `klvae.kl_method(p, q)` says which).

    Always KL(p‖q), p first (unlike ``torch.nn.functional.kl_div(log q, p)``). It is ≥ 0,
    0 only for p = q, and ``+inf`` when some p_i > 0 has q_i = 0. Computed as
    Σ_i [p_i log(p_i/q_i) − p_i + q_i], a sum of non-negative terms, each evaluated
    without cancellation (series near p_i = q_i), so nearly equal inputs keep relative
    accuracy; with `logits=True` the same from log_softmax outputs.

    Args:
        p, q: distributions along `axis`; they broadcast against each other. Or two
            ``torch.distributions`` objects.
        base, axis, normalize, logits: as in :func:`entropy` (`logits` applies to both).
        exact: for distribution objects, raise instead of estimating by Monte Carlo.

    Returns:
        The broadcast batch shape.

    Reference: Kullback & Leibler (1951); Cover & Thomas (2006), eq. 2.26.

    >>> round(float(kl_divergence([0.5, 0.5], [0.25, 0.75], base=2)), 12)  # ½log₂2 + ½log₂(2/3)
    0.207518749639
    >>> float(kl_divergence([0.5, 0.5], [1.0, 0.0]))
    inf
    """
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("kl", p, q, base=base, exact=exact)
    inputs = convert((p, q), ("p", "q"), axis)
    tensors, axis = inputs.tensors, inputs.axis
    kl = None
    if numpy_path_ok(tensors, logits):
        kl = numpy_rows(kl_rows, tensors, ("p", "q"), axis, normalize, inputs.tols)
    if kl is not None:
        return finish(kl / log_base(base), inputs)
    (tp, tq), has_zero = validate(tensors, ("p", "q"), axis, normalize, logits, inputs.tols)
    if logits:
        diff = log_prob_difference(*tensors, tp, tq, axis)
        kl = kl_terms_log(tp, tq, has_zero, diff).sum(axis)
    else:
        kl = rowwise(lambda a, b: kl_terms(a, b, has_zero).sum(axis), [tp, tq], axis)
        if bool(torch.isposinf(kl.detach()).any()):  # p > 0 = q, or p/q overflowed: redo in log space
            kl = rowwise(lambda a, b: kl_terms(a, b, has_zero, overflow=True).sum(axis), [tp, tq], axis)
        kl = textbook_gradient(kl, tp, tq, axis)
    return finish(kl / log_base(base), inputs)


def _js_sum(p, q, axis, normalize, logits):
    """Σ [p log(p/m) + q log(q/m)] along `axis` (twice JS in nats) and the `Inputs`."""
    inputs = convert((p, q), ("p", "q"), axis)
    tensors, axis = inputs.tensors, inputs.axis
    js = None
    if numpy_path_ok(tensors, logits):
        js = numpy_rows(js_rows, tensors, ("p", "q"), axis, normalize, inputs.tols)
    if js is not None:
        return js, inputs
    (tp, tq), has_zero = validate(tensors, ("p", "q"), axis, normalize, logits, inputs.tols)
    if logits:
        return js_terms_log(tp, tq, has_zero, log_prob_difference(*tensors, tp, tq, axis)).sum(axis), inputs
    return rowwise(lambda a, b: js_terms(a, b, has_zero).sum(axis), [tp, tq], axis), inputs


def js_divergence(p, q, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    """Jensen–Shannon divergence JS(p, q) = ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2.

    Symmetric, finite, 0 ≤ JS ≤ log 2 (1 bit), zero only for p = q. Each entry's
    contribution ½[p log(p/m) + q log(q/m)] is ≥ 0 and is evaluated by a series where
    p ≈ q, so nearly equal inputs keep relative accuracy.

    Args:
        p, q: distributions along `axis`; they broadcast against each other.
        base, axis, normalize, logits: as in :func:`entropy` (`logits` applies to both).

    Returns:
        The broadcast batch shape.

    Reference: Lin (1991), "Divergence measures based on the Shannon entropy".

    >>> float(js_divergence([1.0, 0.0], [0.0, 1.0], base=2))  # disjoint supports: 1 bit
    1.0
    """
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("js", p, q, base=base, exact=exact)
    js, inputs = _js_sum(p, q, axis, normalize, logits)
    return finish(js * (0.5 / log_base(base)), inputs)


def js_distance(p, q, *, base=None, axis=-1, normalize=False, logits=False):
    """Jensen–Shannon distance √JS(p, q), a metric on distributions.

    Same as ``scipy.spatial.distance.jensenshannon`` except that scipy silently
    normalizes its inputs (here that needs `normalize=True`). The gradient is infinite
    at p = q. Arguments as in :func:`js_divergence`.

    Reference: Endres & Schindelin (2003), "A new metric for probability distributions".

    >>> float(js_distance([1.0, 0.0], [0.0, 1.0], base=2))
    1.0
    """
    js, inputs = _js_sum(p, q, axis, normalize, logits)
    return finish(torch.sqrt(js * (0.5 / log_base(base))), inputs)


# ------------------------------------------------------------------ binary cross-entropy


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of 'none', 'sum', 'mean', got {reduction!r}")


def _check_unit_interval(t, name):
    low, high = torch.aminmax(t.detach())
    if bool(torch.isnan(low)) or bool(torch.isnan(high)):
        raise ValueError(f"{name} has NaN entries")
    if low < 0 or high > 1:
        raise ValueError(f"{name} must lie in [0, 1] (found values in [{float(low):.3g}, {float(high):.3g}])")


def binary_cross_entropy(target, prob, *, base=None, reduction="none"):
    """Binary cross-entropy −[y log p + (1 − y) log(1 − p)], elementwise.

    The cross-entropy between Bernoulli(y) and Bernoulli(p); log(1 − p) is computed as
    log1p(−p). 0·log 0 = 0; ``+inf`` where p = 0 with y > 0 or p = 1 with y < 1.

    Args:
        target: y in [0, 1], any shape.
        prob: p in [0, 1]; broadcasts against `target`.
        base: logarithm base; None for nats.
        reduction: ``"none"`` (default) returns the broadcast elementwise losses;
            ``"sum"`` their sum; ``"mean"`` their mean over all elements (what
            ``torch.nn.functional.binary_cross_entropy`` returns by default).

    Reference: Goodfellow, Bengio & Courville (2016), *Deep Learning*, §6.2.2.2.

    >>> float(binary_cross_entropy(1.0, 0.5, base=2))
    1.0
    """
    _check_reduction(reduction)
    torch_out = is_torch(target, prob)
    y, p = to_tensors(target, prob, names=("target", "prob"))
    y, p = broadcast_elementwise(y, p, ("target", "prob"))
    _check_unit_interval(y, "target")
    _check_unit_interval(p, "prob")
    loss = -(torch.xlogy(y, p) + torch.special.xlog1py(1 - y, -p))
    return from_tensor(_reduce(loss, reduction) / log_base(base), torch_out)


def binary_cross_entropy_with_logits(target, logits, *, base=None, reduction="none"):
    """Binary cross-entropy from a logit z (p = sigmoid(z)), elementwise.

    −[y log σ(z) + (1 − y) log(1 − σ(z))] = softplus(z) − y·z, computed as
    max(z, 0) − y·z + log1p(exp(−|z|)) so it never overflows. Arguments and `reduction`
    as in :func:`binary_cross_entropy`; `logits` may be any finite real.

    Reference: the stable form used by ``torch.nn.BCEWithLogitsLoss``.

    >>> float(binary_cross_entropy_with_logits(1.0, 0.0, base=2))  # sigmoid(0) = 1/2
    1.0
    """
    _check_reduction(reduction)
    torch_out = is_torch(target, logits)
    y, z = to_tensors(target, logits, names=("target", "logits"))
    y, z = broadcast_elementwise(y, z, ("target", "logits"))
    _check_unit_interval(y, "target")
    if not bool(torch.isfinite(z.detach()).all()):
        raise ValueError("logits has NaN or infinite entries")
    loss = z.clamp_min(0) - y * z + torch.log1p(torch.exp(-z.abs()))
    return from_tensor(_reduce(loss, reduction) / log_base(base), torch_out)


# ------------------------------------------------------------------ joint tables
