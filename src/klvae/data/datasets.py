"""Data sets: the bundled 8×8 digits, IDX files, .npz files and synthetic 2-D mixtures.

Everything comes back as a `Dataset` of tensors held in memory: images float32 in [0, 1]
with shape (N, C, H, W), or points (N, 2) for the 2-D mixtures; labels int64 (N,) or None.
`load_dataset(spec)` is the one entry point; `DATA_HELP` documents `spec` for a CLI flag.
Files that are not what they claim to be raise `DataError`, naming the file and the fault.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from klvae.data.files import DataError, read_idx, read_npz_member
from klvae.data.mixtures import mode_mixture, sample_mixture

__all__ = [
    "Dataset",
    "load_dataset",
    "DATA_HELP",
    "CLASS_NAMES",
    "DATASET_NAMES",
    "FASHION_MNIST_DIR",
    "MIXTURE_SIZES",
]

#: Where Debian's ``dataset-fashion-mnist`` installs the IDX files; the environment variable
#: ``KLVAE_FASHION_MNIST_DIR`` overrides it (read at call time, not import time).
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: The data sets known by name (others are paths).
DATASET_NAMES = ("digits", "fashion-mnist", "ring8", "grid25")
MIXTURE_SIZES = (100_000, 2_500)  # (train, test) samples drawn for ring8 / grid25
#: Class names of the labelled data sets whose labels are not their own names.
CLASS_NAMES = {
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
}

#: The help text of ``--data``.
DATA_HELP = (
    "data set: 'digits' (scikit-learn's 8x8 digits, bundled, the default), "
    "'fashion-mnist' (Debian package dataset-fashion-mnist), "
    "'ring8' or 'grid25' (2-D Gaussian mixtures), "
    "a folder of MNIST-style IDX files (train-images-idx3-ubyte[.gz], ...), "
    "or an .npz file with x_train, x_test (optional y_train, y_test)"
)


@dataclass(frozen=True)
class Dataset:
    r"""A train/test split held in memory as tensors.

    Parameters
    ----------
    name : str
        The data set's name.
    x_train : torch.Tensor
        Images (N, C, H, W), float32 in [0, 1], or 2-D points (N, 2) float32 (not confined to [0, 1]).
    y_train : torch.Tensor or None
        Labels (N,) int64, or None.
    x_test : torch.Tensor
        (M, C, H, W) or (M, 2).
    y_test : torch.Tensor or None
        (M,) int64, or None.

    See Also
    --------
    load_dataset : the data sets by name or path.

    Notes
    -----
    ``num_classes`` is :math:`1 + \max_i y_i` over both splits.

    References
    ----------
    LeCun et al., "Gradient-Based Learning Applied to Document Recognition" (1998), the IDX format.

    Examples
    --------
    >>> ds = Dataset("two", torch.zeros(3, 1, 2, 2), torch.tensor([0, 1, 1]), torch.zeros(1, 1, 2, 2), None)
    >>> ds.image_shape, ds.is_image, ds.num_classes
    ((1, 2, 2), True, 2)
    """

    name: str
    x_train: torch.Tensor  # (N, C, H, W) float32 in [0, 1], or (N, 2)
    y_train: torch.Tensor | None  # (N,) int64
    x_test: torch.Tensor  # (M, C, H, W), or (M, 2)
    y_test: torch.Tensor | None  # (M,)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one sample: (C, H, W) for images, (2,) for points."""
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        """True for (N, C, H, W) images, False for (N, D) points."""
        return self.x_train.dim() == 4

    @property
    def num_classes(self) -> int | None:
        """1 + the largest label in either split, or None when there are no labels."""
        ys = [y for y in (self.y_train, self.y_test) if y is not None and y.numel()]
        return 1 + max(int(y.max()) for y in ys) if ys else None


# --------------------------------------------------------------------------- digits


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8), pixels 0..16
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    test, train = order[:360], order[360:]  # a fixed 80/20 split, the same for every seed
    return Dataset(
        "digits",
        torch.from_numpy(x[train]),
        torch.from_numpy(y[train]),
        torch.from_numpy(x[test]),
        torch.from_numpy(y[test]),
    )


# --------------------------------------------------------------------------- IDX files

# IDX type codes (http://yann.lecun.com/exdb/mnist/): the data is big-endian.
_IDX_NAME = re.compile(r"^(?:.*-)?(train|t10k)-(images|labels)[-.]idx([13])-ubyte(\.gz)?$", re.IGNORECASE)
_SPLIT_WORD = {"train": "training", "t10k": "test", "test": "test"}
_NPZ_KEYS = ("x_train", "x_test", "y_train", "y_test")
_IDX_ROLES = (("train", "images"), ("train", "labels"), ("t10k", "images"), ("t10k", "labels"))


