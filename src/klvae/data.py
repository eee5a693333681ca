"""Data sets: the bundled 8×8 digits, IDX files, .npz files and synthetic 2-D mixtures.

Everything comes back as a `Dataset` of tensors held in memory: images float32 in [0, 1]
with shape (N, C, H, W), or points (N, 2) for the 2-D mixtures; labels int64 (N,) or None.
`load_dataset(spec)` is the one entry point; `DATA_HELP` documents `spec` for a CLI flag.
Files that are not what they claim to be raise `DataError`, naming the file and the fault.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "Dataset", "DataError", "load_dataset", "read_idx", "read_npy_header", "mode_mixture", "sample_mixture",
    "DATA_HELP", "DATASET_NAMES", "FASHION_MNIST_DIR", "MIXTURE_SIZES",
]

# Where Debian's `dataset-fashion-mnist` installs the IDX files; the environment variable
# KLVAE_FASHION_MNIST_DIR overrides it (read at call time, not import time).
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASET_NAMES = ("digits", "fashion-mnist", "ring8", "grid25")
MIXTURE_SIZES = (100_000, 2_500)  # (train, test) samples drawn for ring8 / grid25

DATA_HELP = (
    "data set: 'digits' (scikit-learn's 8x8 digits, bundled, the default), "
    "'fashion-mnist' (Debian package dataset-fashion-mnist), "
    "'ring8' or 'grid25' (2-D Gaussian mixtures), "
    "a folder of MNIST-style IDX files (train-images-idx3-ubyte[.gz], ...), "
    "or an .npz file with x_train, x_test (optional y_train, y_test)"
)


class DataError(ValueError):
    """A data file or folder is missing, corrupt or not in the expected format."""


@dataclass(frozen=True)
class Dataset:
    """A train/test split held in memory as tensors.

    Images are float32 in [0, 1] with shape (N, C, H, W); 2-D synthetic data is (N, 2)
    float32 (not confined to [0, 1]). Labels are int64 (N,) or None.
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
    return Dataset("digits", torch.from_numpy(x[train]), torch.from_numpy(y[train]),
                   torch.from_numpy(x[test]), torch.from_numpy(y[test]))


# --------------------------------------------------------------------------- IDX files

# IDX type codes (http://yann.lecun.com/exdb/mnist/): the data is big-endian.
_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


_CHUNK = 1 << 20  # bytes inflated per read: memory follows the header's promise, not the stream
# Deflate (gzip, zip) inflates at most 1032:1: a stream claiming more holds less than it says.
_DEFLATE_MAX_RATIO = 1032


