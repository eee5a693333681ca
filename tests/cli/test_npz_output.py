"""klvae.cli.npz_output: batches into one .npz that numpy.load reads, nothing left behind on failure."""

import numpy as np
import pytest

from klvae.cli.common import UsageError
from klvae.cli.npz_output import NpzWriter, npz_path


def test_batches_make_the_arrays_numpy_load_reads(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((1000, 3, 4)).astype(np.float32), rng.integers(0, 10, 1000)
    target = tmp_path / "out" / "s.npz"
    with NpzWriter(target, {"x": (x.shape, np.float32), "y": (y.shape, np.int64)}) as out:
        for start in range(0, 1000, 128):
            out.write("x", start, x[start : start + 128])
            out.write("y", start, y[start : start + 128])
    with np.load(target) as saved:
        assert sorted(saved.files) == ["x", "y"]
        np.testing.assert_array_equal(saved["x"], x)
        np.testing.assert_array_equal(saved["y"], y)
    assert [p.name for p in target.parent.iterdir()] == ["s.npz"]  # the temporary folder is gone


def test_an_error_midway_leaves_no_file(tmp_path):
    target = tmp_path / "s.npz"
    with pytest.raises(RuntimeError, match="interrupted"):
        with NpzWriter(target, {"x": ((10,), np.float64)}) as out:
            out.write("x", 0, np.ones(5))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, want", [("a.npz", "a.npz"), ("a", "a.npz"), ("dir/b.NPZ", "dir/b.NPZ")])
def test_npz_path(text, want):
    assert str(npz_path(text)) == want


def test_npz_path_refuses_another_suffix():
    with pytest.raises(
        UsageError, match=r"--npz a\.png: the file is a NumPy \.npz archive; give a file name ending in \.npz"
    ):
        npz_path("a.png")
