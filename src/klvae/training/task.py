"""What the training loop trains (`Task`), where it stands (`LoopState`) and how it ends
(`FitResult`, `NonFiniteLossError`, `TrainingInterrupted`).

The types `klvae.training.loop` (the loop), `klvae.training.checkpoint` (its saved state) and the run layer share;
all are importable from `klvae.training.loop` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

__all__ = ["Task", "LoopState", "FitResult", "NonFiniteLossError", "TrainingInterrupted"]


class Task(Protocol):
    """What the loop trains. A GAN is a Task with two modules and two optimizers.

    A protocol: any object with these attributes and methods can be given to `fit`.

    Attributes
    ----------
    modules : dict of str to torch.nn.Module
        The networks, by name (saved in the checkpoint under these names).
    optimizers : dict of str to torch.optim.Optimizer
        Their optimizers, by name.
    """

    modules: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None, step: int, epoch: float) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch.

        Parameters
        ----------
        x : torch.Tensor
            The batch (this process's shard under torchrun).
        y : torch.Tensor or None
            Its labels.
        step : int
            Steps done before this one.
        epoch : float
            The epoch's progress, fractional.

        Returns
        -------
        dict of str to torch.Tensor
            Detached scalar tensors; the first key is the loss.
        """

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Called after each epoch; returns metrics to log.

        Parameters
        ----------
        epoch : int
            The 1-based count of finished epochs.

        Returns
        -------
        dict of str to float
            Metrics for that epoch's ``metrics.jsonl`` line.
        """


@dataclass
class LoopState:
    epoch: int = 0  # index of the epoch in progress (= number of finished epochs)
    batch: int = 0  # next batch within that epoch
    step: int = 0  # optimisation steps done
    samples: int = 0  # training examples seen
    train_seconds: float = 0.0  # time spent in training steps (excludes evaluation and saving)


@dataclass
class FitResult:
    state: LoopState
    stopped: str  # "completed" or "max_seconds"
    records: list[dict] = field(default_factory=list)  # the metrics.jsonl lines of the whole run


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message says where and which checkpoint is kept."""


class TrainingInterrupted(Exception):
    """Training stopped on Ctrl-C or SIGTERM after saving a checkpoint to `self.checkpoint`."""

    def __init__(self, checkpoint: Path, state: LoopState):
        super().__init__(f"interrupted at epoch {state.epoch + 1}, step {state.step}; checkpoint saved to {checkpoint}")
        self.checkpoint, self.state = checkpoint, state
