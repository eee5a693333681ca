"""The argument checks every measure shares, so a bad argument gets the same message everywhere.

Distribution arguments (`klvae.measures.discrete`, `.divergences`, `.joint`, `.wasserstein`) are
converted, broadcast and validated as probabilities or logits here (`convert`, `validate`,
`prepare`, `finish`); the logarithm base (`log_base`), the axis and the shape and probability
checks whose messages these share stand in `klvae.measures._numpy_path`, which imports no torch,
so that NumPy input gets the same words without it. The Gaussian closed forms
(`klvae.measures.gaussian`, `.mvn`, `.lowrank`) check their parameters with `check_positive`,
`check_no_nan`, `check_result` and `broadcast_named`, whose messages name the argument and the
batch index at fault.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from klvae.measures._logits import log_softmax
from klvae.measures._numpy_path import array_tolerance, outcome_shape, probs_fault
from klvae.measures.arrays import from_tensor, is_torch, to_tensors

# ----------------------------------------------------------------------------- distributions


def broadcast_shapes(*shapes) -> torch.Size:
    """`torch.broadcast_shapes` without its symbolic-shape machinery, which costs more than a
    4096-element closed form; a RuntimeError, as torch's, where the shapes do not broadcast."""
    ndim = max(map(len, shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, size in enumerate(shape, ndim - len(shape)):
            if size != 1 and out[i] != size:
                if out[i] != 1:
                    raise RuntimeError(f"shapes {[tuple(s) for s in shapes]} do not broadcast")
                out[i] = size
    return torch.Size(out)


def broadcast(tensors, names, axis):
    """Expand `tensors` to one shape (views) and return them with `axis` made non-negative."""
    shape, axis = outcome_shape([t.shape for t in tensors], names, axis)
    return [t.expand(shape) for t in tensors], axis


def broadcast_elementwise(a, b, names):
    """Expand `a` and `b` to their common shape (views); `names` name them in the error."""
    try:
        shape = broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(
            f"shapes do not broadcast: {names[0]} {tuple(a.shape)} and {names[1]} {tuple(b.shape)}"
        ) from None
    return a.expand(shape), b.expand(shape)


def check_probs(t, name, axis, normalize, tol=None):
    """Validate probability rows along `axis` with two reductions; return (rows, has_zero).

    Rows must sum to 1 within `tol` (default √eps of `t`'s dtype). One global min (NaN propagates
    through it) and the row sums (finite exactly when every entry is, once the min is ≥ 0) replace
    separate isnan/isinf/negativity passes; `probs_fault` words what is wrong.
    """
    if t.numel() == 0:  # an empty batch of rows
        return t, False
    low = t.detach().amin()
    sums = t.sum(axis, keepdim=True)
    tol = math.sqrt(torch.finfo(t.dtype).eps) if tol is None else tol
    fault = probs_fault(name, t.detach(), low, sums.detach(), normalize, tol)
    if fault is not None:
        raise ValueError(fault)
    return (t / sums if normalize else t), bool(low == 0)


def check_logits(t, name, axis):
    """Validate logits rows along `axis`; return (log-probabilities, has_neg_inf)."""
    row_max = t.detach().amax(axis)
    if bool(torch.isnan(row_max).any()):
        raise ValueError(f"{name} logits have NaN entries")
    if bool((row_max == math.inf).any()):
        raise ValueError(f"{name} logits have +inf entries")
    if bool((row_max == -math.inf).any()):
        raise ValueError(f"{name} logits have a row that is all -inf (no outcome has probability > 0)")
    logp = log_softmax(t, axis)
    return logp, bool(torch.isinf(logp.detach()).any())


class Inputs(NamedTuple):
    """Distribution arguments after `convert`."""

    tensors: list  # one dtype and shape (broadcast views)
    axis: int  # the outcome axis, non-negative
    torch_out: bool  # answer as a tensor (any input was one) or as NumPy
    tols: tuple  # per argument: √eps of the dtype it arrived in, its row-sum tolerance
    out_dtype: torch.dtype  # the dtype of the answer


def own_tolerance(value) -> float:
    """√eps of the floating dtype `value` arrives in (float64 for lists and integers)."""
    if isinstance(value, torch.Tensor):
        dtype = value.dtype if value.is_floating_point() else torch.get_default_dtype()
        return math.sqrt(torch.finfo(dtype).eps)
    return array_tolerance(value)


def convert(values, names, axis) -> Inputs:
    """Tensors of one dtype and shape, the non-negative axis, and how to give the answer.

    Each argument keeps the row-sum tolerance of its own dtype, so a float32 row that sums
    to 1 within float32 rounding passes beside a float64 one. NumPy (and list) input of
    less than float64 precision is computed in float64 and answered in its own dtype.
    """
    torch_out = is_torch(*values)
    tensors = to_tensors(*values, names=names)
    tols = tuple(own_tolerance(v) for v in values)
    out_dtype = tensors[0].dtype
    if not torch_out and out_dtype != torch.float64:
        tensors = [t.to(torch.float64) for t in tensors]
    tensors, axis = broadcast(tensors, names, axis)
    return Inputs(tensors, axis, torch_out, tols, out_dtype)


def finish(value: torch.Tensor, inputs: Inputs):
    """The answer in the kind (NumPy or torch) and dtype the inputs asked for."""
    return from_tensor(value.to(inputs.out_dtype), inputs.torch_out)


def prepare(values, names, axis, normalize, logits):
    """Convert, broadcast and validate distribution arguments.

    Returns (rows, has_zero, inputs): probabilities (or log-probabilities when `logits`),
    whether any entry is zero (-inf), and the `Inputs` of `convert`.
    """
    inputs = convert(values, names, axis)
    rows, has_zero = validate(inputs.tensors, names, inputs.axis, normalize, logits, inputs.tols)
    return rows, has_zero, inputs


def validate(tensors, names, axis, normalize, logits, tols=None):
    """Checked rows (probabilities, or log-probabilities when `logits`) and whether any is 0."""
    out, has_zero = [], False
    for i, (t, n) in enumerate(zip(tensors, names)):
        if logits:
            r, z = check_logits(t, n, axis)
        else:
            r, z = check_probs(t, n, axis, normalize, None if tols is None else tols[i])
        out.append(r)
        has_zero |= z
    return out, has_zero


# ----------------------------------------------------------------------------- parameters
# Messages name the argument and the (batch) index at fault.


def at_indices(mask: torch.Tensor, what: str = "index") -> str:
    """' at index (i, j)' naming the failing positions of a boolean mask (first four)."""
    if mask.dim() == 0:
        return ""
    bad = [tuple(i) for i in mask.nonzero().tolist()]
    label = what if len(bad) == 1 else what.replace("index", "indices")
    shown = ", ".join(str(i) for i in bad[:4])
    more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
    return f" at {label} {shown}{more}"


def check_no_nan(name: str, t: torch.Tensor) -> None:
    nan = torch.isnan(t.detach())
    if nan.any():
        raise ValueError(f"{name} contains NaN{at_indices(nan)}")


def check_positive(name: str, t: torch.Tensor) -> None:
    """Positive and finite (NaN fails too); one read-only pass when the data are fine."""
    t = t.detach()
    if t.numel() == 0:
        return
    lo, hi = torch.aminmax(t)
    if lo > 0 and hi < math.inf:
        return
    check_no_nan(name, t)
    bad = t <= 0
    if bad.any():
        raise ValueError(f"{name} must be positive, got {t[bad][0].item():g}{at_indices(bad)}")
    raise ValueError(f"{name} must be finite, got inf{at_indices(torch.isinf(t))}")


def check_result(result: torch.Tensor, inputs: dict[str, torch.Tensor]) -> None:
    """A NaN result means a NaN (or inf - inf) input: say which one."""
    if not torch.isnan(result.detach()).any():
        return
    for name, t in inputs.items():
        check_no_nan(name, t)
    names = ", ".join(inputs)
    raise ValueError(f"the result is NaN: infinite values among {names} cancel (inf - inf)")


def broadcast_named(shapes: dict[str, tuple[int, ...]], what: str = "shapes") -> torch.Size:
    try:
        return broadcast_shapes(*shapes.values())
    except RuntimeError:
        listed = ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())
        raise ValueError(f"{what} do not broadcast: {listed}") from None


def check_finite(name: str, t: torch.Tensor) -> None:
    """No NaN and no ±inf in `t`, else ValueError naming `name` and the first indices."""
    t = t.detach()
    bad = ~torch.isfinite(t)
    if bad.any():
        check_no_nan(name, t)
        raise ValueError(f"{name} must be finite, got {t[bad][0].item():g}{at_indices(bad)}")


# ----------------------------------------------------------------------------- sample estimators
# Samples are (n, d) tensors; counts (k, permutations, projections) are positive integers.


def check_count(value, name: str, minimum: int = 1) -> int:
    """`value` as an int ≥ `minimum`, else ValueError naming `name` (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def check_samples(t: torch.Tensor, name: str) -> torch.Tensor:
    """(n, d) view of finite samples `t` ((n,) means n scalars), else ValueError naming `name`."""
    if t.dim() == 1:
        t = t[:, None]
    if t.dim() != 2:
        raise ValueError(f"{name} must be (n, d) samples, got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one sample of at least one coordinate, got shape {tuple(t.shape)}")
    check_finite(name, t)
    return t
