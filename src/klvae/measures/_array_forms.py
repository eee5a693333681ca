"""Closed forms written once over arrays or tensors (`klvae.measures.distributions`).

`on_arrays` runs a closed form on NumPy arrays for a batch on the CPU without gradient (its
parameters converted once, the answer once: NumPy's per-call cost on a few thousand pairs is a
fraction of torch's), on the tensors elsewhere, and with a gradient gives the form's exact
partials (`klvae.measures._partials`). `two_point` is the KL of two Bernoulli distributions
over their parameters (probabilities or logits), which Binomial and Geometric scale; `digamma`
and `trigamma` are ψ and ψ′ of either kind, for the log Γ families' partials.
"""

from __future__ import annotations

import numpy as np
import scipy.special
import torch

from klvae.measures._kernels import cpu_without_grad, kl_terms
from klvae.measures._numpy_kernels import two_point_kl
from klvae.measures._partials import with_partials
from klvae.measures.entropies import given_by_logits, two_sides

__all__ = ["digamma", "on_arrays", "trigamma", "two_point", "where"]


def on_arrays(fn, *params, rows=False, partials=None):
    """fn of the parameters: of their NumPy arrays, converted once, for a batch on the CPU without
    gradient (NumPy's per-call cost on a few thousand pairs is a fraction of torch's); else of the
    tensors. Each closed form of `klvae.measures.distributions` is written once, over arrays or
    tensors alike. fn is elementwise (it gets the arrays flattened) unless `rows`: then it reduces
    the last axis.

    `partials`: a function of the parameters giving fn's partial derivatives in each. With it, a
    gradient is the exact partials times the incoming one (`with_partials`): the value is taken
    without a graph (in NumPy on the CPU), and a second derivative from the partials' own."""
    if partials is not None and torch.is_grad_enabled() and any(t.requires_grad for t in params):
        plain = [t.detach() for t in params]
        value = on_arrays(fn, *plain, rows=rows)
        if cpu_without_grad(*plain) and min(t.numel() for t in plain) and max(t.dim() for t in plain):  # NumPy too
            grads = [torch.from_numpy(np.asarray(g)) for g in partials(*(t.numpy() for t in plain))]
        else:
            grads = partials(*plain)
        if rows:  # the value is a sum along the last axis: each partial has that axis too
            return with_partials(value[..., None], *zip(grads, params), exact=lambda: partials(*params))[..., 0]
        return with_partials(value, *zip(grads, params), exact=lambda: partials(*params))
    if cpu_without_grad(*params):
        arrays = [t.numpy() for t in params]
        shape = arrays[0].shape
        if any(a.shape != shape for a in arrays):
            arrays = np.broadcast_arrays(*arrays)
            shape = arrays[0].shape
        if not shape or 0 in shape:  # a scalar or an empty batch: the tensors' path
            return fn(*params)
        if len(shape) > 1 and not rows:  # elementwise: in 1-d, where np.nonzero is ~10× faster
            return torch.from_numpy(np.asarray(fn(*(a.reshape(-1) for a in arrays))).reshape(shape))
        return torch.from_numpy(np.asarray(fn(*arrays)))
    return fn(*params)


def two_point(p, q):
    """(p's and q's parameter tensors, the KL of Bernoulli(p) to Bernoulli(q) as a function of
    them, its partials in them): each side p and 1 − p from the logits where they were given."""
    (tp, sides_p), (tq, sides_q) = two_sides(p), two_sides(q)
    p_logits, q_logits = given_by_logits(p), given_by_logits(q)

    def kl(a, b):
        (pp, pm), (qp, qm) = sides_p(a), sides_q(b)
        xp = np if isinstance(pp, np.ndarray) else torch
        diff = _difference(a, b, pp, qp, qm, p_logits and q_logits)  # the other side's: its negative, exactly
        if xp is np and pp.shape == pm.shape == qp.shape == qm.shape:
            fast = two_point_kl(pp, pm, qp, qm, diff)
            if fast is not None:
                return fast

        def joined(one, other):  # both sides as one flat array: one kl_terms call
            sides = (
                (one, other)
                if one.shape == other.shape == diff.shape
                else (np.broadcast_arrays if xp is np else torch.broadcast_tensors)(one, other, diff)[:2]
            )
            return xp.concatenate([t.reshape(-1) for t in sides])

        both = kl_terms(joined(pp, pm), joined(qp, qm), diff=joined(diff, -diff))
        half = both.shape[0] // 2
        return (both[:half] + both[half:]).reshape(diff.shape)

    def partials(a, b):
        """∂KL/∂(p's parameter, q's): in the probabilities logit p − logit q = log1p(d/(q(1 − p)))
        and −d/(q(1 − q)), d = p − q; in a logit, times σ(l)σ(−l)."""
        (pp, pm), (qp, qm) = sides_p(a), sides_q(b)
        d = _difference(a, b, pp, qp, qm, p_logits and q_logits)
        if p_logits and q_logits:
            logit_gap = a - b
        else:
            logit_gap = (np.log1p if isinstance(d, np.ndarray) else torch.log1p)(d / (qp * pm))
        return (pp * pm * logit_gap if p_logits else logit_gap), (-d if q_logits else -d / (qp * qm))

    return tp, tq, kl, sides_p, partials


def _difference(a, b, pp, qp, qm, logits):
    """p − q, exact where p ≈ q: from both logits σ(a) − σ(b) = −σ(a) σ(−b) expm1(b − a), b − a
    exact where the two are close; else the sides' difference."""
    if logits:
        return -pp * qm * (np.expm1 if isinstance(pp, np.ndarray) else torch.expm1)(b - a)
    return pp - qp


def where(inside, value, other):
    return (np if isinstance(value, np.ndarray) else torch).where(inside, value, other)


def digamma(x):
    """ψ(x) of a NumPy array (SciPy's) or a tensor (torch's, with its graph)."""
    return scipy.special.psi(x) if isinstance(x, np.ndarray) else torch.digamma(x)


def trigamma(x):
    """ψ′(x) of a NumPy array or a tensor, by torch's kernel for both (SciPy's polygamma goes
    through the Hurwitz zeta function, some 20 times slower)."""
    if isinstance(x, np.ndarray):
        return torch.polygamma(1, torch.from_numpy(x if x.flags.writeable else x.copy())).numpy()
    return torch.polygamma(1, x)