def _open_idx(path: Path):
    """The file opened for reading, through gzip if its first bytes say so; (stream, size on disk)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None
    size = os.fstat(f.fileno()).st_size
    if f.read(2) != b"\x1f\x8b":  # not gzip-compressed: raw IDX
        f.seek(0)
        if path.suffix == ".gz":
            f.close()
            raise DataError(f"{path.name}: corrupt gzip: not a gzip file (bad magic bytes)")
        return f, size
    f.seek(0)
    return _ClosingGzip(fileobj=f, mode="rb"), size


class _ClosingGzip(gzip.GzipFile):
    """A GzipFile that closes the file it reads from (GzipFile leaves a given `fileobj` open)."""

    def close(self):
        raw = self.fileobj
        try:
            super().close()
        finally:
            if raw is not None:
                raw.close()


def _read_up_to(f, n: int, capacity: int) -> bytearray:
    """Read until `n` bytes or the end of `f`, in chunks, into a buffer first sized `capacity`."""
    buf = bytearray(min(n, capacity))
    view, got = memoryview(buf), 0
    while got < n:
        if got == len(buf):  # the first guess was short: grow (never past n)
            view.release()
            buf.extend(bytes(min(len(buf) + _CHUNK, n - len(buf))))
            view = memoryview(buf)
        k = f.readinto(view[got:got + _CHUNK])
        if not k:
            break
        got += k
    view.release()
    del buf[got:]
    return buf


def _read_idx_header(f, name: str, ndim: int | None) -> tuple[np.dtype, tuple[int, ...], int]:
    """The data type, sizes and header length of the IDX stream `f`, checked; `f` is left at the data."""
    head = _read_up_to(f, 4, 4)
    if len(head) < 4:
        raise DataError(f"{name}: truncated: {len(head)} bytes, shorter than the 4-byte IDX header")
    zero, code, dims_count = struct.unpack_from(">HBB", head)
    if zero != 0:
        raise DataError(f"{name}: bad magic number 0x{head.hex()}: an IDX file starts with "
                        f"two zero bytes (is this an IDX file?)")
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DataError(f"{name}: unknown IDX type code 0x{code:02X} (expected one of {known})")
    if dims_count == 0 or (ndim is not None and dims_count != ndim):
        want = f"{ndim}" if ndim is not None else "at least 1"
        raise DataError(f"{name}: wrong number of dimensions: header says {dims_count}, "
                        f"expected {want}")
    header = 4 + 4 * dims_count
    dims = _read_up_to(f, header - 4, header - 4)
    if len(dims) < header - 4:
        raise DataError(f"{name}: truncated: header needs {header} bytes, found {4 + len(dims)}")
    return _IDX_DTYPES[code], struct.unpack(f">{dims_count}I", dims), header


def read_idx(path: str | os.PathLike, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or raw, into a NumPy array.

    Layout: magic = two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions d; then d big-endian
    uint32 sizes; then prod(sizes) values, big-endian, row-major. Gzip is detected from the
    file's first bytes, not its name. `ndim`, if given, is the number of dimensions required.
    The header is read first; no more than the data it promises plus one byte is ever read
    (or inflated), so a small file cannot claim, or inflate to, gigabytes.

    Returns an array of shape `sizes` in native byte order. Raises `DataError` naming the file
    for a bad magic number, unknown type code, wrong number of dimensions, truncated or
    over-long data, or a corrupt gzip stream.
    Reference: Y. LeCun et al., "The MNIST database", file format section.

    >>> import tempfile, struct
    >>> p = Path(tempfile.mkdtemp()) / "t-idx1-ubyte"
    >>> _ = p.write_bytes(struct.pack(">HBBI", 0, 0x08, 1, 3) + bytes([7, 8, 9]))
    >>> read_idx(p).tolist()
    [7, 8, 9]
    """
    path = Path(path)
    name = path.name
    f, size = _open_idx(path)
    gzipped = isinstance(f, gzip.GzipFile)
    try:
        with f:
            dtype, sizes, header = _read_idx_header(f, name, ndim)
            count = math.prod(sizes)
            expected = count * dtype.itemsize
            if not gzipped and size - header != expected:  # raw: the file size says it all
                found = size - header
                if found < expected:
                    raise DataError(f"{name}: truncated: expected {expected} data bytes for shape "
                                    f"{sizes}, found {found}")
                raise DataError(f"{name}: {found - expected} extra bytes after the data "
                                f"(expected {expected} data bytes for shape {sizes}, found {found})")
            capacity = expected if not gzipped else _DEFLATE_MAX_RATIO * size + _CHUNK
            data = _read_up_to(f, expected, capacity)
            if len(data) < expected:
                raise DataError(f"{name}: truncated: expected {expected} data bytes for shape "
                                f"{sizes}, found {len(data)}")
            if f.read(1):
                raise DataError(f"{name}: extra bytes after the data (expected {expected} data "
                                f"bytes for shape {sizes}, the stream holds more)")
    except EOFError:
        raise DataError(f"{name}: corrupt gzip: truncated stream "
                        f"(the compressed file ends early)") from None
    except (OSError, zlib.error) as err:
        raise DataError(f"{name}: corrupt gzip: {err}" if gzipped else
                        f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    arr = np.frombuffer(data, dtype=dtype, count=count).reshape(sizes)
    return arr if dtype.byteorder in "=|" else arr.astype(dtype.newbyteorder("="))


# train-images-idx3-ubyte, t10k-labels.idx1-ubyte.gz, emnist-letters-train-images-idx3-ubyte, ...
_IDX_NAME = re.compile(r"^(?:.*-)?(train|t10k)-(images|labels)[-.]idx([13])-ubyte(\.gz)?$",
                       re.IGNORECASE)
_SPLIT_WORD = {"train": "training", "t10k": "test", "test": "test"}
_IDX_ROLES = (("train", "images"), ("train", "labels"), ("t10k", "images"), ("t10k", "labels"))


def _find_idx_files(folder: Path) -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], list[Path]] = {role: [] for role in _IDX_ROLES}
    for p in sorted(folder.iterdir()):
        m = _IDX_NAME.match(p.name)
        if m and p.is_file():
            found[(m[1].lower(), m[2].lower())].append(p)
    missing = [f"{s}-{k}-idx{3 if k == 'images' else 1}-ubyte[.gz]"
               for (s, k), ps in found.items() if not ps]
    if missing:
        raise DataError(f"{folder}: missing IDX files: {', '.join(missing)} (expected "
                        f"train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                        f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or .gz)")
    chosen = {}
    for role, ps in found.items():
        raw = [p for p in ps if p.suffix.lower() != ".gz"]  # a raw copy reads faster
        cands = raw or ps
        if len(cands) > 1:
            raise DataError(f"{folder}: several files match {role[0]}-{role[1]}: "
                            f"{', '.join(p.name for p in cands)}; keep one")
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
            raise DataError(f"{img_path.name} has {len(images)} images but {lab_path.name} "
                            f"has {len(labels)} labels")
        splits.append((_to_unit_tensor(images[:, None], img_path.name),
                       torch.from_numpy(labels.astype(np.int64))))
    (x_tr, y_tr), (x_te, y_te) = splits
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise DataError(f"{folder}: train images are {tuple(x_tr.shape[2:])} but test images "
                        f"are {tuple(x_te.shape[2:])}")
    return Dataset(name, x_tr, y_tr, x_te, y_te)


