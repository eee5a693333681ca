"""Exact partial derivatives for autograd: a value with the gradient its caller writes out.

A measure whose terms are computed without cancellation (`klvae.measures._kernels`, the closed
forms of `klvae.measures.distributions`) gives autograd its exact partials rather than letting it
differentiate the arithmetic: `with_partials` attaches them (saturated to the dtype's finite range,
so backward never meets inf·0 or NaN) and, when a gradient of the gradient is asked for, takes
them again as functions of the inputs, so Hessians are those of the formula.
`textbook_gradient` gives a sum of KL terms the gradient users of ``torch.distributions`` expect.
"""

from __future__ import annotations

import torch

__all__ = ["textbook_gradient", "with_partials"]


class _Partials(torch.autograd.Function):
    """value, with backward grad·gᵢ for each xᵢ (gᵢ given, saturated to the dtype's finite range);
    differentiated again (create_graph), with the gᵢ that `exact` recomputes from the inputs."""

    @staticmethod
    def forward(ctx, value, exact, live, *flat):
        gs, xs = flat[0::2], flat[1::2]
        ctx.shapes = [x.shape for x in xs]
        ctx.exact, ctx.live = exact, live
        ctx.save_for_backward(*gs)
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        gs = ctx.saved_tensors
        if torch.is_grad_enabled() and ctx.exact is not None:  # a gradient of the gradient is asked for
            gs = [g for g, keep in zip(ctx.exact(), ctx.live) if keep]
        out = [None, None, None]
        for g, shape in zip(gs, ctx.shapes):
            big = torch.finfo(g.dtype).max
            out += [None, (grad * torch.nan_to_num(g, posinf=big, neginf=-big)).sum_to_size(shape)]
        return tuple(out)


def with_partials(value, *pairs, exact=None):
    """`value` with the gradient Σ gᵢ·dxᵢ of the pairs (gᵢ, xᵢ): the exact partials of a term
    written out, so that backward never divides by the square of a subnormal; a partial past the
    dtype's range saturates at its largest finite value. `exact`: a function giving every gᵢ
    again as a function of the xᵢ (with their graph), for second derivatives (Hessians, Fisher
    information); without it the gradient is taken as constant there."""
    live = [x.requires_grad for _, x in pairs]
    if not any(live) or not torch.is_grad_enabled():
        return value.detach()
    flat = [t for (g, x), keep in zip(pairs, live) if keep for t in (g.detach(), x)]
    return _Partials.apply(value.detach(), exact, live, *flat)


def textbook_gradient(kl, p, q, axis):
    """Give Σ[p log(p/q) − p + q] the gradient of Σ p log(p/q) (log(p/q) + 1 and −p/q).

    The added Σ(p − q) has value zero but shifts the gradient by the constant that
    ``torch.distributions`` and ``F.kl_div`` users expect (0 at an entry with p = 0).
    """
    if not (p.requires_grad or q.requires_grad):
        return kl
    mass = (p - q).sum(axis)
    return kl + (mass - mass.detach())
