"""The figures of a GAN run (through `klvae.figures.png`) and its report.html (`klvae.figures.report`)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from klvae.figures.charts import Panel, plot_curves, plot_panels, plot_points
from klvae.figures.png import save_image_grid, save_png_row
from klvae.figures.report import write_report
from klvae.gan.evaluate import NOT_FID, sample_fixed
from klvae.runs.summary import count, provenance, training_rows, undertrained_warning

__all__ = ["write_figures_and_report", "metric_rows"]

LOG2, LOG4 = math.log(2), math.log(4)


def metric_rows(metrics: dict, config: dict, n_modes: int | None = None) -> list[tuple[str, str, str]]:
    """The report's metrics table: (label, value with its unit, one line of explanation)."""
    rows = []
    if "modes" in metrics:
        rkl = metrics["reverse_kl"]
        rows += [
            (
                "modes captured",
                f"{metrics['modes']} of {n_modes}" if n_modes else str(metrics["modes"]),
                "modes nearest to at least one high-quality sample",
            ),
            (
                "high-quality samples",
                f"{metrics['high_quality']:.2%}",
                "share of 2500 samples within 3σ of their nearest mode",
            ),
            (
                "reverse KL",
                f"{rkl:.4f} nats" if rkl is not None else "undefined (no high-quality sample)",
                "KL(histogram of high-quality samples over the modes ‖ uniform): 0 when every mode is hit equally",
            ),
        ]
    if "class_kl" in metrics:
        rows += [
            (
                "class KL (generated ‖ data)",
                f"{metrics['class_kl']:.4f} nats",
                "KL between the classifier's class histogram of samples and the data's label histogram",
            ),
            ("classifier confidence", f"{metrics['confidence']:.2%}", "mean largest class probability"),
            (
                "classifier test accuracy",
                f"{metrics['classifier_test_accuracy']:.2%}",
                "how far the offline scorer can be trusted",
            ),
        ]
    return rows + training_rows(metrics, config)