def _find_idx_files(folder: Path) -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], list[Path]] = {role: [] for role in _IDX_ROLES}
    for p in sorted(folder.iterdir()):
        m = _IDX_NAME.match(p.name)
        if m and p.is_file():
            found[(m[1].lower(), m[2].lower())].append(p)
    missing = [f"{s}-{k}-idx{3 if k == 'images' else 1}-ubyte[.gz]" for (s, k), ps in found.items() if not ps]
    if missing:
        raise DataError(
            f"{folder}: missing IDX files: {', '.join(missing)} (expected "
            f"train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or .gz)"
        )
    chosen = {}
    for role, ps in found.items():
        raw = [p for p in ps if p.suffix.lower() != ".gz"]  # a raw copy reads faster
        cands = raw or ps
        if len(cands) > 1:
            raise DataError(
                f"{folder}: several files match {role[0]}-{role[1]}: {', '.join(p.name for p in cands)}; keep one"
            )
        chosen[role] = cands[0]
    return chosen


def _load_idx_folder(folder: Path, name: str) -> Dataset:
    files = _find_idx_files(folder)
    splits = []
    for split in ("train", "t10k"):
        img_path, lab_path = files[(split, "images")], files[(split, "labels")]
        images, labels = read_idx(img_path, ndim=3), read_idx(lab_path, ndim=1)
        if len(images) == 0:
            raise DataError(f"{folder} has no {_SPLIT_WORD[split]} images ({img_path.name} holds 0)")
        if len(images) != len(labels):
            raise DataError(f"{img_path.name} has {len(images)} images but {lab_path.name} has {len(labels)} labels")
        splits.append((_to_unit_tensor(images[:, None], img_path.name), torch.from_numpy(labels.astype(np.int64))))
    (x_tr, y_tr), (x_te, y_te) = splits
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise DataError(
            f"{folder}: train images are {tuple(x_tr.shape[2:])} but test images are {tuple(x_te.shape[2:])}"
        )
    return Dataset(name, x_tr, y_tr, x_te, y_te)


def _fashion_mnist_dir() -> Path:
    env = os.environ.get("KLVAE_FASHION_MNIST_DIR")
    return Path(env) if env else FASHION_MNIST_DIR


def _fashion_mnist() -> Dataset:
    folder = _fashion_mnist_dir()
    how = (
        "install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
        "set KLVAE_FASHION_MNIST_DIR, or pass a folder of IDX files as the data path"
    )
    if not folder.is_dir():
        raise DataError(f"fashion-mnist: no folder {folder}; {how}")
    try:
        return _load_idx_folder(folder, "fashion-mnist")
    except DataError as err:
        if "missing IDX files" in str(err):
            raise DataError(f"fashion-mnist: {err}; {how}") from None
        raise


# --------------------------------------------------------------------------- images in [0, 1]


def _to_unit_tensor(x: np.ndarray, source: str) -> torch.Tensor:
    """uint8 → x / 255; floats must already lie in [0, 1]. Returns a float32 tensor."""
    if x.dtype == np.uint8:
        # Copy first (x may be a read-only view of the file), then convert in torch: faster.
        return torch.from_numpy(np.ascontiguousarray(x).copy()).to(torch.float32).div_(255.0)
    if x.dtype == np.bool_:
        return torch.from_numpy(x.astype(np.float32))
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{source}: images must be uint8 (scaled by 1/255) or float in [0, 1], found dtype {x.dtype}")
    x = x.astype(np.float32)
    if x.size:
        lo, hi = float(np.min(x)), float(np.max(x))  # NaN propagates into lo/hi
        if math.isnan(lo) or math.isnan(hi):
            raise DataError(f"{source}: float images must lie in [0, 1], found NaN values")
        if not (lo >= 0.0 and hi <= 1.0):
            raise DataError(
                f"{source}: float images must lie in [0, 1], found values in "
                f"[{lo:g}, {hi:g}]; divide uint8 pixels by 255 first"
            )
    return torch.from_numpy(x)


