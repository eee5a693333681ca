"""Readers of data files that may be damaged or hostile: IDX (raw or gzip), .npy headers, .npz members.

Each reader checks what a file claims (its header's shape and type) against what it holds
(its size on disk, the bytes a compressed stream can give) before it allocates or reads the
data, so a small file cannot ask for gigabytes; a file that is not what it claims raises
`DataError`, naming the file and the fault. `klvae.data.datasets` builds data sets on these readers.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["DataError", "read_idx", "read_npy_header", "read_npz_member"]


class DataError(ValueError):
    """A data file or folder is missing, corrupt or not in the expected format."""


_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


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
        k = f.readinto(view[got : got + _CHUNK])
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
        raise DataError(
            f"{name}: bad magic number 0x{head.hex()}: an IDX file starts with two zero bytes (is this an IDX file?)"
        )
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DataError(f"{name}: unknown IDX type code 0x{code:02X} (expected one of {known})")
    if dims_count == 0 or (ndim is not None and dims_count != ndim):
        want = f"{ndim}" if ndim is not None else "at least 1"
        raise DataError(f"{name}: wrong number of dimensions: header says {dims_count}, expected {want}")
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
    file's first bytes, not its name. The header is read first; no more than the data it
    promises plus one byte is ever read (or inflated), so a small file cannot claim, or inflate
    to, gigabytes.

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file.
    ndim : int, optional
        The number of dimensions required.

    Returns
    -------
    numpy.ndarray
        An array of shape `sizes` in native byte order.

    Raises
    ------
    DataError
        Naming the file, for a bad magic number, unknown type code, wrong number of dimensions,
        truncated or over-long data, or a corrupt gzip stream.

    References
    ----------
    Y. LeCun et al., "The MNIST database", file format section.

    Examples
    --------
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
                    raise DataError(
                        f"{name}: truncated: expected {expected} data bytes for shape {sizes}, found {found}"
                    )
                raise DataError(
                    f"{name}: {found - expected} extra bytes after the data "
                    f"(expected {expected} data bytes for shape {sizes}, found {found})"
                )
            capacity = expected if not gzipped else _DEFLATE_MAX_RATIO * size + _CHUNK
            data = _read_up_to(f, expected, capacity)
            if len(data) < expected:
                raise DataError(
                    f"{name}: truncated: expected {expected} data bytes for shape {sizes}, found {len(data)}"
                )
            if f.read(1):
                raise DataError(
                    f"{name}: extra bytes after the data (expected {expected} data "
                    f"bytes for shape {sizes}, the stream holds more)"
                )
    except EOFError:
        raise DataError(f"{name}: corrupt gzip: truncated stream (the compressed file ends early)") from None
    except (OSError, zlib.error) as err:
        raise DataError(
            f"{name}: corrupt gzip: {err}"
            if gzipped
            else f"{path}: cannot read: {getattr(err, 'strerror', None) or err}"
        ) from None
    arr = np.frombuffer(data, dtype=dtype, count=count).reshape(sizes)
    return arr if dtype.byteorder in "=|" else arr.astype(dtype.newbyteorder("="))


# train-images-idx3-ubyte, t10k-labels.idx1-ubyte.gz, emnist-letters-train-images-idx3-ubyte, ...


def read_npy_header(f, available: int, source: str) -> tuple[tuple[int, ...], np.dtype]:
    """Read a ``.npy`` header from `f` and check it against the `available` bytes of the file.

    A ``.npy`` file is a header (magic ``\\x93NUMPY``, version, a dict of ``descr``, ``fortran_order``
    and ``shape``) followed by exactly prod(shape)·itemsize data bytes. Checking that count
    against the file's size before reading means a 200-byte file cannot make the reader allocate
    the 745 GiB its header claims. Leaves `f` at the first data byte.

    Parameters
    ----------
    f : file-like
        A binary file positioned at the header.
    available : int
        Bytes from the header's start to the end of the file.
    source : str
        Names the file in error messages.

    Returns
    -------
    shape : tuple of int
        The array's shape.
    dtype : numpy.dtype
        Its dtype.

    Raises
    ------
    DataError
        Starting with `source`, for a file that is not ``.npy``, an array of Python objects
        (stored pickled: never loaded), or a size that differs from the header's.

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.zeros((2, 3), np.float32))
    >>> read_npy_header(io.BytesIO(buf.getvalue()), len(buf.getvalue()), "a.npy")
    ((2, 3), dtype('float32'))
    >>> read_npy_header(io.BytesIO(buf.getvalue()[:-4]), len(buf.getvalue()) - 4, "a.npy")
    Traceback (most recent call last):
    klvae.data.files.DataError: a.npy: truncated: expected 24 data bytes for shape (2, 3) of float32, found 20
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
        raise DataError(
            f"{source}: holds Python objects (dtype {dtype}), which .npy stores "
            f"pickled; klvae never loads pickles: save numbers instead"
        )
    if any(n < 0 for n in shape):
        raise DataError(f"{source}: the header's shape {shape} has a negative size")
    expected, found = math.prod(shape) * dtype.itemsize, available - f.tell()
    if found < expected:
        raise DataError(
            f"{source}: truncated: expected {expected} data bytes for shape {shape} of {dtype}, found {found}"
        )
    if found > expected:
        raise DataError(
            f"{source}: {found - expected} extra bytes after the data (expected "
            f"{expected} data bytes for shape {shape} of {dtype}, found {found})"
        )
    return shape, dtype


def read_npz_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int, source: str) -> np.ndarray:
    """One array of an .npz, its header and sizes checked before any data is read.

    Parameters
    ----------
    zf : zipfile.ZipFile
        The open archive.
    info : zipfile.ZipInfo
        The member to read.
    archive_size : int
        The archive's size in bytes: a member claiming more compressed bytes, or more inflated
        bytes than deflate can produce from them, is refused.
    source : str
        Names the file and member in error messages.

    Returns
    -------
    numpy.ndarray
        The member's array.

    Raises
    ------
    DataError
        For an unsupported compression method, forged sizes, or a member that is not a valid
        ``.npy`` or whose size disagrees with its header.
    """
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise DataError(
            f"{source}: compression method {info.compress_type} is not supported "
            f"(np.savez and np.savez_compressed write stored or deflated members)"
        )
    limit = info.compress_size * (1 if info.compress_type == zipfile.ZIP_STORED else _DEFLATE_MAX_RATIO)
    if info.compress_size > archive_size or info.file_size > limit + 1024:
        raise DataError(
            f"{source}: the archive claims {info.file_size} bytes from "
            f"{info.compress_size} compressed bytes in a {archive_size}-byte file: "
            f"damaged or forged"
        )
    with zf.open(info) as f:
        read_npy_header(f, info.file_size, source)
    with zf.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)
