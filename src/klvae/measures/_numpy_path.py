"""The NumPy path of `klvae.measures.discrete`: entropy, KL and Jensen–Shannon of probabilities on CPU.

For CPU input that needs no gradient (NumPy arrays, lists, CPU tensors without
``requires_grad``), these measures run as NumPy ufuncs on the same memory: NumPy's SIMD
float64 log is ~3× faster than torch's here, and NumPy releases the GIL, so row chunks
run on a small thread pool. Chunks are cache-sized (`CHUNK` elements), and each is read
once: the validation reductions (min, row sums) and the measure are computed while it is
in cache, so checking the input costs no extra pass over memory.

The row kernels (`entropy_rows`, `kl_rows`, `js_rows`) live in `klvae.measures._kernels` beside
their torch twins, with the same series near p = q; the tests check the two paths against each
other, scipy and mpmath. When the fused checks flag an argument, the torch check (`check_probs`)
gives the verdict and its message. Torch keeps autograd, other devices and logits.
"""

from __future__ import annotations

import functools
import math
import os
import queue
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from klvae.measures._checks import check_probs
from klvae.measures.arrays import CHUNK


def numpy_path_ok(tensors, logits) -> bool:
    """True when the NumPy path may take `tensors`: probabilities, CPU float32/64, no autograd."""
    return not logits and all(
        t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and not t.requires_grad for t in tensors
    )


def _pool() -> ThreadPoolExecutor | None:
    """The NumPy path's chunk workers: as many as torch's intra-op threads (None for one)."""
    return _pool_of(min(torch.get_num_threads(), os.cpu_count() or 1), os.getpid())


@functools.cache
def _pool_of(workers: int, pid: int) -> ThreadPoolExecutor | None:
    # keyed by pid too: a forked child has the executor object but none of its threads
    return ThreadPoolExecutor(workers, thread_name_prefix="klvae-info") if workers > 1 else None


def numpy_rows(kernel, tensors, names, axis, normalize, tols=None):
    """kernel(*chunks, has_zero, work) over row chunks of validated probabilities.

    Returns the batch-shaped result, or None when the validation reductions flag an
    argument that the torch check then accepts (a row sum within rounding of the
    tolerance), so that the caller takes the torch path and its verdict.
    """
    arrays = [np.moveaxis(t.numpy(), axis, -1) for t in tensors]
    batch, k = arrays[0].shape[:-1], arrays[0].shape[-1]
    flats = [a.reshape(-1, k) for a in arrays]  # a view for the usual layouts
    dtype, n = flats[0].dtype, flats[0].shape[0]
    if n == 0:
        return torch.from_numpy(np.empty(batch, dtype=dtype))
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
            return  # reported below by the torch check
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

    pool = _pool() if len(starts) > 1 else None
    if pool is None:
        for i, s in enumerate(starts):
            guarded(i, s)
    else:
        list(pool.map(guarded, range(len(starts)), starts))

    for j, (t, name) in enumerate(zip(tensors, names)):
        tol = math.sqrt(np.finfo(dtype).eps) if tols is None else tols[j]
        low, s = np.min(lows[:, j]), sums[j]  # np.min propagates NaN
        bad = not (low >= 0) or not np.isfinite(s).all()
        bad = bad or (bool((s == 0).any()) if normalize else float(np.abs(s - 1).max()) > tol)
        if bad:
            check_probs(t, name, axis, normalize, tol)  # raises with the message naming what is wrong
            return None
    return torch.from_numpy(out.reshape(batch))