def _fashion_mnist_dir() -> Path:
    env = os.environ.get("KLVAE_FASHION_MNIST_DIR")
    return Path(env) if env else FASHION_MNIST_DIR


def _fashion_mnist() -> Dataset:
    folder = _fashion_mnist_dir()
    how = ("install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
           "set KLVAE_FASHION_MNIST_DIR, or pass a folder of IDX files as the data path")
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
        raise DataError(f"{source}: images must be uint8 (scaled by 1/255) or float in [0, 1], "
                        f"found dtype {x.dtype}")
    x = x.astype(np.float32)
    if x.size:
        lo, hi = float(np.min(x)), float(np.max(x))  # NaN propagates into lo/hi
        if math.isnan(lo) or math.isnan(hi):
            raise DataError(f"{source}: float images must lie in [0, 1], found NaN values")
        if not (lo >= 0.0 and hi <= 1.0):
            raise DataError(f"{source}: float images must lie in [0, 1], found values in "
                            f"[{lo:g}, {hi:g}]; divide uint8 pixels by 255 first")
    return torch.from_numpy(x)


def _to_nchw(x: np.ndarray, source: str) -> np.ndarray:
    """(N, H, W) → (N, 1, H, W); (N, H, W, C) → (N, C, H, W); channels-first kept as is."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] in (1, 3):  # channels first wins when both could be C
        return x
    if x.ndim == 4 and x.shape[3] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    raise DataError(f"{source}: images must have shape (N, H, W), (N, H, W, C) or (N, C, H, W) "
                    f"with C in {{1, 3}}, found {x.shape}")


# --------------------------------------------------------------------------- .npz


def read_npy_header(f, available: int, source: str) -> tuple[tuple[int, ...], np.dtype]:
    """Read a ``.npy`` header from `f` and check it against the `available` bytes of the file.

    A ``.npy`` file is a header (magic ``\\x93NUMPY``, version, a dict of ``descr``, ``fortran_order``
    and ``shape``) followed by exactly prod(shape)·itemsize data bytes. Checking that count
    against the file's size before reading means a 200-byte file cannot make the reader allocate
    the 745 GiB its header claims. Leaves `f` at the first data byte.

    Returns ``(shape, dtype)``. Raises `DataError` starting with `source` for a file that is not
    ``.npy``, an array of Python objects (stored pickled: never loaded), or a size that differs
    from the header's.

    >>> import io
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.zeros((2, 3), np.float32))
    >>> read_npy_header(io.BytesIO(buf.getvalue()), len(buf.getvalue()), "a.npy")
    ((2, 3), dtype('float32'))
    >>> read_npy_header(io.BytesIO(buf.getvalue()[:-4]), len(buf.getvalue()) - 4, "a.npy")
    Traceback (most recent call last):
    klvae.data.DataError: a.npy: truncated: expected 24 data bytes for shape (2, 3) of float32, found 20
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):  # 3.0 differs only in the header's text encoding
            shape, _, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy format version {version[0]}.{version[1]}")
    except (ValueError, SyntaxError, EOFError) as err:
        raise DataError(f"{source}: not a .npy array: {err}") from None
    if dtype.hasobject:
        raise DataError(f"{source}: holds Python objects (dtype {dtype}), which .npy stores "
                        f"pickled; klvae never loads pickles: save numbers instead")
    if any(n < 0 for n in shape):
        raise DataError(f"{source}: the header's shape {shape} has a negative size")
    expected, found = math.prod(shape) * dtype.itemsize, available - f.tell()
    if found < expected:
        raise DataError(f"{source}: truncated: expected {expected} data bytes for shape {shape} "
                        f"of {dtype}, found {found}")
    if found > expected:
        raise DataError(f"{source}: {found - expected} extra bytes after the data (expected "
                        f"{expected} data bytes for shape {shape} of {dtype}, found {found})")
    return shape, dtype


