"""The NumPy path of `klvae.measures.discrete` and `.jensen_shannon`: entropy, cross-entropy, KL and
Jensen–Shannon on CPU.

For CPU input that needs no gradient (NumPy arrays, lists, CPU tensors without
``requires_grad``), these measures run as NumPy ufuncs on the same memory: NumPy's SIMD
float64 log is ~3× faster than torch's here, and NumPy releases the GIL, so row chunks
run on a small thread pool. Chunks are cache-sized (`CHUNK` elements), and each is read
once: the validation reductions (min, row sums) and the measure are computed while it is
in cache, so checking the input costs no extra pass over memory.

This module imports NumPy only, so NumPy and list input never start torch: it reads such input
(`array_inputs`, `on_arrays`; `discrete_torch` imports the torch path for the rest) and holds the
checks whose messages both paths give, word for word (`log_base`, `check_axes`, `outcome_shape`,
`probs_fault`, `numeric_array`); `klvae.measures._checks` builds the torch checks on them. The row
kernels are `klvae.measures._numpy_kernels`'. Torch keeps autograd, other devices and logits.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
import queue
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from klvae.measures._numpy_kernels import CHUNK

# ----------------------------------------------------------------------------- checks both paths share


def log_base(base) -> float:
    """ln(base), or 1 for nats; ValueError for anything but a positive number other than 1."""
    if base is None:
        return 1.0
    try:
        b = float(base)
    except (TypeError, ValueError):
        raise ValueError(f"base must be a positive number other than 1, got {base!r}") from None
    if not (b > 0 and math.isfinite(b)) or b == 1:
        raise ValueError(f"base must be a positive number other than 1, got {base!r}")
    return math.log(b)


def check_axes(axis, shape):
    """`axis` (an integer or a tuple of them) made non-negative for inputs of `shape`, or None;
    ValueError naming what is wrong, in the same words for every measure."""
    if axis is None:
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    ndim = max(len(shape), 1)  # as torch: a 0-d tensor has the axis 0 (or −1)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int):
            raise ValueError(f"axis must be an integer, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for {len(shape)}-d inputs of shape {tuple(shape)}")
        out.append(a % ndim)
    if len(set(out)) < len(out):
        raise ValueError(f"axis {axis!r} names an axis twice")
    return tuple(out) if isinstance(axis, tuple) else out[0]


def outcome_shape(shapes, names, axis) -> tuple[tuple[int, ...], int]:
    """The broadcast shape of distribution arguments of `shapes` and their outcome axis, made
    non-negative; ValueError when they do not broadcast, or not along the outcome axis."""
    try:
        shape = tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        listed = " and ".join(f"{n} {tuple(s)}" for n, s in zip(names, shapes))
        raise ValueError(f"shapes do not broadcast: {listed}") from None
    if len(shape) == 0:
        raise ValueError(f"{' and '.join(names)} must have at least 1 dimension (the outcomes), got a scalar")
    if isinstance(axis, tuple):
        raise ValueError(f"axis must be an integer, got {axis!r}")
    axis = check_axes(axis, shape)
    for s, n in zip(shapes, names):
        own = len(s) - len(shape) + axis  # the outcome axis in the argument's own dimensions
        if shape[axis] != 1 and (own < 0 or s[own] != shape[axis]):
            k = "no" if own < 0 else s[own]
            raise ValueError(
                f"{n} has {k} outcomes along axis {axis - len(shape)} where the others have "
                f"{shape[axis]}: distributions do not broadcast along the outcome axis"
            )
    if shape[axis] == 0:
        raise ValueError(f"axis {axis} has length 0: a distribution needs at least one outcome")
    return shape, axis


def probs_fault(name, x, low, sums, normalize, tol) -> str | None:
    """What is wrong with probability rows `x` (NumPy or torch, no gradient), given their least
    entry `low` (NaN when any is) and their row `sums`; None when they are probabilities.

    The reductions decide when all is well; the entries are scanned only to name a fault.
    """
    if not (math.isfinite(float(low)) and bool((abs(sums) < math.inf).all())):
        if bool((x != x).any()):
            return f"{name} has NaN entries"
        if bool((x < 0).any()):
            return f"{name} has negative entries"
        if bool((abs(x) == math.inf).any()):
            return f"{name} has infinite entries"
        return f"{name} rows overflow when summed"
    if low < 0:
        return f"{name} has negative entries"
    if normalize:
        return f"{name} has a row of zeros, which cannot be normalized" if bool((sums == 0).any()) else None
    dev = float(abs(sums - 1).max())
    if dev > tol:
        return f"{name} rows must sum to 1 (max deviation {dev:.3g}); pass normalize=True to rescale"
    return None


def numeric_array(value, name: str) -> np.ndarray:
    """`value` as a NumPy array of numbers (booleans, integers, floats), else ValueError naming `name`."""
    a = np.asarray(value)
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got an array of dtype {a.dtype}")
    return a


def array_tolerance(value) -> float:
    """√eps of the floating dtype `value` arrives in (float64 for lists and integers)."""
    np_dtype = getattr(value, "dtype", None)
    if np_dtype is not None and np.dtype(np_dtype).kind == "f":
        return math.sqrt(float(np.finfo(np_dtype).eps))
    return math.sqrt(float(np.finfo(np.float64).eps))


# ----------------------------------------------------------------------------- NumPy and list input


class ArrayInputs(NamedTuple):
    """Distribution arguments read by `array_inputs`."""

    arrays: list  # float64, one shape (broadcast views)
    axis: int  # the outcome axis, non-negative
    tols: tuple  # per argument: √eps of the dtype it arrived in, its row-sum tolerance
    out_dtype: np.dtype  # the dtype of the answer


def is_plain(*values) -> bool:
    """True when every value is NumPy or Python numbers (not a tensor or a distribution object)."""
    return all(isinstance(v, (np.ndarray, np.generic, list, tuple, int, float)) for v in values)


def array_inputs(values, names, axis) -> ArrayInputs:
    """NumPy and list input as the torch path reads it: numbers, one floating dtype (plain numbers
    follow the arrays'; integers become float64), computed in float64, broadcast with their axis."""
    raw = [numeric_array(v, n) for v, n in zip(values, names)]
    floats = [a if a.dtype.kind == "f" else a.astype(np.float64) for a in raw]
    arrays = [a for a in floats if a.ndim] or floats
    out_dtype = functools.reduce(np.promote_types, (a.dtype for a in arrays))
    shape, axis = outcome_shape([a.shape for a in floats], names, axis)
    wide = [np.broadcast_to(a.astype(np.float64, copy=False), shape) for a in floats]
    return ArrayInputs(wide, axis, tuple(array_tolerance(v) for v in values), out_dtype)


def answer(value: np.ndarray, out_dtype):
    """The answer in the input's dtype; 0-d as a NumPy scalar, as scipy gives it."""
    a = np.asarray(value).astype(out_dtype, copy=False)
    return a[()] if a.ndim == 0 else a


# ----------------------------------------------------------------------------- the rows


def default_workers() -> int:
    """Chunk workers: torch's intra-op threads when torch is loaded, else the CPUs this process has."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _pool(workers: int) -> ThreadPoolExecutor | None:
    """The NumPy path's chunk workers (None for one)."""
    return _pool_of(min(workers, os.cpu_count() or 1), os.getpid())


@functools.cache
def _pool_of(workers: int, pid: int) -> ThreadPoolExecutor | None:
    # keyed by pid too: a forked child has the executor object but none of its threads
    return ThreadPoolExecutor(workers, thread_name_prefix="klvae-info") if workers > 1 else None


def numpy_rows(kernel, arrays, names, axis, normalize, tols=None, workers=None):
    """kernel(*chunks, has_zero, work) over row chunks of validated probabilities (float32/64
    arrays of one shape), on `workers` threads (`default_workers()` when None).

    Returns the batch-shaped result; ValueError naming the argument when one is not probabilities
    (`probs_fault`, from the reductions the chunks computed).
    """
    arrays = [np.moveaxis(np.asarray(a), axis, -1) for a in arrays]
    batch, k = arrays[0].shape[:-1], arrays[0].shape[-1]
    flats = [a.reshape(-1, k) for a in arrays]  # a view for the usual layouts
    dtype, n = flats[0].dtype, flats[0].shape[0]
    if n == 0:
        return np.empty(batch, dtype=dtype)
    step = min(n, max(1, CHUNK // k))
    starts = range(0, n, step)
    out = np.empty(n, dtype=dtype)
    lows = np.empty((len(starts), len(flats)), dtype=dtype)
    sums = np.empty((len(flats), n), dtype=dtype)
    # Per-thread scratch, reused chunk after chunk: a fresh 1 MB temporary per ufunc costs
    # more in page faults than the arithmetic done on it.
    spare = queue.SimpleQueue()

    def run(i, start, work):
        rows = slice(start, start + step)
        chunks = [f[rows] for f in flats]
        for j, c in enumerate(chunks):
            lows[i, j] = c.min()
            c.sum(-1, out=sums[j, rows])
        row_sums = sums[:, rows]
        if not (lows[i] >= 0).all() or not np.isfinite(row_sums).all():
            return  # reported below
        work = [w[: len(chunks[0])] for w in work]
        if normalize:
            if (row_sums == 0).any():
                return
            chunks = [np.divide(c, s[:, None], out=w) for c, s, w in zip(chunks, row_sums, work[-2:])]
        out[rows] = kernel(*chunks, has_zero=bool((lows[i] == 0).any()), work=work)

    def guarded(i, start):  # log 0, 0/0 and overflowing sums are handled, not warned about
        try:
            work = spare.get_nowait()
        except queue.Empty:
            work = [np.empty((step, k), dtype=bool)] + [np.empty((step, k), dtype=dtype) for _ in range(6)]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            run(i, start, work)
        spare.put(work)

    pool = _pool(default_workers() if workers is None else workers) if len(starts) > 1 else None
    if pool is None:
        for i, s in enumerate(starts):
            guarded(i, s)
    else:
        list(pool.map(guarded, range(len(starts)), starts))

    for j, (flat, name) in enumerate(zip(flats, names)):
        tol = math.sqrt(np.finfo(dtype).eps) if tols is None else tols[j]
        fault = probs_fault(name, flat, np.min(lows[:, j]), sums[j], normalize, tol)  # np.min propagates NaN
        if fault is not None:
            raise ValueError(fault)
    return out.reshape(batch)


def probability_rows(inputs: ArrayInputs, names, normalize) -> list:
    """The arrays of `inputs` checked as probability rows along their axis (rescaled to sum to 1
    when `normalize`); ValueError in the words of the torch check."""
    out = []
    for a, name, tol in zip(inputs.arrays, names, inputs.tols):
        if a.size == 0:
            out.append(a)
            continue
        sums = a.sum(inputs.axis, keepdims=True)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN and overflow: the fault names them
            fault = probs_fault(name, a, a.min(), sums, normalize, tol)
        if fault is not None:
            raise ValueError(fault)
        out.append(a / sums if normalize else a)
    return out


def discrete_torch():
    """The torch path, `klvae.measures._discrete_torch`, imported on the first input that needs it
    (a tensor, logits, a distribution object): NumPy and list input never start torch."""
    module = sys.modules.get("klvae.measures._discrete_torch")  # after the first call: no import machinery
    return module if module is not None else importlib.import_module("klvae.measures._discrete_torch")


def on_arrays(kernel, values, names, axis, normalize, logits):
    """(row sums of `kernel`, the answer's dtype) for NumPy or list probabilities; None for input
    the torch path takes."""
    if logits or not is_plain(*values):
        return None
    inputs = array_inputs(values, names, axis)
    return numpy_rows(kernel, inputs.arrays, names, inputs.axis, normalize, inputs.tols), inputs.out_dtype
