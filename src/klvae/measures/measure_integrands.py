"""Every measure as an integral of the two densities, and its Monte Carlo estimate with a standard error.

Each measure of a pair of distributions p, q (entropy: p alone) is T(∫ g(p(x), q(x)) dx) for an
integrand g ≥ 0 (or of one sign) and a monotone finishing map T:

===============  =======================================  ======================================
measure          g(p, q)                                   T(I)
===============  =======================================  ======================================
entropy          −p log p                                  I
cross_entropy    −p log q                                  I
kl               p log(p/q)                                I
js               ½[p log(p/m) + q log(q/m)], m = (p+q)/2   I
hellinger        ½(√p − √q)²                               √I
tv               ½|p − q|                                  I
chi2             (p − q)²/q                                I
renyi (α)        p^α q^{1−α}                               log(I)/(α − 1)
alpha (α)        p^α q^{1−α}                               (1 − I)/(α(1 − α))
f (user's f)     q f(p/q), p·f′(∞) where q = 0             I
===============  =======================================  ======================================

`MeasureSpec.terms` evaluates g from log-densities (−inf off the support) without NaN, so one
spec serves quadrature, summation and Monte Carlo. The Monte Carlo estimate draws from p for
entropy, cross-entropy and KL (g/p = log-ratio terms) and otherwise half from p and half from q,
weighting by the mixture m = (p + q)/2, which is positive wherever g is; its standard error is
the stratified one, carried through T by the first-order (delta) rule.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from klvae.measures.monte_carlo import mc_seeded

__all__ = ["MeasureSpec", "measure_spec", "MEASURES", "log_density", "mc_measure", "finish_error"]

MEASURES = ("entropy", "cross_entropy", "kl", "js", "hellinger", "tv", "chi2", "renyi", "alpha", "f")
_LOG2 = math.log(2.0)


@dataclass(frozen=True)
class MeasureSpec:
    """A measure as an integral: `name`, its order `alpha`, the user's `f` and f′(∞)."""

    name: str
    alpha: float | None = None
    f: object = None
    f_at_infinity: float = math.inf

    @property
    def from_p(self) -> bool:
        """Whether g vanishes where p does (then Monte Carlo samples p alone)."""
        return self.name in ("entropy", "cross_entropy", "kl")

    def terms(self, lp: torch.Tensor, lq: torch.Tensor | None) -> torch.Tensor:
        """g(p, q) from log p and log q (−inf off the support), elementwise; 0 where p = q = 0."""
        on_p = lp > -math.inf
        lps = torch.where(on_p, lp, 0.0)
        if self.name == "entropy":
            return torch.where(on_p, -lps.exp() * lps, 0.0)
        assert lq is not None
        on_q = lq > -math.inf
        lqs = torch.where(on_q, lq, 0.0)
        if self.name == "cross_entropy":
            return torch.where(on_p, torch.where(on_q, -lps.exp() * lqs, math.inf), 0.0)
        if self.name == "kl":
            return torch.where(on_p, torch.where(on_q, lps.exp() * (lps - lqs), math.inf), 0.0)
        if self.name == "js":
            lm = torch.logaddexp(lp, lq) - _LOG2
            lms = torch.where(on_p | on_q, lm, 0.0)
            return 0.5 * (
                torch.where(on_p, lps.exp() * (lps - lms), 0.0) + torch.where(on_q, lqs.exp() * (lqs - lms), 0.0)
            )
        if self.name == "hellinger":
            return 0.5 * (torch.exp(0.5 * lp) - torch.exp(0.5 * lq)).square()
        if self.name == "tv":
            return 0.5 * (lp.exp() - lq.exp()).abs()
        if self.name == "chi2":  # q (p/q − 1)², in logs where p/q > 1 (q may underflow while p²/q does not)
            d = torch.where(on_q, lps - lqs, 0.0)
            dp = torch.where(d > 0, d, 1.0)
            above = torch.exp(lqs + 2 * (dp + torch.log(-torch.expm1(-dp))))
            inside = torch.where(d > 0, above, lqs.exp() * torch.expm1(torch.where(d > 0, 0.0, d)).square())
            return torch.where(on_q, torch.where(on_p, inside, lqs.exp()), torch.where(on_p, math.inf, 0.0))
        if self.name in ("renyi", "alpha"):
            return self._power_terms(lps, lqs, on_p, on_q)
        return self._f_terms(lps, lqs, on_p, on_q)

    def _power_terms(self, lps, lqs, on_p, on_q):
        a = float(self.alpha)
        both = torch.exp(a * lps + (1.0 - a) * lqs)
        only_p = math.inf if a > 1 else 0.0
        only_q = lqs.exp() if a == 0 else (math.inf if a < 0 else 0.0)
        return torch.where(on_p & on_q, both, torch.where(on_p, only_p, torch.where(on_q, only_q, 0.0)))

    def _f_terms(self, lps, lqs, on_p, on_q):
        # where p/q > e^36 ≈ 4e15 and f′(∞) is finite, q f(p/q) = p f′(∞) to double precision (and
        # q f(p/q) itself may be 0·inf); past e^700, where p/q overflows, p f′(∞) for every f
        limit = 36.0 if math.isfinite(self.f_at_infinity) else 700.0
        far = on_p & on_q & (lps - lqs > limit)
        ratio = torch.where(on_q & ~far, (lps - lqs).exp(), 1.0)
        ratio = torch.where(on_p, ratio, 0.0)
        inside = lqs.exp() * self.f(ratio)
        edge = torch.where(on_p, lps.exp() * self.f_at_infinity, 0.0)
        return torch.where(on_q & ~far, inside, edge)

    def finish(self, integral: torch.Tensor) -> torch.Tensor:
        """T(I): the measure from the integral of `terms`."""
        if self.name == "hellinger":
            return integral.clamp_min(0.0).sqrt()
        a = float(self.alpha) if self.alpha is not None else math.nan
        if self.name == "renyi":
            return torch.log(integral) / (a - 1.0)
        if self.name == "alpha":
            return (1.0 - integral) / (a * (1.0 - a))
        return integral


