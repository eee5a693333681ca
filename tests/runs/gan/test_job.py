"""The GAN on the shared training loop: CLI end to end, resume = uninterrupted, image scores."""

import json
import re

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from klvae.cli import main
from klvae.gan.model import GANConfig
from klvae.runs.gan.job import train_gan
from klvae.training.config import TrainConfig
from klvae.training.task import TrainingInterrupted
from report_figures import check_shown_at_size, record_figures

SMALL = [
    "--g-hidden",
    "16",
    "--d-hidden",
    "16",
    "--g-layers",
    "2",
    "--d-layers",
    "2",
    "--batch-size",
    "10000",
    "--threads",
    "1",
]


def test_cli_trains_on_ring8_and_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["gan", "--data", "ring8", "--epochs", "2", "--loss", "minimax", "--pack", "2", "--out", str(out), *SMALL])
        == 0
    )
    for name in (
        "config.json",
        "metrics.json",
        "metrics.jsonl",
        "model.safetensors",
        "checkpoint.safetensors",
        "report.html",
        "samples.png",
        "samples/epoch_001.png",
        "samples/epoch_002.png",
        "losses.png",
        "modes.png",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"modes", "high_quality", "reverse_kl"} <= set(metrics)
    assert 0 <= metrics["modes"] <= 8 and 0 <= metrics["high_quality"] <= 1
    assert metrics["steps"] == 20 and metrics["loss"] == "minimax" and metrics["pack"] == 2
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert "modes captured" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["gan"]["n_critic"] == 1 and config["train"]["lr"] == 1e-3
    html = (out / "report.html").read_text()
    assert "progress.png" not in html or html.count("data:image/png;base64,") == 6
    assert (out / "progress.png").is_file() and "samples after epoch" not in html.lower()
    assert re.search(r"high-quality samples</th><td class=\"num\">\d+\.\d\d%<", html)
    assert re.search(r"modes captured</th><td class=\"num\">\d of 8<", html)

    # sample and eval on a GAN run do the GAN's thing
    assert main(["sample", str(out), "-n", "100", "--png", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG" and "GAN's generator" in capsys.readouterr().out
    assert main(["eval", str(out)]) == 0
    printed = capsys.readouterr().out
    ev = json.loads((out / "eval.json").read_text())
    assert ev["modes"] == metrics["modes"] and ev["high_quality"] == metrics["high_quality"]  # same fixed z
    assert f"modes captured      {metrics['modes']} of 8" in printed
    assert main(["encode", str(out)]) == 2
    assert "a GAN has no encoder" in capsys.readouterr().err

    # a model file whose config asks for a huge network is refused before anything is built
    tensors, meta = load_file(str(out / "model.safetensors")), None
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    huge = {**json.loads(meta["gan_config"]), "g_hidden": 10**9}
    save_file(tensors, str(out / "model.safetensors"), metadata={**meta, "gan_config": json.dumps(huge)})
    assert main(["sample", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.safetensors does not fit its gan_config: generator." in err and "Traceback" not in err


def test_cli_resume_continues_with_more_epochs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["gan", "--data", "grid25", "--epochs", "1", "--out", str(out), *SMALL]) == 0
    assert main(["gan", "--resume", str(out), "--epochs", "2"]) == 0
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2] and lines[-1]["step"] == 20
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["epochs"] == 2 and config["gan"]["g_hidden"] == 16
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2


def _small(loss="nonsaturating"):
    return GANConfig(loss=loss, pack=2, g_hidden=16, d_hidden=16, g_layers=2, d_layers=2)


@pytest.mark.parametrize("loss", ["nonsaturating", "wasserstein"])
def test_resume_after_interrupt_equals_an_uninterrupted_run(tmp_path, loss):
    def train(out, **kw):
        return TrainConfig(data="ring8", epochs=2, batch_size=10000, lr=1e-3, seed=3, out=str(out), threads=1, **kw)

    full_dir, full = train_gan(_small(loss), train(tmp_path / "full"), figures=False)

    def stop(task, state):  # a Ctrl-C in the middle of epoch 2 (step 13 of 20)
        if state.step == 13:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train_gan(_small(loss), train(tmp_path / "cut"), hooks=(stop,), figures=False)
    cut_dir, resumed = train_gan(None, train(None, resume=str(tmp_path / "cut")), figures=False)
    a, b = load_file(str(full_dir / "model.safetensors")), load_file(str(cut_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    for key in ("modes", "high_quality", "reverse_kl", "steps"):
        assert full[key] == resumed[key]

    def rows(d):
        return [
            {k: v for k, v in json.loads(line).items() if k != "train_seconds"}
            for line in (d / "metrics.jsonl").read_text().splitlines()
        ]

    assert rows(full_dir) == rows(cut_dir)


def test_digits_gan_reports_offline_classifier_scores(tmp_path, monkeypatch):
    drawn = record_figures(monkeypatch)
    out = tmp_path / "digits"
    assert (
        main(
            [
                "gan",
                "--data",
                "digits",
                "--epochs",
                "2",
                "--batch-size",
                "512",
                "--out",
                str(out),
                "--g-hidden",
                "32",
                "--d-hidden",
                "32",
                "--latent-dim",
                "8",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["class_kl"] >= 0 and 0.1 <= metrics["confidence"] <= 1
    assert metrics["classifier_test_accuracy"] > 0.85  # the scorer itself is good on real digits
    assert (out / "classifier.safetensors").is_file() and (out / "samples" / "epoch_002.png").is_file()
    doc = (out / "report.html").read_text()
    assert "not FID" in doc and "class KL (generated ‖ data): real data" in doc
    assert check_shown_at_size(doc, drawn) == ["samples.png", "data.png", "progress.png", "losses.png", "scores.png"]


def test_cli_theory_writes_the_numbers(tmp_path, capsys):
    assert main(["gan", "--theory", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "theory.json").read_text())["gaussian_shift"][1]["mu"] == 1.0
    assert "0.111421" in capsys.readouterr().out


def test_resume_refuses_to_change_the_game(tmp_path, capsys):
    assert main(["gan", "--resume", str(tmp_path), "--loss", "minimax"]) == 2
    assert "--loss cannot change when resuming" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--theory", "--data", "ring8"], "--theory trains nothing and takes only --out, got --data"),
        (["--pack", "4", "--batch-size", "2"], "batch_size (2) must be at least pack (4)"),
        (["--pack", "0"], "pack must be at least 1, got 0"),
        (["--epochs", "0"], "epochs must be at least 1, got 0"),
        (["--resume", "/nonexistent/run"], "run folder /nonexistent/run does not exist"),
        (["--resume", "/tmp"], "/tmp/checkpoint.safetensors is missing: nothing to resume"),
    ],
)
def test_cli_errors_are_one_line(argv, match, capsys):
    assert main(["gan", *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_cli_reports_an_undefined_reverse_kl(tmp_path, monkeypatch, capsys):
    # with no high-quality sample the mode histogram is empty and reverse_kl is None (JSON null)
    import klvae.runs.gan.job as gan_run

    metrics = {
        "epochs": 1,
        "steps": 1,
        "train_seconds": 0.1,
        "stopped": None,
        "modes": 0,
        "high_quality": 0.0,
        "reverse_kl": None,
    }
    (tmp_path / "config.json").write_text(
        json.dumps({"gan": {}, "train": {"batch_size": 256}, "data": {"name": "grid25", "n_train": 100000}})
    )
    monkeypatch.setattr(gan_run, "train_gan", lambda gan, train, **kw: (tmp_path, metrics))
    assert main(["gan", "--data", "grid25", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "reverse KL          undefined (no high-quality sample)" in out
    assert out.startswith("trained 0.0026 of an epoch (1 of 391 steps) in 0.1 s")


def test_the_gan_takes_its_optimizer_settings_from_the_loop(tmp_path):
    from klvae.gan import GANConfig
    from klvae.runs.gan.job import train_gan

    seen = []
    hook = lambda task, state: seen.append(  # noqa: E731
        [(g["betas"], g["weight_decay"], g["lr"]) for opt in task.optimizers.values() for g in opt.param_groups]
    )
    train_gan(
        GANConfig(g_hidden=8, d_hidden=8),
        TrainConfig(data="ring8", out=str(tmp_path), epochs=1, adam_beta2=0.9, weight_decay=1e-4, max_seconds=0.3),
        hooks=(hook,),
        figures=False,
    )
    assert {b for step in seen for b, _, _ in step} == {(0.5, 0.9)}  # β1 the GAN's default, β2 as given
    assert {w for step in seen for _, w, _ in step} == {1e-4}
    rates = [step[0][2] for step in seen]
    assert rates[-1] < rates[0] <= 1e-3  # the loop's linear decay over the time budget
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["train"]["adam_beta1"] == 0.5 and "beta1" not in cfg["gan"] and "lr_decay" not in cfg["gan"]


def test_gan_runs_saved_with_their_own_betas_and_decay_read_into_the_loop(tmp_path):
    from klvae.runs.gan.job import read_run_config

    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "gan": {"loss": "wasserstein", "beta1": 0.4, "beta2": None, "lr_decay": False},
                "train": {"data": "ring8", "epochs": 8, "lr_schedule": "constant", "adam_beta2": None},
            }
        )
    )
    gan, train = read_run_config(tmp_path)
    assert gan.loss == "wasserstein" and (train.adam_beta1, train.adam_beta2) == (0.4, 0.9)
    assert train.lr_schedule == "constant"
