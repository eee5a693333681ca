"""The report of a VAE run: its figures, a list of functions, and its report.html (`klvae.figures.report`).

Each figure function reads the run (`RunFigures`: the model, the test set, the metrics, the records)
and returns a `klvae.runs.summary.Figure`: the PNG it drew into the run folder with its caption, or
a note saying why it is not drawn (None when there is nothing to show or say). What differs from
model to model is asked of its `klvae.runs.vae.family.Family`; the pictures that take more than one
call of the figure layer are drawn in `klvae.runs.vae.figures`. A new figure is one function here
and one entry in `FIGURES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from klvae.data.datasets import CLASS_NAMES
from klvae.figures.charts import plot_bars
from klvae.figures.png import save_image_grid
from klvae.figures.report import write_report
from klvae.runs.summary import (
    USED_SETTINGS_NOTE,
    Figure,
    figures_and_notes,
    provenance,
    training_rows,
    undertrained_warning,
    used_settings,
)
from klvae.runs.vae.family import (
    Family,
    active_units_row,
    family_rows,
    kl_row,
    model_name,
    model_row,
    prior_phrase,
)
from klvae.runs.vae.figures import (
    NO_EPOCH,
    draw_loss_curves,
    draw_progress,
    draw_traversal,
    interpolations,
    is_tc_run,
    latent_map,
)
from klvae.vae.evaluate import ACTIVE_UNIT_THRESHOLD

__all__ = ["write_figures_and_report", "metric_rows", "RunFigures", "FIGURES", "draw_figures"]


@dataclass
class RunFigures:
    """What the figures of a run read. `x_test`: the evaluated test images (binarized when training
    binarizes); `labels`: their labels, for colour (None without labels); `y_test`: the labels the
    model reads (None for an unconditional model); `names`: the data set's class names."""

    run_dir: Path
    model: Any  # a VAE of the family
    family: Family
    x_test: torch.Tensor
    labels: torch.Tensor | None
    y_test: torch.Tensor | None
    names: Sequence[str] | None
    records: list[dict]
    metrics: Mapping
    config: Mapping
    snapshots: Mapping = field(default_factory=dict)
    inputs_shown: torch.Tensor | None = None  # the images the snapshots reconstruct

    @property
    def inputs(self) -> str:
        binarized = bool((self.config.get("objective") or {}).get("binarize"))
        return "binarized test images" if binarized else "test images"


