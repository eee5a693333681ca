import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from klvae.data.datasets import DATA_HELP, FASHION_MNIST_DIR, Dataset, load_dataset
from klvae.data.files import DataError
from klvae.data.mixtures import mode_mixture

# --------------------------------------------------------------------------- file builders


def idx_bytes(arr: np.ndarray, code: int = 0x08, *, dtype=">u1") -> bytes:
    """An IDX file written by hand: two zero bytes, type code, ndim, big-endian sizes, data."""
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.asarray(arr, dtype=dtype).tobytes()


def write_idx_folder(folder: Path, n_train=6, n_test=4, hw=(5, 3), *, gz=True, sep="-", seed=0):
    """A tiny MNIST-style folder; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, *hw), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        for kind, arr, d in (("images", images, 3), ("labels", labels, 1)):
            name = f"{split}-{kind}{sep}idx{d}-ubyte"
            data = idx_bytes(arr)
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        arrays[split] = (images, labels)
    return arrays


# --------------------------------------------------------------------------- digits


def test_digits_shapes_range_and_labels():
    ds = load_dataset()
    assert ds.name == "digits"
    assert ds.x_train.shape == (1437, 1, 8, 8) and ds.x_test.shape == (360, 1, 8, 8)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.image_shape == (1, 8, 8) and ds.is_image and ds.num_classes == 10
    for x in (ds.x_train, ds.x_test):
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert set(ds.y_train.tolist()) == set(range(10)) == set(ds.y_test.tolist())


def test_digits_split_is_fixed_disjoint_and_covers_sklearn():
    from sklearn.datasets import load_digits

    ref = load_digits()
    a, b = load_dataset("digits", seed=0), load_dataset("digits", seed=5)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    # Map each image back to sklearn's rows: pixels*16 are the original integers 0..16.
    key = {row.tobytes(): i for i, row in enumerate(ref.images.astype(np.int64).reshape(-1, 64))}
    assert len(key) > 1700  # the bundled set has very few exact duplicates

    def rows(x):
        ints = (x.reshape(len(x), 64).double() * 16).round().long().numpy()
        return [key.get(r.tobytes()) for r in ints]

    train, test = rows(a.x_train), rows(a.x_test)
    assert None not in train and None not in test
    assert len(set(train) | set(test)) == len(key)
    assert not ({ref.images[i].tobytes() for i in train} & {ref.images[i].tobytes() for i in test})
    assert [ref.target[i] for i in test] == a.y_test.tolist()


# --------------------------------------------------------------------------- read_idx


# --------------------------------------------------------------------------- IDX folders


@pytest.mark.parametrize("gz,sep", [(True, "-"), (False, "-"), (True, "."), (False, ".")])
def test_idx_folder_round_trip(tmp_path, gz, sep):
    arrays = write_idx_folder(tmp_path / "mini", gz=gz, sep=sep)
    ds = load_dataset(str(tmp_path / "mini"))
    assert ds.name == "mini" and ds.image_shape == (1, 5, 3)
    for (x, y), split in ((ds.x_train, ds.y_train), "train"), ((ds.x_test, ds.y_test), "t10k"):
        images, labels = arrays[split]
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        np.testing.assert_allclose(x[:, 0].numpy(), images / 255.0, rtol=1e-6)
        assert y.tolist() == labels.tolist()


def test_idx_folder_prefers_raw_over_gz_and_accepts_prefixes(tmp_path):
    folder = tmp_path / "kmnist"
    arrays = write_idx_folder(folder, gz=False)
    for p in list(folder.iterdir()):  # a prefixed raw copy plus a corrupt .gz beside it
        p.rename(folder / ("kmnist-" + p.name))
        (folder / ("kmnist-" + p.name + ".gz")).write_bytes(b"not gzip at all")
    ds = load_dataset(str(folder))
    assert ds.y_train.tolist() == arrays["train"][1].tolist()


def test_idx_folder_label_image_count_mismatch(tmp_path):
    folder = tmp_path / "mm"
    write_idx_folder(folder, gz=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(
        DataError,
        match=r"t10k-images-idx3-ubyte has 4 images but "
        r"t10k-labels-idx1-ubyte has 3 labels",
    ):
        load_dataset(str(folder))


def test_idx_folder_missing_files(tmp_path):
    folder = tmp_path / "partial"
    write_idx_folder(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    (folder / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(
        DataError,
        match=r"partial: missing IDX files: train-images-idx3-ubyte"
        r"\[\.gz\], t10k-labels-idx1-ubyte\[\.gz\]",
    ):
        load_dataset(str(folder))


def test_idx_folder_corrupt_member_names_the_file(tmp_path):
    folder = tmp_path / "bad"
    write_idx_folder(folder)
    good = gzip.decompress((folder / "train-images-idx3-ubyte.gz").read_bytes())
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(good[:-5]))
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte.gz: truncated: expected 90 "
        r"data bytes .* found 85",
    ):
        load_dataset(str(folder))


def test_idx_folder_labels_with_image_dims(tmp_path):
    folder = tmp_path / "dims"
    write_idx_folder(folder, gz=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros((6, 2), np.uint8)))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: wrong number of dimensions"):
        load_dataset(str(folder))


def test_idx_folder_train_test_sizes_differ(tmp_path):
    folder = tmp_path / "sz"
    write_idx_folder(folder, gz=False)
    (folder / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((4, 2, 2), np.uint8)))
    with pytest.raises(DataError, match=r"train images are \(5, 3\) but test images are \(2, 2\)"):
        load_dataset(str(folder))


@pytest.mark.parametrize("n_train, n_test, word", [(0, 4, "training"), (6, 0, "test")])
def test_idx_folder_without_images_is_refused(tmp_path, n_train, n_test, word):
    folder = tmp_path / "few"
    write_idx_folder(folder, n_train=n_train, n_test=n_test)
    with pytest.raises(DataError, match=rf"few has no {word} images \(\S+-images-idx3-ubyte.gz holds 0\)"):
        load_dataset(str(folder))


# --------------------------------------------------------------------------- fashion-mnist


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package(monkeypatch):
    monkeypatch.delenv("KLVAE_FASHION_MNIST_DIR", raising=False)
    ds = load_dataset("fashion-mnist")
    assert ds.name == "fashion-mnist"
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    assert torch.bincount(ds.y_train).tolist() == [6000] * 10  # balanced classes
    assert torch.bincount(ds.y_test).tolist() == [1000] * 10
    # An independent decode of one test image straight from the gzip file.
    raw = gzip.decompress((FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes())
    first = np.frombuffer(raw[16 : 16 + 784], np.uint8).reshape(28, 28)
    np.testing.assert_allclose(ds.x_test[0, 0].numpy(), first / 255.0, rtol=1e-6)


def test_fashion_mnist_missing_dir_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KLVAE_FASHION_MNIST_DIR", str(tmp_path / "nope"))
    with pytest.raises(
        DataError,
        match=r"fashion-mnist: no folder .*nope; install them with "
        r"`apt-get install dataset-fashion-mnist`.*folder of IDX",
    ):
        load_dataset("fashion-mnist")


def test_fashion_mnist_empty_dir_lists_missing_files(tmp_path, monkeypatch):
    monkeypatch.setenv("KLVAE_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(
        DataError,
        match=r"missing IDX files: train-images.*apt-get install "
        r"dataset-fashion-mnist",
    ):
        load_dataset("fashion_mnist")


def test_fashion_mnist_dir_override_loads_a_small_copy(tmp_path, monkeypatch):
    arrays = write_idx_folder(tmp_path, n_train=3, n_test=2, hw=(4, 4))
    monkeypatch.setenv("KLVAE_FASHION_MNIST_DIR", str(tmp_path))
    ds = load_dataset("Fashion-MNIST")
    assert ds.name == "fashion-mnist" and ds.x_train.shape == (3, 1, 4, 4)
    assert ds.y_test.tolist() == arrays["t10k"][1].tolist()


# --------------------------------------------------------------------------- npz


@pytest.mark.parametrize("layout", ["NHW", "NHWC1", "NHWC3", "NCHW1", "NCHW3"])
def test_npz_layouts_and_uint8_scaling(tmp_path, layout):
    rng = np.random.default_rng(1)
    c = 3 if layout.endswith("3") else 1
    ref = rng.integers(0, 256, size=(7, c, 6, 5), dtype=np.uint8)  # (N, C, H, W)
    nhwc = ref.transpose(0, 2, 3, 1)
    store = {"NHW": ref[:, 0], "NHWC1": nhwc, "NHWC3": nhwc, "NCHW1": ref, "NCHW3": ref}[layout]
    p = tmp_path / "set.npz"
    np.savez(p, x_train=store, x_test=store[:2], y_train=np.arange(7), y_test=np.array([1, 0]))
    ds = load_dataset(str(p))
    assert ds.name == "set" and ds.image_shape == (c, 6, 5)
    np.testing.assert_allclose(ds.x_train.numpy(), ref / 255.0, rtol=1e-6)
    assert ds.y_test.tolist() == [1, 0] and ds.num_classes == 7


def test_npz_float_in_range_and_without_labels(tmp_path):
    x = np.random.default_rng(2).random((4, 3, 3)).astype(np.float64)
    p = tmp_path / "f.npz"
    np.savez(p, x_train=x, x_test=x)
    ds = load_dataset(str(p))
    assert ds.y_train is None and ds.y_test is None and ds.num_classes is None
    assert ds.x_train.dtype == torch.float32
    np.testing.assert_allclose(ds.x_test[:, 0].numpy(), x, rtol=1e-6)


def test_npz_float_out_of_range(tmp_path):
    x = np.linspace(-0.5, 255.0, 2 * 4 * 4).reshape(2, 4, 4)
    p = tmp_path / "raw.npz"
    np.savez(p, x_train=x, x_test=x)
    with pytest.raises(
        DataError,
        match=r"raw.npz: x_train: float images must lie in \[0, 1\], "
        r"found values in \[-0.5, 255\]",
    ):
        load_dataset(str(p))


def test_npz_nan_is_out_of_range(tmp_path):
    x = np.full((2, 4, 4), 0.5)
    p = tmp_path / "nan.npz"
    x[1, 2, 3] = np.nan
    np.savez(p, x_train=np.full((2, 4, 4), 0.5), x_test=x)
    with pytest.raises(
        DataError,
        match=r"nan.npz: x_test: float images must lie in \[0, 1\], "
        r"found NaN values",
    ):
        load_dataset(str(p))


def test_npz_missing_x_test(tmp_path):
    p = tmp_path / "half.npz"
    np.savez(p, x_train=np.zeros((2, 4, 4), np.uint8), y_train=np.zeros(2, np.int64))
    with pytest.raises(
        DataError,
        match=r"half.npz: missing key 'x_test' \(found: x_train, "
        r"y_train\); an .npz data set needs x_train and x_test",
    ):
        load_dataset(str(p))


def test_npz_bad_shape_and_label_count(tmp_path):
    p = tmp_path / "s.npz"
    np.savez(p, x_train=np.zeros((2, 4, 4, 2), np.uint8), x_test=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(
        DataError,
        match=r"s.npz: x_train: images must have shape \(N, H, W\), "
        r"\(N, H, W, C\) or \(N, C, H, W\) with C in \{1, 3\}, "
        r"found \(2, 4, 4, 2\)",
    ):
        load_dataset(str(p))
    q = tmp_path / "y.npz"
    np.savez(
        q, x_train=np.zeros((2, 4, 4), np.uint8), x_test=np.zeros((2, 4, 4), np.uint8), y_train=np.zeros(3, np.int64)
    )
    with pytest.raises(DataError, match=r"y.npz: x_train has 2 images but y_train has 3 labels"):
        load_dataset(str(q))
    r = tmp_path / "yf.npz"
    np.savez(
        r, x_train=np.zeros((2, 4, 4), np.uint8), x_test=np.zeros((2, 4, 4), np.uint8), y_test=np.array([0.5, 1.0])
    )
    with pytest.raises(
        DataError,
        match=r"yf.npz: y_test must be a 1-D array of non-negative "
        r"integers, found shape \(2,\), dtype float64",
    ):
        load_dataset(str(r))


def test_npz_train_test_shapes_differ_and_int_dtype(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x_train=np.zeros((2, 4, 4), np.uint8), x_test=np.zeros((2, 5, 5), np.uint8))
    with pytest.raises(
        DataError,
        match=r"d.npz: x_train images are \(1, 4, 4\) but x_test "
        r"images are \(1, 5, 5\)",
    ):
        load_dataset(str(p))
    q = tmp_path / "i.npz"
    np.savez(q, x_train=np.zeros((2, 4, 4), np.int32), x_test=np.zeros((2, 4, 4), np.int32))
    with pytest.raises(
        DataError,
        match=r"i.npz: x_train: images must be uint8 .* found dtype "
        r"int32",
    ):
        load_dataset(str(q))


def test_npz_not_a_zip(tmp_path):
    p = tmp_path / "broken.npz"
    p.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DataError, match=r"broken.npz: not a readable .npz file"):
        load_dataset(str(p))


def npy_header(shape, descr="<f8") -> bytes:
    """The header np.save would write for an array of `shape` and `descr`, without its data."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_npz_member_whose_header_promises_745_gib_is_refused_before_reading(tmp_path):
    import zipfile

    p = tmp_path / "huge.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("x_train.npy", npy_header((100_000_000_000,)) + bytes(72))
        zf.writestr("x_test.npy", npy_header((2, 3, 3)) + bytes(144))
    assert p.stat().st_size < 1000
    with pytest.raises(
        DataError,
        match=r"^huge.npz: x_train: truncated: expected 800000000000 data "
        r"bytes for shape \(100000000000,\) of float64, found 72$",
    ):
        load_dataset(str(p))


