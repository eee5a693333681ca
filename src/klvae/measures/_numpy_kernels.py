"""The NumPy row kernels of entropy, KL, Jensen–Shannon and cross-entropy: NumPy only, no torch.

The CPU path of `klvae.measures.discrete` (`klvae.measures._numpy_path`) runs these on row chunks of
probabilities; their torch twins in `klvae.measures._kernels` share the series and the constants
below, so each term is written once:
- p log(p/q) − p + q, the KL term (`kl_rows`): below |log(p/q)| = `LOG_RATIO_SERIES_AT`, with
  s = (p − q)/(p + q) and log(p/q) = 2 atanh(s), it is d s + 2p s³ Σₖ s²ᵏ/(2k + 3), d = p − q
  (`kl_near`, series `KL_COEFFS`);
- p log(p/m) + q log(q/m), m = (p + q)/2, the Jensen–Shannon term (`js_rows`): m·h(s),
  s = (p − q)/(p + q), by its series `H_COEFFS` near p = q;
- −p log p (`entropy_rows`) and −p log q (`cross_entropy_rows`), 0 log 0 = 0.
Importing this module imports no torch, so a command that measures NumPy arrays starts at once.
"""

from __future__ import annotations

import numpy as np

CHUNK = 1 << 17  # elements per chunk: temporaries stay in cache and are reused by malloc
FEW = 4  # up to this many entries to recompute: in Python floats (`set_entries`)
SHORT_ROWS = 16  # rows up to this long are summed as a matrix-vector product (`row_sums`)

# Below |log(p/q)| = LOG_RATIO_SERIES_AT the KL and JS terms are summed by their Taylor series in
# x = p/q − 1 (or s = (p − q)/(p + q)); above it the closed form loses at most a few ulps / |x|.
LOG_RATIO_SERIES_AT = 0.05
# p log(p/q) − p + q = d s + p s³ Σₖ 2 s²ᵏ/(2k + 3), s = d/(p + q), d = p − q; |s| < 0.026 below the
# switch, so five terms leave a tail below 1e-17 of the whole (the s³ part is < 1 % of it)
KL_COEFFS = tuple(2 / (2 * k + 3) for k in range(5))
# h(s) = (1+s) log1p(s) + (1-s) log1p(-s) = s² Σ_{k≥0} s^{2k} / ((k+1)(2k+1))
H_COEFFS = tuple(1 / ((k + 1) * (2 * k + 1)) for k in range(8))


def kl_near(p, q, d):
    """p log(p/q) − p + q for p ≈ q (|log(p/q)| < `LOG_RATIO_SERIES_AT`), NumPy or torch, from
    d = p − q as held (exact there): d s + p s³ Σₖ 2 s²ᵏ/(2k + 3), s = d/(p + q), since
    log(p/q) = 2 atanh(s) and 2p s − d = d s. Every part keeps its digits: d s ≥ 0, and the
    series part, of either sign, is below 1 % of it."""
    s = d / (p + q)
    s2 = s * s
    return d * s + p * s * s2 * horner(s2, KL_COEFFS)


def horner(x, coeffs, out=None):
    """Σₖ coeffs[k]·xᵏ by Horner's rule, for a torch tensor or a NumPy array; with `out` (NumPy,
    x's shape), in place in it, without temporaries."""
    if out is None:
        acc = x * coeffs[-1] + coeffs[-2]
        for c in coeffs[-3::-1]:
            acc = acc * x + c
        return acc
    np.multiply(x, coeffs[-1], out=out)
    out += coeffs[-2]
    for c in coeffs[-3::-1]:
        out *= x
        out += c
    return out


def row_sums(a):
    """Σ along the last axis: of a float NumPy array with rows of at most `SHORT_ROWS` entries as
    a @ 1 (NumPy's reduction along a short contiguous axis costs ~15 ns a row, ten times the
    product's), else by NumPy's pairwise sum; of a torch tensor, its sum."""
    if not isinstance(a, np.ndarray) or a.ndim < 2 or a.shape[-1] > SHORT_ROWS or a.dtype.kind != "f":
        return a.sum(-1)
    return a @ np.ones(a.shape[-1], a.dtype)


def set_entries(out, idx, fn, *args):
    """out[idx] = fn(*(a[idx] for a in args)): a few entries in Python floats (a NumPy call on
    them costs more than their arithmetic), more as arrays; fn takes either."""
    if len(idx[0]) > FEW:
        out[idx] = fn(*(a[idx] for a in args))
        return
    for i in zip(*(axis.tolist() for axis in idx)):
        out[i] = fn(*(float(a[i]) for a in args))


