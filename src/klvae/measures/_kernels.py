"""The cancellation-free kernels of the measures: each term written once, exact in value and gradient.

Every divergence klvae computes is a sum of non-negative terms that the textbook formula evaluates
as a difference of much larger numbers. The terms here avoid that cancellation, in torch (autograd,
any device); their NumPy twins, for the CPU fast path of `klvae.measures._numpy_path`, are in
`klvae.measures._numpy_kernels`, with the series coefficients and thresholds both share:
- log(a/b) to a few ulps (`log_ratio`); (log softmax and log p − log q from logits:
  `klvae.measures._logits`);
- p log(p/q) − p + q, the KL term: `kl_terms` from probabilities (its atanh series `kl_near`
  below |log(p/q)| = `LOG_RATIO_SERIES_AT`), `kl_terms_log` from log-probabilities;
- p log(p/m) + q log(q/m), m = (p + q)/2, the Jensen–Shannon term: `js_terms`, `js_terms_log`;
- e^x − 1 − x (`expm1_minus_x`, `ratio_term`: the variance part of every Gaussian KL), its series
  below `EXPM1_SERIES_AT`. (The log-gamma differences: `klvae.measures._lgamma`.)

Gradients: a masked entry is computed from safe stand-in values (the "double where"), and the KL and
JS terms give their exact partials (`klvae.measures._partials`), so backward never meets inf·0, NaN or a
subnormal squared. An entry with p = 0 carries no mass: its partial in p, whose one-sided limit is
−∞, is 0 in the measures (as in ``torch.distributions``); every other partial is exact.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from klvae.measures._numpy_kernels import (
    H_COEFFS,
    LOG_RATIO_SERIES_AT,
    horner,
    kl_entries,
    kl_near,
    overflow_safe,
    set_entries,
)
from klvae.measures._partials import with_partials

# Below |x| = EXPM1_SERIES_AT, e^x − 1 − x is summed as a series (x²/2! + … + x⁷/7!, truncation < 1e-17
# relative); above it, expm1(x) − x or q − 1 − log q lose a few ulps / |x|, i.e. < 1e-13 relative.
EXPM1_SERIES_AT = 0.01
EXPM1_COEFFS = tuple(1.0 / math.factorial(k) for k in range(2, 8))

# Where |a/b − 1| < LOG1P_NEAR, log(a/b) is log1p((a − b)/b): a − b is exact there (Sterbenz).
LOG1P_NEAR = 0.5

LOG_2PI_E = 1.0 + math.log(2.0 * math.pi)  # 2 × the entropy of N(0, 1) in nats


# ------------------------------------------------------------------ log(a/b)


def log_ratio(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(a/b) for a, b > 0 to a few ulps of itself.

    log1p((a − b)/b) where the two are within a factor 3/2 (a − b is exact there), log a − log b
    where a/b overflows or underflows (subnormal arguments), log(a/b) elsewhere. On the CPU
    without a gradient in NumPy, each branch only on its own entries (`_log_ratio_numpy`).
    """
    if isinstance(a, np.ndarray):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
            return _log_ratio_numpy(*((a, b) if a.shape == b.shape else np.broadcast_arrays(a, b)))
    if cpu_without_grad(a, b) and a.shape == b.shape and a.dtype == b.dtype and a.dim():
        with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
            return torch.from_numpy(_log_ratio_numpy(a.numpy(), b.numpy()))
    ratio = a / b
    d = (a - b) / b
    near = d.detach().abs() < LOG1P_NEAR
    out = torch.where(near, torch.log1p(torch.where(near, d, 0.0)), torch.log(ratio))
    r = ratio.detach()
    outside = ~torch.isfinite(r) | (r < torch.finfo(r.dtype).tiny)
    if bool(outside.any()):
        safe_a, safe_b = torch.where(outside, a, 1.0), torch.where(outside, b, 1.0)
        out = torch.where(outside, torch.log(safe_a) - torch.log(safe_b), out)
    return out


_LOG_TWO = math.log(2.0)


