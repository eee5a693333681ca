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
"""

from __future__ import annotations

import functools
import math
import os
import queue
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from klvae._tensor import from_tensor, is_torch, to_tensors

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

_CHUNK = 1 << 17  # elements per chunk: temporaries stay in cache and are reused by malloc
_SERIES_AT = 0.05  # below this |x|, the Taylor series replaces the cancelling closed form
_REDUCTIONS = ("none", "sum", "mean")


# ----------------------------------------------------------------------------- checks


def _log_base(base) -> float:
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


def unit_name(base=None) -> str:
    """The unit of a result computed with `base`: 'nats', 'bits', 'dits' or 'base-b units'."""
    _log_base(base)
    if base is None or float(base) == math.e:
        return "nats"
    return {2.0: "bits", 10.0: "dits"}.get(float(base), f"base-{float(base):g} units")


def _broadcast(tensors, names, axis):
    """Expand `tensors` to one shape (views) and return them with `axis` made non-negative."""
    try:
        shape = torch.broadcast_shapes(*(t.shape for t in tensors))
    except RuntimeError:
        shapes = " and ".join(f"{n} {tuple(t.shape)}" for n, t in zip(names, tensors))
        raise ValueError(f"shapes do not broadcast: {shapes}") from None
    if len(shape) == 0:
        raise ValueError(f"{' and '.join(names)} must have at least 1 dimension (the outcomes), got a scalar")
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"axis must be an integer, got {axis!r}")
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"axis {axis} is out of range for {len(shape)}-d inputs of shape {tuple(shape)}")
    axis %= len(shape)
    if shape[axis] == 0:
        raise ValueError(f"axis {axis} has length 0: a distribution needs at least one outcome")
    return [t.expand(shape) for t in tensors], axis


def _check_probs(t, name, axis, normalize):
    """Validate probability rows along `axis` with two reductions; return (rows, has_zero).

    One global min (NaN propagates through it) and the row sums (finite exactly when every
    entry is, once the min is ≥ 0) replace separate isnan/isinf/negativity passes.
    """
    if t.numel() == 0:  # an empty batch of rows
        return t, False
    low = t.detach().amin()
    sums = t.sum(axis, keepdim=True)
    sums_d = sums.detach()
    if not (bool(torch.isfinite(low)) and bool(torch.isfinite(sums_d).all())):
        td = t.detach()
        if bool(torch.isnan(td).any()):
            raise ValueError(f"{name} has NaN entries")
        if bool((td < 0).any()):
            raise ValueError(f"{name} has negative entries")
        if bool(torch.isinf(td).any()):
            raise ValueError(f"{name} has infinite entries")
        raise ValueError(f"{name} rows overflow when summed")
    if low < 0:
        raise ValueError(f"{name} has negative entries")
    if normalize:
        if bool((sums_d == 0).any()):
            raise ValueError(f"{name} has a row of zeros, which cannot be normalized")
        return t / sums, bool(low == 0)
    dev = float((sums_d - 1).abs().max())
    if dev > math.sqrt(torch.finfo(t.dtype).eps):
        raise ValueError(
            f"{name} rows must sum to 1 (max deviation {dev:.3g}); pass normalize=True to rescale"
        )
    return t, bool(low == 0)


def _check_logits(t, name, axis):
    """Validate logits rows along `axis`; return (log-probabilities, has_neg_inf)."""
    row_max = t.detach().amax(axis)
    if bool(torch.isnan(row_max).any()):
        raise ValueError(f"{name} logits have NaN entries")
    if bool((row_max == math.inf).any()):
        raise ValueError(f"{name} logits have +inf entries")
    if bool((row_max == -math.inf).any()):
        raise ValueError(f"{name} logits have a row that is all -inf (no outcome has probability > 0)")
    logp = torch.log_softmax(t, axis)
    return logp, bool(torch.isinf(logp.detach()).any())


def _prepare(values, names, axis, normalize, logits):
    """Convert, broadcast and validate distribution arguments.

    Returns (rows, has_zero, axis, torch_out): probabilities (or log-probabilities when
    `logits`), whether any entry is zero (-inf), the non-negative axis, the output kind.
    """
    tensors, axis, torch_out = _convert(values, names, axis)
    return (*_validate(tensors, names, axis, normalize, logits), axis, torch_out)


def _convert(values, names, axis):
    """Tensors of one dtype and shape, the non-negative axis, and whether to answer in torch."""
    torch_out = is_torch(*values)
    tensors = to_tensors(*values, names=names)
    tensors, axis = _broadcast(tensors, names, axis)
    return tensors, axis, torch_out


def _validate(tensors, names, axis, normalize, logits):
    """Checked rows (probabilities, or log-probabilities when `logits`) and whether any is 0."""
    out, has_zero = [], False
    for t, n in zip(tensors, names):
        if logits:
            r, z = _check_logits(t, n, axis)
        else:
            r, z = _check_probs(t, n, axis, normalize)
        out.append(r)
        has_zero |= z
    return out, has_zero


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


# g(x) = (1+x) log1p(x) - x = x² Σ_{n≥0} (-x)^n / ((n+2)(n+1))
_G_COEFFS = tuple((-1) ** n / ((n + 2) * (n + 1)) for n in range(14))
# h(s) = (1+s) log1p(s) + (1-s) log1p(-s) = s² Σ_{k≥0} s^{2k} / ((k+1)(2k+1))
_H_COEFFS = tuple(1 / ((k + 1) * (2 * k + 1)) for k in range(8))
# φ(D) = D + expm1(-D) = D² Σ_{n≥0} (-D)^n / (n+2)!
_PHI_COEFFS = tuple((-1) ** n / math.factorial(n + 2) for n in range(16))


def _fix_small(terms, key, fix):
    """Replace terms where |key| < _SERIES_AT by fix(index); only those entries are recomputed."""
    idx = (key.detach().abs() < _SERIES_AT).nonzero(as_tuple=True)
    if idx[0].numel() == 0:
        return terms
    return terms.index_put_(idx, fix(idx))  # in place: no autograd node saved `terms`


# ------------------------------------------------------- NumPy path (CPU, no autograd)
#
# For CPU tensors that need no gradient, entropy, KL and JS run as NumPy ufuncs on the
# same memory: NumPy's SIMD float64 log is ~3× faster than torch's here, and NumPy
# releases the GIL, so row chunks run on a small thread pool. Each chunk is read once:
# the validation reductions (min, row sums) and the measure are computed while it is in
# cache. Torch keeps autograd, other devices and logits.


def _fast(tensors, logits) -> bool:
    """True when the NumPy path may take `tensors`: probabilities, CPU float32/64, no autograd."""
    return not logits and all(
        t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and not t.requires_grad
        for t in tensors
    )


def _pool() -> ThreadPoolExecutor | None:
    """The NumPy path's chunk workers: as many as torch's intra-op threads (None for one)."""
    return _pool_of(min(torch.get_num_threads(), os.cpu_count() or 1), os.getpid())


@functools.cache
def _pool_of(workers: int, pid: int) -> ThreadPoolExecutor | None:
    # keyed by pid too: a forked child has the executor object but none of its threads
    return ThreadPoolExecutor(workers, thread_name_prefix="klvae-info") if workers > 1 else None


def _numpy_rows(kernel, tensors, names, axis, normalize):
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
    step = min(n, max(1, _CHUNK // k))
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

    tol = math.sqrt(np.finfo(dtype).eps)
    for j, (t, name) in enumerate(zip(tensors, names)):
        low, s = np.min(lows[:, j]), sums[j]  # np.min propagates NaN
        bad = not (low >= 0) or not np.isfinite(s).all()
        bad = bad or (bool((s == 0).any()) if normalize else float(np.abs(s - 1).max()) > tol)
        if bad:
            _check_probs(t, name, axis, normalize)  # raises with the message naming what is wrong
            return None
    return torch.from_numpy(out.reshape(batch))


def _horner_np(x, coeffs):
    acc = np.full_like(x, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc *= x
        acc += c
    return acc


def _where(mask):
    """np.nonzero of a C-contiguous 2-d mask, ~10× faster than np.nonzero itself in 2-d."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


