"""The figures of a GAN run (through `klvae.figures`) and its report.html (`klvae.report`)."""

from __future__ import annotations

from pathlib import Path

import torch

from klvae.figures import plot_curves, plot_points, save_image_grid
from klvae.gan.evaluate import NOT_FID, sample_fixed
from klvae.report import write_report

__all__ = ["write_figures_and_report"]


@torch.no_grad()
def write_figures_and_report(run_dir: Path, generator, dataset, evaluate, records: list[dict],
                             metrics: dict, config: dict) -> Path:
    """Final samples, training curves, metric curves and report.html; returns the report's path."""
    run_dir = Path(run_dir)
    gan, name = config["gan"], dataset.name
    figures = []
    if dataset.is_image:
        save_image_grid(sample_fixed(generator, 64).cpu(), run_dir / "samples.png", nrow=8,
                        title=f"{name}: 64 samples G(z) after {metrics['epochs']} epoch"
                        + ("s" if metrics["epochs"] != 1 else ""))
        save_image_grid(dataset.x_test[:64], run_dir / "data.png", nrow=8, title=f"{name}: 64 test images")
        figures += [("samples.png", "Samples of the trained generator."),
                    ("data.png", "Real test images, for comparison.")]
    else:
        x = sample_fixed(generator, 2500).cpu()
        plot_points(x, run_dir / "samples.png", means=evaluate.means, label="G(z)",
                    title=f"{name}: {metrics['modes']} of {len(evaluate.means)} modes, "
                          f"{metrics['high_quality']:.1%} high quality")
        plot_points(dataset.x_test[:2500], run_dir / "data.png", means=evaluate.means, label="data",
                    title=f"{name}: 2500 samples of the data")
        figures += [("samples.png", "2500 samples of the trained generator and the mode means."),
                    ("data.png", "The data, for comparison.")]
    loss_keys = ["train_d_loss", "train_g_loss"] + (
        ["train_w_estimate"] if gan["loss"] == "wasserstein" else [])
    plot_curves(records, loss_keys, run_dir / "losses.png", title=f"{gan['loss']} GAN losses (epoch means)",
                ylabel="nats" if gan["loss"] != "wasserstein" else "critic units")
    figures.append(("losses.png", "Discriminator and generator losses per epoch (nats); d_loss = −V(D, G), "
                    "which is log 4 ≈ 1.386 when D cannot tell real from fake."
                    if gan["loss"] != "wasserstein" else
                    "Critic and generator losses per epoch; w_estimate = E f(x) − E f(G(z))."))
    if dataset.is_image:
        if "class_kl" in metrics:
            plot_curves(records, ["class_kl", "confidence"], run_dir / "scores.png",
                        title="Offline image scores per epoch (not FID)")
            figures.append(("scores.png", "class_kl (nats) and classifier confidence per epoch."))
    else:
        plot_curves(records, ["modes"], run_dir / "modes.png", title="Modes captured per epoch")
        plot_curves(records, ["high_quality", "reverse_kl"], run_dir / "quality.png",
                    title="High-quality fraction and reverse KL (nats) per epoch")
        figures += [("modes.png", "Modes with at least one high-quality sample nearest to them."),
                    ("quality.png", "Fraction of samples within 3σ of a mode; KL(mode histogram ‖ uniform).")]
    epochs = sorted((run_dir / "samples").glob("epoch_*.png"))
    if len(epochs) > 8:  # the report shows 8 evenly spaced epochs (the folder keeps them all)
        epochs = [epochs[round(i * (len(epochs) - 1) / 7)] for i in range(8)]
    figures += [(str(p.relative_to(run_dir)), f"Samples after epoch {int(p.stem.split('_')[1])}.")
                for p in epochs]
    packing = f", PacGAN packing m = {gan['pack']}" if gan["pack"] > 1 else ""
    notes = [f"GAN with the {gan['loss']} loss{packing} on {name}; {metrics['epochs']} epochs, "
             f"{metrics['steps']} steps, "
             f"{metrics['train_seconds']:.1f} s of training ({metrics['stopped']})."]
    if dataset.is_image:
        notes.append(NOT_FID)
    else:
        notes.append("Mode coverage on 2500 samples: a sample is high quality within 3σ of its nearest "
                     "mode; modes = modes nearest to at least one high-quality sample; reverse_kl = "
                     "KL(histogram of high-quality samples over modes ‖ uniform), nats (PacGAN, table 1).")
    return write_report(run_dir, title=f"klvae GAN: {gan['loss']} on {name}", metrics=metrics,
                        figures=figures, config=config, notes=notes)