_NPZ_KEYS = ("x_train", "x_test", "y_train", "y_test")


def _read_npz_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int,
                     source: str) -> np.ndarray:
    """One array of an .npz, its header and sizes checked before any data is read."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise DataError(f"{source}: compression method {info.compress_type} is not supported "
                        f"(np.savez and np.savez_compressed write stored or deflated members)")
    limit = info.compress_size * (1 if info.compress_type == zipfile.ZIP_STORED else _DEFLATE_MAX_RATIO)
    if info.compress_size > archive_size or info.file_size > limit + 1024:
        raise DataError(f"{source}: the archive claims {info.file_size} bytes from "
                        f"{info.compress_size} compressed bytes in a {archive_size}-byte file: "
                        f"damaged or forged")
    with zf.open(info) as f:
        read_npy_header(f, info.file_size, source)
    with zf.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _load_npz(path: Path) -> Dataset:
    try:
        with zipfile.ZipFile(path) as zf:
            members = {i.filename.removesuffix(".npy"): i for i in zf.infolist()}
            for key in ("x_train", "x_test"):
                if key not in members:
                    raise DataError(f"{path.name}: missing key {key!r} (found: "
                                    f"{', '.join(sorted(members)) or 'none'}); an .npz data set needs "
                                    f"x_train and x_test, optionally y_train and y_test")
            size = path.stat().st_size
            arrays = {k: _read_npz_member(zf, members[k], size, f"{path.name}: {k}")
                      for k in _NPZ_KEYS if k in members}
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as err:
        raise DataError(f"{path.name}: not a readable .npz file: {err}") from None
    out = {}
    for split in ("train", "test"):
        src = f"{path.name}: x_{split}"
        if arrays[f"x_{split}"].ndim and len(arrays[f"x_{split}"]) == 0:
            raise DataError(f"{path.name} has no {_SPLIT_WORD[split]} images (x_{split} is empty)")
        x = _to_unit_tensor(np.ascontiguousarray(_to_nchw(arrays[f"x_{split}"], src)), src)
        y = arrays.get(f"y_{split}")
        if y is not None:
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
                raise DataError(f"{path.name}: y_{split} must be a 1-D array of non-negative "
                                f"integers, found shape {y.shape}, dtype {y.dtype}")
            if len(y) != len(x):
                raise DataError(f"{path.name}: x_{split} has {len(x)} images but y_{split} "
                                f"has {len(y)} labels")
            y = torch.from_numpy(y.astype(np.int64))
        out[split] = (x, y)
    if out["train"][0].shape[1:] != out["test"][0].shape[1:]:
        raise DataError(f"{path.name}: x_train images are {tuple(out['train'][0].shape[1:])} "
                        f"but x_test images are {tuple(out['test'][0].shape[1:])}")
    return Dataset(path.stem, *out["train"], *out["test"])


# --------------------------------------------------------------------------- 2-D mixtures


def mode_mixture(name: str) -> tuple[torch.Tensor, float]:
    """The means and common σ of a standard 2-D mode-coverage mixture (float32 means).

    - ``ring8``: 8 means on the unit circle at angles 2πi/8, i = 0..7; σ = 0.01.
    - ``grid25``: 25 means on the grid {−4, −2, 0, 2, 4}²; σ = 0.05.

    Returns ``(means, sigma)`` with means of shape (K, 2). Reference: Lin et al., "PacGAN"
    (2018), and Srivastava et al., "VEEGAN" (2017), section 5.1.

    >>> means, sigma = mode_mixture("ring8")
    >>> tuple(means.shape), sigma
    ((8, 2), 0.01)
    """
    if name == "ring8":
        angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8  # not linspace: no repeat
        means = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (8, 2)
        return means.float(), 0.01
    if name == "grid25":
        ticks = torch.arange(-4.0, 5.0, 2.0)  # -4, -2, 0, 2, 4
        return torch.cartesian_prod(ticks, ticks), 0.05  # (25, 2)
    raise ValueError(f"unknown mixture {name!r}; expected 'ring8' or 'grid25'")


def sample_mixture(means: torch.Tensor, sigma: float, n: int,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw n points from the equal-weight mixture (1/K) Σ_k N(means[k], σ² I).

    Returns ``(x, labels)``: x of shape (n, D) in the dtype of `means`, labels int64 (n,)
    the mode each point came from.

    >>> means, sigma = mode_mixture("grid25")
    >>> x, k = sample_mixture(means, sigma, 4, torch.Generator().manual_seed(0))
    >>> bool(((x - means[k]).abs() < 1).all())
    True
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if means.dim() != 2 or not sigma > 0:
        raise ValueError(f"means must be (K, D) and sigma > 0, got {tuple(means.shape)} "
                         f"and {sigma}")
    labels = torch.randint(len(means), (n,), generator=generator)  # (n,)
    noise = torch.randn(n, means.shape[1], generator=generator, dtype=means.dtype)  # (n, D)
    return means[labels] + sigma * noise, labels


def _mixture(name: str, seed: int) -> Dataset:
    means, sigma = mode_mixture(name)
    g = torch.Generator().manual_seed(seed)
    x_tr, y_tr = sample_mixture(means, sigma, MIXTURE_SIZES[0], g)
    x_te, y_te = sample_mixture(means, sigma, MIXTURE_SIZES[1], g)
    return Dataset(name, x_tr, y_tr, x_te, y_te)


# --------------------------------------------------------------------------- entry point


def load_dataset(spec: str = "digits", *, seed: int = 0) -> Dataset:
    """Load a data set by name or path (see `DATA_HELP`).

    - ``digits``: scikit-learn's bundled 8×8 digits, pixels 0..16 scaled to [0, 1];
      1437 train / 360 test images, the same split for every seed.
    - ``fashion-mnist``: the IDX files of Debian's ``dataset-fashion-mnist`` package in
      `FASHION_MNIST_DIR` (or ``$KLVAE_FASHION_MNIST_DIR``); 60000 / 10000 28×28 images.
    - ``ring8``, ``grid25``: 100000 / 2500 points of the 2-D mixture, labels = mode index,
      drawn with `seed`.
    - a folder of MNIST-style IDX files, or an ``.npz`` with ``x_train``, ``x_test`` and
      optionally ``y_train``, ``y_test`` (uint8 scaled by 1/255, float must lie in [0, 1]).

    Raises `DataError` (a ValueError) naming the file and the fault.

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
    raise DataError(f"unknown data set {spec!r}: not one of {', '.join(DATASET_NAMES)}, "
                    f"and no file or folder at {str(path)!r}")