def measure_spec(name: str, *, alpha=None, f=None, f_at_infinity=math.inf) -> MeasureSpec:
    """The `MeasureSpec` of measure `name` (one of `MEASURES`); ValueError for another name."""
    if name not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}; got {name!r}")
    return MeasureSpec(name, None if alpha is None else float(alpha), f, f_at_infinity)


def finish_error(spec: MeasureSpec, integral: torch.Tensor, error: torch.Tensor) -> torch.Tensor:
    """An error of the integral carried through T: the larger change of T(I ± error)."""
    integral, error = integral.detach(), error.detach()
    mid = spec.finish(integral)
    up, down = spec.finish(integral + error), spec.finish((integral - error).clamp_min(0.0))
    out = torch.maximum((up - mid).abs(), (down - mid).abs())
    return torch.where(error == 0, torch.zeros_like(out), out)


# ------------------------------------------------------------------ densities off their support


def _parts(d):
    """The distribution and every distribution inside it (base, components, mixture weights)."""
    out = [d]
    for inner in d.__dict__.values():  # base_dist, component_distribution, Beta's _dirichlet, …
        if isinstance(inner, torch.distributions.Distribution):
            out.extend(_parts(inner))
    return out


@contextmanager
def _unvalidated(d):
    parts = _parts(d)
    saved = [x.__dict__.get("_validate_args") for x in parts]
    for x in parts:
        x._validate_args = False
    try:
        yield
    finally:
        for x, s in zip(parts, saved):
            if s is None:
                del x._validate_args
            else:
                x._validate_args = s


def log_density(d, x: torch.Tensor) -> torch.Tensor:
    """log d(x), −inf where x lies off d's support (never a validation error or a NaN)."""
    with _unvalidated(d):
        lp = d.log_prob(x)
    ok = d.support.check(x)
    return torch.where(ok & ~torch.isnan(lp), lp, -math.inf)


# ------------------------------------------------------------------ Monte Carlo


def _draw(d, n):
    return d.rsample((n,)) if getattr(d, "has_rsample", False) else d.sample((n,))


def _weighted(spec, p, q, x, log_weight):
    lp = log_density(p, x)
    lq = None if q is None else log_density(q, x)
    if spec.name in ("kl", "cross_entropy", "entropy") and log_weight is None:  # g/p as a log-ratio
        if spec.name == "entropy":
            return -lp
        return lp - lq if spec.name == "kl" else -lq
    lw = lp if log_weight is None else log_weight(lp, lq)
    return spec.terms(lp, lq) * torch.exp(-lw)


def mc_measure(spec: MeasureSpec, p, q, n: int, seed: int | None):
    """(value, stderr) of spec's measure by Monte Carlo with `n` samples; value after T."""
    with mc_seeded(seed):
        if spec.from_p or q is None:
            vals = _weighted(spec, p, q, _draw(p, n), None)
            integral, se = vals.mean(0), vals.std(0) / math.sqrt(n)
        else:
            half = max(n // 2, 2)
            x1, x2 = _draw(p, half), _draw(q, half)

            def log_m(lp, lq):
                return torch.logaddexp(lp, lq) - _LOG2

            v1, v2 = _weighted(spec, p, q, x1, log_m), _weighted(spec, p, q, x2, log_m)
            integral = 0.5 * (v1.mean(0) + v2.mean(0))
            se = 0.5 * torch.sqrt((v1.var(0) + v2.var(0)) / half)
    return spec.finish(integral), finish_error(spec, integral, se)
