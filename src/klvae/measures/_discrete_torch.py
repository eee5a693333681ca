"""The torch path of `klvae.measures.discrete`, `.jensen_shannon` and `.binary`: tensors (any device,
autograd kept), logits and distribution objects. Those modules import it on the first input that needs it, so
NumPy and list input never start torch; CPU tensors without gradient still take the NumPy row
kernels (`cpu_rows`), on as many threads as ``torch.get_num_threads()``.
"""

from __future__ import annotations

import math

import torch

from klvae.measures._checks import broadcast_elementwise, convert, finish, prepare, validate
from klvae.measures._kernels import (
    js_terms,
    js_terms_log,
    kl_terms,
    kl_terms_log,
)
from klvae.measures._logits import log_prob_difference
from klvae.measures._numpy_kernels import entropy_rows, js_rows, kl_rows
from klvae.measures._numpy_path import log_base, numpy_rows
from klvae.measures._partials import textbook_gradient
from klvae.measures.arrays import from_tensor, is_torch, rowwise, to_tensors
from klvae.measures.distribution_measures import distribution_measure, is_distribution

_REDUCTIONS = ("none", "sum", "mean")


def numpy_path_ok(tensors, logits) -> bool:
    """True when the NumPy row kernels may take `tensors`: probabilities, CPU float32/64, no autograd."""
    return not logits and all(
        t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and not t.requires_grad for t in tensors
    )


def cpu_rows(kernel, tensors, names, axis, normalize, tols):
    """`numpy_rows` of CPU tensors (`numpy_path_ok`) on their own memory, as a tensor."""
    arrays = [t.numpy() for t in tensors]
    return torch.from_numpy(numpy_rows(kernel, arrays, names, axis, normalize, tols, torch.get_num_threads()))


def entropy(p, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    """`klvae.measures.discrete.entropy` on tensors and distribution objects."""
    if is_distribution(p):  # a distribution object: klvae.measures.distribution_measures
        return distribution_measure("entropy", p, base=base, exact=exact)
    inputs = convert((p,), ("p",), axis)
    tensors, axis = inputs.tensors, inputs.axis
    if numpy_path_ok(tensors, logits):
        h = cpu_rows(entropy_rows, tensors, ("p",), axis, normalize, inputs.tols)
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
    """`klvae.measures.discrete.cross_entropy` on tensors and distribution objects."""
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
    """`klvae.measures.discrete.kl_divergence` on tensors and distribution objects."""
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("kl", p, q, base=base, exact=exact)
    inputs = convert((p, q), ("p", "q"), axis)
    tensors, axis = inputs.tensors, inputs.axis
    if numpy_path_ok(tensors, logits):
        return finish(cpu_rows(kl_rows, tensors, ("p", "q"), axis, normalize, inputs.tols) / log_base(base), inputs)
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
    if numpy_path_ok(tensors, logits):
        return cpu_rows(js_rows, tensors, ("p", "q"), axis, normalize, inputs.tols), inputs
    (tp, tq), has_zero = validate(tensors, ("p", "q"), axis, normalize, logits, inputs.tols)
    if logits:
        return js_terms_log(tp, tq, has_zero, log_prob_difference(*tensors, tp, tq, axis)).sum(axis), inputs
    return rowwise(lambda a, b: js_terms(a, b, has_zero).sum(axis), [tp, tq], axis), inputs


def js_divergence(p, q, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    """`klvae.measures.jensen_shannon.js_divergence` on tensors and distribution objects."""
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("js", p, q, base=base, exact=exact)
    js, inputs = _js_sum(p, q, axis, normalize, logits)
    return finish(js * (0.5 / log_base(base)), inputs)


def js_distance(p, q, *, base=None, axis=-1, normalize=False, logits=False):
    """`klvae.measures.jensen_shannon.js_distance` on tensors."""
    js, inputs = _js_sum(p, q, axis, normalize, logits)
    return finish(torch.sqrt(js * (0.5 / log_base(base))), inputs)


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
    """`klvae.measures.binary.binary_cross_entropy`, for every input."""
    _check_reduction(reduction)
    torch_out = is_torch(target, prob)
    y, p = to_tensors(target, prob, names=("target", "prob"))
    y, p = broadcast_elementwise(y, p, ("target", "prob"))
    _check_unit_interval(y, "target")
    _check_unit_interval(p, "prob")
    loss = -(torch.xlogy(y, p) + torch.special.xlog1py(1 - y, -p))
    return from_tensor(_reduce(loss, reduction) / log_base(base), torch_out)


def binary_cross_entropy_with_logits(target, logits, *, base=None, reduction="none"):
    """`klvae.measures.binary.binary_cross_entropy_with_logits`, for every input."""
    _check_reduction(reduction)
    torch_out = is_torch(target, logits)
    y, z = to_tensors(target, logits, names=("target", "logits"))
    y, z = broadcast_elementwise(y, z, ("target", "logits"))
    _check_unit_interval(y, "target")
    if not bool(torch.isfinite(z.detach()).all()):
        raise ValueError("logits has NaN or infinite entries")
    loss = z.clamp_min(0) - y * z + torch.log1p(torch.exp(-z.abs()))
    return from_tensor(_reduce(loss, reduction) / log_base(base), torch_out)
