"""The Rényi family in closed form for two members of one exponential family, without cancellation.

For p = p_θp and q = p_θq in one exponential family with log-normaliser A,

    D_α(p‖q) = [A(θ_α) − αA(θp) − (1 − α)A(θq)] / (α − 1),   θ_α = αθp + (1 − α)θq,

+inf where θ_α leaves the natural parameter space (possible only for α > 1). Written with the
member m_α = p_θα on the e-geodesic through p and q, and KL(r‖s) = A(θs) − A(θr) − ∇A(θr)·(θs − θr)
the Bregman divergence of A, the same quantity is

    D_α = KL(p‖q) − KL(p‖m_α)/(1 − α)            (used for α ≥ ½)
    D_α = [α KL(q‖p) − KL(q‖m_α)] / (1 − α)       (used for α < ½),

two exact rearrangements in which every KL is the non-cancelling closed form of
`klvae.measures.distributions` (series in the parameter differences near p = q). So D_α keeps its
relative accuracy for nearly equal p and q, where the log-normaliser form returns rounding noise,
and tends to KL(p‖q) as α → 1 with no 0/0 (KL(p‖m_α) is O((1 − α)²)). The first form loses at
most a factor ~α/|1 − α| of accuracy for α far from 1, the second ~1/(1 − α).

Families: Normal (through `klvae.measures.gaussian_divergences` instead), Exponential, Gamma, Chi2,
Beta, Dirichlet, Poisson, Bernoulli, Geometric, Binomial (equal counts), Categorical and
OneHotCategorical (all probabilities positive), and Independent of any of them.

From D_α: the Bhattacharyya distance D_B = D_½/2, Hellinger H = √(1 − e^{−D_½/2}), χ² = e^{D₂} − 1.

Reference: Nielsen & Nock (2011), "On Rényi and Tsallis entropies and divergences for exponential
families", eq. 9; Gil, Alajaji & Linder (2013).
"""

from __future__ import annotations

import math

import torch
from torch.distributions import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Chi2,
    Dirichlet,
    Exponential,
    Gamma,
    Geometric,
    OneHotCategorical,
    Poisson,
)

from klvae.measures.distributions import closed_kl

__all__ = ["geodesic_member", "renyi_exponential_family", "has_geodesic"]


def _gamma(d):
    return Gamma(d.concentration, d.rate, validate_args=False) if isinstance(d, Chi2) else d


def _mix(a, b, alpha):
    return alpha * a + (1.0 - alpha) * b


def _safe(valid, value, fallback):
    return torch.where(valid, value, fallback)


def _positive_mix(alpha, *pairs):
    """Mixed parameters αa + (1 − α)b for each (a, b), the mask where all are > 0, and safe copies."""
    mixed = [_mix(a, b, alpha) for a, b in pairs]
    valid = mixed[0] > 0
    for m in mixed[1:]:
        valid = valid & (m > 0)
    return [torch.where(valid, m, b) for m, (_, b) in zip(mixed, pairs)], valid


def _member_gamma(p, q, alpha):
    a1, a2 = torch.broadcast_tensors(p.concentration, q.concentration)
    r1, r2 = torch.broadcast_tensors(p.rate, q.rate)
    (c, r), valid = _positive_mix(alpha, (a1, a2), (r1, r2))
    return Gamma(c, r, validate_args=False), valid


def _member_beta(p, q, alpha):
    a1, a2 = torch.broadcast_tensors(p.concentration1, q.concentration1)
    b1, b2 = torch.broadcast_tensors(p.concentration0, q.concentration0)
    (a, b), valid = _positive_mix(alpha, (a1, a2), (b1, b2))
    return Beta(a, b, validate_args=False), valid


def _member_dirichlet(p, q, alpha):
    a1, a2 = torch.broadcast_tensors(p.concentration, q.concentration)
    m = _mix(a1, a2, alpha)
    valid = (m > 0).all(-1)
    return Dirichlet(torch.where(valid.unsqueeze(-1), m, a2), validate_args=False), valid