# The kernels below get (rows, K) chunks and `work`: a bool buffer, then six float
# buffers, all of the chunk's shape; they use at most the first five entries (the last
# two hold the rescaled rows when normalize=True).


def _entropy_rows(p, has_zero, work):
    """−Σ p log p per row."""
    mask, terms = work[0], work[1]
    np.log(p, out=terms)
    if has_zero:
        np.copyto(terms, 0.0, where=np.equal(p, 0, out=mask))  # 0 log 0 = 0
    terms *= p
    return -terms.sum(-1)


def _kl_rows(p, q, has_zero, work):
    """Σ [p log(p/q) − p + q] per row; as `_kl_terms`."""
    mask, log_ratio, d, terms = work[:4]
    np.log(np.divide(p, q, out=log_ratio), out=log_ratio)
    np.subtract(p, q, out=d)
    np.multiply(p, log_ratio, out=terms)
    terms -= d  # accurate wherever |p/q − 1| is not small
    if has_zero:
        np.copyto(terms, q, where=np.equal(p, 0, out=mask))  # 0 log 0/q − 0 + q; q = 0 gives +inf
    idx = _where(np.less(np.abs(log_ratio, out=log_ratio), _SERIES_AT, out=mask))
    if idx[0].size:
        qs = q[idx]
        xs = d[idx] / qs  # p/q − 1 without rounding: p − q is exact when p ≈ q
        terms[idx] = qs * xs * xs * _horner_np(xs, _G_COEFFS)
    return terms.sum(-1)