def _where(mask):
    """np.nonzero of a C-contiguous 2-d mask, ~10× faster than np.nonzero itself in 2-d."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


# The NumPy kernels below get (rows, K) chunks and `work`: a bool buffer, then six float
# buffers, all of the chunk's shape; they use at most the first five entries (the last
# two hold the rescaled rows when normalize=True).


def entropy_rows(p, has_zero, work):
    """−Σ p log p per row."""
    mask, terms = work[0], work[1]
    np.log(p, out=terms)
    if has_zero:
        np.copyto(terms, 0.0, where=np.equal(p, 0, out=mask))  # 0 log 0 = 0
    terms *= p
    return -row_sums(terms)


def kl_entries(p, q, has_zero, work, diff=None):
    """p log(p/q) − p + q for each entry, in `work[3]`; as `kl_terms`. `diff`: p − q where the
    caller holds it exactly (the 1 − p side of a Bernoulli), else taken here (exact where p ≈ q).
    Entries with p > 0 = q, or whose p/q over- or underflows, are infinite (see `overflow_safe`)."""
    mask, log_ratio, d, terms = work[:4]
    np.log(np.divide(p, q, out=log_ratio), out=log_ratio)
    if diff is None:
        np.subtract(p, q, out=d)
    else:
        d[...] = diff
    np.multiply(p, log_ratio, out=terms)
    terms -= d  # accurate wherever |p/q − 1| is not small
    if has_zero:
        np.copyto(terms, q, where=np.equal(p, 0, out=mask))  # 0 log 0/q − 0 + q; q = 0 gives +inf
    small = np.less(np.abs(log_ratio, out=log_ratio), LOG_RATIO_SERIES_AT, out=mask)
    idx = _where(small) if small.ndim == 2 else np.nonzero(small)
    if idx[0].size:
        set_entries(terms, idx, kl_near, p, q, d)  # p − q is exact when p ≈ q
    return terms


def two_point_kl(pp, pm, qp, qm, d):
    """KL(Bernoulli(p) ‖ Bernoulli(q)) of same-shape 1-d arrays of the sides p, 1 − p, q, 1 − q and
    d = p − q (exact where p ≈ q): pp log(pp/qp) + pm log(pm/qm), whose two parts cancel to at
    most a factor ~4p(1 − p)/|d| ≤ 40 where neither side's |log(p/q)| is below
    `LOG_RATIO_SERIES_AT`; the pairs where one is take each side's KL term (`kl_near` where its own
    log ratio is small). None where a side is 0 or a ratio over- or underflows (a NaN or an
    infinity): `kl_entries` handles those."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
        lp = np.log(pp / qp)
        lm = np.log(pm / qm)
        out = pp * lp
        out += pm * lm
        if not abs(out.sum()) < np.inf:
            return None
    small = np.minimum(np.abs(lp), np.abs(lm))
    idx = np.nonzero(small < LOG_RATIO_SERIES_AT)
    if len(idx[0]):
        set_entries(out, idx, _two_point_near, pp, pm, qp, qm, d, lp, lm)
    return out


def _two_point_near(pp, pm, qp, qm, d, lp, lm):
    """Both sides' KL terms of the pairs where a side's log ratio is small, that side by `kl_near`
    (floats or arrays alike)."""
    return _side_term(pp, qp, d, lp) + _side_term(pm, qm, -d, lm)


def _side_term(p, q, d, log_ratio):
    """p log(p/q) − p + q: `kl_near` where |log(p/q)| < LOG_RATIO_SERIES_AT, else p log(p/q) − d."""
    if isinstance(d, float):
        return kl_near(p, q, d) if abs(log_ratio) < LOG_RATIO_SERIES_AT else p * log_ratio - d
    return np.where(np.abs(log_ratio) < LOG_RATIO_SERIES_AT, kl_near(p, q, d), p * log_ratio - d)


def kl_rows(p, q, has_zero, work):
    """Σ [p log(p/q) − p + q] per row; as `kl_terms`."""
    terms = kl_entries(p, q, has_zero, work)
    out = row_sums(terms)
    over = np.flatnonzero(np.isposinf(out))  # rows with p > 0 = q, or with p/q overflowing
    if over.size:
        out[over] = row_sums(overflow_safe(p[over], q[over], terms[over]))
    return out


def cross_entropy_rows(p, q, has_zero, work):
    """−Σ p log q per row: 0 where p = 0, +inf where p > 0 = q."""
    mask, terms = work[0], work[1]
    np.log(q, out=terms)
    terms *= p
    if has_zero:
        np.copyto(terms, 0.0, where=np.equal(p, 0, out=mask))  # 0 log q = 0, also for q = 0
    return -row_sums(terms)


def overflow_safe(p, q, terms):
    """`terms` (as `kl_entries`), in place, with the infinite ones of p, q > 0 redone from
    log p − log q.

    p/q overflows for subnormal q (1/5.55e-309 > 1.8e308), or underflows for a subnormal p over
    q > 1; the logarithms of p and q do not.
    """
    fix = np.isinf(terms) & (q > 0) & (p > 0)
    pf, qf = p[fix], q[fix]
    terms[fix] = pf * (np.log(pf) - np.log(qf)) - (pf - qf)
    return terms


def js_rows(p, q, has_zero, work):
    """Σ [p log(p/m) + q log(q/m)] per row, m = (p + q)/2; as `js_terms`."""
    mask, total, log_a, log_b, scratch = work[:5]
    np.add(p, q, out=total)  # 2m, which does not underflow to 0 where p or q is subnormal
    for x, log_x in ((p, log_a), (q, log_b)):
        np.divide(x, total, out=log_x)
        log_x *= 2.0
        np.log(log_x, out=log_x)  # log_a = log(1 + s), s = (p − q)/(p + q)
    idx = _where(np.less(np.abs(log_a, out=scratch), LOG_RATIO_SERIES_AT, out=mask))
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
        terms[idx] = 0.5 * (ps + qs) * s2 * horner(s2, H_COEFFS)
    return row_sums(terms)
