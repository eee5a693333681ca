"""Samples in, answers out, and sums over all pairs of samples in blocks of bounded memory.

Every sample estimator takes its samples through `samples` (finite (n, d) tensors of one
floating dtype on one device, the input's) and gives its answer through `answer` (a NumPy
scalar of the input's dtype, or a 0-d tensor on the input's device with autograd kept).

Sums over all pairs (`pair_sum`, `self_pair_sum`) never hold more than one block of rows of
the pair matrix: the block has as many rows as `max_memory` bytes allow (`MAX_MEMORY` by
default). Each block is summed in float64 (pairwise, by torch's cascade reduction) and the
block sums are added pairwise in float64, so the answer depends on the block size only
through rounding. With autograd on, each block is recomputed in the backward pass
(checkpointing) instead of being kept, so the memory bound holds for gradients too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from klvae.measures._checks import check_samples
from klvae.measures.arrays import from_tensor, is_torch, to_tensors

MAX_MEMORY = 256 * 2**20  # bytes of pair-matrix blocks (and their temporaries) at once

PairFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def samples(*values, names: tuple[str, ...]) -> list[torch.Tensor]:
    """Finite (n, d) tensors of one floating dtype on one device; pairs must share d."""
    tensors = [check_samples(t, n) for t, n in zip(to_tensors(*values, names=names), names)]
    if len(tensors) == 2 and tensors[0].shape[1] != tensors[1].shape[1]:
        d0, d1 = tensors[0].shape[1], tensors[1].shape[1]
        raise ValueError(f"{names[0]} and {names[1]} must have the same dimension, got {d0} and {d1}")
    return tensors


def answer(value, like: torch.Tensor, *inputs):
    """`value` in `like`'s dtype: a 0-d tensor on its device for tensor input, else NumPy."""
    if not isinstance(value, torch.Tensor):
        value = torch.tensor(float(value), dtype=torch.float64)
    return from_tensor(value.to(device=like.device, dtype=like.dtype), is_torch(*inputs))


def budget(max_memory) -> int:
    """`max_memory` in bytes (`MAX_MEMORY` for None); ValueError unless a positive number."""
    if max_memory is None:
        return MAX_MEMORY
    if isinstance(max_memory, bool) or not isinstance(max_memory, (int, float, np.integer, np.floating)):
        raise ValueError(f"max_memory must be a positive number of bytes, got {max_memory!r}")
    if not (max_memory > 0 and math.isfinite(max_memory)):
        raise ValueError(f"max_memory must be a positive number of bytes, got {max_memory!r}")
    return int(max_memory)


CACHE_ENTRIES = 2**22  # blocks of about four million entries: near cache size, few calls per sum


def block_rows(cols: int, bytes_per_entry: int, max_memory: int) -> int:
    """Rows of a (rows, cols) block: within the budget at `bytes_per_entry`, and near cache size."""
    return max(1, min(max_memory // max(1, cols * bytes_per_entry), CACHE_ENTRIES // max(1, cols)))


def grad_wanted(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def blockwise(fn, *args):
    """fn(*args), recomputed in the backward pass (not kept) when a gradient is wanted."""
    if grad_wanted(*args):
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def pair_sum(a: torch.Tensor, b: torch.Tensor, f: PairFn, max_memory: int, per_entry: int = 32) -> torch.Tensor:
    """Σᵢⱼ f(aᵢ, bⱼ) in float64, a (n, d) against b (m, d), in row blocks of `a`."""
    rows = block_rows(b.shape[0], per_entry, max_memory)
    parts = [
        blockwise(lambda u, v: f(u, v).sum(dtype=torch.float64), a[s : s + rows], b) for s in range(0, a.shape[0], rows)
    ]
    return torch.stack(parts).sum()


def self_pair_sum(a: torch.Tensor, f: PairFn, max_memory: int, per_entry: int = 32) -> torch.Tensor:
    """Σ_{i≠j} f(aᵢ, aⱼ) in float64 for a symmetric f, from the blocks on and above the diagonal."""
    n = a.shape[0]
    rows = block_rows(n, per_entry, max_memory)
    parts = []
    for s in range(0, n, rows):
        r = min(rows, n - s)

        def block(u: torch.Tensor, v: torch.Tensor, r: int = r) -> torch.Tensor:
            k = f(u, v)  # (r, n − s): the square block on the diagonal, then the rest
            square = k[:, :r]
            return (
                2 * k.sum(dtype=torch.float64)
                - square.sum(dtype=torch.float64)
                - square.diagonal().sum(dtype=torch.float64)
            )

        parts.append(blockwise(block, a[s : s + r], a[s:]))
    return torch.stack(parts).sum()


def sq_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """‖aᵢ − bⱼ‖² by ‖a‖² + ‖b‖² − 2aᵀb (smooth, fast; center the data first for accuracy)."""
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * (a @ b.T)).clamp_min(0)


def gaussian_kernel(gamma: float):
    """The pair function exp(−γ‖aᵢ − bⱼ‖²): in place (one buffer) when no gradient is wanted."""

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if grad_wanted(a, b):
            return torch.exp(sq_distances(a, b) * -gamma)
        k = torch.addmm((b * b).sum(1)[None, :], a, b.T, beta=1, alpha=-2)
        return k.add_((a * a).sum(1)[:, None]).clamp_(min=0).mul_(-gamma).exp_()

    return kernel


def augmented(a: torch.Tensor, b: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, Bᵀ) whose product is −γ‖aᵢ − bⱼ‖²: A = [a, ‖a‖², 1], B = [2γb, −γ, −γ‖b‖²] (or batches of them).

    One matrix product then gives a whole block of exponents, with no broadcast copies or
    passes over the block to add the norms and scale (center the data first for accuracy).
    """
    A = torch.cat([a, (a * a).sum(-1, keepdim=True), a.new_ones(*a.shape[:-1], 1)], -1)
    B = torch.cat([b * (2 * gamma), b.new_full((*b.shape[:-1], 1), -gamma), (b * b).sum(-1, keepdim=True) * -gamma], -1)
    return A, B.transpose(-1, -2).contiguous()


def gaussian_block(A: torch.Tensor, BT: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """exp(−γ‖aᵢ − bⱼ‖²) for rows A and columns Bᵀ of `augmented`, written into `buffer` (no autograd)."""
    out = buffer[: A.shape[0] * BT.shape[1]].view(A.shape[0], BT.shape[1])
    return torch.mm(A, BT, out=out).clamp_(max=0).exp_()


def distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """‖aᵢ − bⱼ‖ from the differences (accurate for near points; gradient 0 at distance 0)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
