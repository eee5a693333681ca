"""The cancellation-free kernels of the measures: each term written once, for torch.

Every divergence klvae computes is a sum of non-negative terms that the textbook formula
evaluates as a difference of much larger numbers. The terms here avoid that cancellation:

- p log(p/q) − p + q (the KL term, `kl_terms`, `kl_terms_log`), q·g(p/q − 1) with
  g(x) = (1 + x) log1p(x) − x (`g_term`), its series below `LOG_RATIO_SERIES_AT`;
- p log(p/m) + q log(q/m), m = (p + q)/2 (the Jensen–Shannon term, `js_terms`, `js_terms_log`);
- u − log1p(u) (`phi`) and e^x − 1 − x (`expm1_minus_x`, `ratio_term`: the variance part of
  every Gaussian KL), its series below `EXPM1_SERIES_AT`;

and `rowwise` cuts large batches into cache-sized chunks. The NumPy twins of the KL and JS terms
are in `klvae.measures._numpy_path`; the log-gamma differences in `klvae.measures._lgamma`.
"""

from __future__ import annotations

import math

import torch

CHUNK = 1 << 17  # elements per chunk: temporaries stay in cache and are reused by malloc

# Below |log(p/q)| = LOG_RATIO_SERIES_AT the KL and JS terms (and g) are summed by their Taylor
# series in x = p/q − 1 (or s = (p − q)/(p + q)); above it the closed form loses at most a few ulps.
LOG_RATIO_SERIES_AT = 0.05
# g(x) = (1+x) log1p(x) - x = x² Σ_{n≥0} (-x)^n / ((n+2)(n+1))
G_COEFFS = tuple((-1) ** n / ((n + 2) * (n + 1)) for n in range(14))
# h(s) = (1+s) log1p(s) + (1-s) log1p(-s) = s² Σ_{k≥0} s^{2k} / ((k+1)(2k+1))
H_COEFFS = tuple(1 / ((k + 1) * (2 * k + 1)) for k in range(8))

# Below |x| = EXPM1_SERIES_AT, e^x − 1 − x is summed as a series (x²/2! + … + x⁷/7!, truncation
# < 1e-17 relative); above it, expm1(x) − x or q − 1 − log q lose at most a few ulps / |x|,
# i.e. < 1e-13 relative. A small threshold keeps the series' subset small.
EXPM1_SERIES_AT = 0.01
EXPM1_COEFFS = tuple(1.0 / math.factorial(k) for k in range(2, 8))

LOG_2PI_E = 1.0 + math.log(2.0 * math.pi)  # 2 × the entropy of N(0, 1) in nats


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


# φ(D) = D + expm1(-D) = D² Σ_{n≥0} (-D)^n / (n+2)!  (g and h: `klvae.measures._checks`)
_PHI_COEFFS = tuple((-1) ** n / math.factorial(n + 2) for n in range(16))


def _fix_small(terms, key, fix):
    """Replace terms where |key| < LOG_RATIO_SERIES_AT by fix(index); only those entries are recomputed."""
    idx = (key.detach().abs() < LOG_RATIO_SERIES_AT).nonzero(as_tuple=True)
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


def phi(u: torch.Tensor) -> torch.Tensor:
    """φ(u) = u − log1p(u) ≥ 0, by its series u²(½ − u/3 + …) where |u| < 2e-3."""
    small = u.detach().abs() < 2e-3
    us = torch.where(small, u, 0.0)
    series = us * us * (0.5 - us * (1 / 3 - us * (0.25 - us * (0.2 - us * (1 / 6 - us / 7)))))
    return torch.where(small, series, u - torch.log1p(u))


def _g(v: torch.Tensor) -> torch.Tensor:
    """g(v) = (1 + v) log1p(v) − v, by its series where |v| < LOG_RATIO_SERIES_AT."""
    small = v.detach().abs() < LOG_RATIO_SERIES_AT
    vs = torch.where(small, v, 0.0)
    return torch.where(small, vs * vs * horner(vs, G_COEFFS), torch.special.xlog1py(1 + v, v) - v)


def g_term(b: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
    """b·g(diff/b) = a log(a/b) − a + b for a = b + diff ≥ 0; +inf for b = 0 < a, 0 for a = b = 0."""
    b, diff = torch.broadcast_tensors(b, diff)
    pos = b > 0
    bs = torch.where(pos, b, 1.0)
    return torch.where(pos, bs * _g(diff / bs), torch.where(diff > 0, math.inf, 0.0))


def series_expm1_minus_x(x: torch.Tensor) -> torch.Tensor:
    """e^x - 1 - x = x² Σₖ xᵏ/(k+2)!, for |x| ≤ EXPM1_SERIES_AT (Horner)."""
    p = torch.full_like(x, EXPM1_COEFFS[-1])
    for c in reversed(EXPM1_COEFFS[:-1]):
        p = torch.addcmul(x.new_tensor(c), p, x)  # c + p·x
    return x * x * p


def expm1_minus_x(x: torch.Tensor) -> torch.Tensor:
    """e^x - 1 - x ≥ 0 to a few ulps for every x (small tensors: evaluates both branches)."""
    small = x.abs() < EXPM1_SERIES_AT
    x_small = torch.where(small, x, torch.zeros_like(x))  # keeps the unused branch finite
    x_large = torch.where(small, torch.ones_like(x), x)
    return torch.where(small, series_expm1_minus_x(x_small), torch.expm1(x_large) - x_large)


def ratio_term(a: torch.Tensor, b: torch.Tensor, power: int) -> torch.Tensor:
    """q - 1 - log q with q = (a/b)**power, i.e. e^x - 1 - x with x = power·log(a/b).

    One logarithm per element (the cost that dominates large diagonal batches). Its
    relative error is a few ulps divided by |x|, so the elements with |x| ≲ EXPM1_SERIES_AT are
    recomputed from log1p((a - b)/b), where a - b is exact, and the series.
    """
    if a.dim() == 0 and b.dim() == 0:
        return ratio_term(a[None], b[None], power)[0]
    r = a / b
    log_r = torch.log(r)  # not log q: (a/b)² underflows to 0 for a/b < 1e-154
    # q - 1 to a few ulps of itself: u = r - 1 is exact near r = 1 (r·r - 1 would not be),
    # r² - 1 = u (u + 2). In-place steps on fresh tensors save allocations; autograd
    # handles them.
    u = r - 1.0
    q_minus_1 = torch.add(u, 2.0).mul_(u) if power == 2 else u
    out = q_minus_1.sub_(log_r, alpha=power)
    near = (out.detach() < EXPM1_SERIES_AT**2 / 2).nonzero(as_tuple=True)  # |x| ≲ EXPM1_SERIES_AT
    if near[0].numel():
        a_near, b_near = a.expand_as(r)[near], b.expand_as(r)[near]
        x = power * torch.log1p((a_near - b_near) / b_near)
        out.index_put_(near, series_expm1_minus_x(x))
    return out
