"""Data sets: the bundled 8×8 digits, IDX files, .npz files and synthetic mixtures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Dataset", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """A train/test split held in memory as tensors.

    Images are float32 in [0, 1] with shape (N, C, H, W); labels are int64 (N,) or None.
    """

    name: str
    x_train: torch.Tensor  # (N, C, H, W) float32 in [0, 1]
    y_train: torch.Tensor | None  # (N,) int64
    x_test: torch.Tensor  # (M, C, H, W)
    y_test: torch.Tensor | None  # (M,)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _digits(seed: int = 0) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8), pixels 0..16
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:360], order[360:]  # a fixed 80/20 split
    return Dataset("digits", torch.from_numpy(x[train]), torch.from_numpy(y[train]),
                   torch.from_numpy(x[test]), torch.from_numpy(y[test]))


def load_dataset(spec: str = "digits") -> Dataset:
    """Load a data set by name (`digits`)."""
    if spec == "digits":
        return _digits()
    raise ValueError(f"unknown data set {spec!r}")
