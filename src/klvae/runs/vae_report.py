"""The figures of a VAE run (through `klvae.figures`) and its report.html (`klvae.report`)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import torch

from klvae.charts import Panel, plot_bars, plot_panels
from klvae.data import CLASS_NAMES
from klvae.figures import new_figure, save_image_grid, save_png
from klvae.report import write_report
from klvae.runs.run_info import provenance, training_rows, undertrained_warning
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
def interpolations(model, x: torch.Tensor, path: Path, *, pairs: int = 4, steps: int = 8) -> Path:
    """Decoder means along paths between the posterior means of `pairs` pairs of test images:
    for each pair a row linear in z, then a row along the great circle (slerp), ends included."""
    mu, _ = model.encode(x[: 2 * pairs])  # (2·pairs, latent)
    a, b = mu[0::2], mu[1::2]  # (pairs, latent) each
    t = torch.linspace(0, 1, steps, device=mu.device)[None, :, None]  # (1, steps, 1)
    linear = a[:, None] + t * (b - a)[:, None]  # (pairs, steps, latent)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(cos)[:, None, None]  # (pairs, 1, 1)
    slerp = (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / torch.sin(omega)
    z = torch.stack([linear, slerp], 1).reshape(-1, mu.shape[-1])  # (pairs·2·steps, latent)
    images = model.mean(z).cpu()
    rows = [f"pair {i + 1}, {kind}" for i in range(len(a)) for kind in ("linear", "spherical")]
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
        (
            "KL(q(z|x) ‖ p(z))",
            f"{metrics['test_kl']:.3f} {per}",
            "the information the code carries about x; summed over the latent dimensions",
        ),
        (
            "reconstruction MSE",
            f"{metrics['test_recon_mse']:.5f} per pixel",
            "mean squared error of the decoder mean at z = μ(x), pixels in [0, 1] (not in nats)",
        ),
        (
            "active units",
            f"{metrics['active_units']} of {latent_dim}",
            f"latent dimensions whose posterior mean varies over the test set (variance > {ACTIVE_UNIT_THRESHOLD})",
        ),
        ("test images", f"{metrics['n_test']}", "evaluated once, at the end"),
    ]
    if "epochs" in metrics:
        rows += training_rows(metrics, config or {})
    return rows


@torch.no_grad()
def _samples(model, z: torch.Tensor, run_dir: Path) -> tuple[str, str]:
    cfg = model.config
    if cfg.likelihood != "gaussian-learned":
        short = " (means σ(logits))" if cfg.likelihood == "bernoulli" else " (means)"
        note = " (Bernoulli means σ(logits))" if cfg.likelihood == "bernoulli" else " (means of p(x|z))"
        save_image_grid(model.mean(z).cpu(), run_dir / "samples.png", nrow=8, title="Samples from the prior" + short)
        return "samples.png", f"{len(z)} samples from the prior z ~ N(0, I), decoded{note}."
    z = z[:16]
    mean, log_sigma = model.decode(z)  # (16, C, H, W) each
    sigma = log_sigma.exp()
    x = (mean + sigma * torch.randn_like(mean)).clamp(0, 1)  # one draw of x ~ p(x|z), clipped to [0, 1]
    rows = torch.stack([mean, x, sigma / sigma.max()], 0).reshape(3, 2, 8, *mean.shape[1:])
    grid = rows.transpose(0, 1).reshape(-1, *mean.shape[1:]).cpu()  # per group of 8: means, draws, σ
    labels = ["mean E[x|z]", "draw x ~ p(x|z)", f"σ (white = {float(sigma.max()):.2f})"] * 2
    save_image_grid(
        grid, run_dir / "samples.png", nrow=8, row_labels=labels, title="Samples from the prior: means, draws, σ"
    )
    return "samples.png", (
        "16 samples from the prior z ~ N(0, I), in two groups of three rows: the decoder "
        "mean E[x|z], one draw x ~ N(mean, σ²) (clipped to [0, 1]) and the learned σ per "
        "pixel (white = the largest). The means are the pictures to look at; the draws "
        "show the pixel noise the model believes in."
    )


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

    `made`: how the run was made (`klvae.runs.run_info.provenance`'s arguments); `snapshots`:
    {epoch: images} of per-epoch samples and reconstructions (`VAETask.snapshots`)."""
    run_dir = Path(run_dir)
    model.eval()
    cfg = model.config
    device = x_test.device
    mean_note = " (Bernoulli means σ(logits))" if cfg.likelihood == "bernoulli" else " (means of p(x|z))"
    binarized = bool(config.get("objective", {}).get("binarize"))
    inputs = "binarized test images" if binarized else "test images"
    figures = []

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        cols = min(8, len(x_test))
        n_rows = max(1, min(4, len(x_test) // cols))  # a small test set gives fewer rows
        x = x_test[: n_rows * cols]  # (rows·cols, C, H, W)
        mu, _ = model.encode(x)
        recon = model.mean(mu)  # (32, C, H, W)
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
                f"Reconstructions: each row of inputs ({inputs}, as the model "
                "is evaluated on them) is followed by their reconstruction, the decoder mean at "
                "z = μ(x).",
            )
        )
        figures.append(_samples(model, torch.randn(64, cfg.latent_dim, device=device), run_dir))
        if len(x_test) >= 4:
            interpolations(model, x_test[:8], run_dir / "interpolations.png", pairs=min(4, len(x_test) // 2))
            figures.append(
                (
                    "interpolations.png",
                    "Interpolations between the posterior means of pairs of "
                    "test images: linear z = (1 − t)·μ₁ + t·μ₂, and spherical (slerp, along the great "
                    "circle, which keeps |z| typical of the prior)" + mean_note + ".",
                )
            )

    kl = torch.tensor(metrics["kl_per_dim"])
    dims = kl.argsort(descending=True)[: min(8, cfg.latent_dim)]
    values = torch.linspace(-3, 3, 9)
    z = torch.zeros(len(dims), len(values), cfg.latent_dim)
    for r, d in enumerate(dims.tolist()):
        z[r, :, d] = values
    save_image_grid(
        model.mean(z.to(device)).reshape(-1, *cfg.image_shape).cpu(),
        run_dir / "traversal.png",
        nrow=len(values),
        title=f"Traversal of the {len(dims)} dimensions with the largest KL",
        row_labels=[f"d = {int(d)} (KL {float(kl[d]):.2f} nats)" for d in dims],
        col_labels=[f"{v:g}" for v in values.tolist()],
        col_title="value of the dimension z_d",
    )
    figures.append(
        (
            "traversal.png",
            "Latent traversal: each row moves one latent dimension (ordered by "
            "KL, largest first; the row label names it, counted from 0 as in the bar charts, with "
            "its KL) from −3 to 3 with the "
            "others at 0" + mean_note + ".",
        )
    )

    mus = torch.cat([model.encode(xb)[0] for xb in x_test.split(1000)])
    names = CLASS_NAMES.get(dataset.name)
    latent_map(mus, dataset.y_test, run_dir / "latent_map.png", "Posterior means μ(x) of the test set", names)
    figures.append(("latent_map.png", "Test images placed at their posterior mean μ(x), coloured by class."))

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
                "Per epoch (rows): 8 samples from a fixed set of z ~ N(0, I), then "
                "the reconstructions of 8 fixed validation (else training) images" + mean_note + ".",
            )
        )

    per = "nats per example" + (" (densities)" if cfg.likelihood != "bernoulli" else "")
    train = {"ls": "-"}
    test = {"ls": "--"}
    panels = [
        Panel(
            [
                ("train_elbo", "train ELBO_β (epoch mean)", {**train, "color": "tab:purple"}),
                ("val_elbo", "validation ELBO (β = 1)", {**test, "color": "tab:purple"}),
            ],
            ylabel=per,
            title="ELBO",
        ),
        Panel(
            [
                ("train_recon", "train (epoch mean)", {**train, "color": "tab:blue"}),
                ("val_recon", "validation (end of epoch)", {**test, "color": "tab:blue"}),
            ],
            ylabel=per,
            title="reconstruction −E_q log p(x|z)",
        ),
        Panel(
            [
                ("train_kl", "train (epoch mean)", {**train, "color": "tab:orange"}),
                ("val_kl", "validation (end of epoch)", {**test, "color": "tab:orange"}),
            ],
            ylabel="nats per example",
            title="KL(q(z|x) ‖ p(z))",
        ),
    ]
    never = (
        "no finished epoch: the run stopped (time budget) before the end of its first epoch, "
        "so there is no per-epoch value to draw"
    )
    records = [
        {**r, "train_elbo": -r["train_loss"]} if isinstance(r.get("train_loss"), (int, float)) else r for r in records
    ]
    plot_panels(records, panels, run_dir / "loss_curves.png", title="Training curves", empty_note=never)
    figures.append(
        (
            "loss_curves.png",
            "Per epoch: training values (solid, means over the epoch's steps, with "
            "the training β) and validation values (dashed, held-out training images at the end of the "
            "epoch, β = 1; the test set is read once, at the end), "
            + per
            + "."
            + ("" if records else " " + never[0].upper() + never[1:] + "."),
        )
    )
    plot_bars(
        metrics["kl_per_dim"],
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
    plot_bars(
        metrics["active_unit_variance"],
        run_dir / "active_units.png",
        title=f"Activity Var_x(E_q[z_d]): {metrics['active_units']} of {cfg.latent_dim} units active",
        xlabel="latent dimension d (from 0)",
        ylabel="variance of μ_d(x) over the test set (log)",
        threshold=ACTIVE_UNIT_THRESHOLD,
        log_y=True,
    )
    figures.append(
        (
            "active_units.png",
            f"Active units: a dimension is active when the variance of its "
            f"posterior mean over the test set exceeds {ACTIVE_UNIT_THRESHOLD} (Burda et al. 2016).",
        )
    )

    notes = ["Quantities in nats are per example, summed over pixels and latent dimensions."]
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
        title=f"VAE on {config['data']['name']}",
        metrics=metric_rows(metrics, cfg.likelihood, cfg.latent_dim, config),
        figures=figures,
        config=config,
        notes=notes,
        warnings=warns,
        provenance=provenance(config, metrics, **made),
        raw_metrics={k: v for k, v in metrics.items() if k != "processes"},
    )
