"""The report of a GAN run (`klvae.runs.gan.report`): the figures of each kind of data, the losses'
reference values at D = ½, the per-epoch strip, the metric rows and the notes."""

import html
import math
import re
from types import SimpleNamespace

import pytest
import torch
from matplotlib.image import imread
from safetensors.torch import save_file

import klvae.runs.gan.report as report
from klvae.data.mixtures import mode_mixture
from klvae.gan.model import GANConfig
from klvae.runs.gan.job import train_gan
from klvae.training.config import TrainConfig
from report_figures import check_shown_at_size, record_figures


def _run(tmp_path, loss="nonsaturating", records=()):
    config = {"gan": {"loss": loss, "pack": 1}}
    dataset, evaluate = SimpleNamespace(name="ring8", is_image=False), SimpleNamespace(means=mode_mixture("ring8")[0])
    return report.GANFigures(tmp_path, None, dataset, evaluate, list(records), {}, config)


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


def _saved_epochs(tmp_path, sets):
    (tmp_path / "samples").mkdir()
    for e, x in enumerate(sets, 1):
        save_file({"x": x}, str(tmp_path / "samples" / f"epoch_{e:03d}.safetensors"))


def _figures(monkeypatch, module):
    """The Matplotlib figures `module` saves, as it saves them."""
    seen, save = [], module.save_png
    monkeypatch.setattr(module, "save_png", lambda fig, path: (seen.append(fig), save(fig, path))[1])
    return seen


def test_the_progress_figure_shares_one_frame_and_one_legend(tmp_path, monkeypatch):
    import klvae.figures.points as points

    assert report.progress(_run(tmp_path)) is None  # no per-epoch samples: nothing to show
    angles = torch.linspace(0, 2 * math.pi, 400)
    ring = torch.stack([angles.cos(), angles.sin()], 1)
    _saved_epochs(tmp_path, [ring * (1.2 if e == 1 else 1.0) for e in range(1, 8)])  # epoch 1 spans ±1.2
    seen = _figures(monkeypatch, points)
    records = [{"epoch": e, "modes": e, "high_quality": e / 10} for e in range(1, 8)]
    figure = report.progress(_run(tmp_path, records=records))
    assert figure.file == "progress.png" and "after epochs 1, 3, 5, 7, on the same axes" in figure.text
    (fig,) = seen
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [f"epoch {e}: {e} modes, {e / 10:.0%} HQ" for e in (1, 3, 5, 7)]
    limits = {(ax.get_xlim(), ax.get_ylim()) for ax in axes}
    assert len(limits) == 1  # one frame for every panel
    ((x_lo, x_hi), (y_lo, y_hi)), *_ = limits
    assert x_lo < -1.2 and x_hi > 1.2 and y_lo < -1.2 and y_hi > 1.2  # it holds epoch 1's wider ring
    assert x_hi - x_lo == pytest.approx(y_hi - y_lo)  # square: a ring looks round
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in axes)
    assert fig.get_suptitle() == "ring8: samples G(z) by epoch (the same z)"


def test_the_progress_figure_of_images_is_one_grid_a_row_per_epoch(tmp_path, monkeypatch):
    import klvae.figures.png as png

    _saved_epochs(tmp_path, [torch.full((64, 1, 8, 8), e / 8) for e in range(1, 6)])
    seen = _figures(monkeypatch, png)
    run = _run(tmp_path)
    run.dataset.is_image = True
    figure = report.progress(run)
    assert "after epochs 1, 2, 4, 5 (8 of them a row)" in figure.text
    (fig,) = seen
    rows = [t.get_text() for t in fig.texts if t.get_text().startswith("epoch")]
    assert rows == ["epoch 1", "epoch 2", "epoch 4", "epoch 5"] and len(fig.axes) == 1
    h, w = imread(tmp_path / "progress.png").shape[:2]
    assert w < 2 * h  # 8 columns of 4 rows, not four grids side by side


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


def test_a_mixture_run_reports_the_figures_of_its_list_in_order(tmp_path, monkeypatch):
    drawn = record_figures(monkeypatch)
    gan = GANConfig(g_hidden=16, d_hidden=16, g_layers=2, d_layers=2)
    d, _ = train_gan(gan, TrainConfig(data="ring8", epochs=2, batch_size=10_000, out=str(tmp_path / "r")))
    doc = html.unescape((d / "report.html").read_text())
    files = ["samples.png", "data.png", "progress.png", "losses.png", "modes.png", "quality.png"]
    assert all((d / f).is_file() for f in files) and doc.count("data:image/png;base64,") == len(files)
    assert check_shown_at_size(doc, drawn) == files  # each at its size, no text under 9 pt
    captions = ["2500 samples of the trained generator", "The data, for comparison", "at the same z after epochs"]
    captions += ["Discriminator and generator losses", "Modes with at least one", "Share of samples within 3σ"]
    at = [doc.index(c) for c in captions]
    assert at == sorted(at)
    assert re.search(r"<h1>klvae GAN: nonsaturating on ring8</h1>", doc)
    real = {
        label: value for label, value in re.findall(r'<tr><th>([^<]*): real data</th><td class="num">([^<]*)<', doc)
    }
    assert real["modes captured"] == "8 of 8"  # 2500 test points of the ring find every mode
    # a 2-D Gaussian lies within 3σ of its mean with probability 1 − exp(−9/2); 2500 draws: se ≈ 0.2 %
    assert float(real["high-quality samples"].rstrip("%")) / 100 == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert 'the lines "real test data": the same scores of 2500 real test points' in doc
    table = doc.split("<h2>Configuration</h2>")[1]  # no gradient penalty outside the WGAN-GP, no validation set
    assert "<th>gan.loss</th>" in table and "<th>gan.gp_weight</th>" not in table and "train.val_size" not in table


def test_the_real_images_are_scored_by_the_same_classifier():
    from scipy.stats import entropy

    class Fixed(torch.nn.Module):  # logits read off the image's first pixel: class 0, 1 or 2
        num_classes = 3

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            k = (x[:, 0, 0, 0] * 3).long().clamp(0, 2)
            return torch.nn.functional.one_hot(k, 3).double() * 2.0 + self.w

    x_test = torch.tensor([0.1, 0.1, 0.5, 0.9, 0.9, 0.9]).reshape(6, 1, 1, 1).expand(6, 1, 2, 2)
    dataset = SimpleNamespace(is_image=True, x_test=x_test, y_train=torch.tensor([0, 1, 2, 2]))
    real = report.real_scores(dataset, SimpleNamespace(classifier=Fixed()))
    assert real["n"] == 6
    assert real["class_kl"] == pytest.approx(entropy([2 / 6, 1 / 6, 3 / 6], [1 / 4, 1 / 4, 2 / 4]), rel=1e-12)
    assert real["confidence"] == pytest.approx(math.exp(2) / (math.exp(2) + 2), rel=1e-12)
    assert report.real_scores(dataset, SimpleNamespace(classifier=None)) == {}  # no labels, no scorer
    metrics = {"class_kl": 0.5, "confidence": 0.6, "classifier_test_accuracy": 0.9, "steps": 1, "epochs": 1}
    metrics |= {"stopped": "completed", "train_seconds": 1.0}
    rows = [(label, value) for label, value, _ in report.metric_rows(metrics, {}, None, real)]
    at = [label for label, _ in rows]
    assert at.index("class KL (generated ‖ data): real data") == at.index("class KL (generated ‖ data)") + 1
    assert dict(rows)["classifier confidence: real data"] == f"{real['confidence']:.2%}"
