"""The hostile-file-safe readers (`klvae.data.files`): IDX files raw or gzip, checked against their
header before anything is inflated or allocated."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from klvae.data.files import DataError, read_idx


def idx_bytes(arr: np.ndarray, code: int = 0x08, *, dtype=">u1") -> bytes:
    """An IDX file written by hand: two zero bytes, type code, ndim, big-endian sizes, data."""
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.asarray(arr, dtype=dtype).tobytes()


def _bad(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip_uint8(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 7
    data = idx_bytes(arr)
    p = tmp_path / ("a-idx3-ubyte" + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(p)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("code,dtype", [(0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8")])
def test_read_idx_other_type_codes_are_big_endian(tmp_path, code, dtype):
    arr = np.array([[-3, 1, 2], [100, -100, 7]])
    p = tmp_path / "x.idx"
    p.write_bytes(idx_bytes(arr, code, dtype=dtype))
    out = read_idx(p)
    assert out.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(out, arr.astype(dtype))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5)), st.booleans())
def test_read_idx_round_trip_property(tmp_path_factory, arr, gz):
    data = idx_bytes(arr)
    p = tmp_path_factory.mktemp("idx") / "p-idx-ubyte"
    p.write_bytes(gzip.compress(data) if gz else data)
    np.testing.assert_array_equal(read_idx(p), arr)


def test_read_idx_bad_magic(tmp_path):
    p = _bad(tmp_path, "bad-idx3-ubyte", b"\x01\x00" + idx_bytes(np.zeros((2, 2, 2)))[2:])
    with pytest.raises(DataError, match=r"bad-idx3-ubyte: bad magic number 0x01000803"):
        read_idx(p)


def test_read_idx_png_is_not_idx(tmp_path):
    p = _bad(tmp_path, "img.png", b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(DataError, match=r"img.png: bad magic number .*is this an IDX file"):
        read_idx(p)


def test_read_idx_unknown_type_code(tmp_path):
    p = _bad(tmp_path, "code-idx1-ubyte", struct.pack(">HBBI", 0, 0x0A, 1, 2) + b"ab")
    with pytest.raises(DataError, match=r"code-idx1-ubyte: unknown IDX type code 0x0A"):
        read_idx(p)


def test_read_idx_wrong_number_of_dims(tmp_path):
    p = _bad(tmp_path, "labels-idx1-ubyte", idx_bytes(np.zeros((3, 2), np.uint8)))
    with pytest.raises(
        DataError,
        match=r"labels-idx1-ubyte: wrong number of dimensions: "
        r"header says 2, expected 1",
    ):
        read_idx(p, ndim=1)
    zero = _bad(tmp_path, "zero-idx", struct.pack(">HBB", 0, 8, 0))
    with pytest.raises(DataError, match=r"zero-idx: wrong number of dimensions: header says 0"):
        read_idx(zero)


def test_read_idx_truncated_data(tmp_path):
    full = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    p = _bad(tmp_path, "train-images-idx3-ubyte.gz", gzip.compress(full[: 16 + 1000]))
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte.gz: truncated: expected 7840 "
        r"data bytes for shape \(10, 28, 28\), found 1000",
    ):
        read_idx(p)


def test_read_idx_truncated_header(tmp_path):
    p = _bad(tmp_path, "h-idx3-ubyte", struct.pack(">HBBI", 0, 8, 3, 5))
    with pytest.raises(DataError, match=r"h-idx3-ubyte: truncated: header needs 16 bytes, found 8"):
        read_idx(p)
    empty = _bad(tmp_path, "empty-idx1-ubyte", b"")
    with pytest.raises(DataError, match=r"empty-idx1-ubyte: truncated: 0 bytes"):
        read_idx(empty)


def test_read_idx_extra_bytes(tmp_path):
    p = _bad(tmp_path, "long-idx1-ubyte", idx_bytes(np.arange(5, dtype=np.uint8)) + b"xyz")
    with pytest.raises(
        DataError,
        match=r"long-idx1-ubyte: 3 extra bytes after the data "
        r"\(expected 5 data bytes",
    ):
        read_idx(p)


def test_read_idx_wider_type_truncated_counts_bytes(tmp_path):
    data = idx_bytes(np.arange(4), 0x0C, dtype=">i4")
    p = _bad(tmp_path, "w-idx1", data[:-2])
    with pytest.raises(DataError, match=r"w-idx1: truncated: expected 16 data bytes .* found 14"):
        read_idx(p)


def test_read_idx_truncated_gzip_stream(tmp_path):
    z = gzip.compress(idx_bytes(np.random.default_rng(0).integers(0, 255, (50, 9, 9), np.uint8)))
    p = _bad(tmp_path, "cut-idx3-ubyte.gz", z[: len(z) // 2])
    with pytest.raises(DataError, match=r"cut-idx3-ubyte.gz: corrupt gzip: truncated stream"):
        read_idx(p)


def test_read_idx_corrupt_gzip_stream(tmp_path):
    z = bytearray(gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8))))
    z[-6] ^= 0xFF  # a flipped bit in the CRC-32 trailer
    p = _bad(tmp_path, "crc-idx1-ubyte.gz", bytes(z))
    with pytest.raises(DataError, match=r"crc-idx1-ubyte.gz: corrupt gzip: .*CRC"):
        read_idx(p)
    garbage = _bad(tmp_path, "junk-idx1-ubyte.gz", b"\x1f\x8b" + bytes(range(40)))
    with pytest.raises(DataError, match=r"junk-idx1-ubyte.gz: corrupt gzip"):
        read_idx(garbage)


def test_read_idx_gz_name_without_gzip_content(tmp_path):
    p = _bad(tmp_path, "plain-idx1-ubyte.gz", idx_bytes(np.arange(3, dtype=np.uint8)))
    with pytest.raises(DataError, match=r"plain-idx1-ubyte.gz: corrupt gzip: not a gzip file"):
        read_idx(p)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nothere-idx1-ubyte: file not found"):
        read_idx(tmp_path / "nothere-idx1-ubyte")


def _gzip_of_header_then_zeros(path, header: bytes, zeros: int) -> None:
    """A small .gz whose stream is `header` then `zeros` zero bytes, written in pieces."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        block = bytes(1 << 20)
        for start in range(0, zeros, len(block)):
            f.write(block[: zeros - start])