def _js_rows(p, q, has_zero, work):
    """Σ [p log(p/m) + q log(q/m)] per row, m = (p + q)/2; as `_js_terms`."""
    mask, total, log_a, log_b, scratch = work[:5]
    np.add(p, q, out=total)  # 2m, which does not underflow to 0 where p or q is subnormal
    for x, log_x in ((p, log_a), (q, log_b)):
        np.divide(x, total, out=log_x)
        log_x *= 2.0
        np.log(log_x, out=log_x)  # log_a = log(1 + s), s = (p − q)/(p + q)
    idx = _where(np.less(np.abs(log_a, out=scratch), _SERIES_AT, out=mask))
    if has_zero:  # 0 log 0 = 0, also where m = 0
        np.copyto(log_a, 0.0, where=np.equal(p, 0, out=mask))
        np.copyto(log_b, 0.0, where=np.equal(q, 0, out=mask))
    log_a *= p
    log_b *= q
    terms = np.add(log_a, log_b, out=log_a)
    if idx[0].size:
        ps, qs = p[idx], q[idx]
        s = (ps - qs) / (ps + qs)
        s2 = s * s
        terms[idx] = 0.5 * (ps + qs) * s2 * _horner_np(s2, _H_COEFFS)
    return terms.sum(-1)


# ------------------------------------------------------------------ per-entry terms


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


def _broadcast_elementwise(a, b, names):
    try:
        shape = torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(
            f"shapes do not broadcast: {names[0]} {tuple(a.shape)} and {names[1]} {tuple(b.shape)}"
        ) from None
    return a.expand(shape), b.expand(shape)


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


# ------------------------------------------------------------------ Wasserstein-1


def _cdf_gap_integral(cdf_u, cdf_v, widths):
    return (torch.abs(cdf_u - cdf_v) * widths).sum(-1)


def wasserstein_distance(u, v, support=None, *, axis=-1, normalize=False):
    """1-D Wasserstein-1 distance between two histograms on a shared sorted support.

    W1(u, v) = Σ_{i<K} |U_i − V_i| (x_{i+1} − x_i), with U, V the cumulative sums of the
    weights u, v over the support points x_1 < … < x_K (the area between the two CDFs).

    Unlike ``scipy.stats.wasserstein_distance(u_values, v_values, ...)``, which takes
    *sample values* (with optional weights), this takes *histograms*: `u` and `v` are
    probability weights over `support`. Passing histograms to scipy as values is a
    common mistake (scipy issue 9152); ``scipy.stats.wasserstein_distance(x, x, u, v)``
    is the scipy equivalent of ``wasserstein_distance(u, v, x)``. For samples use
    :func:`wasserstein_distance_samples`.

    Args:
        u, v: weights, shape (..., K, ...) along `axis`; they broadcast.
        support: increasing points x, shape (K,) or broadcastable to the weights; None
            means 0, 1, …, K − 1 (bin indices).
        axis: the support axis.
        normalize: rescale the weights to sum to 1 instead of raising.

    Returns:
        The broadcast batch shape, in the units of `support`.

    Reference: Villani (2009), *Optimal Transport*, remark 2.19 (1-D W1 as a CDF integral).

    >>> float(wasserstein_distance([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 3.0]))
    3.0
    """
    values = (u, v) if support is None else (u, v, support)
    torch_out = is_torch(*values)
    tensors = to_tensors(*values, names=("u", "v", "support")[: len(values)])
    (tu, tv), axis = _broadcast(tensors[:2], ("u", "v"), axis)
    if support is None:
        tx = torch.arange(tu.shape[axis], dtype=tu.dtype, device=tu.device)
    else:
        tx = tensors[2]
    tu, tv, tx = _broadcast_support(tu, tv, tx, axis)
    tu, _ = _check_probs(tu, "u", axis, normalize)
    tv, _ = _check_probs(tv, "v", axis, normalize)
    tx_d = tx.detach()
    if not bool(torch.isfinite(tx_d).all()):
        raise ValueError("support has NaN or infinite entries")
    widths = torch.diff(tx.movedim(axis, -1), dim=-1)  # (..., K-1)
    if bool((widths.detach() <= 0).any()):
        raise ValueError("support must be strictly increasing along axis")
    cdf_u = torch.cumsum(tu.movedim(axis, -1), -1)[..., :-1]
    cdf_v = torch.cumsum(tv.movedim(axis, -1), -1)[..., :-1]
    return from_tensor(_cdf_gap_integral(cdf_u, cdf_v, widths), torch_out)


