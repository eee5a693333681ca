"""Discrete information measures on arrays: entropy, cross-entropy, KL, Jensen–Shannon, MI, W1.

Every function takes probability vectors along `axis` (default -1), broadcasts the other
axes, and returns the batch shape. Inputs are lists, NumPy arrays or torch tensors (any
device, autograd kept); the result comes back in the same kind (`klvae._tensor`).

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
Gradients are those of Σ p log(p/q).

Speed: for CPU input that needs no gradient (NumPy arrays, lists, CPU tensors without
``requires_grad``), entropy, KL and Jensen–Shannon of probabilities run as NumPy ufuncs on
the same memory, in row chunks that are validated and measured while in cache, on as
many threads as ``torch.get_num_threads()``; NumPy's float64 log is about 3× faster than
torch's on CPU. Tensors that require grad, other devices and ``logits=True`` use torch.

The NumPy path lives in `klvae._info_numpy`, the argument checks both paths share in
`klvae._info_common`; the two Wasserstein-1 functions are `klvae.wasserstein`'s,
re-exported here.
"""

from __future__ import annotations

import math

import torch

from klvae._info_common import (
    _CHUNK,
    _G_COEFFS,
    _H_COEFFS,
    _SERIES_AT,
    _broadcast_elementwise,
    _check_probs,
    _convert,
    _log_base,
    _prepare,
    _validate,
)
from klvae._info_numpy import _entropy_rows, _fast, _js_rows, _kl_rows, _numpy_rows
from klvae._tensor import from_tensor, is_torch, to_tensors
from klvae.wasserstein import wasserstein_distance, wasserstein_distance_samples

__all__ = [
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "js_divergence",
    "js_distance",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "joint_entropy",
    "conditional_entropy",
    "mutual_information",
    "wasserstein_distance",
    "wasserstein_distance_samples",
    "unit_name",
]

_REDUCTIONS = ("none", "sum", "mean")


def unit_name(base=None) -> str:
    """The unit of a result computed with `base`: 'nats', 'bits', 'dits' or 'base-b units'."""
    _log_base(base)
    if base is None or float(base) == math.e:
        return "nats"
    return {2.0: "bits", 10.0: "dits"}.get(float(base), f"base-{float(base):g} units")


# ------------------------------------------------------------------ per-entry terms
#
# The torch path. Entropy, KL and JS of CPU probabilities without autograd usually take
# the NumPy path (`klvae._info_numpy`) instead; its kernels are twins of the terms below.