def test_npz_member_with_forged_zip_sizes_is_refused(tmp_path):
    import zipfile

    p = tmp_path / "forged.npz"
    head = npy_header((500_000_000,), "|u1")
    with zipfile.ZipFile(p, "w") as zf:  # stored: compressed size = size
        zf.writestr("x_train.npy", head + bytes(8))
        zf.writestr("x_test.npy", head + bytes(8))
    raw = bytearray(p.read_bytes())
    claimed = struct.pack("<I", len(head) + 500_000_000)
    at = 0
    while (at := raw.find(b"PK\x01\x02", at)) >= 0:  # central directory entries: the size read
        raw[at + 24 : at + 28] = claimed
        at += 4
    p.write_bytes(bytes(raw))
    with pytest.raises(
        DataError,
        match=r"^forged.npz: x_train: the archive claims 500000128 bytes "
        r"from \d+ compressed bytes .*damaged or forged$",
    ):
        load_dataset(str(p))


def test_npz_object_array_is_refused_without_unpickling(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, x_train=np.array([{"a": 1}, None], dtype=object), x_test=np.zeros((1, 2, 2)))
    with pytest.raises(DataError, match=r"^obj.npz: x_train: holds Python objects \(dtype object\)"):
        load_dataset(str(p))


def test_npz_reads_only_the_four_arrays_it_needs(tmp_path):
    import zipfile

    p = tmp_path / "extra.npz"
    np.savez(p, x_train=np.zeros((3, 2, 2), np.uint8), x_test=np.zeros((2, 2, 2), np.uint8))
    with zipfile.ZipFile(p, "a") as zf:
        zf.writestr("notes.npy", npy_header((10**12,)))  # never read
    ds = load_dataset(str(p))
    assert len(ds.x_train) == 3 and len(ds.x_test) == 2


