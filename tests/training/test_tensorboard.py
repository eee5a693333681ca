"""TensorBoard logs (`klvae.training.tensorboard`), read back with TensorBoard's EventAccumulator."""

import pytest
import torch

from klvae.cli import main
from klvae.training.tensorboard import TensorBoardLogger, TensorBoardMissing, image_grid, require_tensorboard

SMALL = ["--hidden", "16", "--latent-dim", "2", "--iw-k", "2"]


def _events(log_dir):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    ea = accumulator.EventAccumulator(str(log_dir), size_guidance={"images": 0, "scalars": 0})
    ea.Reload()
    return ea


def test_image_grid_places_each_image():
    x = torch.zeros(3, 1, 2, 2)
    x[2] = 1.0
    grid = image_grid(x, nrow=2, pad=1)  # 2 rows, 2 columns
    assert grid.shape == (1, 7, 7)
    assert (grid[0, 4:6, 1:3] == 1).all() and grid[0, 1:3, 1:3].eq(0).all() and grid[0, 0, 0] == 0.5


def test_train_writes_scalars_every_sync_epoch_metrics_and_grids(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--epochs", "2", "--log-every", "4", "--tensorboard", *SMALL]) == 0
    assert "tensorboard --logdir" in capsys.readouterr().out
    ea = _events(run / "tensorboard")
    tags = ea.Tags()
    assert {"train/loss", "train/recon", "train/kl", "epoch/val_elbo", "epoch/train_loss"} <= set(tags["scalars"])
    assert [e.step for e in ea.Scalars("train/loss")] == [4, 8, 9, 13, 17, 18]  # every 4 steps and each epoch's end (9)
    assert [e.step for e in ea.Scalars("epoch/val_elbo")] == [1, 2]
    assert ea.Scalars("epoch/val_elbo")[-1].value < 0
    images = ea.Images("samples_then_reconstructions")
    assert [i.step for i in images] == [1, 2] and images[0].width > 8 * 8


def test_gan_on_images_logs_its_samples(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    run = tmp_path / "gan"
    assert (
        main(
            [
                "gan",
                "--data",
                "digits",
                "--epochs",
                "1",
                "--batch-size",
                "256",
                "--out",
                str(run),
                "--g-hidden",
                "16",
                "--d-hidden",
                "16",
                "--tensorboard",
            ]
        )
        == 0
    )
    ea = _events(run / "tensorboard")
    assert "train/d_loss" in ea.Tags()["scalars"] and "epoch/class_kl" in ea.Tags()["scalars"]
    assert [i.step for i in ea.Images("samples")] == [1]


def test_a_missing_tensorboard_is_one_line(tmp_path, monkeypatch, capsys):
    import builtins

    real = builtins.__import__

    def no_tensorboard(name, *a, **k):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(TensorBoardMissing, match=r"pip install 'klvae\[tensorboard\]'"):
        require_tensorboard()
    assert main(["train", "--out", str(tmp_path / "r"), "--epochs", "1", "--tensorboard", *SMALL]) == 2
    err = capsys.readouterr().err
    assert "TensorBoard is not installed: pip install 'klvae[tensorboard]'" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_logger_skips_non_numbers(tmp_path):
    pytest.importorskip("tensorboard")
    tb = TensorBoardLogger(tmp_path)
    tb.log_epoch(1, {"epoch": 1, "step": 3, "a": 1.5, "b": None, "c": float("nan"), "d": True})
    tb.close()
    assert _events(tmp_path).Tags()["scalars"] == ["epoch/a"]
