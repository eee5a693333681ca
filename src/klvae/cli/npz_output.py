"""Arrays of any length written to one .npz in batches, with memory bounded by one batch.

Each array is a memory-mapped .npy file in a temporary folder beside the target; batches are
written into it as they are made, and at the end the files are stored (uncompressed) in a zip
under a temporary name that is renamed onto the target: a reader never sees half a file, and
`numpy.load` reads the result like any `numpy.savez` file.

>>> import tempfile, numpy as np
>>> path = Path(tempfile.mkdtemp()) / "a.npz"
>>> with NpzWriter(path, {"x": ((5, 2), np.float32)}) as out:
...     out.write("x", 0, np.ones((3, 2)))
...     out.write("x", 3, np.zeros((2, 2)))
>>> float(np.load(path)["x"].sum())
6.0
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from klvae.cli.common import suffixed_path

__all__ = ["NpzWriter", "npz_path"]


def npz_path(text: str, flag: str = "--npz") -> Path:
    """The file a `--npz FILE` flag names: a name ending in .npz, or without a suffix (.npz is added)."""
    return suffixed_path(text, ".npz", flag, "the file is a NumPy .npz archive")


class NpzWriter:
    """`with NpzWriter(path, {name: (shape, dtype)}) as out: out.write(name, start, rows)`."""

    def __init__(self, path: str | os.PathLike, arrays: Mapping[str, tuple[tuple[Any, ...], str]]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self.arrays = {
            name: np.lib.format.open_memmap(self.folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
            for name, (shape, dtype) in arrays.items()
        }

    def write(self, name: str, start: int, rows) -> None:
        """Rows `start`, `start + 1`, … of array `name`."""
        rows = np.asarray(rows)
        self.arrays[name][start : start + len(rows)] = rows

    def __enter__(self) -> NpzWriter:
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if kind is None:
                self._finish()
        finally:
            self.arrays.clear()
            shutil.rmtree(self.folder, ignore_errors=True)

    def _finish(self) -> None:
        for array in self.arrays.values():
            array.flush()
        partial = self.folder / "archive.npz"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name in self.arrays:
                archive.write(self.folder / f"{name}.npy", f"{name}.npy")
        os.replace(partial, self.path)
