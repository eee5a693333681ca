"""Log space from logits: log softmax with its normaliser's small part, and log p − log q exact
where two rows of logits nearly agree (the logits paths of `klvae.measures.discrete`)."""

from __future__ import annotations

import math

import torch

__all__ = ["log_prob_difference", "log_softmax"]


def log_softmax(a, axis):
    """log softmax(a) along `axis`, its normaliser's small part kept: a − m − log1p(Σ_{j≠k} e^{a_j − m}),
    m = a_k the row's largest entry. (``torch.log_softmax`` rounds log(1 + e^{−700}) to 0, which
    is all of a log-probability near 0 and of the entropy of [−700, 0].)"""
    k = a.detach().argmax(axis, keepdim=True)
    m = a.gather(axis, k)
    rest = torch.exp(a - m).scatter(axis, k, 0.0)
    return a - m - torch.log1p(rest.sum(axis, keepdim=True))


def log_prob_difference(a, b, lp, lq, axis):
    """log p − log q for p = softmax(a), q = softmax(b) along `axis`, exact where p ≈ q.

    lp − lq of the rounded log_softmax outputs carries an absolute error ε(|log p| + |log q|),
    which is all of a difference below it. From the logits, c = a − b (exact where a ≈ b) less a
    row constant c̄, log p − log q = c − c̄ − log1p(Σ q·expm1(c − c̄)): every part is small and
    exact where the rows agree. Used on rows whose entries are finite with |c − c̄| ≤ 1; other
    rows (and entries) keep lp − lq.
    """
    finite = torch.isfinite(a.detach()) & torch.isfinite(b.detach())
    absent = (a.detach() == -math.inf) & (b.detach() == -math.inf)  # no mass on either side: no part
    c = torch.where(finite, a, 0.0) - torch.where(finite, b, 0.0)
    q = lq.detach().exp()
    c = c - (q * c.detach()).sum(axis, keepdim=True)  # any row constant cancels; this keeps c small
    near = ((finite & (c.detach().abs() <= 1)) | absent).all(axis, keepdim=True)
    if not bool(near.any()):
        return lp - lq
    c_in = torch.where(near & finite, c, 0.0)
    shift = torch.log1p((lq.exp() * torch.expm1(c_in)).sum(axis, keepdim=True))
    return torch.where(near, c_in - shift, lp - lq)
