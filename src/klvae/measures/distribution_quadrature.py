"""Batched quadrature over 1-D densities and summation over discrete supports, with error bounds.

`integrate_1d(spec, p, q)` integrates a `MeasureSpec` integrand g over the real line for every
pair of a batch at once, in torch (gradients flow to the parameters):

- the integral is split by the partition of unity p/(p + q) + q/(p + q) = 1 into a part that
  lives where p has its mass and a part that lives where q has it (entropy: the first only);
- each part is integrated in its own distribution's chart: x = c + s·v on the real line
  (c, s its mean and standard deviation, or loc and scale), x = a + m·e^v on a half-line,
  x = a + (b − a)·σ(c + v) on an interval, then v = u/(1 − u²) maps the whole line to
  u ∈ (−1, 1), so heavy tails and edge singularities become bounded integrands;
- u is cut at the images of v = 0, ±1, ±2, ±4, ±8, ±16, ±40, and every piece is integrated
  by the 15-point Gauss–Kronrod rule, bisecting (per pair) each piece whose |K₁₅ − G₇| exceeds
  its share of max(atol, rtol·∫|g|) (the share: the piece's length, at least 1/64), up to
  `max_rounds` times. The error bound is Σ|K₁₅ − G₇| over the pieces, the quantity QUADPACK's
  estimate is built from (it overstates the error of a smooth integrand by orders of magnitude).

`sum_discrete(spec, p, q)` sums g over the union of the supports: exactly for finite supports
(Bernoulli, Binomial, Categorical, OneHotCategorical), and for the counting supports (Poisson,
Geometric, their mixtures) up to a point K beyond which the terms decrease with a ratio r < 1;
the bound on the truncated tail is |t_K|·r/(1 − r) (exact for a geometric tail, an upper bound
when the ratio of successive terms does not increase, as for Poisson and Geometric terms).

Reference: Piessens et al. (1983), *QUADPACK*, §2.2 (Gauss–Kronrod rules and error estimates).
"""

from __future__ import annotations

import math

import torch
from torch.distributions import constraints

from klvae.measures._checks import broadcast_shapes
from klvae.measures.measure_integrands import MeasureSpec, log_density

__all__ = ["integrate_1d", "sum_discrete", "is_discrete", "is_scalar_event", "batch_shape_of"]

_X = (0.991455371120812639206854697526329, 0.949107912342758524526189684047851, 0.864864423359769072789712788640926,
      0.741531185599394439863864773280788, 0.586087235467691130294144838258730, 0.405845151377397166906606412076961,
      0.207784955007898467600689403773245)  # fmt: skip
_WK = (0.022935322010529224963732008058970, 0.063092092629978553290700663189204, 0.104790010322250183839876322541518,
       0.140653259715525918745189590510238, 0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
       0.204432940075298892414161999234649, 0.209482141084727828012999174891714)  # fmt: skip
_WG = (0.129484966168869693270611432679082, 0.279705391489276667901467771423780, 0.381830050505118944950369775488975,
       0.417959183673469387755102040816327)  # fmt: skip
_BREAKS_V = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 40.0)


def _rule(dtype, device):
    x = torch.tensor(list(_X) + [0.0] + [-v for v in reversed(_X)], dtype=dtype, device=device)
    wk = torch.tensor(list(_WK) + list(reversed(_WK[:-1])), dtype=dtype, device=device)
    wg = torch.zeros(15, dtype=dtype, device=device)
    wg[1::2] = torch.tensor(list(_WG[:3]) + [_WG[3]] + list(reversed(_WG[:3])), dtype=dtype, device=device)
    return x, wk, wg


def batch_shape_of(p, q=None) -> torch.Size:
    return broadcast_shapes(p.batch_shape, q.batch_shape) if q is not None else p.batch_shape


def is_discrete(d) -> bool:
    return bool(getattr(d.support, "is_discrete", False))


def is_scalar_event(d) -> bool:
    return d.event_shape == torch.Size([])


# ------------------------------------------------------------------ charts


def _finite(t, fallback):
    t = torch.as_tensor(t).detach()
    return torch.where(torch.isfinite(t) & (t.abs() < 1e300), t, fallback)


def _moment(d, name, fallback_attr, default):
    try:
        t = getattr(d, name)
    except (NotImplementedError, AttributeError, ValueError):
        t = torch.tensor(math.nan)
    alt = getattr(d, fallback_attr, None)
    alt = torch.full_like(torch.as_tensor(t, dtype=torch.float64), default) if alt is None else alt.detach()
    return _finite(t, torch.as_tensor(alt, dtype=torch.float64))


