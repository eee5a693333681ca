"""The data layer: data sets by name or path, and readers that distrust files.

`datasets`: `load_dataset(spec)` gives a `Dataset` of tensors: the bundled 8×8 digits, Fashion-MNIST
from Debian's package, a folder of IDX files, an `.npz` file, or a synthetic 2-D mixture (`mixtures`).
`files`: readers of IDX files, `.npy` headers and `.npz` members that check a file's header
against its size before anything is inflated or allocated (`DataError` names the file and fault).

A name's module is imported on first use of the name, so reading a file with `files` starts no torch.
"""

from typing import Any

from klvae._lazy import LazyExports

# module -> the public names it gives this package, imported when one is first asked for
_EXPORTS = {
    "klvae.data.datasets": [
        "Dataset",
        "load_dataset",
        "DATA_HELP",
        "CLASS_NAMES",
        "DATASET_NAMES",
        "FASHION_MNIST_DIR",
    ],
    "klvae.data.files": ["DataError", "read_idx", "read_npy_header", "read_npz_member"],
    "klvae.data.mixtures": ["mode_mixture", "sample_mixture"],
}
_LAZY = LazyExports(__name__, _EXPORTS, globals())

__all__: list[str] = [*_LAZY.names]


def __getattr__(name: str) -> Any:
    return _LAZY.load(name)


def __dir__() -> list[str]:
    return _LAZY.dir()
