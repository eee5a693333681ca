"""What the training loop trains (`Task`) and where it stands (`LoopState`).

The two types `klvae.train` (the loop) and `klvae.checkpoint` (its saved state) share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

__all__ = ["Task", "LoopState"]


class Task(Protocol):
    """What the loop trains. A GAN is a Task with two modules and two optimizers."""

    modules: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None, step: int,
                   epoch: float) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch; returns detached scalar tensors (first key: the loss)."""

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Called after each epoch (1-based count of finished epochs); returns metrics to log."""


@dataclass
class LoopState:
    epoch: int = 0  # index of the epoch in progress (= number of finished epochs)
    batch: int = 0  # next batch within that epoch
    step: int = 0  # optimisation steps done
    samples: int = 0  # training examples seen
    train_seconds: float = 0.0  # time spent in training steps (excludes evaluation and saving)
