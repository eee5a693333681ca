"""TensorBoard logs of a training run, through `torch.utils.tensorboard` (an optional extra).

`pip install klvae[tensorboard]` installs the `tensorboard` package; without it,
`TensorBoardLogger` raises a one-line `TensorBoardMissing`. A logger is a hook of the training
loop (`klvae.training.loop.fit`): it receives the losses of every host sync (`log_values`, every
`log_every` steps, tags ``train/<name>``) and each epoch's metrics (`log_epoch`, tags
``epoch/<name>``); the run adds image grids with `log_images`. View with
``tensorboard --logdir RUN/tensorboard``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch

__all__ = ["TensorBoardLogger", "TensorBoardMissing", "require_tensorboard", "image_grid"]

MISSING = "TensorBoard is not installed: pip install 'klvae[tensorboard]' (or pip install tensorboard)"


class TensorBoardMissing(ImportError):
    """The optional `tensorboard` package is not installed."""


def require_tensorboard():
    """`torch.utils.tensorboard.SummaryWriter`, or TensorBoardMissing with the install command."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # optional: imported only when asked for
    except ImportError:
        raise TensorBoardMissing(MISSING) from None
    return SummaryWriter


def image_grid(images: torch.Tensor, nrow: int = 8, pad: int = 1) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] → one (C, rows·(H+pad)+pad, nrow·(W+pad)+pad) image, grey gaps."""
    n, c, h, w = images.shape
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), 0.5)
    for i, img in enumerate(images.detach().float().cpu().clamp(0, 1)):
        r, k = divmod(i, nrow)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = img
    return grid


class TensorBoardLogger:
    """Event files in `log_dir`: scalars of the loop and the epochs, and image grids."""

    def __init__(self, log_dir: str | os.PathLike):
        self.log_dir = Path(log_dir)
        self.writer = require_tensorboard()(log_dir=str(self.log_dir))

    def __call__(self, task, state) -> None:
        """The loop's step hook: nothing to do at every step."""

    def log_values(self, step: int, values: Mapping[str, float]) -> None:
        for k, v in values.items():
            self.writer.add_scalar(f"train/{k}", v, step)

    def log_epoch(self, epoch: int, record: Mapping) -> None:
        for k, v in record.items():
            if (
                k not in ("epoch", "step")
                and isinstance(v, (int, float))
                and not isinstance(v, bool)
                and math.isfinite(v)
            ):
                self.writer.add_scalar(f"epoch/{k}", v, epoch)
        self.writer.flush()

    def log_images(self, tag: str, images: torch.Tensor, epoch: int, nrow: int = 8) -> None:
        """(N, C, H, W) images in [0, 1] as one grid under `tag` at `epoch`."""
        self.writer.add_image(tag, image_grid(images, nrow), epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