def _member_exponential(p, q, alpha):
    (r,), valid = _positive_mix(alpha, tuple(torch.broadcast_tensors(p.rate, q.rate)))
    return Exponential(r, validate_args=False), valid


def _member_poisson(p, q, alpha):
    r = torch.exp(_mix(torch.log(p.rate), torch.log(q.rate), alpha))
    return Poisson(r, validate_args=False), torch.ones_like(r, dtype=torch.bool)


def _member_logits(cls, p, q, alpha, **kw):
    z = _mix(p.logits, q.logits, alpha)
    valid = torch.isfinite(z).all(-1) if cls in (Categorical, OneHotCategorical) else torch.isfinite(z)
    return cls(logits=torch.where(torch.isfinite(z), z, 0.0), validate_args=False, **kw), valid


def _member_geometric(p, q, alpha):
    theta = _mix(torch.log1p(-p.probs), torch.log1p(-q.probs), alpha)  # log(1 − p): natural parameter
    valid = theta < 0
    probs = -torch.expm1(torch.where(valid, theta, -1.0))
    return Geometric(probs, validate_args=False), valid


def has_geodesic(p, q) -> bool:
    """Whether p and q are two members of one family this module knows (equal counts, positive probs)."""
    p, q = _gamma(p), _gamma(q)
    if type(p) is not type(q):
        return False
    if isinstance(p, Binomial):
        return bool((p.total_count == q.total_count).all())
    if isinstance(p, Categorical | OneHotCategorical):
        return p.probs.shape[-1] == q.probs.shape[-1] and bool((p.probs > 0).all() and (q.probs > 0).all())
    return isinstance(p, Gamma | Beta | Dirichlet | Exponential | Poisson | Bernoulli | Geometric)


def geodesic_member(p, q, alpha: float):
    """(m_α, valid): the member with θ_α = αθp + (1 − α)θq, and the mask where θ_α is admissible.

    >>> m, ok = geodesic_member(Poisson(torch.tensor(4.0)), Poisson(torch.tensor(1.0)), 0.5)
    >>> float(m.rate), bool(ok)  # the geometric mean of the rates
    (2.0, True)
    """
    p, q = _gamma(p), _gamma(q)
    if isinstance(p, Gamma):
        return _member_gamma(p, q, alpha)
    if isinstance(p, Beta):
        return _member_beta(p, q, alpha)
    if isinstance(p, Dirichlet):
        return _member_dirichlet(p, q, alpha)
    if isinstance(p, Exponential):
        return _member_exponential(p, q, alpha)
    if isinstance(p, Poisson):
        return _member_poisson(p, q, alpha)
    if isinstance(p, Geometric):
        return _member_geometric(p, q, alpha)
    if isinstance(p, Binomial):
        return _member_logits(Binomial, p, q, alpha, total_count=p.total_count)
    if isinstance(p, Bernoulli | Categorical | OneHotCategorical):
        return _member_logits(type(p), p, q, alpha)
    raise TypeError(f"no exponential-family form for {type(p).__name__} and {type(q).__name__}")


def renyi_exponential_family(p, q, alpha: float) -> torch.Tensor:
    """D_α(p‖q) in nats for two members of one exponential family (see the module), α ≥ 0.

    >>> g = lambda a, b: Gamma(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    >>> float(renyi_exponential_family(g(3.0, 2.0), g(3.0, 2.0 * (1 + 1e-9)), 0.5)) > 0  # not rounding noise
    True
    """
    if not has_geodesic(p, q):
        raise TypeError(
            f"p and q must be members of one exponential family, got {type(p).__name__} and {type(q).__name__}"
        )
    a = float(alpha)
    p, q = _gamma(p), _gamma(q)
    if a == 1:
        return closed_kl(p, q)
    m, valid = geodesic_member(p, q, a)
    if a >= 0.5:
        d = closed_kl(p, q) - closed_kl(p, m) / (1.0 - a)
    else:
        d = (a * closed_kl(q, p) - closed_kl(q, m)) / (1.0 - a)
    return torch.where(valid, d.clamp_min(0.0), math.inf)
