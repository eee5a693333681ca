"""The sums of the f-divergence and Rényi families, each written once for NumPy and for torch.

Each function takes `xp`, the namespace whose functions it calls: ``torch`` for tensors (autograd
kept) or `NUMPY` for arrays, and validated probability rows `p`, `q` along `axis`. NumPy and list
input to `klvae.measures.divergences` and `klvae.measures.renyi` is measured here without torch
(`numpy_terms`), which this module does not import; tensors and distribution objects take
`klvae.measures._divergences_torch` (`torch_path`), which calls the same functions with ``torch``.
"""

from __future__ import annotations

import importlib
import math
from types import SimpleNamespace

import numpy as np

from klvae.measures._numpy_path import array_inputs, is_plain, probability_rows


def _logsumexp(x, axis):
    """log Σ exp(x) along `axis` as ``torch.logsumexp`` computes it: shifted by the row's largest
    entry (0 where that is infinite, so all −inf gives −inf and +inf gives +inf)."""
    m = np.amax(x, axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(np.exp(x - m).sum(axis)) + np.squeeze(m, axis)


# the functions of ``torch`` that the sums below call, for NumPy arrays
NUMPY = SimpleNamespace(
    sqrt=np.sqrt, where=np.where, log=np.log, log1p=np.log1p, expm1=np.expm1, amax=np.amax, logsumexp=_logsumexp
)


def _safe(xp, t, ok):
    return xp.where(ok, t, 1.0)  # keeps the unused branch (and its gradient) finite


def hellinger(xp, p, q, axis):
    """√(½ Σ (√p − √q)²): non-negative terms, so nearly equal rows keep their relative accuracy."""
    return xp.sqrt(0.5 * ((xp.sqrt(p) - xp.sqrt(q)) ** 2).sum(axis))


def total_variation(xp, p, q, axis):
    """½ Σ |p − q|."""
    return 0.5 * abs(p - q).sum(axis)


def chi2(xp, p, q, axis):
    """Σ (p − q)²/q: 0 where p = q = 0, +inf where p > 0 = q."""
    pos = q > 0
    inside = (p - q) ** 2 / _safe(xp, q, pos)
    return xp.where(pos, inside, xp.where(p > 0, math.inf, 0.0)).sum(axis)


def log_moment(xp, p, q, t, axis):
    """log Σ_{p>0} p·(p/q)^t along `axis` (t = α − 1 ≥ −1), without cancellation near t = 0.

    Rows where every |t log(p/q)| < 1 use log1p(Σ p·expm1(t log(p/q))) (Σ p = 1), which is
    ≈ t·KL for small t; other rows use logsumexp(log p + t log(p/q)).
    """
    pos = p > 0
    lp = xp.log(_safe(xp, p, pos))
    log_ratio = xp.where(pos, lp - xp.log(q), 0.0)  # +inf where p > 0 = q
    expo = t * log_ratio
    inside = abs(expo) < 1
    near = inside.all(axis)
    small = xp.log1p((p * xp.expm1(xp.where(inside, expo, 0.0))).sum(axis))
    large = xp.logsumexp(xp.where(pos, lp + expo, -math.inf), axis)
    return xp.where(near, small, large)


def renyi(xp, p, q, axis, a):
    """D_α(p‖q) in nats for α ∈ [0, ∞], α ≠ 1 (KL there)."""
    if 0 < a < 0.5:  # D_α(p‖q) = α/(1 − α) D_{1−α}(q‖p): the near-1 form keeps small α accurate
        return log_moment(xp, q, p, -a, axis) / -a * (a / (1.0 - a))
    if a == math.inf:
        pos = p > 0
        return xp.amax(xp.where(pos, xp.log(_safe(xp, p, pos)) - xp.log(q), -math.inf), axis)
    return log_moment(xp, p, q, a - 1.0, axis) / (a - 1.0)


def amari_alpha(xp, p, q, axis, a):
    """(1 − Σ p^α q^{1−α})/(α(1 − α)) for α ≥ ½, α ≠ 1, as −expm1 of the log moment."""
    return -xp.expm1(log_moment(xp, p, q, a - 1.0, axis)) / (a * (1.0 - a))


def torch_path():
    """The torch path, `klvae.measures._divergences_torch`, imported on the first input that needs it
    (a tensor or a distribution object): NumPy and list input never start torch."""
    return importlib.import_module("klvae.measures._divergences_torch")


def numpy_terms(terms, p, q, axis, normalize, *args):
    """(terms(NUMPY, p, q, axis, *args), the answer's dtype) for NumPy or list probabilities; None
    for input the torch path takes."""
    if not is_plain(p, q):
        return None
    inputs = array_inputs((p, q), ("p", "q"), axis)
    tp, tq = probability_rows(inputs, ("p", "q"), normalize)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # log 0 and p/0 are meant
        return terms(NUMPY, tp, tq, inputs.axis, *args), inputs.out_dtype