@pytest.mark.parametrize("split, word", [("train", "training"), ("test", "test")])
def test_npz_without_images_is_refused(tmp_path, split, word):
    arrays = {"x_train": np.zeros((3, 4, 4), np.uint8), "x_test": np.zeros((2, 4, 4), np.uint8)}
    arrays[f"x_{split}"] = np.zeros((0, 4, 4), np.uint8)
    np.savez(tmp_path / "empty.npz", **arrays)
    with pytest.raises(DataError, match=rf"^empty.npz has no {word} images \(x_{split} is empty\)$"):
        load_dataset(str(tmp_path / "empty.npz"))


def test_npz_compressed_round_trip(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (4, 3, 3), np.uint8)
    np.savez_compressed(tmp_path / "c.npz", x_train=x, x_test=x[:2], y_train=np.arange(4))
    ds = load_dataset(str(tmp_path / "c.npz"))
    assert torch.equal(ds.x_train, torch.from_numpy(x[:, None] / np.float32(255)))
    assert ds.y_train.tolist() == [0, 1, 2, 3] and ds.y_test is None


# --------------------------------------------------------------------------- unknown specs


def test_unknown_spec_lists_names_and_says_path_not_found(tmp_path):
    missing = tmp_path / "nothing.npz"
    with pytest.raises(
        DataError,
        match=r"unknown data set '.*nothing.npz': not one of digits, "
        r"fashion-mnist, ring8, grid25, and no file or folder at",
    ):
        load_dataset(str(missing))