def _log_ratio_numpy(a: np.ndarray, b: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """`log_ratio` of same-shape arrays: log1p(u), u = (a − b)/b, everywhere (a − b is exact for
    b/2 ≤ a ≤ 2b, and beyond it off by an ulp relative to a log of at least log 2), then log(a/b)
    where a < b/2 (a − b has lost a's digits there) and log a − log b where a/b over- or
    underflows. `u`: (a − b)/b where the caller holds it."""
    out = np.log1p((a - b) / b if u is None else u)
    if (
        not out.size or out.min() >= -_LOG_TWO and out.max() < math.inf
    ):  # no a < b/2, nothing over- or underflowed, no NaN
        return out
    low = np.nonzero((a < 0.5 * b) | ~np.isfinite(out))
    al, bl = a[low], b[low]
    ratio = al / bl
    inside = np.isfinite(ratio) & (ratio >= np.finfo(ratio.dtype).tiny)
    out[low] = np.where(inside, np.log(np.where(inside, ratio, 1.0)), np.log(al) - np.log(bl))
    return out


# ------------------------------------------------------------------ the KL term


def _fix_small(terms, key, fix):
    """Replace terms where |key| < LOG_RATIO_SERIES_AT by fix(index); only those entries are recomputed."""
    idx = (key.detach().abs() < LOG_RATIO_SERIES_AT).nonzero(as_tuple=True)
    if idx[0].numel() == 0:
        return terms
    return terms.index_put_(idx, fix(idx))  # in place: no autograd node saved `terms`


def kl_terms(p, q, has_zero=True, overflow=False, diff=None):
    """p log(p/q) − p + q ≥ 0 for each entry of probabilities (or any p, q ≥ 0).

    `has_zero`: whether p or q may hold zeros (0 → q; p > 0 = q → +inf). `overflow`: entries
    where p/q overflows (subnormal q) take log p − log q; callers ask for it only when a sum came
    out +inf, to spare the extra passes. `diff`: p − q where the caller holds it exactly (the
    1 − p side of a Bernoulli), else p − q is taken here (exact where p ≈ q).

    The gradient is given as the exact partials ∂p = log(p/q), ∂q = 1 − p/q (`with_partials`), so
    nothing divides by a subnormal q squared; at p = 0 they are those of q − p (−1, 1), at
    p > 0 = q, 0.
    """
    if isinstance(p, np.ndarray):
        return _kl_terms_numpy(*((p, q) if p.shape == q.shape else np.broadcast_arrays(p, q)), has_zero, diff)
    if p.dim() == 0:
        return kl_terms(p[None], q[None], has_zero, overflow, None if diff is None else diff[None])[0]
    if cpu_without_grad(p, q) and p.shape == q.shape and p.dtype == q.dtype:
        return torch.from_numpy(_kl_terms_numpy(p.numpy(), q.numpy(), has_zero, None if diff is None else diff.numpy()))
    pd, qd = p.detach(), q.detach()
    d = pd - qd if diff is None else diff.detach()
    if has_zero:
        zero_p, zero_q = pd == 0, qd == 0
        off = zero_p | zero_q
        pd, qd, d = torch.where(off, 1.0, pd), torch.where(off, 1.0, qd), torch.where(off, 0.0, d)
    lr = torch.log(pd / qd)
    if overflow:
        over = torch.isinf(lr)
        lr = torch.where(over, torch.log(torch.where(over, pd, 1.0)) - torch.log(torch.where(over, qd, 1.0)), lr)
    terms = pd * lr - d  # accurate wherever |p/q − 1| is not small

    terms = _fix_small(terms, lr, lambda idx: kl_near(pd[idx], qd[idx], d[idx]))  # p − q is exact when p ≈ q
    if has_zero:  # 0·log(0/q) − 0 + q = q, with the partials of q − p; p > 0 = q: +inf
        terms = torch.where(zero_p, q.detach(), torch.where(zero_q, math.inf, terms))
    if not (torch.is_grad_enabled() and (p.requires_grad or q.requires_grad)):
        return terms
    grad_p, grad_q = lr, -d / qd
    if has_zero:
        grad_p = torch.where(zero_p, -1.0, torch.where(zero_q, 0.0, grad_p))
        grad_q = torch.where(zero_p, 1.0, torch.where(zero_q, 0.0, grad_q))

    return with_partials(terms, (grad_p, p), (grad_q, q), exact=lambda: kl_term_partials(p, q))


def kl_term_partials(p, q):
    """(∂/∂p, ∂/∂q) of p log(p/q) − p + q, NumPy or torch (with its graph): log(p/q) and
    (q − p)/q; at p = 0 those of q − p (−1, 1), at p > 0 = q, 0 — as `kl_terms` gives them."""
    xp = np if isinstance(p, np.ndarray) else torch
    if xp is np and p.size and q.size and p.min() > 0 and q.min() > 0:  # no zero mass: no stand-ins
        return log_ratio(p, q), (q - p) / q
    zero_p, zero_q = p == 0, q == 0
    off = zero_p | zero_q
    p_in, q_in = xp.where(off, 1.0, p), xp.where(off, 1.0, q)  # stand-ins: no inf·0 in a second derivative
    gp = xp.where(zero_p, -1.0, xp.where(zero_q, 0.0, log_ratio(p_in, q_in)))
    gq = xp.where(zero_p, 1.0, xp.where(zero_q, 0.0, (q_in - p_in) / q_in))
    return gp, gq


def _kl_terms_numpy(p: np.ndarray, q: np.ndarray, has_zero: bool, diff: np.ndarray | None) -> np.ndarray:
    """`kl_terms` of same-shape arrays, by the NumPy kernel `kl_entries` (zeros and overflow
    handled there and below)."""
    work = [np.empty(p.shape, dtype=bool), *(np.empty(p.shape, np.result_type(p, q)) for _ in range(3))]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        terms = kl_entries(p, q, has_zero, work, diff)
        return terms if np.isfinite(terms.sum()) else overflow_safe(p, q, terms)  # terms ≥ 0: a finite sum, none inf


def kl_terms_log(lp, lq, has_zero=True, diff=None):
    """p log(p/q) − p + q ≥ 0 for each entry, from log-probabilities lp, lq (−inf: zero mass);
    `diff`: lp − lq where the caller holds it more exactly (`log_prob_difference`).

    p·(e^{−D} − 1 + D) with D = lp − lq, by `expm1_minus_x` where D ≥ −1 and as p·D − p + q
    where D < −1 (q > e·p: nothing cancels, and e^{−D} could overflow). Finite wherever the
    value is, for any D the dtype holds (D = ±1000 in float64, ±100 in float32).
    """
    if has_zero:
        zero_p = lp.detach() == -math.inf
        zero_q = (lq.detach() == -math.inf) & ~zero_p
        off = zero_p | zero_q
        lp_in, lq_in = torch.where(off, 0.0, lp), torch.where(off, 0.0, lq)
    else:
        lp_in, lq_in = lp, lq
    diff = lp_in - lq_in if diff is None else (torch.where(off, 0.0, diff) if has_zero else diff)
    p = lp_in.exp()
    below = diff.detach() < -1
    d_above = torch.where(below, 0.0, diff)
    terms = torch.where(below, p * diff - p + lq_in.exp(), p * expm1_minus_x(-d_above))
    if has_zero:
        terms = torch.where(zero_p, lq.exp(), torch.where(zero_q, math.inf, terms))
    return terms


# ------------------------------------------------------------------ the Jensen–Shannon term


def js_terms(p, q, has_zero=True):
    """p log(p/m) + q log(q/m) ≥ 0 for each entry, m = (p + q)/2 (twice the JS term).

    Its partials are log(p/m) and log(q/m) exactly (m's own dependence cancels), so the gradient
    is given as those (`with_partials`): nothing divides by a subnormal m squared. At p = 0 the partial
    in p (−∞ one-sided) is 0, likewise for q.
    """
    if p.dim() == 0:
        return js_terms(p[None], q[None], has_zero)[0]
    pd, qd = p.detach(), q.detach()
    m = torch.lerp(pd, qd, 0.5)
    if has_zero:
        zero_p, zero_q = pd == 0, qd == 0
        m_in = torch.where(zero_p & zero_q, 1.0, m)
        p_in, q_in = torch.where(zero_p, m_in, pd), torch.where(zero_q, m_in, qd)
    else:
        m_in, p_in, q_in = m, pd, qd
    log_a, log_b = torch.log(p_in / m_in), torch.log(q_in / m_in)  # log(1 ± s), s = (p − q)/(p + q)
    terms = pd * log_a + qd * log_b  # 0 where p = 0 (log_a = 0 there), likewise q
    key = torch.where(zero_p | zero_q, math.inf, log_a) if has_zero else log_a  # stand-ins are not near

    def series(idx):  # m·h(s)
        ps, qs = pd[idx], qd[idx]
        s = (ps - qs) / (ps + qs)
        return m[idx] * s * s * horner(s * s, H_COEFFS)

    terms = _fix_small(terms, key, series)

    def exact():  # log(p/m) and log(q/m) of the inputs themselves, for a second derivative
        mid = torch.lerp(p, q, 0.5)
        if not has_zero:
            return torch.log(p / mid), torch.log(q / mid)
        mid = torch.where(zero_p & zero_q, 1.0, mid)
        a, b = torch.where(zero_p, mid, p), torch.where(zero_q, mid, q)
        return torch.log(a / mid), torch.log(b / mid)

    return with_partials(terms, (log_a, p), (log_b, q), exact=exact)


def js_terms_log(lp, lq, has_zero=True, diff=None):
    """As `js_terms`, from log-probabilities: m = exp(logaddexp(lp, lq) − ln 2); `diff` as in
    `kl_terms_log` (it keys the series near p = q)."""
    if has_zero:
        zero_p, zero_q = lp.detach() == -math.inf, lq.detach() == -math.inf
        both = zero_p & zero_q
        lp, lq = torch.where(both, 0.0, lp), torch.where(both, 0.0, lq)
    lm = torch.logaddexp(lp, lq) - math.log(2)
    if has_zero:  # a zero-mass side's log stands in as lm: its factor (lp − lm) is then 0, not −inf
        a, b = torch.where(zero_p, lm, lp), torch.where(zero_q, lm, lq)
    else:
        a, b = lp, lq
    terms = lp.exp() * (a - lm) + lq.exp() * (b - lm)
    if diff is None or has_zero:
        diff = a - b if diff is None else torch.where(zero_p | zero_q, a - b, diff)

    def series(idx):
        s = torch.tanh(diff[idx] / 2)  # (p − q)/(p + q)
        return lm[idx].exp() * s * s * horner(s * s, H_COEFFS)

    terms = _fix_small(terms, diff, series)
    return torch.where(both, 0.0, terms) if has_zero else terms


# ------------------------------------------------------------------ e^x − 1 − x


def series_expm1_minus_x(x):
    """e^x − 1 − x = x² Σₖ xᵏ/(k+2)!, for |x| ≤ EXPM1_SERIES_AT (Horner)."""
    return x * x * horner(x, EXPM1_COEFFS)


def expm1_minus_x(x: torch.Tensor) -> torch.Tensor:
    """e^x − 1 − x ≥ 0 to a few ulps for every x (in torch both branches are evaluated; on the CPU
    without a gradient, in NumPy, the series only where |x| < EXPM1_SERIES_AT)."""
    if isinstance(x, np.ndarray):
        return _expm1_minus_x_numpy(x)
    if cpu_without_grad(x) and x.dim():
        return torch.from_numpy(_expm1_minus_x_numpy(x.numpy()))
    small = x.detach().abs() < EXPM1_SERIES_AT
    x_small = torch.where(small, x, 0.0)  # keeps the unused branch finite
    x_large = torch.where(small, 1.0, x)
    return torch.where(small, series_expm1_minus_x(x_small), torch.expm1(x_large) - x_large)


_NUMPY_FLOATS = (torch.float32, torch.float64)


def _expm1_minus_x_numpy(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.expm1(x) - x
    tiny = np.nonzero(np.abs(x) < EXPM1_SERIES_AT)
    if len(tiny[0]):
        set_entries(out, tiny, series_expm1_minus_x, x)
    return out


def cpu_without_grad(*tensors: torch.Tensor) -> bool:
    """Whether the tensors sit on the CPU in float32/float64 with no gradient asked: the kernels
    then run in NumPy, whose per-call cost on a few thousand elements is a fraction of torch's."""
    grad = torch.is_grad_enabled()
    for t in tensors:  # a loop, not all(...): this check runs on every call of a measure
        if not t.is_cpu or t.dtype not in _NUMPY_FLOATS or (grad and t.requires_grad):
            return False
    return True


def ratio_term(a: torch.Tensor, b: torch.Tensor, power: int, plus=None) -> torch.Tensor:
    """q − 1 − log q with q = (a/b)**power, i.e. e^x − 1 − x with x = power·log(a/b); with `plus`
    (≥ 0, the rest of a sum of non-negative parts), that added.

    One logarithm per element (the cost that dominates large diagonal batches). Its
    relative error is a few ulps divided by |x|, so the elements with |x| ≲ EXPM1_SERIES_AT are
    recomputed from log1p((a − b)/b), where a − b is exact, and the series. In NumPy on the
    CPU without a gradient (`cpu_without_grad`), in torch otherwise; the same arithmetic. In
    NumPy the series is taken only where the whole sum is below its threshold: elsewhere the
    part's absolute error, a few ulps of |x|, is as small a fraction of the sum as it is at the
    threshold itself.
    """
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            a, b = np.broadcast_arrays(a, b)
        return _ratio_term_numpy(a, b, power, plus)
    tensors = (a, b) if plus is None else (a, b, plus)
    if cpu_without_grad(*tensors):
        dtype = torch.promote_types(a.dtype, b.dtype)
        arrays = np.broadcast_arrays(*(t.numpy() for t in tensors))
        flat = [x.reshape(-1) for x in arrays]  # 1-d: np.nonzero is fastest there, and 0-d is no case
        terms = _ratio_term_numpy(flat[0], flat[1], power, flat[2] if len(flat) == 3 else None)
        return torch.from_numpy(terms.reshape(arrays[0].shape)).to(dtype)
    out = ratio_term(a[None], b[None], power)[0] if a.dim() == 0 and b.dim() == 0 else _ratio_term(a, b, power)
    return out if plus is None else out + plus


def _ratio_term_numpy(a: np.ndarray, b: np.ndarray, power: int, plus: np.ndarray | None = None) -> np.ndarray:
    """`ratio_term` of same-shape arrays, from u = (a − b)/b (exact to an ulp) and log(a/b) =
    `_log_ratio_numpy` of it; the near entries take the series of x = power · log(a/b) as held."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # inf and NaN as torch's
        u = a - b
        u /= b
        log_r = _log_ratio_numpy(a, b, u)
        if power == 1:
            out = u - log_r
        else:
            out = u + 2.0
            out *= u
            out -= power * log_r
        if plus is not None:
            if plus.shape == out.shape:
                out += plus
            else:
                out = out + plus
                log_r = np.broadcast_to(log_r, out.shape)
            if not out.size or out.min() >= EXPM1_SERIES_AT**2 / 2:  # the usual case with a rest: none near
                return out
    near = np.nonzero(out < EXPM1_SERIES_AT**2 / 2)  # |x| ≲ EXPM1_SERIES_AT and the rest as small
    if len(near[0]):
        if plus is None:
            set_entries(out, near, lambda lr: series_expm1_minus_x(power * lr), log_r)
        else:
            set_entries(out, near, lambda lr, rest: series_expm1_minus_x(power * lr) + rest, log_r, plus)
    return out


def _ratio_term(a: torch.Tensor, b: torch.Tensor, power: int) -> torch.Tensor:
    """`ratio_term` in torch (a gradient, or off the CPU)."""
    r = a / b
    log_r = torch.log(r)  # not log q: (a/b)² underflows to 0 for a/b < 1e-154
    u = r - 1.0  # exact near r = 1 (r·r − 1 would not be): r² − 1 = u (u + 2)
    out = ((u + 2.0) * u if power == 2 else u) - power * log_r
    near = torch.nonzero(out < EXPM1_SERIES_AT**2 / 2, as_tuple=True)  # |x| ≲ EXPM1_SERIES_AT
    if len(near[0]):
        a_near, b_near = a.expand_as(r)[near], b.expand_as(r)[near]
        out[near] = series_expm1_minus_x(power * torch.log1p((a_near - b_near) / b_near))
    return out
