"""The torch path of `klvae.measures.divergences` and `klvae.measures.renyi`: tensors (any device,
autograd kept), Gaussian distribution objects (closed forms) and other distribution objects
(`distribution_measure`). Those modules import it on the first input that needs it, so NumPy and
list input never start torch; the sums themselves are `klvae.measures._divergence_terms`', called with ``torch``.
"""

from __future__ import annotations

import math

import torch

from klvae.measures._checks import convert, finish, validate
from klvae.measures._divergence_terms import amari_alpha, chi2, hellinger, renyi
from klvae.measures._divergence_terms import total_variation as tv_terms
from klvae.measures._numpy_path import log_base
from klvae.measures.discrete import kl_divergence
from klvae.measures.distribution_measures import distribution_measure, is_distribution
from klvae.measures.gaussian_divergences import (
    alpha_gaussian,
    chi2_gaussian,
    hellinger_gaussian,
    is_gaussian,
    renyi_gaussian,
    tv_gaussian,
)


def _gaussians(p, q, name) -> bool:
    """True when p and q are Gaussian distribution objects; TypeError for other objects."""
    dists = [isinstance(x, torch.distributions.Distribution) for x in (p, q)]
    if not any(dists):
        return False
    if all(dists) and is_gaussian(p) and is_gaussian(q):
        return True
    raise TypeError(
        f"{name} takes probability arrays, or two Gaussians (Normal, Independent(Normal, 1), "
        f"MultivariateNormal); got {type(p).__name__} and {type(q).__name__}"
    )


def objects(p, q, name) -> bool:
    """True when p or q is a distribution object (which `distribution_measure` or a Gaussian closed
    form measures) rather than probabilities."""
    return is_distribution(p) or is_distribution(q) or _gaussians(p, q, name)


def _rows(p, q, axis, normalize):
    """Validated probability rows (p, q), the outcome axis, and the `Inputs` to answer with."""
    inputs = convert((p, q), ("p", "q"), axis)
    (tp, tq), _ = validate(inputs.tensors, ("p", "q"), inputs.axis, normalize, False, inputs.tols)
    return tp, tq, inputs.axis, inputs


def hellinger_distance(p, q, *, axis=-1, normalize=False, exact=False):
    """`klvae.measures.divergences.hellinger_distance` on tensors and distribution objects."""
    if is_distribution(p) or is_distribution(q):  # klvae.measures.distribution_measures
        return distribution_measure("hellinger", p, q, exact=exact)
    if _gaussians(p, q, "hellinger_distance"):
        return hellinger_gaussian(p, q)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    return finish(hellinger(torch, tp, tq, axis), inputs)


def total_variation(p, q, *, axis=-1, normalize=False, n: int = 100_000, seed: int | None = 0, exact=False):
    """`klvae.measures.divergences.total_variation` on tensors and distribution objects."""
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("tv", p, q, exact=exact, n=n, seed=seed)
    if _gaussians(p, q, "total_variation"):
        return tv_gaussian(p, q, n=n, seed=seed)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    return finish(tv_terms(torch, tp, tq, axis), inputs)


def chi2_divergence(p, q, *, axis=-1, normalize=False, exact=False):
    """`klvae.measures.divergences.chi2_divergence` on tensors and distribution objects."""
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("chi2", p, q, exact=exact)
    if _gaussians(p, q, "chi2_divergence"):
        return chi2_gaussian(p, q)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    return finish(chi2(torch, tp, tq, axis), inputs)


def renyi_divergence(p, q, a: float, *, base=None, axis=-1, normalize=False, exact=False):
    """`klvae.measures.renyi.renyi_divergence` on tensors and distribution objects (α checked)."""
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("renyi", p, q, alpha=a, base=base, exact=exact)
    if _gaussians(p, q, "renyi_divergence"):
        return renyi_gaussian(p, q, a) / log_base(base)
    if a == 1:
        return kl_divergence(p, q, base=base, axis=axis, normalize=normalize)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    return finish(renyi(torch, tp, tq, axis, a) / log_base(base), inputs)


def alpha_divergence(p, q, a: float, *, axis=-1, normalize=False, exact=False):
    """`klvae.measures.renyi.alpha_divergence` on distribution objects, and on tensors for
    α ≥ ½, α ≠ 1 (the caller turns the other orders around)."""
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("alpha", p, q, alpha=a, exact=exact)
    if _gaussians(p, q, "alpha_divergence"):
        return alpha_gaussian(p, q, a)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    return finish(amari_alpha(torch, tp, tq, axis, a), inputs)


def f_divergence(p, q, f, *, axis=-1, normalize=False, f_at_infinity=math.inf, exact=False):
    """`klvae.measures.divergences.f_divergence`: `f` is a function of tensors, so every input comes here."""
    if is_distribution(p) or is_distribution(q):
        return distribution_measure("f", p, q, f=f, f_at_infinity=f_at_infinity, exact=exact)
    tp, tq, axis, inputs = _rows(p, q, axis, normalize)
    one = f(torch.ones((), dtype=tp.dtype, device=tp.device))
    if not torch.is_tensor(one) or one.numel() != 1 or abs(float(one)) > 1e-12:
        raise ValueError(f"f must be 0 at t = 1 (f(1) = {one!r}): it does not define a divergence")
    pos = tq > 0
    inside = tq * f(torch.where(pos, tp, 1.0) / torch.where(pos, tq, 1.0))
    edge = torch.where(tp > 0, tp * f_at_infinity, 0.0)
    return finish(torch.where(pos, inside, edge).sum(axis), inputs)