def _to_nchw(x: np.ndarray, source: str) -> np.ndarray:
    """(N, H, W) → (N, 1, H, W); (N, H, W, C) → (N, C, H, W); channels-first kept as is."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] in (1, 3):  # channels first wins when both could be C
        return x
    if x.ndim == 4 and x.shape[3] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    raise DataError(
        f"{source}: images must have shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {{1, 3}}, found {x.shape}"
    )


# --------------------------------------------------------------------------- .npz


def _load_npz(path: Path) -> Dataset:
    try:
        with zipfile.ZipFile(path) as zf:
            members = {i.filename.removesuffix(".npy"): i for i in zf.infolist()}
            for key in ("x_train", "x_test"):
                if key not in members:
                    raise DataError(
                        f"{path.name}: missing key {key!r} (found: "
                        f"{', '.join(sorted(members)) or 'none'}); an .npz data set needs "
                        f"x_train and x_test, optionally y_train and y_test"
                    )
            size = path.stat().st_size
            arrays = {k: read_npz_member(zf, members[k], size, f"{path.name}: {k}") for k in _NPZ_KEYS if k in members}
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as err:
        raise DataError(f"{path.name}: not a readable .npz file: {err}") from None
    out: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
    for split in ("train", "test"):
        src = f"{path.name}: x_{split}"
        if arrays[f"x_{split}"].ndim and len(arrays[f"x_{split}"]) == 0:
            raise DataError(f"{path.name} has no {_SPLIT_WORD[split]} images (x_{split} is empty)")
        x = _to_unit_tensor(np.ascontiguousarray(_to_nchw(arrays[f"x_{split}"], src)), src)
        y = arrays.get(f"y_{split}")
        labels = None
        if y is not None:
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
                raise DataError(
                    f"{path.name}: y_{split} must be a 1-D array of non-negative "
                    f"integers, found shape {y.shape}, dtype {y.dtype}"
                )
            if len(y) != len(x):
                raise DataError(f"{path.name}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels")
            labels = torch.from_numpy(y.astype(np.int64))
        out[split] = (x, labels)
    if out["train"][0].shape[1:] != out["test"][0].shape[1:]:
        raise DataError(
            f"{path.name}: x_train images are {tuple(out['train'][0].shape[1:])} "
            f"but x_test images are {tuple(out['test'][0].shape[1:])}"
        )
    return Dataset(path.stem, *out["train"], *out["test"])


# --------------------------------------------------------------------------- 2-D mixtures


def _mixture(name: str, seed: int) -> Dataset:
    means, sigma = mode_mixture(name)
    g = torch.Generator().manual_seed(seed)
    x_tr, y_tr = sample_mixture(means, sigma, MIXTURE_SIZES[0], g)
    x_te, y_te = sample_mixture(means, sigma, MIXTURE_SIZES[1], g)
    return Dataset(name, x_tr, y_tr, x_te, y_te)


# --------------------------------------------------------------------------- entry point


def load_dataset(spec: str = "digits", *, seed: int = 0) -> Dataset:
    """Load a data set by name or path (see `DATA_HELP`).

    Parameters
    ----------
    spec : str, default "digits"
        ``"digits"``: scikit-learn's bundled 8×8 digits, pixels 0..16 scaled to [0, 1], 1437 train
        / 360 test images, the same split for every seed. ``"fashion-mnist"``: the IDX files of
        Debian's ``dataset-fashion-mnist`` package in `FASHION_MNIST_DIR` (or
        ``$KLVAE_FASHION_MNIST_DIR``), 60000 / 10000 28×28 images. ``"ring8"``, ``"grid25"``:
        100000 / 2500 points of the 2-D mixture, labels = mode index. Or a folder of MNIST-style
        IDX files, or an ``.npz`` with ``x_train``, ``x_test`` and optionally ``y_train``,
        ``y_test`` (uint8 scaled by 1/255, float must lie in [0, 1]).
    seed : int, default 0
        Seeds the draws of the 2-D mixtures.

    Returns
    -------
    Dataset
        The split, in memory.

    Raises
    ------
    DataError
        A ValueError naming the file and the fault: an unknown name, a missing or damaged file,
        shapes or label counts that do not match, values outside [0, 1].

    See Also
    --------
    klvae.data.read_idx : the IDX reader.
    mode_mixture : the 2-D mixtures.

    Notes
    -----
    uint8 pixels become :math:`x / 255` (the digits' 0..16 become :math:`x / 16`).

    References
    ----------
    LeCun et al. (1998), the MNIST IDX format; Xiao, Rasul & Vollgraf, "Fashion-MNIST" (2017);
    Alpaydin & Kaynak, the UCI optical digits (1998).

    Examples
    --------
    >>> ds = load_dataset("digits")
    >>> ds.image_shape, len(ds.x_train), len(ds.x_test), ds.num_classes
    ((1, 8, 8), 1437, 360, 10)
    """
    key = spec.strip().lower().replace("_", "-")
    if key == "digits":
        return _digits()
    if key in ("fashion-mnist", "fashionmnist"):
        return _fashion_mnist()
    if key in ("ring8", "grid25"):
        return _mixture(key, seed)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_idx_folder(path, path.name or str(path))
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return _load_npz(path)
        raise DataError(f"{path}: a data file must be an .npz; for IDX files pass their folder")
    raise DataError(
        f"unknown data set {spec!r}: not one of {', '.join(DATASET_NAMES)}, and no file or folder at {str(path)!r}"
    )
