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
    r"""Where a training run stands; saved in every checkpoint, so a resumed run continues from it.

    Parameters
    ----------
    epoch : int, default 0
        Index of the epoch in progress (= number of finished epochs).
    batch : int, default 0
        Next batch within that epoch.
    step : int, default 0
        Optimisation steps done.
    samples : int, default 0
        Training examples seen.
    train_seconds : float, default 0.0
        Time spent in training steps (excludes evaluation and saving).

    See Also
    --------
    fit : the loop that advances it.

    Notes
    -----
    With N examples and global batch B an epoch has :math:`\lceil N / B \rceil` batches, so
    :math:`\text{step} = \text{epoch} \cdot \lceil N/B \rceil + \text{batch}` for a run without
    a change of batch size.

    References
    ----------
    The checkpoint format: `klvae.training.checkpoint`.

    Examples
    --------
    >>> LoopState(epoch=2, step=20)
    LoopState(epoch=2, batch=0, step=20, samples=0, train_seconds=0.0)
    """

    epoch: int = 0  # index of the epoch in progress (= number of finished epochs)
    batch: int = 0  # next batch within that epoch
    step: int = 0  # optimisation steps done
    samples: int = 0  # training examples seen
    train_seconds: float = 0.0  # time spent in training steps (excludes evaluation and saving)


@dataclass
class FitResult:
    """What `fit` returns: the final state, why training stopped, and the metrics of every epoch.

    Parameters
    ----------
    state : LoopState
        The loop's state at the end.
    stopped : str
        ``"completed"`` or ``"max_seconds"``.
    records : list of dict, default []
        The ``metrics.jsonl`` lines of the whole run (rank 0 only).

    See Also
    --------
    fit : the loop.

    Examples
    --------
    >>> FitResult(LoopState(epoch=3), "completed").records
    []
    """

    state: LoopState
    stopped: str  # "completed" or "max_seconds"
    records: list[dict] = field(default_factory=list)  # the metrics.jsonl lines of the whole run


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message says where and which checkpoint is kept.

    See Also
    --------
    fit : raises it at the first host sync that sees a non-finite loss.

    Examples
    --------
    >>> issubclass(NonFiniteLossError, RuntimeError)
    True
    """


class TrainingInterrupted(Exception):
    """Training stopped on Ctrl-C or SIGTERM after saving a checkpoint.

    Parameters
    ----------
    checkpoint : pathlib.Path
        The checkpoint written (``self.checkpoint``).
    state : LoopState
        The loop's state at the stop (``self.state``).

    See Also
    --------
    fit : raises it; ``TrainConfig(resume=...)`` continues the run.

    Examples
    --------
    >>> err = TrainingInterrupted(Path("run/checkpoint.safetensors"), LoopState(epoch=1, step=12))
    >>> str(err)
    'interrupted at epoch 2, step 12; checkpoint saved to run/checkpoint.safetensors'
    """

    def __init__(self, checkpoint: Path, state: LoopState):
        super().__init__(f"interrupted at epoch {state.epoch + 1}, step {state.step}; checkpoint saved to {checkpoint}")
        self.checkpoint, self.state = checkpoint, state
