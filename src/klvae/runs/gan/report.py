"""The report of a GAN run: its figures, a list of functions for each kind of data, and its
report.html (`klvae.figures.report`).

Each figure function reads the run (`GANFigures`) and returns a `klvae.runs.summary.Figure` (or a
list of them, or None when there is nothing to show): the PNG drawn through `klvae.figures` and
its caption. Images get `IMAGE_FIGURES`, 2-D mixtures `MIXTURE_FIGURES`; a new figure is one
function and one entry there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from klvae.figures.charts import Panel, plot_curves, plot_panels, plot_points
from klvae.figures.png import save_image_grid
from klvae.figures.points import plot_point_panels
from klvae.figures.report import write_report
from klvae.gan.evaluate import (
    EVAL_SAMPLES,
    IMAGE_EVAL_SAMPLES,
    NOT_FID,
    classifier_scores,
    mode_coverage,
    sample_fixed,
)
from klvae.runs.summary import (
    USED_SETTINGS_NOTE,
    Figure,
    count,
    figures_and_notes,
    provenance,
    training_rows,
    undertrained_warning,
    used_settings,
)

__all__ = ["write_figures_and_report", "metric_rows", "GANFigures", "IMAGE_FIGURES", "MIXTURE_FIGURES"]

LOG2, LOG4 = math.log(2), math.log(4)


SCORES = {  # metrics key: (label, explanation)
    "modes": ("modes captured", "modes nearest to at least one high-quality sample"),
    "high_quality": ("high-quality samples", "share of 2500 samples within 3σ of their nearest mode"),
    "reverse_kl": (
        "reverse KL",
        "KL(histogram of high-quality samples over the modes ‖ uniform): 0 when every mode is hit equally",
    ),
    "class_kl": (
        "class KL (generated ‖ data)",
        "KL between the classifier's class histogram of samples and the data's label histogram",
    ),
    "confidence": ("classifier confidence", "mean largest class probability"),
}


def _score(key: str, v, n_modes: int | None) -> str:
    if key == "modes":
        return f"{v} of {n_modes}" if n_modes else str(v)
    if key in ("high_quality", "confidence"):
        return f"{v:.2%}"
    return f"{v:.4f} nats" if v is not None else "undefined (no high-quality sample)"


def metric_rows(
    metrics: dict, config: dict, n_modes: int | None = None, real: Mapping | None = None
) -> list[tuple[str, str, str]]:
    """The report's metrics table: (label, value with its unit, one line of explanation); `real`: the
    same scores of the real test data (`real_scores`), each in a row under the generator's."""
    rows, real = [], real or {}
    for key, (label, why) in SCORES.items():
        if key in metrics:
            rows.append((label, _score(key, metrics[key], n_modes), why))
            if key in real:
                what = f"{real['n']} real test {'images' if 'class_kl' in real else 'points'}"
                rows.append((f"{label}: real data", _score(key, real[key], n_modes), f"the same score of {what}"))
    if "classifier_test_accuracy" in metrics:
        rows.append(
            (
                "classifier test accuracy",
                f"{metrics['classifier_test_accuracy']:.2%}",
                "how far the offline scorer can be trusted",
            )
        )
    return rows + training_rows(metrics, config)


@torch.no_grad()
def real_scores(dataset, evaluate) -> dict:
    """The generator's scores computed on real test data, for comparison ({} for unlabelled images):
    mode coverage of 2500 test points, or the classifier's class KL and confidence on test images; "n":
    how many were scored."""
    if not dataset.is_image:
        x = dataset.x_test[:EVAL_SAMPLES]
        cov = mode_coverage(x, evaluate.means, evaluate.sigma)
        rkl = cov.reverse_kl if math.isfinite(cov.reverse_kl) else None
        return {"modes": cov.modes, "high_quality": cov.high_quality, "reverse_kl": rkl, "n": len(x)}
    classifier = getattr(evaluate, "classifier", None)
    if classifier is None or dataset.y_train is None:
        return {}
    device = next(classifier.parameters()).device
    x = dataset.x_test[:IMAGE_EVAL_SAMPLES].to(device)
    s = classifier_scores(classifier, x, dataset.y_train.to(device), classifier.num_classes)
    return {"class_kl": s["class_kl"], "confidence": s["confidence"], "n": len(x)}


def _real_line(r: GANFigures, key: str, scale: float = 1.0, unit: str = "") -> list[tuple[float, str]]:
    """The dotted line of the real data's score `key` in a panel (none when not computed)."""
    v = r.real.get(key)
    return [] if v is None else [(scale * v, f"real test data: {scale * v:.3g}{unit}")]


@dataclass
class GANFigures:
    """What the figures of a GAN run read: `evaluate` is the run's evaluator (its `means` are a
    mixture's modes)."""

    run_dir: Path
    generator: Any
    dataset: Any
    evaluate: Any
    records: list[dict]
    metrics: Mapping
    config: Mapping
    real: Mapping = field(default_factory=dict)  # the scores of the real test data (`real_scores`)

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def loss(self) -> str:
        return self.config["gan"]["loss"]