@torch.no_grad()
def reconstructions(r: RunFigures) -> Figure:
    """RUN/reconstructions.png: up to 4 rows of 8 inputs, each followed by its reconstruction."""
    x_test, f = r.x_test, r.family
    cols = min(8, len(x_test))
    n_rows = max(1, min(4, len(x_test) // cols))  # a small test set gives fewer rows
    x = x_test[: n_rows * cols]  # (rows·cols, C, H, W)
    y = None if r.y_test is None else r.y_test[: len(x)]
    recon = r.model.mean(r.model.encode(x, y)[0], y)  # (rows·cols, C, H, W)
    rows = torch.stack(
        [x.reshape(n_rows, cols, *x.shape[1:]), recon.reshape(n_rows, cols, *x.shape[1:])], 1
    )  # (rows, 2, cols, ...)
    save_image_grid(
        rows.reshape(-1, *x.shape[1:]).cpu(),
        r.run_dir / "reconstructions.png",
        nrow=cols,
        row_labels=["input", "reconstruction"] * n_rows,
        title=f"Inputs ({r.inputs}) and reconstructions",
    )
    return Figure(
        "reconstructions.png",
        f"Reconstructions: each row of inputs ({r.inputs}, as the model is evaluated on them) is "
        f"followed by their reconstruction, the decoder mean at {f.code}" + f.phrase("label") + ".",
    )


def samples(r: RunFigures) -> Figure:
    """RUN/samples.png, as the model's family draws them."""
    return r.family.samples(r.model, r.run_dir, r.names)


def own_figures(r: RunFigures) -> list[Figure]:
    """The figures only the model's family has."""
    return r.family.own_figures(r.model, r.run_dir)


@torch.no_grad()
def interpolations_figure(r: RunFigures) -> Figure | None:
    """RUN/interpolations.png between pairs of test images (`Family.pairs`)."""
    f = r.family
    pairs = f.pairs(r.x_test, r.y_test, r.names)
    if pairs is None:
        return f.no_pairs
    xs, ys, pair_names = pairs
    interpolations(r.model, xs, r.run_dir / "interpolations.png", pairs=len(xs) // 2, y=ys, names=pair_names)
    return Figure(
        "interpolations.png",
        "Interpolations between the posterior means of pairs of test images"
        + f.phrase("pairs")
        + f.phrase("pairs layer")
        + ": linear z = (1 − t)·μ₁ + t·μ₂, and spherical (slerp, along the great circle, which "
        "keeps |z| typical of an N(0, I) prior)" + f.means + ".",
    )


@torch.no_grad()
def traversal(r: RunFigures) -> Figure:
    """RUN/traversal.png when the KL splits over the latent dimensions, else a note why not."""
    kl_per_dim = r.metrics.get("kl_per_dim")
    if kl_per_dim is None:
        return Figure.note(
            "No latent traversal: it moves one coordinate of the decoded latent from −3 to 3 around 0, "
            f"which assumes an N(0, I) prior on it; {r.family.prior_on_code}"
        )
    y = r.y_test
    draw_traversal(r.model, kl_per_dim, r.run_dir, y, r.names)
    return Figure(
        "traversal.png",
        "Latent traversal: each row moves one latent dimension (ordered by "
        "KL, largest first; the row label names it, counted from 0 as in the bar charts, with "
        "its KL) from −3 to 3 with the others at 0"
        + ("" if y is None else f" and the label held at y = {int(y[0])}")
        + r.family.means
        + ".",
    )


@torch.no_grad()
def latent_map_figure(r: RunFigures) -> Figure:
    """RUN/latent_map.png: the test set at its posterior means, coloured by class."""
    two = r.family.two_layers
    y_test = r.y_test
    mus = torch.cat(
        [
            r.model.encode(xb, None if y_test is None else y_test[1000 * i : 1000 * (i + 1)])[0]
            for i, xb in enumerate(r.x_test.split(1000))
        ]
    )
    title = "Posterior means μ₁(x) (first layer) of the test set" if two else "Posterior means μ(x) of the test set"
    latent_map(mus, r.labels, r.run_dir / "latent_map.png", title, r.names)
    return Figure(
        "latent_map.png",
        f"Test images placed at their posterior mean {'μ₁(x) of the first layer' if two else 'μ(x)'}, coloured "
        "by class." + r.family.phrase("map"),
    )


def progress(r: RunFigures) -> Figure | None:
    """RUN/progress.png: samples and reconstructions by epoch, under their inputs (None without snapshots)."""
    if not r.snapshots:
        return None
    epochs = draw_progress(r.snapshots, r.inputs_shown, r.run_dir / "progress.png")
    return Figure(
        "progress.png",
        f"After epochs {', '.join(f'{e:g}' for e in epochs)} (rows): 8 samples from a fixed set of draws "
        f"{prior_phrase(r.model)}"
        + r.family.phrase("samples label")
        + ", then the reconstructions of 8 fixed validation (else training) images"
        + (", shown in the top row" if r.inputs_shown is not None else "")
        + r.family.means
        + ".",
    )


def loss_curves(r: RunFigures) -> Figure:
    """RUN/loss_curves.png: per epoch, the training and validation ELBO, reconstruction and KL."""
    draw_loss_curves(r.records, r.run_dir / "loss_curves.png", r.config, r.family.likelihood)
    tc_run, iwae = is_tc_run(r.records), (r.config.get("objective") or {}).get("objective") == "iwae"
    return Figure(
        "loss_curves.png",
        "Per epoch: training values (solid, means over the epoch's steps"
        + (", the ELBO's at β = 1" if tc_run else ", with the training β")
        + ("; the ELBO panel's solid line is the bound trained on" if iwae else "")
        + ") and validation values (dashed, held-out training images at the end of the epoch, β = 1; "
        "the test set is read once, at the end), nats per example"
        + (" (densities)" if r.family.likelihood != "bernoulli" else "")
        + "."
        + (
            " The total correlation panel is the β-TC objective's minibatch-stratified estimate (Chen et al. "
            "2018, appendix C.2), from the batch's own examples; the table's value uses the whole test set."
            if tc_run
            else ""
        )
        + ("" if r.records else " " + NO_EPOCH[0].upper() + NO_EPOCH[1:] + "."),
    )


def kl_per_dim(r: RunFigures) -> Figure:
    """RUN/kl_per_dim.png when the KL splits over the latent dimensions, else a note why not."""
    kl = r.metrics.get("kl_per_dim")
    if kl is None:
        return Figure.note(
            f"No KL-per-dimension chart: the KL has no closed form here ({r.family.no_closed_form}), so it does "
            "not split over the latent dimensions; the KL row is a Monte Carlo estimate."
        )
    plot_bars(
        kl,
        r.run_dir / "kl_per_dim.png",
        title="KL(q(z_d|x) ‖ N(0, 1)) per latent dimension",
        xlabel="latent dimension d (from 0)",
        ylabel="mean KL on the test set (nats)",
    )
    return Figure(
        "kl_per_dim.png",
        "KL per latent dimension, averaged over the test set: dimensions near 0 are unused by the encoder.",
    )


def active_units(r: RunFigures) -> Figure:
    """RUN/active_units.png: the variance of each posterior mean over the test set (the first layer's of two)."""
    m, f = r.metrics, r.family
    active = m.get("active_units_per_layer", [m["active_units"]])[0]
    layer = "z₁: " if f.two_layers else ""
    plot_bars(
        m["active_unit_variance"],
        r.run_dir / "active_units.png",
        title=f"Activity Var_x(E_q[z_d]): {layer}{active} of {r.model.config.latent_dim} units active",
        xlabel=f"latent dimension d of {f.z} (from 0)",
        ylabel="variance of μ_d(x) over the test set (log)",
        threshold=ACTIVE_UNIT_THRESHOLD,
        log_y=True,
    )
    return Figure(
        "active_units.png",
        f"Active units{f.phrase('units')}: a dimension is active when the variance of its "
        f"posterior mean over the test set exceeds {ACTIVE_UNIT_THRESHOLD} (Burda et al. 2016)"
        + ("; the metrics table counts both layers." if f.two_layers else "."),
    )


def density_note(r: RunFigures) -> Figure | None:
    """A note on a density decoder, whose log p(x|z) can exceed 0."""
    if r.family.likelihood == "bernoulli":
        return None
    return Figure.note(
        f"The {r.family.likelihood} decoder is a density over pixel values, not a probability: "
        "log p(x|z) can exceed 0, so the ELBO can be positive and −log p(x) negative. "
        "Only differences between models with the same likelihood compare."
    )


FIGURES: tuple[Callable[[RunFigures], Figure | None | list[Figure]], ...] = (
    loss_curves,  # first: whether the run trained well is what a reader asks first
    reconstructions,
    samples,
    own_figures,
    interpolations_figure,
    traversal,
    latent_map_figure,
    progress,
    kl_per_dim,
    active_units,
    density_note,
)


def _se(metrics: dict, key: str) -> str:
    se = metrics.get(key)
    return f" ± {se:.3f}" if se is not None else ""


def metric_rows(
    metrics: dict, likelihood: str, latent_dim: int, config: dict | None = None
) -> list[tuple[str, str, str]]:
    """The report's metrics table: (label, value with its unit, one line of explanation)."""
    density = likelihood == "gaussian-learned" or likelihood == "gaussian"
    per = "nats per example"
    dens = " (a density: can be negative)" if density else ""
    rows = [
        (
            "test ELBO (β = 1)",
            f"{metrics['test_elbo']:.3f}{_se(metrics, 'test_elbo_se')} {per}",
            "E_q log p(x|z) − KL(q(z|x) ‖ p(z)): a lower bound on log p(x)"
            + ("; positive here because p(x|z) is a density" if density and metrics["test_elbo"] > 0 else ""),
        ),
        (
            f"test −log p(x), IW k = {metrics['iw_k']}",
            f"{metrics['test_iw_nll']:.3f}{_se(metrics, 'test_iw_nll_se')} {per}",
            "importance-weighted estimate of the negative log-likelihood (Burda et al. 2016); an upper bound "
            "in expectation; ± one standard error over the test images" + dens,
        ),
        (
            "reconstruction −E_q log p(x|z)",
            f"{metrics['test_recon_nll']:.3f} {per}",
            "how well the decoder explains x from z ~ q(z|x)" + dens,
        ),
        kl_row(metrics, (config or {}).get("vae") or {}),
        (
            "reconstruction MSE",
            f"{metrics['test_recon_mse']:.5f} per pixel",
            "mean squared error of the decoder mean at z = μ(x), pixels in [0, 1] (not in nats)",
        ),
        active_units_row(metrics, latent_dim, ACTIVE_UNIT_THRESHOLD),
        ("test images", f"{metrics['n_test']}", "evaluated once, at the end"),
    ]
    config = config or {}
    if config.get("vae"):
        rows.insert(0, model_row(config["vae"], likelihood))
    rows += family_rows(metrics, config)
    if "epochs" in metrics:
        rows += training_rows(metrics, config or {})
    return rows


@torch.no_grad()
def draw_figures(r: RunFigures) -> list[Figure | None]:
    """Every figure of `FIGURES`, in order, with the global random state seeded (0) and then restored."""
    device = r.x_test.device
    out: list[Figure | None] = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        for figure in FIGURES:
            drawn = figure(r)
            out += drawn if isinstance(drawn, list) else [drawn]
    return out


@torch.no_grad()
def write_figures_and_report(
    run_dir: Path,
    model,
    dataset,
    x_test: torch.Tensor,
    records: list[dict],
    metrics: dict,
    config: dict,
    *,
    made: dict | None = None,
    snapshots: dict | None = None,
    inputs_shown: torch.Tensor | None = None,
) -> Path:
    """Write every figure of a run and report.html; returns the report's path.

    `made`: how the run was made (`klvae.runs.summary.provenance`'s arguments); `snapshots`:
    {epoch: images} of per-epoch samples and reconstructions (`VAETask.snapshots`) of the images
    `inputs_shown` (`VAETask.x_show`). A conditional
    model reads the test labels `dataset.y_test` wherever it encodes or decodes a test image."""
    model.eval()
    family = Family.of(model)
    labels = None if dataset.y_test is None else dataset.y_test[: len(x_test)]  # (N,), aligned with x_test
    y_test = labels.to(x_test.device) if family.conditional and labels is not None else None  # what the model reads
    run = RunFigures(
        Path(run_dir), model, family, x_test, labels, y_test, CLASS_NAMES.get(dataset.name), records, metrics, config
    )
    run.snapshots, run.inputs_shown = snapshots or {}, inputs_shown
    figures, notes = figures_and_notes(draw_figures(run))
    warns = [w for w in [undertrained_warning(metrics, config)] if w]
    if not math.isfinite(float(metrics.get("test_elbo", 0.0))):
        warns.append("The test ELBO is not finite.")
    return write_report(
        run.run_dir,
        title=f"{model_name(config.get('vae') or {})} on {config['data']['name']}",
        metrics=metric_rows(metrics, family.likelihood, model.config.latent_dim, config),
        figures=figures,
        config=used_settings(config),
        config_note=USED_SETTINGS_NOTE,
        notes=["Quantities in nats are per example, summed over pixels and latent dimensions.", *notes],
        warnings=warns,
        provenance=provenance(config, metrics, **(made or {})),
        raw_metrics={k: v for k, v in metrics.items() if k != "processes"},
    )