def _broadcast_support(tu, tv, tx, axis):
    """Broadcast u, v (already one shape) and the support; a 1-d support lies along `axis`."""
    if tx.dim() == 1:
        if tx.shape[0] != tu.shape[axis]:
            raise ValueError(
                f"support has {tx.shape[0]} points but u and v have {tu.shape[axis]} along axis {axis}"
            )
        view = [1] * tu.dim()
        view[axis] = -1
        tx = tx.reshape(view)
    try:
        shape = torch.broadcast_shapes(tu.shape, tx.shape)
    except RuntimeError:
        raise ValueError(
            f"shapes do not broadcast: u and v {tuple(tu.shape)} and support {tuple(tx.shape)}"
        ) from None
    return tu.expand(shape), tv.expand(shape), tx.expand(shape)


def wasserstein_distance_samples(u_values, v_values, *, axis=-1):
    """1-D Wasserstein-1 distance between two empirical distributions (equal-weight samples).

    W1 = ∫ |F_u(t) − F_v(t)| dt, evaluated exactly on the merged sorted samples; the same
    quantity as ``scipy.stats.wasserstein_distance(u_values, v_values)``, batched over the
    other axes (which broadcast; the sample counts may differ).

    Args:
        u_values: samples, shape (..., n) along `axis`.
        v_values: samples, shape (..., m) along `axis`.
        axis: the sample axis.

    Returns:
        The broadcast batch shape, in the units of the samples.

    Reference: Ramdas, García Trillos & Cuturi (2017), "On Wasserstein two-sample testing", §2.

    >>> float(wasserstein_distance_samples([0.0, 1.0], [2.0, 3.0]))
    2.0
    """
    torch_out = is_torch(u_values, v_values)
    tu, tv = to_tensors(u_values, v_values, names=("u_values", "v_values"))
    if tu.dim() == 0 or tv.dim() == 0:
        raise ValueError("u_values and v_values must have at least 1 dimension")
    for t, n in ((tu, "u_values"), (tv, "v_values")):
        if not -t.dim() <= axis < t.dim():
            raise ValueError(f"axis {axis} is out of range for {n} of shape {tuple(t.shape)}")
        if t.shape[axis] == 0:
            raise ValueError(f"{n} has no samples along axis {axis}")
        if not bool(torch.isfinite(t.detach()).all()):
            raise ValueError(f"{n} has NaN or infinite entries")
    tu, tv = tu.movedim(axis, -1), tv.movedim(axis, -1)
    try:
        batch = torch.broadcast_shapes(tu.shape[:-1], tv.shape[:-1])
    except RuntimeError:
        raise ValueError(
            f"shapes do not broadcast: u_values {tuple(tu.shape)} and v_values {tuple(tv.shape)} "
            "(apart from the sample axis)"
        ) from None
    n, m = tu.shape[-1], tv.shape[-1]
    tu = torch.sort(tu.expand(*batch, n), -1).values  # (..., n)
    tv = torch.sort(tv.expand(*batch, m), -1).values  # (..., m)
    grid = torch.sort(torch.cat([tu, tv], -1), -1).values  # (..., n + m)
    widths = torch.diff(grid, dim=-1)  # (..., n + m - 1)
    points = grid[..., :-1].contiguous()
    cdf_u = torch.searchsorted(tu.contiguous(), points, right=True).to(grid.dtype) / n
    cdf_v = torch.searchsorted(tv.contiguous(), points, right=True).to(grid.dtype) / m
    return from_tensor(_cdf_gap_integral(cdf_u, cdf_v, widths), torch_out)