@torch.no_grad()
def image_samples(r: GANFigures) -> list[Figure]:
    """RUN/samples.png: 64 samples of the generator; RUN/data.png: 64 test images."""
    save_image_grid(
        sample_fixed(r.generator, 64).cpu(),
        r.run_dir / "samples.png",
        nrow=8,
        title=f"{r.name}: 64 samples G(z) after {count(r.metrics['epochs'], 'epoch')}",
    )
    save_image_grid(r.dataset.x_test[:64], r.run_dir / "data.png", nrow=8, title=f"{r.name}: 64 test images")
    return [
        Figure("samples.png", "Samples of the trained generator."),
        Figure("data.png", "Real test images, for comparison."),
    ]


@torch.no_grad()
def mixture_samples(r: GANFigures) -> list[Figure]:
    """RUN/samples.png: 2500 samples of the generator over the modes; RUN/data.png: the data's."""
    x, n_modes = sample_fixed(r.generator, 2500).cpu(), len(r.evaluate.means)
    plot_points(
        x,
        r.run_dir / "samples.png",
        means=r.evaluate.means,
        label="G(z)",
        title=f"{r.name}: {r.metrics['modes']} of {n_modes} modes, {r.metrics['high_quality']:.1%} high quality",
    )
    plot_points(
        r.dataset.x_test[:2500],
        r.run_dir / "data.png",
        means=r.evaluate.means,
        label="data",
        title=f"{r.name}: 2500 samples of the data",
    )
    return [
        Figure("samples.png", "2500 samples of the trained generator (blue) and the mode means (red circles)."),
        Figure("data.png", "The data, for comparison."),
    ]


def progress(r: GANFigures) -> Figure | None:
    """RUN/progress.png: the samples of the first epoch, two between and the last, at the same z, in one
    figure (2-D: panels on the same axes, one legend; images: a row of 8 per epoch). None without them."""
    saved = sorted((r.run_dir / "samples").glob("epoch_*.safetensors"))
    if not saved:
        return None
    if len(saved) > 4:
        saved = [saved[round(i * (len(saved) - 1) / 3)] for i in range(4)]
    numbers = [int(p.stem.split("_")[1]) for p in saved]
    samples = [load_file(str(p))["x"] for p in saved]
    heading = f"{r.name}: samples G(z) by epoch (the same z)"
    if r.dataset.is_image:
        save_image_grid(
            torch.cat([x[:8] for x in samples]).clamp(0, 1),
            r.run_dir / "progress.png",
            nrow=8,
            title=heading,
            row_labels=[f"epoch {n}" for n in numbers],
        )
    else:
        at = {rec.get("epoch"): rec for rec in r.records}
        titles = [
            f"epoch {n}: {at[n]['modes']} modes, {at[n]['high_quality']:.0%} HQ"
            if isinstance(at.get(n, {}).get("high_quality"), float)
            else f"epoch {n}"
            for n in numbers
        ]
        plot_point_panels(
            samples, r.run_dir / "progress.png", titles=titles, title=heading, means=r.evaluate.means, label="G(z)"
        )
    return Figure(
        "progress.png",
        "Samples of the generator at the same z after epochs "
        + ", ".join(map(str, numbers))
        + (
            " (8 of them a row)"
            if r.dataset.is_image
            else ", on the same axes (HQ: the share within 3σ of a mode; red circles: the mode means)"
        )
        + "; every epoch's figure is in RUN/samples/.",
    )


LOSS_LABELS = {
    "train_d_loss": "discriminator loss d_loss",
    "train_g_loss": "generator loss g_loss",
    "train_w_estimate": "w_estimate = E f(x) − E f(G(z))",
}


def losses(r: GANFigures) -> Figure:
    """RUN/losses.png: the two losses per epoch, with their values at D = ½ (a WGAN's critic: its estimate)."""
    loss = r.loss
    wgan = loss == "wasserstein"
    at_half = -LOG2 if loss == "minimax" else LOG2
    hlines = [
        (LOG4, "log 4: d_loss when D cannot tell (D = ½)"),
        (at_half, ("−log 2" if loss == "minimax" else "log 2") + ": g_loss at D = ½"),
    ]
    plot_curves(
        r.records,
        list(LOSS_LABELS) if wgan else list(LOSS_LABELS)[:2],
        r.run_dir / "losses.png",
        labels=LOSS_LABELS,
        title=f"{loss} GAN losses (epoch means)",
        ylabel="critic units" if wgan else "nats",
        hlines=[] if wgan else hlines,
    )
    if wgan:
        return Figure("losses.png", "Critic and generator losses per epoch; w_estimate = E f(x) − E f(G(z)).")
    return Figure(
        "losses.png",
        "Discriminator and generator losses per epoch (nats); d_loss = −V(D, G), "
        "which is log 4 ≈ 1.386 when D cannot tell real from fake (dotted lines: the values at D = ½).",
    )


