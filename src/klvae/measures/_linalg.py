"""Triangular solves for the Gaussian measures (`klvae.measures.mvn`, `klvae.measures.lowrank`,
`klvae.measures.gaussian_divergences`): a Cholesky-type factor of each side, ("L", L), ("W", W)
with W = L⁻¹, or ("D", v) for a diagonal, and the relative factor M = L₂⁻¹L₁ of two."""

from __future__ import annotations

import math

import torch

__all__ = ["factor_matrix", "relative_factor", "solve_lower", "whiten"]


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


def factor_matrix(kind: str, f: torch.Tensor) -> torch.Tensor:
    """A lower-triangular matrix for the factor: L, W, or diag(√v)."""
    return torch.diag_embed(f.sqrt()) if kind == "D" else f


def whiten(kind: str, f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L⁻¹ x for x of shape (…, d, k)."""
    if kind == "L":
        return solve_lower(f, x)
    if kind == "W":
        return f @ x
    return x / f.sqrt().unsqueeze(-1)


def relative_factor(side1, side2, delta=None):
    """M = L₂⁻¹ L₁ (…, d, d), lower triangular: Σ₂⁻¹Σ₁ is similar to M Mᵀ; with `delta` (…, d),
    the pair (M, L₂⁻¹δ), δ whitened in the same triangular solve where M takes one.

    Where the two sides carry equal factors of the same kind, M is exactly I (a
    triangular solve of L against itself leaves rounding of order eps below the diagonal).
    """
    (k1, f1), (k2, f2) = side1, side2
    z = None
    if k1 != "W" and k2 == "L" and delta is not None:  # one solve, [L₁ | δ] as its right-hand side
        f, d = factor_matrix(k1, f1), delta.shape[-1]
        batch = torch.broadcast_shapes(f.shape[:-2], delta.shape[:-1])
        rhs = torch.cat([f.expand(*batch, d, d).mT, delta.unsqueeze(-2).expand(*batch, 1, d)], -2).mT  # column-major
        x = solve_lower(f2, rhs)
        m, z = x[..., :d], x[..., d]
    elif k1 != "W":
        m = whiten(k2, f2, factor_matrix(k1, f1))
    elif k2 == "W":  # M = W₂ W₁⁻¹: solve X W₁ = W₂
        m = torch.linalg.solve_triangular(f1, f2, upper=False, left=False)
    else:  # M = (W₁ L₂)⁻¹: a triangular solve against the identity
        n = f1 @ factor_matrix(k2, f2)
        eye = torch.eye(n.shape[-1], dtype=n.dtype, device=n.device)
        m = torch.linalg.solve_triangular(n, eye, upper=False)
    if k1 == k2:
        same = (f1.detach() == f2.detach()).flatten(-2 if k1 != "D" else -1).all(-1)  # (…,)
        if bool(same.any()):
            eye = torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
            m = torch.where(same[..., None, None], eye, m)
    if delta is None:
        return m
    if z is None:
        z = whiten(k2, f2, delta.unsqueeze(-1)).squeeze(-1)
    return m, z
