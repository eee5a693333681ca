"""`klvae gan` and the GAN side of `klvae sample` (`klvae.cli.gan_commands`): its runs resume only as
GAN runs, and its samples come out as arrays too."""

import json

import numpy as np
import pytest

from klvae.cli import main

SMALL = ["--g-hidden", "16", "--d-hidden", "16", "--g-layers", "2", "--d-layers", "2", "--batch-size", "10000"]


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan") / "run"
    assert main(["gan", "--data", "ring8", "--epochs", "1", "--threads", "1", "--out", str(out), *SMALL]) == 0
    return out


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    argv = ["train", "--out", str(out), "--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--iw-k", "2"]
    assert main(argv) == 0
    return out


def test_gan_resume_of_a_vae_run_says_it_is_a_vae_run(vae_run, capsys):
    assert main(["gan", "--resume", str(vae_run), "--epochs", "3"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"klvae gan: error: {vae_run} is a VAE run: continue it with klvae train --resume {vae_run}"
    )


def test_train_resume_of_a_gan_run_says_it_is_a_gan_run(gan_run, capsys):
    assert main(["train", "--resume", str(gan_run), "--epochs", "3"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"klvae train: error: {gan_run} is a GAN run: continue it with klvae gan --resume {gan_run}"
    )


def test_gan_resume_of_a_finished_run_says_there_is_nothing_to_train(gan_run, capsys):
    assert main(["gan", "--resume", str(gan_run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"klvae gan: error: nothing to train: {gan_run} has finished 1 epoch (--epochs 1)")


def test_gan_samples_as_arrays_of_points(gan_run, tmp_path, capsys):
    assert main(["sample", str(gan_run), "-n", "3000", "--npz", str(tmp_path / "g.npz")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'g.npz'}: 3000 samples G(z) of the GAN: x (3000 × 2)"
    with np.load(tmp_path / "g.npz") as f:
        x = f["x"]
        assert f.files == ["x"] and x.shape == (3000, 2) and np.isfinite(x).all()
    assert len(np.unique(x[:, 0])) == 3000  # every batch new draws
    assert not (gan_run / "gan_samples_seed0.png").exists()


def test_gan_eval_prints_its_units_at_one_precision(gan_run, capsys):
    assert main(["eval", str(gan_run)]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if "reverse KL" in s)
    assert line.endswith(" nats") or "undefined" in line
    if line.endswith(" nats"):
        assert len(line.split()[-2].split(".")[1]) == 3  # the commands' one precision for nats
    assert json.loads((gan_run / "eval.json").read_text())["modes"] >= 0
