"""The report of a GAN run (`klvae.runs.gan.report`): the figures of each kind of data, the losses'
reference values at D = ½, the per-epoch strip, the metric rows and the notes."""

import html
import math
import re
from types import SimpleNamespace

import pytest
import torch

import klvae.runs.gan.report as report
from klvae.figures.png import save_image_grid
from klvae.gan.model import GANConfig
from klvae.runs.gan.job import train_gan
from klvae.training.loop import TrainConfig


def _run(tmp_path, loss="nonsaturating", records=()):
    config = {"gan": {"loss": loss, "pack": 1}}
    return report.GANFigures(tmp_path, None, SimpleNamespace(name="ring8"), None, list(records), {}, config)


@pytest.mark.parametrize(
    "loss, lines",
    [
        ("minimax", [math.log(4), -math.log(2)]),  # V(D*, G) at D = ½: d_loss = log 4, g_loss = log ½
        ("nonsaturating", [math.log(4), math.log(2)]),  # −log D(G(z)) at D = ½
        ("wasserstein", []),
    ],
)
def test_the_losses_are_drawn_with_their_values_at_d_one_half(tmp_path, monkeypatch, loss, lines):
    seen = {}
    monkeypatch.setattr(report, "plot_curves", lambda records, keys, path, **kw: seen.update(keys=keys, **kw))
    figure = report.losses(_run(tmp_path, loss))
    assert [v for v, _ in seen["hlines"]] == pytest.approx(lines, rel=1e-15)
    assert len(seen["keys"]) == (3 if loss == "wasserstein" else 2) and figure.file == "losses.png"
    assert ("log 4 ≈ 1.386" in figure.text) == (loss != "wasserstein")


def test_the_progress_strip_shows_the_first_the_last_and_two_between(tmp_path):
    assert report.progress(_run(tmp_path)) is None  # no per-epoch samples: nothing to show
    (tmp_path / "samples").mkdir()
    for e in range(1, 8):
        save_image_grid(torch.full((1, 1, 4, 4), e / 8), tmp_path / "samples" / f"epoch_{e:03d}.png")
    figure = report.progress(_run(tmp_path))
    assert figure.file == "progress.png" and "after epochs 1, 3, 5, 7 " in figure.text
    assert (tmp_path / "progress.png").is_file()


def test_the_metric_rows_say_the_mode_coverage():
    metrics = {"modes": 3, "high_quality": 0.5, "reverse_kl": None, "steps": 10, "stopped": "completed"}
    metrics |= {"train_seconds": 1.0, "epochs": 1}
    rows = {label: value for label, value, _ in report.metric_rows(metrics, {}, n_modes=8)}
    assert rows["modes captured"] == "3 of 8" and rows["high-quality samples"] == "50.00%"
    assert rows["reverse KL"] == "undefined (no high-quality sample)"
    assert "class KL (generated ‖ data)" not in rows


def test_the_notes_name_the_game_and_the_scores():
    notes = report.notes({"loss": "minimax", "pack": 2}, "ring8", is_image=False)
    assert notes[0] == "GAN with the minimax loss, PacGAN packing m = 2 on ring8." and "Mode coverage" in notes[1]
    assert "not FID" in report.notes({"loss": "wasserstein", "pack": 1}, "digits", is_image=True)[1]


def test_a_mixture_run_reports_the_figures_of_its_list_in_order(tmp_path):
    gan = GANConfig(g_hidden=16, d_hidden=16, g_layers=2, d_layers=2)
    d, _ = train_gan(gan, TrainConfig(data="ring8", epochs=2, batch_size=10_000, out=str(tmp_path / "r")))
    doc = html.unescape((d / "report.html").read_text())
    files = ["samples.png", "data.png", "progress.png", "losses.png", "modes.png", "quality.png"]
    assert all((d / f).is_file() for f in files) and doc.count("data:image/png;base64,") == len(files)
    captions = ["2500 samples of the trained generator", "The data, for comparison", "at the same z after epochs"]
    captions += ["Discriminator and generator losses", "Modes with at least one", "Share of samples within 3σ"]
    at = [doc.index(c) for c in captions]
    assert at == sorted(at)
    assert re.search(r"<h1>klvae GAN: nonsaturating on ring8</h1>", doc)
    table = doc.split("<h2>Configuration</h2>")[1]  # no gradient penalty outside the WGAN-GP, no validation set
    assert "<th>gan.loss</th>" in table and "<th>gan.gp_weight</th>" not in table and "train.val_size" not in table
