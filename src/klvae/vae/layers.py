"""The building blocks of the VAE's networks: multilayer perceptrons and labels as one-hot inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["mlp", "one_hot", "with_label"]


def one_hot(y: torch.Tensor | None, width: int, like: torch.Tensor) -> torch.Tensor | None:
    """The labels y (B,) as one-hot rows (B, width) of `like`'s dtype and device; None without labels."""
    if width == 0:
        return None
    if y is None:
        raise ValueError("this VAE is conditional: give the labels y of the images")
    if y.dtype.is_floating_point or (y.numel() and (int(y.min()) < 0 or int(y.max()) >= width)):
        raise ValueError(f"labels must be integers in 0 … {width - 1}")
    return F.one_hot(y.long(), width).to(device=like.device, dtype=like.dtype)


def with_label(h: torch.Tensor, code: torch.Tensor | None) -> torch.Tensor:
    """h (..., B, F) with the one-hot code (B, n) appended on the last axis (broadcast over `...`)."""
    if code is None:
        return h
    return torch.cat([h, code.expand(*h.shape[:-1], code.shape[-1])], -1)


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