def _progress(run_dir: Path, name: str) -> tuple[str, str] | None:
    """The per-epoch samples, first, two between and last, side by side in progress.png."""
    epochs = sorted((run_dir / "samples").glob("epoch_*.png"))
    if not epochs:
        return None
    if len(epochs) > 4:
        epochs = [epochs[round(i * (len(epochs) - 1) / 3)] for i in range(4)]
    numbers = [int(p.stem.split("_")[1]) for p in epochs]
    save_png_row(
        epochs,
        run_dir / "progress.png",
        titles=[f"epoch {n}" for n in numbers],
        title=f"{name}: samples G(z) by epoch (the same z)",
    )
    return (
        "progress.png",
        "Samples of the generator at the same z after epochs "
        + ", ".join(map(str, numbers))
        + " (every epoch's figure is in RUN/samples/).",
    )


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
    run_dir = Path(run_dir)
    gan, name = config["gan"], dataset.name
    figures = []
    n_modes = None if dataset.is_image else len(evaluate.means)
    if dataset.is_image:
        save_image_grid(
            sample_fixed(generator, 64).cpu(),
            run_dir / "samples.png",
            nrow=8,
            title=f"{name}: 64 samples G(z) after {count(metrics['epochs'], 'epoch')}",
        )
        save_image_grid(dataset.x_test[:64], run_dir / "data.png", nrow=8, title=f"{name}: 64 test images")
        figures += [
            ("samples.png", "Samples of the trained generator."),
            ("data.png", "Real test images, for comparison."),
        ]
    else:
        x = sample_fixed(generator, 2500).cpu()
        plot_points(
            x,
            run_dir / "samples.png",
            means=evaluate.means,
            label="G(z)",
            title=f"{name}: {metrics['modes']} of {n_modes} modes, {metrics['high_quality']:.1%} high quality",
        )
        plot_points(
            dataset.x_test[:2500],
            run_dir / "data.png",
            means=evaluate.means,
            label="data",
            title=f"{name}: 2500 samples of the data",
        )
        figures += [
            ("samples.png", "2500 samples of the trained generator (blue) and the mode means (red circles)."),
            ("data.png", "The data, for comparison."),
        ]
    if (strip := _progress(run_dir, name)) is not None:
        figures.append(strip)
    wgan = gan["loss"] == "wasserstein"
    labels = {
        "train_d_loss": "discriminator loss d_loss",
        "train_g_loss": "generator loss g_loss",
        "train_w_estimate": "w_estimate = E f(x) − E f(G(z))",
    }
    hlines = (
        []
        if wgan
        else [
            (LOG4, "log 4: d_loss when D cannot tell (D = ½)"),
            (
                -LOG2 if gan["loss"] == "minimax" else LOG2,
                ("−log 2" if gan["loss"] == "minimax" else "log 2") + ": g_loss at D = ½",
            ),
        ]
    )
    plot_curves(
        records,
        list(labels) if wgan else list(labels)[:2],
        run_dir / "losses.png",
        labels=labels,
        title=f"{gan['loss']} GAN losses (epoch means)",
        ylabel="critic units" if wgan else "nats",
        hlines=hlines,
    )
    figures.append(
        (
            "losses.png",
            "Discriminator and generator losses per epoch (nats); d_loss = −V(D, G), "
            "which is log 4 ≈ 1.386 when D cannot tell real from fake (dotted lines: the values at D = ½)."
            if not wgan
            else "Critic and generator losses per epoch; w_estimate = E f(x) − E f(G(z)).",
        )
    )
    if dataset.is_image:
        if "class_kl" in metrics:
            plot_panels(
                records,
                [
                    Panel([("class_kl", "class KL", {})], ylabel="nats", title="class KL"),
                    Panel(
                        [("confidence", "confidence", {})],
                        ylabel="mean largest probability",
                        title="classifier confidence",
                    ),
                ],
                run_dir / "scores.png",
                title="Offline image scores per epoch (not FID)",
            )
            figures.append(("scores.png", "class KL (nats) and classifier confidence per epoch."))
    else:
        plot_curves(
            records,
            ["modes"],
            run_dir / "modes.png",
            title="Modes captured per epoch",
            ylabel="modes captured",
            labels={"modes": "modes captured"},
            integer_y=True,
            hlines=[(float(len(evaluate.means)), f"all {n_modes} modes")],
        )
        rows = [
            {**r, "high_quality_pct": 100 * r["high_quality"]} if isinstance(r.get("high_quality"), float) else r
            for r in records
        ]
        plot_panels(
            rows,
            [
                Panel(
                    [("high_quality_pct", "high-quality samples", {})],
                    ylabel="% of samples",
                    title="high-quality samples (within 3σ of a mode)",
                ),
                Panel(
                    [("reverse_kl", "reverse KL", {"color": "tab:orange"})],
                    ylabel="nats",
                    title="KL(mode histogram ‖ uniform)",
                    hlines=[(0.0, "0: every mode hit equally")],
                ),
            ],
            run_dir / "quality.png",
            title="Sample quality per epoch",
        )
        figures += [
            ("modes.png", f"Modes with at least one high-quality sample nearest to them (of {n_modes})."),
            ("quality.png", "Share of samples within 3σ of a mode (%), and KL(mode histogram ‖ uniform) in nats."),
        ]
    packing = f", PacGAN packing m = {gan['pack']}" if gan["pack"] > 1 else ""
    notes = [f"GAN with the {gan['loss']} loss{packing} on {name}."]
    if dataset.is_image:
        notes.append(NOT_FID)
    else:
        notes.append(
            "Mode coverage on 2500 samples: a sample is high quality within 3σ of its nearest "
            "mode; modes = modes nearest to at least one high-quality sample; reverse KL = "
            "KL(histogram of high-quality samples over modes ‖ uniform), nats (PacGAN, table 1)."
        )
    warns = [w for w in [undertrained_warning(metrics, config)] if w]
    return write_report(
        run_dir,
        title=f"klvae GAN: {gan['loss']} on {name}",
        metrics=metric_rows(metrics, config, n_modes),
        figures=figures,
        config=config,
        notes=notes,
        warnings=warns,
        provenance=provenance(config, metrics, **(made or {})),
        raw_metrics={k: v for k, v in metrics.items() if k != "processes"},
    )
