"""Per-entry terms of the torch path of `klvae.info`: KL and Jensen–Shannon, stable near p = q.

Each term is ≥ 0 and is evaluated without cancellation: the closed form where p and q
differ, a Taylor series (coefficients in `klvae._info_common`) where they nearly agree.
The NumPy kernels of `klvae._info_numpy` are twins of these. `klvae.info` sums them into
measures; `klvae.joint` uses the KL terms for mutual information.
"""

from __future__ import annotations

import math

import torch

from klvae._info_common import CHUNK, G_COEFFS, H_COEFFS, SERIES_AT

__all__ = ["horner", "rowwise", "kl_terms", "kl_terms_log", "js_terms", "js_terms_log", "textbook_gradient"]


def rowwise(fn, tensors, axis):
    """fn(*chunks) -> values reduced over `axis`, applied to slices of ~CHUNK elements.

    Large batches are cut along the first non-reduced dimension so every temporary stays
    in cache and the allocator reuses it; one 80 MB temporary costs more in page faults
    than the arithmetic done on it.
    """
    t0 = tensors[0]
    if t0.dim() < 2 or t0.numel() <= CHUNK:
        return fn(*tensors)
    dim = 0 if axis != 0 else 1
    rows = max(1, CHUNK * t0.shape[dim] // t0.numel())
    if rows >= t0.shape[dim]:
        return fn(*tensors)
    parts = zip(*(t.split(rows, dim) for t in tensors))
    return torch.cat([fn(*chunk) for chunk in parts], dim if dim < axis else dim - 1)


def horner(x, coeffs):
    acc = torch.full_like(x, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc = acc * x + c
    return acc


# φ(D) = D + expm1(-D) = D² Σ_{n≥0} (-D)^n / (n+2)!  (g and h: `klvae._info_common`)
_PHI_COEFFS = tuple((-1) ** n / math.factorial(n + 2) for n in range(16))


def _fix_small(terms, key, fix):
    """Replace terms where |key| < SERIES_AT by fix(index); only those entries are recomputed."""
    idx = (key.detach().abs() < SERIES_AT).nonzero(as_tuple=True)
    if idx[0].numel() == 0:
        return terms
    return terms.index_put_(idx, fix(idx))  # in place: no autograd node saved `terms`


def kl_terms(p, q, has_zero, overflow=False):
    """p log(p/q) − p + q ≥ 0 for each entry (probabilities).

    With `overflow`, entries where p/q overflows (subnormal q) take log p − log q instead;
    callers ask for it only when a sum came out +inf, to spare the extra passes.
    """
    d = p - q
    log_ratio = torch.log(p / q)
    if overflow:
        over = torch.isposinf(log_ratio.detach()) & (q.detach() > 0)
        safe_p, safe_q = torch.where(over, p, 1.0), torch.where(over, q, 1.0)
        log_ratio = torch.where(over, torch.log(safe_p) - torch.log(safe_q), log_ratio)
    terms = p * log_ratio - d  # accurate wherever |p/q - 1| is not small
    if has_zero:
        terms = torch.where(p == 0, q, terms)  # 0 log 0/q - 0 + q; q = 0 gives +inf already

    def series(idx):
        qs = q[idx]
        xs = d[idx] / qs  # p/q - 1 without rounding: p - q is exact when p ≈ q
        return qs * xs * xs * horner(xs, G_COEFFS)

    return _fix_small(terms, log_ratio, series)


def kl_terms_log(lp, lq, has_zero):
    """p log(p/q) − p + q = p·φ(log p − log q) ≥ 0 for each entry (log-probabilities)."""
    diff = lp - lq
    p = lp.exp()
    terms = p * (diff + torch.expm1(-diff))
    if has_zero:
        terms = torch.where(lp == -math.inf, lq.exp(), terms)

    def series(idx):
        ds = diff[idx]
        return p[idx] * ds * ds * horner(ds, _PHI_COEFFS)

    return _fix_small(terms, diff, series)


def js_terms(p, q, has_zero):
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
        return m[idx] * s * s * horner(s * s, H_COEFFS)

    return _fix_small(terms, log_a, series)


def js_terms_log(lp, lq, has_zero):
    """As `js_terms`, from log-probabilities: m = exp(logaddexp(lp, lq) - ln 2)."""
    lm = torch.logaddexp(lp, lq) - math.log(2)
    p, q = lp.exp(), lq.exp()
    terms = p * (lp - lm) + q * (lq - lm)
    if has_zero:
        terms = torch.where(lp == -math.inf, 0.0, p * (lp - lm)) + torch.where(lq == -math.inf, 0.0, q * (lq - lm))
    diff = lp - lq

    def series(idx):
        s = torch.tanh(diff[idx] / 2)  # (p - q)/(p + q)
        return lm[idx].exp() * s * s * horner(s * s, H_COEFFS)

    return _fix_small(terms, diff, series)


def textbook_gradient(kl, p, q, axis):
    """Give Σ[p log(p/q) − p + q] the gradient of Σ p log(p/q) (log(p/q) + 1 and −p/q).

    The added Σ(p − q) has value zero but shifts the gradient by the constant that
    ``torch.distributions`` and ``F.kl_div`` users expect.
    """
    if not (p.requires_grad or q.requires_grad):
        return kl
    mass = (p - q).sum(axis)
    return kl + (mass - mass.detach())