def scores(r: GANFigures) -> Figure | None:
    """RUN/scores.png: the offline classifier's class KL and confidence per epoch (None without a classifier)."""
    if "class_kl" not in r.metrics:
        return None
    plot_panels(
        r.records,
        [
            Panel([("class_kl", "samples", {})], ylabel="nats", title="class KL", hlines=_real_line(r, "class_kl")),
            Panel(
                [("confidence", "samples", {})],
                ylabel="mean largest probability",
                title="classifier confidence",
                hlines=_real_line(r, "confidence"),
            ),
        ],
        r.run_dir / "scores.png",
        title="Offline image scores per epoch (not FID)",
    )
    return Figure(
        "scores.png",
        "class KL (nats) and classifier confidence per epoch"
        + (f'; the lines "real test data": the same scores of {r.real["n"]} real test images.' if r.real else "."),
    )


def modes(r: GANFigures) -> Figure:
    """RUN/modes.png: the modes captured per epoch."""
    n_modes = len(r.evaluate.means)
    plot_curves(
        r.records,
        ["modes"],
        r.run_dir / "modes.png",
        title="Modes captured per epoch",
        ylabel="modes captured",
        labels={"modes": "modes captured"},
        integer_y=True,
        hlines=[(float(n_modes), f"all {n_modes} modes")]
        + [(float(v), f"real test data: {v}") for v in [r.real.get("modes")] if v is not None and v != n_modes],
    )
    real = f"; the real test data's: {r.real['modes']}" if "modes" in r.real else ""
    return Figure("modes.png", f"Modes with at least one high-quality sample nearest to them (of {n_modes}){real}.")


def quality(r: GANFigures) -> Figure:
    """RUN/quality.png: the high-quality share (%) and the reverse KL over the modes per epoch."""
    rows = [
        {**x, "high_quality_pct": 100 * x["high_quality"]} if isinstance(x.get("high_quality"), float) else x
        for x in r.records
    ]
    plot_panels(
        rows,
        [
            Panel(
                [("high_quality_pct", "high-quality samples", {})],
                ylabel="% of samples",
                title="high-quality samples (within 3σ of a mode)",
                hlines=_real_line(r, "high_quality", 100, " %"),
            ),
            Panel(
                [("reverse_kl", "reverse KL", {"color": "tab:orange"})],
                ylabel="nats",
                title="KL(mode histogram ‖ uniform)",
                hlines=[(0.0, "0: every mode hit equally"), *_real_line(r, "reverse_kl")],
            ),
        ],
        r.run_dir / "quality.png",
        title="Sample quality per epoch",
    )
    return Figure(
        "quality.png",
        "Share of samples within 3σ of a mode (%), and KL(mode histogram ‖ uniform) in nats"
        + (f'; the lines "real test data": the same scores of {r.real["n"]} real test points.' if r.real else "."),
    )


FigureFunction = Callable[[GANFigures], "Figure | list[Figure] | None"]
IMAGE_FIGURES: tuple[FigureFunction, ...] = (image_samples, progress, losses, scores)
MIXTURE_FIGURES: tuple[FigureFunction, ...] = (mixture_samples, progress, losses, modes, quality)


def notes(gan: Mapping, name: str, is_image: bool) -> list[str]:
    """The report's notes: the game played and how its samples are scored."""
    packing = f", PacGAN packing m = {gan['pack']}" if gan["pack"] > 1 else ""
    how = (
        NOT_FID
        if is_image
        else (
            "Mode coverage on 2500 samples: a sample is high quality within 3σ of its nearest "
            "mode; modes = modes nearest to at least one high-quality sample; reverse KL = "
            "KL(histogram of high-quality samples over modes ‖ uniform), nats (PacGAN, table 1)."
        )
    )
    return [f"GAN with the {gan['loss']} loss{packing} on {name}.", how]


@torch.no_grad()
def write_figures_and_report(
    run_dir: Path,
    generator,
    dataset,
    evaluate,
    records: list[dict],
    metrics: dict,
    config: dict,
    *,
    made: dict | None = None,
) -> Path:
    """Final samples, training curves, metric curves and report.html; returns the report's path."""
    real = real_scores(dataset, evaluate)
    run = GANFigures(Path(run_dir), generator, dataset, evaluate, records, metrics, config, real)
    drawn: list[Figure | None] = []
    for figure in IMAGE_FIGURES if dataset.is_image else MIXTURE_FIGURES:
        out = figure(run)
        drawn += out if isinstance(out, list) else [out]
    figures, _ = figures_and_notes(drawn)
    n_modes = None if dataset.is_image else len(evaluate.means)
    return write_report(
        run.run_dir,
        title=f"klvae GAN: {run.loss} on {run.name}",
        metrics=metric_rows(metrics, config, n_modes, real),
        figures=figures,
        config=used_settings(config),
        config_note=USED_SETTINGS_NOTE,
        notes=notes(config["gan"], run.name, dataset.is_image),
        warnings=[w for w in [undertrained_warning(metrics, config)] if w],
        provenance=provenance(config, metrics, **(made or {})),
        raw_metrics={k: v for k, v in metrics.items() if k != "processes"},
    )
