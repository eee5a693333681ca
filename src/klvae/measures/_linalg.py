"""Triangular solves for the Gaussian measures (`klvae.measures.mvn`, `klvae.measures.lowrank`)."""

from __future__ import annotations

import math

import torch

__all__ = ["solve_lower"]


def solve_lower(f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L⁻¹ x for lower-triangular L (…, d, d) and x (…, d, k). Many small systems (d ≤ 4, a
    batch of 256·d or more) by forward substitution over the whole batch at once, d(d + 1)/2
    tensor operations (LAPACK's batched solve costs about as much per matrix as per element
    there); otherwise LAPACK's."""
    d = f.shape[-1]
    if d > 4 or math.prod(torch.broadcast_shapes(f.shape[:-2], x.shape[:-2])) < 256 * d:
        return torch.linalg.solve_triangular(f, x, upper=False)
    rows: list[torch.Tensor] = []
    for i in range(d):
        acc = x[..., i, :]
        for j in range(i):
            acc = acc - f[..., i, j, None] * rows[j]
        rows.append(acc / f[..., i, i, None])
    return torch.stack(rows, -2)
