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
``requires_grad``), entropy, cross-entropy, KL and Jensen–Shannon of probabilities run as NumPy
ufuncs on the same memory, in row chunks that are validated and measured while in cache, on as
many threads as ``torch.get_num_threads()`` (the CPUs the process may use while torch is not
loaded); NumPy's float64 log is about 3× faster than torch's on CPU. NumPy and list input never
import torch, so a script or command that measures arrays starts at once. Tensors that require
grad, other devices, ``logits=True`` and distribution objects use torch.

The NumPy path lives in `klvae.measures._numpy_path` and `._numpy_kernels`, the torch path in
`klvae.measures._discrete_torch`, the argument checks both paths share in `klvae.measures._checks`.
"""

from __future__ import annotations

import importlib
import math

import numpy as np

from klvae.measures._numpy_kernels import cross_entropy_rows, entropy_rows, js_rows, kl_rows
from klvae.measures._numpy_path import answer, array_inputs, is_plain, log_base, numpy_rows

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


def _tensors():
    """The torch path, `klvae.measures._discrete_torch`, imported on the first input that needs it
    (a tensor, logits, a distribution object): NumPy and list input never start torch."""
    return importlib.import_module("klvae.measures._discrete_torch")


def _on_arrays(kernel, values, names, axis, normalize, logits):
    """(row sums of `kernel`, the answer's dtype) for NumPy or list probabilities; None for input
    the torch path takes."""
    if logits or not is_plain(*values):
        return None
    inputs = array_inputs(values, names, axis)
    return numpy_rows(kernel, inputs.arrays, names, inputs.axis, normalize, inputs.tols), inputs.out_dtype


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
    got = _on_arrays(entropy_rows, (p,), ("p",), axis, normalize, logits)
    if got is None:
        return _tensors().entropy(p, base=base, axis=axis, normalize=normalize, logits=logits, exact=exact)
    return answer(got[0] / log_base(base) + 0.0, got[1])  # + 0.0 turns -0.0 into 0.0


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
    got = _on_arrays(cross_entropy_rows, (p, q), ("p", "q"), axis, normalize, logits)
    if got is None:
        return _tensors().cross_entropy(p, q, base=base, axis=axis, normalize=normalize, logits=logits, exact=exact)
    return answer(got[0] / log_base(base), got[1])


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
    got = _on_arrays(kl_rows, (p, q), ("p", "q"), axis, normalize, logits)
    if got is None:
        return _tensors().kl_divergence(p, q, base=base, axis=axis, normalize=normalize, logits=logits, exact=exact)
    return answer(got[0] / log_base(base), got[1])


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
    got = _on_arrays(js_rows, (p, q), ("p", "q"), axis, normalize, logits)
    if got is None:
        return _tensors().js_divergence(p, q, base=base, axis=axis, normalize=normalize, logits=logits, exact=exact)
    return answer(got[0] * (0.5 / log_base(base)), got[1])


def js_distance(p, q, *, base=None, axis=-1, normalize=False, logits=False):
    """Jensen–Shannon distance √JS(p, q), a metric on distributions.

    Same as ``scipy.spatial.distance.jensenshannon`` except that scipy silently
    normalizes its inputs (here that needs `normalize=True`). The gradient is infinite
    at p = q. Arguments as in :func:`js_divergence`.

    Reference: Endres & Schindelin (2003), "A new metric for probability distributions".

    >>> float(js_distance([1.0, 0.0], [0.0, 1.0], base=2))
    1.0
    """
    got = _on_arrays(js_rows, (p, q), ("p", "q"), axis, normalize, logits)
    if got is None:
        return _tensors().js_distance(p, q, base=base, axis=axis, normalize=normalize, logits=logits)
    return answer(np.sqrt(got[0] * (0.5 / log_base(base))), got[1])


# ------------------------------------------------------------------ binary cross-entropy


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
    return _tensors().binary_cross_entropy(target, prob, base=base, reduction=reduction)


def binary_cross_entropy_with_logits(target, logits, *, base=None, reduction="none"):
    """Binary cross-entropy from a logit z (p = sigmoid(z)), elementwise.

    −[y log σ(z) + (1 − y) log(1 − σ(z))] = softplus(z) − y·z, computed as
    max(z, 0) − y·z + log1p(exp(−|z|)) so it never overflows. Arguments and `reduction`
    as in :func:`binary_cross_entropy`; `logits` may be any finite real.

    Reference: the stable form used by ``torch.nn.BCEWithLogitsLoss``.

    >>> float(binary_cross_entropy_with_logits(1.0, 0.0, base=2))  # sigmoid(0) = 1/2
    1.0
    """
    return _tensors().binary_cross_entropy_with_logits(target, logits, base=base, reduction=reduction)
