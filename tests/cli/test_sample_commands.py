"""`klvae sample` and `klvae encode` (`klvae.cli.sample_commands`, `klvae.cli.npz_output`): samples
and encodings as arrays, made in batches with memory bounded by one batch, and a readable grid."""

import numpy as np
import pytest
import torch

import klvae.cli.sample_commands as sample_commands
from klvae.cli import main
from klvae.cli.npz_output import NpzWriter
from klvae.vae import VAE, load_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "run"
    argv = ["train", "--out", str(out), "--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--iw-k", "2"]
    assert main(argv) == 0
    return out


def test_npz_holds_every_sample_and_the_images_are_the_decoder_means_of_its_z(run, tmp_path, capsys):
    assert main(["sample", str(run), "-n", "2500", "--npz", str(tmp_path / "s.npz"), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == (
        f"wrote {tmp_path / 's.npz'}: 2500 samples from the prior: images (2500 × 1 × 8 × 8), z (2500 × 2); "
        "images are the Bernoulli means σ(logits)"
    )
    assert not (run / "prior_samples_seed3.png").exists()  # --npz alone writes no grid
    with np.load(tmp_path / "s.npz") as f:
        assert set(f.files) == {"images", "z"}
        images, z = f["images"], f["z"]
    assert images.shape == (2500, 1, 8, 8) and images.dtype == np.float32 and z.shape == (2500, 2)
    model = load_run(run)
    with torch.no_grad():
        want = torch.sigmoid(model.decode(torch.as_tensor(z))).numpy()  # E[x | z] of a Bernoulli decoder
    np.testing.assert_allclose(images, want, rtol=1e-5, atol=1e-6)
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.05  # N(0, I), over all batches
    assert len(np.unique(z[:, 0])) == 2500  # no batch repeats another


def test_samples_are_made_in_batches_of_bounded_size(run, tmp_path, monkeypatch):
    sizes = []
    mean = VAE.mean

    def recorded(self, z, y=None):
        sizes.append(len(z))
        return mean(self, z, y)

    monkeypatch.setattr(sample_commands, "BATCH", 100)
    monkeypatch.setattr(VAE, "mean", recorded)
    assert main(["sample", str(run), "-n", "1050", "--npz", str(tmp_path / "s.npz")]) == 0
    assert max(sizes) == 100 and sum(sizes) == 1050
    assert np.load(tmp_path / "s.npz")["images"].shape[0] == 1050


def test_the_grid_is_capped_at_a_readable_size_and_says_so(run, tmp_path, capsys, monkeypatch):
    sizes = []
    mean = VAE.mean
    monkeypatch.setattr(VAE, "mean", lambda self, z, y=None: sizes.append(len(z)) or mean(self, z, y))
    assert main(["sample", str(run), "-n", "100000", "--png", str(tmp_path / "g.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "the figure shows the first 256 of the 100000 samples, as many as stay readable; "
        "write all 100000 as arrays with --npz FILE",
        f"wrote {tmp_path / 'g.png'}: 256 samples from the prior, showing the Bernoulli means σ(logits)",
    ]
    assert sum(sizes) == 256  # without --npz only what is shown is made
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_grid_shows_the_first_samples_of_the_npz(run, tmp_path, capsys):
    assert main(["sample", str(run), "-n", "9", "--npz", str(tmp_path / "a"), "--png", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"wrote {tmp_path / 'a.npz'}: 9 samples") and out[1].startswith(
        f"wrote {tmp_path / 'a.png'}"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--npz", "s.csv"], "--npz s.csv: the file is a NumPy .npz archive; give a file name ending in .npz"),
        (["--png", "s.jpg"], "--png s.jpg: the grid is a PNG; give a file name ending in .png"),
        (["-n", "0"], "-n must be at least 1, got 0"),
    ],
)
def test_bad_output_names_are_one_line(run, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["sample", str(run), *argv]) == 2
    assert capsys.readouterr().err.strip() == f"klvae sample: error: {message}"
    assert not any(tmp_path.iterdir())


def test_encode_writes_the_reconstructions_beside_their_inputs(run, tmp_path, capsys):
    assert main(["encode", str(run), "--reconstructions", "--npz", str(tmp_path / "e.npz")]) == 0
    assert "images and reconstructions (360 × 1 × 8 × 8)" in capsys.readouterr().out
    with np.load(tmp_path / "e.npz") as f:
        assert set(f.files) == {"mu", "logvar", "labels", "images", "reconstructions"}
        x, recon, mu = f["images"], f["reconstructions"], f["mu"]
    assert set(np.unique(x)) <= {0.0, 1.0}  # the binarized test images the run was evaluated on
    model = load_run(run)
    with torch.no_grad():
        mu_again, _ = model.encode(torch.as_tensor(x))
        want = torch.sigmoid(model.decode(mu_again)).numpy()
    np.testing.assert_allclose(mu, mu_again.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(recon, want, rtol=1e-5, atol=1e-6)


def test_the_npz_writer_leaves_no_partial_file_when_interrupted(tmp_path):
    path = tmp_path / "a.npz"
    with pytest.raises(KeyboardInterrupt):
        with NpzWriter(path, {"x": ((10, 3), "float32")}) as out:
            out.write("x", 0, np.ones((5, 3)))
            raise KeyboardInterrupt
    assert not any(tmp_path.iterdir())
    with NpzWriter(path, {"x": ((4,), "int64"), "y": ((2, 2), "float64")}) as out:
        out.write("x", 0, [1, 2])
        out.write("x", 2, [3, 4])
        out.write("y", 0, np.eye(2))
    with np.load(path) as f:
        assert f["x"].tolist() == [1, 2, 3, 4] and f["y"].tolist() == [[1, 0], [0, 1]]
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]