def test_read_idx_gzip_bomb_inflates_no_more_than_the_header_promises(tmp_path):
    import tracemalloc

    p = tmp_path / "bomb-idx1-ubyte.gz"
    _gzip_of_header_then_zeros(p, struct.pack(">HBBI", 0, 0x08, 1, 3200), 16 << 20)
    assert p.stat().st_size < 100_000  # 16 MiB of zeros behind a header that promises 3200 bytes
    tracemalloc.start()
    try:
        with pytest.raises(
            DataError,
            match=r"^bomb-idx1-ubyte.gz: extra bytes after the data "
            r"\(expected 3200 data bytes for shape \(3200,\)",
        ):
            read_idx(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # reading all of it would take 16 MiB


def test_read_idx_never_asks_the_stream_for_more_than_header_plus_one_byte(tmp_path, monkeypatch):
    p = tmp_path / "big-idx1-ubyte.gz"
    _gzip_of_header_then_zeros(p, struct.pack(">HBBI", 0, 0x08, 1, 3200), 4 << 20)
    asked = []
    read = gzip.GzipFile.read  # GzipFile.readinto reads through it
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, n=-1: asked.append(n) or read(self, n))
    with pytest.raises(DataError, match="extra bytes after the data"):
        read_idx(p)
    assert all(n >= 0 for n in asked) and sum(asked) == 8 + 3200 + 1


def test_read_idx_header_promising_gigabytes_in_a_tiny_file(tmp_path):
    raw = _bad(tmp_path, "huge-idx3-ubyte", struct.pack(">HBB3I", 0, 0x0E, 3, *(2**32 - 1,) * 3))
    with pytest.raises(
        DataError,
        match=r"huge-idx3-ubyte: truncated: expected \d+ data bytes for "
        r"shape \(4294967295, 4294967295, 4294967295\), found 0$",
    ):
        read_idx(raw)
    gz = _bad(tmp_path, "huge-idx1-ubyte.gz", gzip.compress(struct.pack(">HBBI", 0, 0x0E, 1, 2**32 - 1) + bytes(800)))
    with pytest.raises(
        DataError,
        match=r"huge-idx1-ubyte.gz: truncated: expected 34359738360 data "
        r"bytes for shape \(4294967295,\), found 800$",
    ):
        read_idx(gz)


def test_read_idx_trailing_garbage_after_the_gzip_stream(tmp_path):
    p = _bad(tmp_path, "tail-idx1-ubyte.gz", gzip.compress(idx_bytes(np.arange(5, dtype=np.uint8))) + b"garbage")
    with pytest.raises(DataError, match=r"tail-idx1-ubyte.gz: corrupt gzip"):
        read_idx(p)


def test_read_idx_empty_dimension_reads_an_empty_array(tmp_path):
    p = _bad(tmp_path, "none-idx3-ubyte", struct.pack(">HBB3I", 0, 0x08, 3, 0, 28, 28))
    assert read_idx(p).shape == (0, 28, 28)


def test_truncated_fashion_sized_file_message(tmp_path):
    header = struct.pack(">HBB3I", 0, 0x08, 3, 60000, 28, 28)
    p = _bad(tmp_path, "train-images-idx3-ubyte.gz", gzip.compress(header + bytes(1000)))
    with pytest.raises(
        DataError,
        match=r"^train-images-idx3-ubyte.gz: truncated: expected "
        r"47040000 data bytes for shape \(60000, 28, 28\), "
        r"found 1000$",
    ):
        read_idx(p)