def _chart(d, shape, dtype):
    """(kind, a, b, c, s) of d's chart, each (numel of `shape`,) in `dtype`; see the module."""
    sup = d.support
    lo, hi = getattr(sup, "lower_bound", None), getattr(sup, "upper_bound", None)
    mean = _moment(d, "mean", "loc", 0.0)
    sd = _moment(d, "stddev", "scale", 1.0)

    def flat(t):
        return torch.as_tensor(t, dtype=dtype).detach().expand(shape).reshape(-1)

    if lo is None and hi is None:
        return "line", None, None, flat(mean), flat(torch.where(sd > 0, sd, 1.0))
    if hi is None:
        lo = torch.as_tensor(lo, dtype=dtype)
        m = torch.as_tensor(mean, dtype=dtype) - lo
        return "half", flat(lo), None, flat(torch.log(torch.where(m > 0, m, 1.0))), None
    lo, hi = torch.as_tensor(lo, dtype=dtype), torch.as_tensor(hi, dtype=dtype)
    frac = ((torch.as_tensor(mean, dtype=dtype) - lo) / (hi - lo)).clamp(1e-6, 1 - 1e-6)
    return "interval", flat(lo), flat(hi), flat(torch.logit(frac)), None


def _to_x(chart, v):
    """x(v) and dx/dv for v of shape (M, B)."""
    kind, a, b, c, s = chart
    if kind == "line":
        return c + s * v, s.expand_as(v)
    if kind == "half":
        e = torch.exp(c + v)
        return a + e, e
    sig = torch.sigmoid(c + v)
    return a + (b - a) * sig, (b - a) * sig * (1 - sig)


def _u_breaks(dtype, device):
    v = torch.tensor(_BREAKS_V[1:], dtype=torch.float64)
    u = (torch.sqrt(1 + 4 * v * v) - 1) / (2 * v)  # v = u/(1 − u²)
    pts = torch.cat([-u.flip(0), torch.zeros(1, dtype=torch.float64), u])
    return torch.cat([torch.tensor([-1.0], dtype=torch.float64), pts, torch.tensor([1.0], dtype=torch.float64)]).to(
        dtype=dtype, device=device
    )


# ------------------------------------------------------------------ adaptive Gauss–Kronrod


def _panel(fun, a, b, rule):
    """K₁₅ and G₇ of fun on each interval [a, b] (shapes (I, B)): each (I, B)."""
    x, wk, wg = rule
    half, mid = (b - a) / 2, (b + a) / 2
    u = mid.unsqueeze(1) + half.unsqueeze(1) * x.view(1, 15, 1)  # (I, 15, B)
    vals = fun(u.reshape(-1, u.shape[-1])).reshape(u.shape)
    vals = torch.where(half.unsqueeze(1) > 0, vals, 0.0)
    k = half * torch.einsum("ijb,j->ib", vals, wk)
    g = half * torch.einsum("ijb,j->ib", vals, wg)
    return k, g


def _adaptive(fun, nb, dtype, device, rtol, atol, max_rounds):
    """∫_{−1}^{1} fun(u) du for each of `nb` columns: (value (nb,), error bound (nb,), pieces)."""
    rule = _rule(dtype, device)
    br = _u_breaks(dtype, device)
    a, b = br[:-1, None].expand(-1, nb).clone(), br[1:, None].expand(-1, nb).clone()
    total = torch.zeros(nb, dtype=dtype, device=device)
    err = torch.zeros(nb, dtype=dtype, device=device)
    scale, pieces = None, a.shape[0]
    for rnd in range(max_rounds + 1):
        k, g = _panel(fun, a, b, rule)
        e = (k - g).detach().abs()
        if scale is None:
            scale = k.detach().abs().sum(0)
        allowed = torch.clamp(rtol * scale, min=atol) * torch.clamp((b - a) / 2, min=1 / 64)
        bad = (e > allowed) & torch.isfinite(k.detach()) & (rnd < max_rounds)
        good = ~bad
        total = total + torch.where(good, k, 0.0).sum(0)
        err = err + torch.where(good, e, 0.0).sum(0)
        n_bad = int(bad.sum(0).max()) if bad.any() else 0
        if n_bad == 0:
            break
        order = torch.argsort((~bad).to(torch.int8), dim=0, stable=True)[:n_bad]
        keep = torch.gather(bad, 0, order)
        a2, b2 = torch.gather(a, 0, order), torch.gather(b, 0, order)
        b2 = torch.where(keep, b2, a2)  # padding: empty intervals
        m = (a2 + b2) / 2
        a, b = torch.cat([a2, m]), torch.cat([m, b2])
        pieces += n_bad
    return total, err, pieces


