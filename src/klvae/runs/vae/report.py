"""The figures of a VAE run (through `klvae.figures.png`) and its report.html (`klvae.figures.report`)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import torch

from klvae.data.datasets import CLASS_NAMES
from klvae.figures.charts import plot_bars
from klvae.figures.png import new_figure, save_image_grid, save_png
from klvae.figures.report import write_report
from klvae.runs.summary import provenance, training_rows, undertrained_warning
from klvae.runs.vae.family import (
    active_units_row,
    class_samples,
    family_rows,
    kl_row,
    loss_curves,
    model_name,
    model_row,
    prior_phrase,
    prior_samples,
    pseudo_inputs,
    same_class_pairs,
    traversal,
)
from klvae.vae.evaluate import ACTIVE_UNIT_THRESHOLD

__all__ = ["write_figures_and_report", "latent_map", "interpolations", "metric_rows"]


@torch.no_grad()
def latent_map(
    mu: torch.Tensor, labels: torch.Tensor | None, path: Path, title: str, class_names: tuple[str, ...] | None = None
) -> Path:
    """Scatter of the posterior means μ(x) (N, latent), coloured by label (named by `class_names`).

    More than 2 latent dimensions: the first two principal components of μ; 1 dimension: μ
    against the label.
    """
    mu = mu.double().cpu()
    d = mu.shape[1]
    if d == 1:
        xy = torch.cat([mu, (labels if labels is not None else torch.zeros(len(mu))).double()[:, None]], 1)
        axes, how = ("μ₁", "label"), "the 1-D latent"
    elif d == 2:
        xy, axes, how = mu, ("μ₁", "μ₂"), "the 2-D latent"
    else:
        centred = mu - mu.mean(0)
        _, s, v = torch.linalg.svd(centred, full_matrices=False)
        xy = centred @ v[:2].T  # (N, 2)
        explained = (s[:2].square() / s.square().sum()).tolist()
        axes = (f"PC 1 ({explained[0]:.0%} of variance)", f"PC 2 ({explained[1]:.0%})")
        how = f"first two principal components of the {d}-D latent means"
    fig = new_figure(6.8 if class_names else 6, 5)
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.7, label="test images")
    else:
        cmap = matplotlib.colormaps["tab10"]
        for c in sorted(set(labels.tolist())):
            sel = labels == c
            name = class_names[c] if class_names and 0 <= c < len(class_names) else str(c)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.7, color=cmap(c % 10), label=name)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(f"{title}\n({how})", fontsize=10)
    ax.legend(
        title="class" if labels is not None else None,
        fontsize=7,
        markerscale=2,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
    )
    fig.tight_layout()
    return save_png(fig, path)


@torch.no_grad()
def interpolations(model, x: torch.Tensor, path: Path, *, pairs: int = 4, steps: int = 8, y=None, names=None) -> Path:
    """Decoder means along paths between the posterior means of `pairs` pairs of test images:
    for each pair a row linear in z, then a row along the great circle (slerp), ends included.

    `y`: a conditional model's labels of x, alike within a pair (the path decodes with them);
    `names`: one name per pair for the row labels."""
    y = None if y is None else y[: 2 * pairs]
    mu, _ = model.encode(x[: 2 * pairs], y)  # (2·pairs, latent)
    a, b = mu[0::2], mu[1::2]  # (pairs, latent) each
    t = torch.linspace(0, 1, steps, device=mu.device)[None, :, None]  # (1, steps, 1)
    linear = a[:, None] + t * (b - a)[:, None]  # (pairs, steps, latent)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(cos)[:, None, None]  # (pairs, 1, 1)
    slerp = (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / torch.sin(omega)
    z = torch.stack([linear, slerp], 1).reshape(-1, mu.shape[-1])  # (pairs·2·steps, latent)
    images = model.mean(z, None if y is None else y[0::2].repeat_interleave(2 * steps)).cpu()
    pair = [f"pair {i + 1}" + (f" ({names[i]})" if names else "") for i in range(len(a))]
    rows = [f"{pair[i]}, {kind}" for i in range(len(a)) for kind in ("linear", "spherical")]
    return save_image_grid(
        images,
        path,
        nrow=steps,
        row_labels=rows,
        col_labels=[f"{v:.2f}" for v in t.flatten()],
        col_title="t: z = μ(x₁) → μ(x₂)",
        title="Interpolations between test images",
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
) -> Path:
    """Write every figure of a run and report.html; returns the report's path.

    `made`: how the run was made (`klvae.runs.summary.provenance`'s arguments); `snapshots`:
    {epoch: images} of per-epoch samples and reconstructions (`VAETask.snapshots`). A conditional
    model reads the test labels `dataset.y_test` wherever it encodes or decodes a test image."""
    run_dir = Path(run_dir)
    model.eval()
    cfg = model.config
    device = x_test.device
    mean_note = " (Bernoulli means σ(logits))" if cfg.likelihood == "bernoulli" else " (means of p(x|z))"
    binarized = bool(config.get("objective", {}).get("binarize"))
    inputs = "binarized test images" if binarized else "test images"
    names = CLASS_NAMES.get(dataset.name)
    labels = None if dataset.y_test is None else dataset.y_test[: len(x_test)]  # (N,), aligned with x_test
    y_test = labels.to(device) if cfg.conditional and labels is not None else None  # what the model reads
    two = cfg.stochastic_layers == 2
    z_of = "z₁ = μ₁(x), the first layer's posterior mean" if two else "z = μ(x)"
    figures, notes = [], ["Quantities in nats are per example, summed over pixels and latent dimensions."]

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        cols = min(8, len(x_test))
        n_rows = max(1, min(4, len(x_test) // cols))  # a small test set gives fewer rows
        x = x_test[: n_rows * cols]  # (rows·cols, C, H, W)
        y = None if y_test is None else y_test[: len(x)]
        recon = model.mean(model.encode(x, y)[0], y)  # (rows·cols, C, H, W)
        rows = torch.stack(
            [x.reshape(n_rows, cols, *x.shape[1:]), recon.reshape(n_rows, cols, *x.shape[1:])], 1
        )  # (rows, 2, cols, ...)
        save_image_grid(
            rows.reshape(-1, *x.shape[1:]).cpu(),
            run_dir / "reconstructions.png",
            nrow=cols,
            row_labels=["input", "reconstruction"] * n_rows,
            title=f"Inputs ({inputs}) and reconstructions",
        )
        figures.append(
            (
                "reconstructions.png",
                f"Reconstructions: each row of inputs ({inputs}, as the model is evaluated on them) is "
                f"followed by their reconstruction, the decoder mean at {z_of}"
                + (", with the image's label" if cfg.conditional else "")
                + ".",
            )
        )
        if cfg.conditional:
            figures.append(class_samples(model, run_dir / "samples.png", names))
        else:
            figures.append(prior_samples(model, run_dir))
        if cfg.prior == "vamp":
            figures.append(pseudo_inputs(model, run_dir / "pseudo_inputs.png"))
        pairs = (x_test[:8], None, None) if y_test is None else same_class_pairs(x_test, y_test, 4, names)
        if pairs is not None and len(pairs[0]) >= (2 if cfg.conditional else 4):
            xs, ys, pair_names = pairs
            interpolations(model, xs, run_dir / "interpolations.png", pairs=len(xs) // 2, y=ys, names=pair_names)
            figures.append(
                (
                    "interpolations.png",
                    "Interpolations between the posterior means of pairs of test images"
                    + (" of the same class, decoded with that label" if cfg.conditional else "")
                    + (" (of the first layer, z₁)" if two else "")
                    + ": linear z = (1 − t)·μ₁ + t·μ₂, and spherical (slerp, along the great circle, which "
                    "keeps |z| typical of an N(0, I) prior)" + mean_note + ".",
                )
            )
        elif cfg.conditional:
            notes.append("No interpolations: no class has two test images to interpolate between with its label.")

    kl_per_dim = metrics.get("kl_per_dim")
    if kl_per_dim is not None:
        figures.append(traversal(model, kl_per_dim, run_dir, y_test, names))
    else:
        notes.append(
            "No latent traversal: it moves one coordinate of the decoded latent from −3 to 3 around 0, "
            "which assumes an N(0, I) prior on it"
            + (
                "; with two stochastic layers z₁'s prior is p(z₁ | z₂), not N(0, I)."
                if two
                else "; the VampPrior is a mixture of the encoder's posteriors, not N(0, I)."
            )
        )

    mus = torch.cat(
        [
            model.encode(xb, None if y_test is None else y_test[1000 * i : 1000 * (i + 1)])[0]
            for i, xb in enumerate(x_test.split(1000))
        ]
    )
    title = "Posterior means μ₁(x) (first layer) of the test set" if two else "Posterior means μ(x) of the test set"
    latent_map(mus, labels, run_dir / "latent_map.png", title, names)
    figures.append(
        (
            "latent_map.png",
            f"Test images placed at their posterior mean {'μ₁(x) of the first layer' if two else 'μ(x)'}, coloured "
            "by class."
            + (
                " The conditional VAE is given the label, so its z need not separate the classes."
                if cfg.conditional
                else ""
            ),
        )
    )

    if snapshots:
        epochs = sorted(snapshots)
        if len(epochs) > 8:  # the first, the last and six between
            epochs = sorted({epochs[round(i * (len(epochs) - 1) / 7)] for i in range(8)})
        strip = torch.cat([snapshots[e] for e in epochs])  # (epochs·16, C, H, W)
        save_image_grid(
            strip,
            run_dir / "progress.png",
            nrow=16,
            title="Samples and reconstructions by epoch",
            row_labels=[f"epoch {e:g}" for e in epochs],
            col_title="8 samples (fixed z) | 8 reconstructions",
            col_labels=[f"z{i + 1}" for i in range(8)] + [f"x{i + 1}" for i in range(8)],
        )
        figures.append(
            (
                "progress.png",
                f"Per epoch (rows): 8 samples from a fixed set of draws {prior_phrase(model)}"
                + (" with the labels 0, 1, 2, … in turn" if cfg.conditional else "")
                + ", then the reconstructions of 8 fixed validation (else training) images"
                + mean_note
                + ".",
            )
        )

    figures.append(("loss_curves.png", loss_curves(records, run_dir / "loss_curves.png", config, cfg.likelihood)))
    if kl_per_dim is not None:
        plot_bars(
            kl_per_dim,
            run_dir / "kl_per_dim.png",
            title="KL(q(z_d|x) ‖ N(0, 1)) per latent dimension",
            xlabel="latent dimension d (from 0)",
            ylabel="mean KL on the test set (nats)",
        )
        figures.append(
            (
                "kl_per_dim.png",
                "KL per latent dimension, averaged over the test set: dimensions near 0 are unused by the encoder.",
            )
        )
    else:
        notes.append(
            "No KL-per-dimension chart: the KL has no closed form here ("
            + ("two stochastic layers" if two else "the VampPrior")
            + "), so it does not split over the latent dimensions; the KL row is a Monte Carlo estimate."
        )
    active = metrics.get("active_units_per_layer", [metrics["active_units"]])[0]
    layer = "z₁: " if two else ""
    plot_bars(
        metrics["active_unit_variance"],
        run_dir / "active_units.png",
        title=f"Activity Var_x(E_q[z_d]): {layer}{active} of {cfg.latent_dim} units active",
        xlabel=f"latent dimension d of {'z₁' if two else 'z'} (from 0)",
        ylabel="variance of μ_d(x) over the test set (log)",
        threshold=ACTIVE_UNIT_THRESHOLD,
        log_y=True,
    )
    figures.append(
        (
            "active_units.png",
            f"Active units{' of the first layer z₁' if two else ''}: a dimension is active when the variance of its "
            f"posterior mean over the test set exceeds {ACTIVE_UNIT_THRESHOLD} (Burda et al. 2016)"
            + ("; the metrics table counts both layers." if two else "."),
        )
    )

    if cfg.likelihood != "bernoulli":
        notes.append(
            f"The {cfg.likelihood} decoder is a density over pixel values, not a probability: "
            "log p(x|z) can exceed 0, so the ELBO can be positive and −log p(x) negative. "
            "Only differences between models with the same likelihood compare."
        )
    warns = [w for w in [undertrained_warning(metrics, config)] if w]
    if not math.isfinite(float(metrics.get("test_elbo", 0.0))):
        warns.append("The test ELBO is not finite.")
    made = made or {}
    return write_report(
        run_dir,
        title=f"{model_name(config.get('vae') or {})} on {config['data']['name']}",
        metrics=metric_rows(metrics, cfg.likelihood, cfg.latent_dim, config),
        figures=figures,
        config=config,
        notes=notes,
        warnings=warns,
        provenance=provenance(config, metrics, **made),
        raw_metrics={k: v for k, v in metrics.items() if k != "processes"},
    )
