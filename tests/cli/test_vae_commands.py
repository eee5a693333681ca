"""`klvae train / eval / sample` end to end on the bundled digits."""

import json
import re

import numpy as np
import pytest
import torch

from klvae.cli import main
from klvae.vae import load_run

FIGURES = [
    "reconstructions.png",
    "samples.png",
    "interpolations.png",
    "traversal.png",
    "latent_map.png",
    "progress.png",
    "loss_curves.png",
    "kl_per_dim.png",
    "active_units.png",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    code = main(
        [
            "train",
            "--out",
            str(out),
            "--epochs",
            "2",
            "--hidden",
            "48,24",
            "--latent-dim",
            "3",
            "--iw-k",
            "16",
            "--log-every",
            "4",
        ]
    )
    assert code == 0
    return out


def test_train_writes_the_run_folder(trained, capsys):
    for name in [
        "config.json",
        "metrics.jsonl",
        "metrics.json",
        "model.safetensors",
        "checkpoint.safetensors",
        "report.html",
        *FIGURES,
    ]:
        assert (trained / name).is_file(), name
    metrics = json.loads((trained / "metrics.json").read_text())
    for key in (
        "test_elbo",
        "test_iw_nll",
        "iw_k",
        "active_units",
        "kl_per_dim",
        "train_seconds",
        "train_samples_per_second",
        "epochs",
    ):
        assert key in metrics
    assert metrics["iw_k"] == 16 and len(metrics["kl_per_dim"]) == 3 and metrics["epochs"] == 2
    config = json.loads((trained / "config.json").read_text())
    assert config["vae"]["hidden"] == [48, 24] and config["objective"]["binarize"] is True
    html = (trained / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert "test_iw_nll" in html and "nats per example" in html


def test_eval_prints_and_writes_eval_json(trained, capsys):
    assert main(["eval", str(trained), "--k", "8"]) == 0
    out = capsys.readouterr().out
    assert "test −log p(x), IW k = 8" in out and "eval.json" in out
    ev = json.loads((trained / "eval.json").read_text())
    assert ev["iw_k"] == 8 and ev["test_iw_nll"] > 0
    final = json.loads((trained / "metrics.json").read_text())
    assert ev["kl_per_dim"] == pytest.approx(final["kl_per_dim"])  # same test set, same model


def test_sample_writes_a_png(trained, tmp_path, capsys):
    png = tmp_path / "grid.png"
    assert main(["sample", str(trained), "-n", "9", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Bernoulli means σ(logits)" in capsys.readouterr().out


def test_train_says_how_long_and_where(trained, tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--out",
                str(tmp_path / "r"),
                "--epochs",
                "1",
                "--hidden",
                "16",
                "--latent-dim",
                "2",
                "--iw-k",
                "2",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    first, second = out.splitlines()[:2]
    assert first.startswith("cpu, 1 thread, float32, ")
    assert first.endswith("parameters; train 1150, validation 287, test 360")  # a fifth of the digits held out
    assert second.startswith("trained 1 epoch (9 steps) in ")  # not "1 epochs"
    html = (tmp_path / "r" / "report.html").read_text()
    assert "How this run was made" in html and "klvae train --hidden 16 --latent-dim 2" in html
    assert re.search(r"active units</th><td class=\"num\">[012] of 2<", html)


def test_a_run_stopped_within_its_first_epoch_says_so(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--out",
                str(tmp_path / "r"),
                "--epochs",
                "5",
                "--hidden",
                "16",
                "--latent-dim",
                "2",
                "--iw-k",
                "2",
                "--max-seconds",
                "1e-6",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert re.search(r"^trained (0 epochs \(0 steps\)|0\.\d\d of an epoch \(\d+ of 12 steps\)) in ", out, re.M)
    assert "(stopped by --max-seconds)" in out
    assert "warning: Undertrained" in err
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Undertrained" in html and "no finished epoch" in html.lower()


def test_encode_writes_mu_logvar_and_labels(trained, tmp_path, capsys):
    assert main(["encode", str(trained), "--npz", str(tmp_path / "z")]) == 0
    with np.load(tmp_path / "z.npz") as f:
        assert set(f.files) == {"mu", "logvar", "labels"}
        assert f["mu"].shape == f["logvar"].shape == (360, 3) and f["labels"].shape == (360,)
        model = load_run(trained)
        x = torch.as_tensor(np.zeros((1, 1, 8, 8), dtype=np.float32))
        assert np.isfinite(f["mu"]).all() and model.encode(x)[0].shape == (1, 3)
        assert set(f["labels"].tolist()) == set(range(10))
    assert "360 × 3" in capsys.readouterr().out


def test_load_run_round_trip(trained):
    model = load_run(trained)
    assert not model.training and model.config.latent_dim == 3
    z = torch.randn(4, 3)
    again = load_run(trained)
    assert torch.equal(model.decode(z), again.decode(z))
    mu, logvar = model.encode(torch.rand(2, 1, 8, 8))
    assert mu.shape == logvar.shape == (2, 3)


def test_resume_from_the_command_line(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [1, 2, 3]
    assert "report:" in capsys.readouterr().out


def test_resume_refuses_to_change_the_model(trained, capsys):
    assert main(["train", "--resume", str(trained), "--latent-dim", "5"]) == 2
    err = capsys.readouterr().err
    assert "--latent-dim cannot change when resuming" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["eval"], ["sample"], ["train", "--resume"]])
def test_missing_run_folder_is_one_line_exit_2(command, tmp_path, capsys):
    assert main([*command, str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_corrupt_data_file_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "r"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "broken.npz" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_conv_on_8x8_digits_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--arch", "conv", "--out", str(tmp_path / "r"), "--epochs", "1"]) == 2
    assert "--arch conv needs 28×28 images, the data has 8×8" in capsys.readouterr().err


def test_nan_exits_nonzero_with_the_message(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--epochs", "2", "--hidden", "16", "--lr", "1e30"]) == 1
    err = capsys.readouterr().err
    assert "training stopped" in err and "Try a smaller --lr" in err


def test_bernoulli_on_grey_pixels_warns(tmp_path, capsys):
    assert (
        main(["train", "--out", str(tmp_path / "r"), "--epochs", "1", "--hidden", "16", "--no-binarize", "--iw-k", "4"])
        == 0
    )
    assert "not a likelihood of the data" in capsys.readouterr().err


def test_bad_hidden_sizes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--hidden", "4x4"])
    assert exc.value.code == 2 and "expected comma-separated widths like 512,256" in capsys.readouterr().err


def test_bad_sample_count(capsys):
    assert main(["sample", "x", "-n", "0"]) == 2
    assert "-n must be at least 1" in capsys.readouterr().err


def test_gaussian_likelihood_trains(tmp_path, capsys):
    out = tmp_path / "g"
    assert (
        main(
            [
                "train",
                "--out",
                str(out),
                "--epochs",
                "1",
                "--hidden",
                "16",
                "--likelihood",
                "gaussian-learned",
                "--iw-k",
                "4",
                "--samples",
                "2",
                "--kl",
                "mc",
                "--warmup-epochs",
                "2",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert (
        np.isfinite(metrics["test_iw_nll"])
        and json.loads((out / "config.json").read_text())["objective"]["binarize"] is False
    )
    assert "p(x|z) is a density over pixel values" in capsys.readouterr().out
    html = (out / "report.html").read_text()
    assert "decoder is a density over pixel values, not a probability" in html
    assert "draw x ~ p(x|z)" not in html  # the grid's row labels are drawn in the PNG, the caption says it
    assert "one draw x ~ N(mean, σ²)" in html


def test_ctrl_c_exits_130_and_the_run_resumes(tmp_path, capsys):
    import os
    import signal
    import threading
    import time

    out = tmp_path / "r"

    def press_ctrl_c():  # once the first epoch is logged, i.e. inside the training loop
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = out / "metrics.jsonl"
            if log.is_file() and log.read_text().strip():
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    assert main(["train", "--out", str(out), "--epochs", "100000", "--hidden", "16", "--iw-k", "4"]) == 130
    err = capsys.readouterr().err
    assert f"Resume with: klvae train --resume {out}" in err and "Traceback" not in err
    from klvae.training.checkpoint import load_checkpoint

    _, meta = load_checkpoint(out / "checkpoint.safetensors")
    epoch = json.loads(meta["loop"])["epoch"]
    assert main(["train", "--resume", str(out), "--epochs", str(epoch + 1)]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == list(range(1, epoch + 2))


def test_a_new_run_never_overwrites_an_old_one(trained, capsys):
    before = (trained / "model.safetensors").read_bytes()
    assert main(["train", "--out", str(trained), "--epochs", "1", "--hidden", "16"]) == 2
    assert f"{trained} already holds a run; continue it with --resume {trained}" in capsys.readouterr().err
    assert (trained / "model.safetensors").read_bytes() == before


def test_without_a_validation_set_every_image_trains_and_the_report_still_draws(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--epochs", "2", "--val-size", "0", "--hidden", "16", "--iw-k", "2"]) == 0
    assert "train 1437, validation 0, test 360" in capsys.readouterr().out
    assert (out / "progress.png").is_file() and (out / "loss_curves.png").is_file()
    lines = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [12, 24] and not any("val_elbo" in r for r in lines)


@pytest.mark.parametrize("epochs", [["--epochs", "2"], ["--epochs", "1"], []])
def test_resuming_a_finished_run_says_there_is_nothing_to_train(trained, capsys, epochs):
    before = (trained / "metrics.json").read_bytes()
    assert main(["train", "--resume", str(trained), *epochs]) == 2
    err = capsys.readouterr().err
    target = epochs[1] if epochs else "2"
    assert err.strip() == (
        f"klvae train: error: nothing to train: {trained} has finished 2 epochs (--epochs {target}); "
        f"give --epochs above 2 to train on, or klvae eval {trained} to evaluate it again"
    )
    assert (trained / "metrics.json").read_bytes() == before  # nothing re-evaluated or rewritten