def _rowwise(fn, tensors, axis):
    """fn(*chunks) -> values reduced over `axis`, applied to slices of ~_CHUNK elements.

    Large batches are cut along the first non-reduced dimension so every temporary stays
    in cache and the allocator reuses it; one 80 MB temporary costs more in page faults
    than the arithmetic done on it.
    """
    t0 = tensors[0]
    if t0.dim() < 2 or t0.numel() <= _CHUNK:
        return fn(*tensors)
    dim = 0 if axis != 0 else 1
    rows = max(1, _CHUNK * t0.shape[dim] // t0.numel())
    if rows >= t0.shape[dim]:
        return fn(*tensors)
    parts = zip(*(t.split(rows, dim) for t in tensors))
    return torch.cat([fn(*chunk) for chunk in parts], dim if dim < axis else dim - 1)


def _horner(x, coeffs):
    acc = torch.full_like(x, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc = acc * x + c
    return acc


# φ(D) = D + expm1(-D) = D² Σ_{n≥0} (-D)^n / (n+2)!  (g and h: `klvae._info_common`)
_PHI_COEFFS = tuple((-1) ** n / math.factorial(n + 2) for n in range(16))


def _fix_small(terms, key, fix):
    """Replace terms where |key| < _SERIES_AT by fix(index); only those entries are recomputed."""
    idx = (key.detach().abs() < _SERIES_AT).nonzero(as_tuple=True)
    if idx[0].numel() == 0:
        return terms
    return terms.index_put_(idx, fix(idx))  # in place: no autograd node saved `terms`


def _kl_terms(p, q, has_zero):
    """p log(p/q) − p + q ≥ 0 for each entry (probabilities)."""
    d = p - q
    log_ratio = torch.log(p / q)
    terms = p * log_ratio - d  # accurate wherever |p/q - 1| is not small
    if has_zero:
        terms = torch.where(p == 0, q, terms)  # 0 log 0/q - 0 + q; q = 0 gives +inf already

    def series(idx):
        qs = q[idx]
        xs = d[idx] / qs  # p/q - 1 without rounding: p - q is exact when p ≈ q
        return qs * xs * xs * _horner(xs, _G_COEFFS)

    return _fix_small(terms, log_ratio, series)


def _kl_terms_log(lp, lq, has_zero):
    """p log(p/q) − p + q = p·φ(log p − log q) ≥ 0 for each entry (log-probabilities)."""
    diff = lp - lq
    p = lp.exp()
    terms = p * (diff + torch.expm1(-diff))
    if has_zero:
        terms = torch.where(lp == -math.inf, lq.exp(), terms)

    def series(idx):
        ds = diff[idx]
        return p[idx] * ds * ds * _horner(ds, _PHI_COEFFS)

    return _fix_small(terms, diff, series)


def _js_terms(p, q, has_zero):
    """p log(p/m) + q log(q/m) ≥ 0 for each entry, m = (p + q)/2 (twice the JS term)."""
    m = torch.lerp(p, q, 0.5)
    log_a = torch.log(p / m)  # log(1 + s), s = (p - q)/(p + q)
    if has_zero:
        terms = torch.xlogy(p, p / m) + torch.xlogy(q, q / m)
        terms = torch.where(m == 0, 0.0, terms)
    else:
        terms = p * log_a + q * torch.log(q / m)

    def series(idx):
        ps, qs = p[idx], q[idx]
        s = (ps - qs) / (ps + qs)
        return m[idx] * s * s * _horner(s * s, _H_COEFFS)

    return _fix_small(terms, log_a, series)


def _js_terms_log(lp, lq, has_zero):
    """As `_js_terms`, from log-probabilities: m = exp(logaddexp(lp, lq) - ln 2)."""
    lm = torch.logaddexp(lp, lq) - math.log(2)
    p, q = lp.exp(), lq.exp()
    terms = p * (lp - lm) + q * (lq - lm)
    if has_zero:
        terms = torch.where(lp == -math.inf, 0.0, p * (lp - lm)) + torch.where(
            lq == -math.inf, 0.0, q * (lq - lm)
        )
    diff = lp - lq

    def series(idx):
        s = torch.tanh(diff[idx] / 2)  # (p - q)/(p + q)
        return lm[idx].exp() * s * s * _horner(s * s, _H_COEFFS)

    return _fix_small(terms, diff, series)


def _textbook_gradient(kl, p, q, axis):
    """Give Σ[p log(p/q) − p + q] the gradient of Σ p log(p/q) (log(p/q) + 1 and −p/q).

    The added Σ(p − q) has value zero but shifts the gradient by the constant that
    ``torch.distributions`` and ``F.kl_div`` users expect.
    """
    if not (p.requires_grad or q.requires_grad):
        return kl
    mass = (p - q).sum(axis)
    return kl + (mass - mass.detach())


# ------------------------------------------------------------------ public measures


def entropy(p, *, base=None, axis=-1, normalize=False, logits=False):
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
    tensors, axis, torch_out = _convert((p,), ("p",), axis)
    h = _numpy_rows(_entropy_rows, tensors, ("p",), axis, normalize) if _fast(tensors, logits) else None
    if h is not None:
        return from_tensor(h / _log_base(base) + 0.0, torch_out)
    (t,), has_zero = _validate(tensors, ("p",), axis, normalize, logits)
    if logits:
        terms = t.exp() * t
        if has_zero:
            terms = torch.where(t == -math.inf, 0.0, terms)
        h = -terms.sum(axis)
    elif has_zero:
        h = -torch.xlogy(t, t).sum(axis)
    else:
        h = _rowwise(lambda a: -torch.linalg.vecdot(a, torch.log(a), dim=axis), [t], axis)
    return from_tensor(h / _log_base(base) + 0.0, torch_out)  # + 0.0 turns -0.0 into 0.0


def cross_entropy(p, q, *, base=None, axis=-1, normalize=False, logits=False):
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
    (tp, tq), has_zero, axis, torch_out = _prepare((p, q), ("p", "q"), axis, normalize, logits)
    if logits:
        terms = tp.exp() * tq
        if has_zero:
            terms = torch.where(tp == -math.inf, 0.0, terms)
        ce = -terms.sum(axis)
    else:
        ce = -torch.xlogy(tp, tq).sum(axis)
    return from_tensor(ce / _log_base(base), torch_out)


def kl_divergence(p, q, *, base=None, axis=-1, normalize=False, logits=False):
    """Kullback–Leibler divergence KL(p‖q) = Σ_i p_i log(p_i / q_i) along `axis`.

    Always KL(p‖q), p first (unlike ``torch.nn.functional.kl_div(log q, p)``). It is ≥ 0,
    0 only for p = q, and ``+inf`` when some p_i > 0 has q_i = 0. Computed as
    Σ_i [p_i log(p_i/q_i) − p_i + q_i], a sum of non-negative terms, each evaluated
    without cancellation (series near p_i = q_i), so nearly equal inputs keep relative
    accuracy; with `logits=True` the same from log_softmax outputs.

    Args:
        p, q: distributions along `axis`; they broadcast against each other.
        base, axis, normalize, logits: as in :func:`entropy` (`logits` applies to both).

    Returns:
        The broadcast batch shape.

    Reference: Kullback & Leibler (1951); Cover & Thomas (2006), eq. 2.26.

    >>> round(float(kl_divergence([0.5, 0.5], [0.25, 0.75], base=2)), 12)  # ½log₂2 + ½log₂(2/3)
    0.207518749639
    >>> float(kl_divergence([0.5, 0.5], [1.0, 0.0]))
    inf
    """
    tensors, axis, torch_out = _convert((p, q), ("p", "q"), axis)
    kl = _numpy_rows(_kl_rows, tensors, ("p", "q"), axis, normalize) if _fast(tensors, logits) else None
    if kl is not None:
        return from_tensor(kl / _log_base(base), torch_out)
    (tp, tq), has_zero = _validate(tensors, ("p", "q"), axis, normalize, logits)
    if logits:
        kl = _kl_terms_log(tp, tq, has_zero).sum(axis)
    else:
        kl = _rowwise(lambda a, b: _kl_terms(a, b, has_zero).sum(axis), [tp, tq], axis)
        kl = _textbook_gradient(kl, tp, tq, axis)
    return from_tensor(kl / _log_base(base), torch_out)


def _js_sum(p, q, axis, normalize, logits):
    """Σ [p log(p/m) + q log(q/m)] along `axis` (twice JS in nats) and the output kind."""
    tensors, axis, torch_out = _convert((p, q), ("p", "q"), axis)
    js = _numpy_rows(_js_rows, tensors, ("p", "q"), axis, normalize) if _fast(tensors, logits) else None
    if js is not None:
        return js, torch_out
    (tp, tq), has_zero = _validate(tensors, ("p", "q"), axis, normalize, logits)
    if logits:
        return _js_terms_log(tp, tq, has_zero).sum(axis), torch_out
    return _rowwise(lambda a, b: _js_terms(a, b, has_zero).sum(axis), [tp, tq], axis), torch_out


def js_divergence(p, q, *, base=None, axis=-1, normalize=False, logits=False):
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
    js, torch_out = _js_sum(p, q, axis, normalize, logits)
    return from_tensor(js * (0.5 / _log_base(base)), torch_out)


def js_distance(p, q, *, base=None, axis=-1, normalize=False, logits=False):
    """Jensen–Shannon distance √JS(p, q), a metric on distributions.

    Same as ``scipy.spatial.distance.jensenshannon`` except that scipy silently
    normalizes its inputs (here that needs `normalize=True`). The gradient is infinite
    at p = q. Arguments as in :func:`js_divergence`.

    Reference: Endres & Schindelin (2003), "A new metric for probability distributions".

    >>> float(js_distance([1.0, 0.0], [0.0, 1.0], base=2))
    1.0
    """
    js, torch_out = _js_sum(p, q, axis, normalize, logits)
    return from_tensor(torch.sqrt(js * (0.5 / _log_base(base))), torch_out)


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
    y, p = _broadcast_elementwise(y, p, ("target", "prob"))
    _check_unit_interval(y, "target")
    _check_unit_interval(p, "prob")
    loss = -(torch.xlogy(y, p) + torch.special.xlog1py(1 - y, -p))
    return from_tensor(_reduce(loss, reduction) / _log_base(base), torch_out)


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
    y, z = _broadcast_elementwise(y, z, ("target", "logits"))
    _check_unit_interval(y, "target")
    if not bool(torch.isfinite(z.detach()).all()):
        raise ValueError("logits has NaN or infinite entries")
    loss = z.clamp_min(0) - y * z + torch.log1p(torch.exp(-z.abs()))
    return from_tensor(_reduce(loss, reduction) / _log_base(base), torch_out)


# ------------------------------------------------------------------ joint tables


def _prepare_joint(pxy, normalize):
    """Validate a joint table p(x, y) over the last two axes (x = axis -2, y = axis -1)."""
    torch_out = is_torch(pxy)
    (t,) = to_tensors(pxy, names=("pxy",))
    if t.dim() < 2:
        raise ValueError(f"pxy must have at least 2 dimensions (x, y), got shape {tuple(t.shape)}")
    if t.shape[-1] == 0 or t.shape[-2] == 0:
        raise ValueError(f"pxy has an empty axis: shape {tuple(t.shape)}")
    flat = t.reshape(*t.shape[:-2], -1)
    flat, has_zero = _check_probs(flat, "pxy", flat.dim() - 1, normalize)
    return flat.reshape(t.shape), has_zero, torch_out


def joint_entropy(pxy, *, base=None, normalize=False):
    """Joint entropy H(X, Y) = −Σ_{x,y} p(x, y) log p(x, y) of a table over the last two axes.

    Args:
        pxy: joint probabilities, shape (..., |X|, |Y|), summing to 1 over the last two axes.
        base, normalize: as in :func:`entropy`.

    Returns:
        The batch shape (...).

    Reference: Cover & Thomas (2006), eq. 2.8.

    >>> float(joint_entropy([[0.25, 0.25], [0.25, 0.25]], base=2))
    2.0
    """
    t, _, torch_out = _prepare_joint(pxy, normalize)
    h = -torch.xlogy(t, t).sum((-2, -1))
    return from_tensor(h / _log_base(base), torch_out)


def conditional_entropy(pxy, *, given=-2, base=None, normalize=False):
    """Conditional entropy H(Y | X) = −Σ_{x,y} p(x, y) log(p(x, y) / p(x)).

    The table's axis -2 is X and axis -1 is Y. By default (``given=-2``) the result is
    H(Y | X), conditioning on the row variable X; ``given=-1`` gives H(X | Y). Every term
    is ≥ 0 (p(x, y) ≤ p(x)), so the result is never computed as H(X, Y) − H(X).

    Args:
        pxy: joint probabilities, shape (..., |X|, |Y|).
        given: -2 (condition on X, the rows) or -1 (condition on Y, the columns).
        base, normalize: as in :func:`entropy`.

    Returns:
        The batch shape (...).

    Reference: Cover & Thomas (2006), eq. 2.10.

    >>> float(conditional_entropy([[0.5, 0.0], [0.25, 0.25]], base=2))  # H(Y|X) = ½·0 + ½·1
    0.5
    """
    if given not in (-2, -1):
        raise ValueError(f"given must be -2 (condition on X, the rows) or -1 (on Y, the columns), got {given!r}")
    t, _, torch_out = _prepare_joint(pxy, normalize)
    marginal = t.sum(-1 if given == -2 else -2, keepdim=True)  # p(x) as (..., X, 1) or p(y) as (..., 1, Y)
    ratio = torch.where(t > 0, t / marginal, 1.0)
    h = -torch.xlogy(t, ratio).sum((-2, -1))
    return from_tensor(h / _log_base(base), torch_out)


def mutual_information(pxy, *, base=None, normalize=False):
    """Mutual information I(X; Y) = KL(p(x, y) ‖ p(x) p(y)) of a table over the last two axes.

    I(X; Y) = Σ_{x,y} p(x, y) log(p(x, y) / (p(x) p(y))) ≥ 0, zero exactly when X and Y
    are independent (the table is an outer product). Computed with the same
    non-negative-term KL as :func:`kl_divergence`, so near-independence keeps accuracy.

    Args:
        pxy: joint probabilities, shape (..., |X|, |Y|).
        base, normalize: as in :func:`entropy`.

    Returns:
        The batch shape (...).

    Reference: Cover & Thomas (2006), eq. 2.28.

    >>> round(float(mutual_information([[0.5, 0.0], [0.0, 0.5]], base=2)), 12)  # Y = X: one bit
    1.0
    """
    t, has_zero, torch_out = _prepare_joint(pxy, normalize)
    product = t.sum(-1, keepdim=True) * t.sum(-2, keepdim=True)  # p(x) p(y), (..., X, Y)
    mi = _kl_terms(t, product, has_zero or bool((product.detach() == 0).any())).sum((-2, -1))
    mi = _textbook_gradient(mi, t, product, (-2, -1))
    return from_tensor(mi / _log_base(base), torch_out)