def test_other_file_kind_is_rejected(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(b"")
    with pytest.raises(DataError, match=r"must be an .npz; for IDX files pass their folder"):
        load_dataset(str(p))


def test_data_help_names_every_spec_and_works_in_argparse():
    import argparse

    for word in ("digits", "fashion-mnist", "ring8", "grid25", "IDX", ".npz", "x_train"):
        assert word in DATA_HELP
    parser = argparse.ArgumentParser(prog="klvae")
    parser.add_argument("--data", default="digits", help=DATA_HELP)
    assert "fashion-mnist" in parser.format_help()  # no stray % in the help text


@pytest.mark.parametrize("name,k", [("ring8", 8), ("grid25", 25)])
def test_load_mixture_dataset(name, k):
    ds = load_dataset(name, seed=7)
    assert isinstance(ds, Dataset) and ds.name == name
    assert ds.x_train.shape == (100_000, 2) and ds.x_test.shape == (2_500, 2)
    assert ds.image_shape == (2,) and not ds.is_image and ds.num_classes == k
    means, _ = mode_mixture(name)
    assert torch.equal(torch.cdist(ds.x_test, means).argmin(dim=1), ds.y_test)
    again, other = load_dataset(name, seed=7), load_dataset(name, seed=8)
    assert torch.equal(ds.x_test, again.x_test) and not torch.equal(ds.x_test, other.x_test)
