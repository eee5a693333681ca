"""The data layer: data sets by name or path, and readers that distrust files.

`datasets`: `load_dataset(spec)` gives a `Dataset` of tensors: the bundled 8×8 digits, Fashion-MNIST
from Debian's package, a folder of IDX files, an `.npz` file, or a synthetic 2-D mixture.
`files`: readers of IDX files, `.npy` headers and `.npz` members that check a file's header
against its size before anything is inflated or allocated (`DataError` names the file and fault).
"""

from klvae.data.datasets import (
    CLASS_NAMES,
    DATA_HELP,
    DATASET_NAMES,
    FASHION_MNIST_DIR,
    Dataset,
    load_dataset,
    mode_mixture,
    sample_mixture,
)
from klvae.data.files import DataError, read_idx, read_npy_header, read_npz_member

__all__ = [
    "Dataset",
    "load_dataset",
    "mode_mixture",
    "sample_mixture",
    "DATA_HELP",
    "CLASS_NAMES",
    "DATASET_NAMES",
    "FASHION_MNIST_DIR",
    "DataError",
    "read_idx",
    "read_npy_header",
    "read_npz_member",
]