def integrate_1d(spec: MeasureSpec, p, q=None, *, rtol=1e-10, atol=1e-300, max_rounds=40):
    """(integral of spec.terms, its error bound, pieces) for 1-D continuous p (and q), batch shaped."""
    shape = batch_shape_of(p, q)
    nb = max(1, shape.numel())
    dtype, out = torch.float64, result_dtype(p, q)  # integrated in float64, returned in the parameters' dtype
    device = _device_of(p)
    total = torch.zeros(nb, dtype=dtype, device=device)
    error = torch.zeros(nb, dtype=dtype, device=device)
    pieces = 0
    for side, d in (("p", p), ("q", q)):
        if d is None:
            continue
        chart = _chart(d, shape, dtype)

        def fun(u, chart=chart, side=side):
            v = u / (1 - u * u)
            x, dxdv = _to_x(chart, v)
            jac = dxdv * (1 + u * u) / (1 - u * u).square()
            ok = torch.isfinite(x) & torch.isfinite(jac) & (jac > 0)
            x = torch.where(ok, x, _to_x(chart, torch.zeros_like(v))[0])  # a point inside: no inf in the graph
            xs = x.reshape(x.shape[:1] + shape)
            lp = log_density(p, xs).reshape(x.shape)
            lq = None if q is None else log_density(q, xs).reshape(x.shape)
            g = spec.terms(lp, lq)
            if q is not None:  # this side's share p/(p + q) or q/(p + q)
                mine, other = (lp, lq) if side == "p" else (lq, lp)
                w = torch.where(
                    mine > -math.inf, torch.sigmoid(torch.where(other > -math.inf, mine - other, math.inf)), 0.0
                )
                g = torch.where(w > 0, g * w, 0.0)
            return torch.where(ok, g * torch.where(ok, jac, 0.0), 0.0)

        t, e, n = _adaptive(fun, nb, dtype, device, rtol, atol, max_rounds)
        total, error, pieces = total + t, error + e, pieces + n
    return total.reshape(shape).to(out), error.reshape(shape).to(out), pieces


def _tensors(d):
    for t in d.__dict__.values():
        if torch.is_tensor(t):
            yield t
        elif isinstance(t, torch.distributions.Distribution):
            yield from _tensors(t)


def result_dtype(p, q=None):
    """The floating dtype of the distributions' parameters (the default dtype if none)."""
    for d in (p, q):
        for t in _tensors(d) if d is not None else ():
            if t.is_floating_point():
                return t.dtype
    return torch.get_default_dtype()


def _device_of(p):
    for t in _tensors(p):
        return t.device
    return torch.device("cpu")


# ------------------------------------------------------------------ discrete supports


def _upper(d) -> float:
    """An upper end of d's support, or a first truncation point for a counting support."""
    hi = getattr(d.support, "upper_bound", None)
    if hi is not None and math.isfinite(float(torch.as_tensor(hi).max())):
        return float(torch.as_tensor(hi).max()) + 1
    if isinstance(d, torch.distributions.OneHotCategorical | torch.distributions.Categorical):
        return d.probs.shape[-1]
    mean = float(_moment(d, "mean", "rate", 1.0).max())
    sd = float(_moment(d, "stddev", "rate", 1.0).max())
    return math.ceil(mean + 12 * sd + 40)


def _finite_support(d) -> bool:
    hi = getattr(d.support, "upper_bound", None)
    one_hot = isinstance(d.support, type(constraints.one_hot))
    return one_hot or (hi is not None and math.isfinite(float(torch.as_tensor(hi).max())))


def _points(d, k, dtype, device, nbatch):
    if isinstance(d.support, type(constraints.one_hot)):
        return torch.eye(k, dtype=dtype, device=device).view((k,) + (1,) * nbatch + (k,))
    return torch.arange(k, dtype=dtype, device=device).view((k,) + (1,) * nbatch)


def sum_discrete(spec: MeasureSpec, p, q=None, *, rtol=1e-15, max_points=1 << 22):
    """(Σ spec.terms over the support, bound on the truncated tail, points) for discrete p, q."""
    shape = batch_shape_of(p, q)
    dtype, out = torch.float64, result_dtype(p, q)
    device = _device_of(p)
    dists = [d for d in (p, q) if d is not None]
    finite = all(_finite_support(d) for d in dists)
    k = int(max(_upper(d) for d in dists))
    while True:
        x = _points(p, k, dtype, device, len(shape))
        lp = log_density(p, x)
        lq = None if q is None else log_density(q, x)
        terms = spec.terms(lp, lq).expand((k,) + shape)
        total = terms.sum(0)
        if finite:
            return total.to(out), torch.zeros_like(total, dtype=out), k
        last, before = terms[-1].detach().abs(), terms[-2].detach().abs()
        r = torch.where(before > 0, last / before, torch.where(last > 0, math.inf, 0.0))
        tail = torch.where(r < 1, last * r / (1 - r).clamp_min(1e-300), math.inf)
        tail = torch.where(last == 0, 0.0, tail)
        small = tail <= rtol * total.detach().abs().clamp_min(1e-300)
        if bool(small.all()) or 2 * k * max(1, shape.numel()) > max_points:
            return total.to(out), tail.to(out), k
        k *= 2
