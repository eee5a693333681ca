"""The figures of a VAE run (through `klvae.figures`) and its report.html (`klvae.report`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import torch

from klvae.figures import new_figure, plot_bars, plot_curves, save_image_grid, save_png
from klvae.report import write_report
from klvae.vae.evaluate import ACTIVE_UNIT_THRESHOLD

__all__ = ["write_figures_and_report", "latent_map"]


@torch.no_grad()
def latent_map(mu: torch.Tensor, labels: torch.Tensor | None, path: Path, title: str) -> Path:
    """Scatter of the posterior means μ(x) (N, latent), coloured by label.

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
    fig = new_figure(6, 5)
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.7, label="test images")
    else:
        cmap = matplotlib.colormaps["tab10"]
        for c in sorted(set(labels.tolist())):
            sel = labels == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.7, color=cmap(c % 10), label=str(c))
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(f"{title}\n({how})", fontsize=10)
    ax.legend(title="label" if labels is not None else None, fontsize=7, markerscale=2,
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return save_png(fig, path)


@torch.no_grad()
def write_figures_and_report(run_dir: Path, model, dataset, x_test: torch.Tensor, records: list[dict],
                             metrics: dict, config: dict) -> Path:
    """Write every figure of a run and report.html; returns the report's path."""
    run_dir = Path(run_dir)
    model.eval()
    cfg = model.config
    device = x_test.device
    mean_note = " (Bernoulli means σ(logits))" if cfg.likelihood == "bernoulli" else " (means of p(x|z))"
    short_note = " (means σ(logits))" if cfg.likelihood == "bernoulli" else " (means)"  # fits a narrow grid
    figures = []

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        cols = min(8, len(x_test))
        n_rows = max(1, min(4, len(x_test) // cols))  # a small test set gives fewer rows
        x = x_test[:n_rows * cols]  # (rows·cols, C, H, W)
        mu, _ = model.encode(x)
        recon = model.mean(mu)  # (32, C, H, W)
        rows = torch.stack([x.reshape(n_rows, cols, *x.shape[1:]),
                            recon.reshape(n_rows, cols, *x.shape[1:])], 1)  # (rows, 2, cols, ...)
        save_image_grid(rows.reshape(-1, *x.shape[1:]).cpu(), run_dir / "reconstructions.png", nrow=cols,
                        title="Inputs (odd rows), reconstructions (even rows)")
        figures.append(("reconstructions.png", "Reconstructions: each input row is followed by its "
                        "reconstruction, the decoder mean at z = μ(x)."))

        z = torch.randn(64, cfg.latent_dim, device=device)
        save_image_grid(model.mean(z).cpu(), run_dir / "samples.png", nrow=8,
                        title="Samples from the prior" + short_note)
        figures.append(("samples.png", "64 samples from the prior z ~ N(0, I), decoded" + mean_note + "."))

    kl = torch.tensor(metrics["kl_per_dim"])
    dims = kl.argsort(descending=True)[:min(8, cfg.latent_dim)]
    values = torch.linspace(-3, 3, 9)
    z = torch.zeros(len(dims), len(values), cfg.latent_dim)
    for r, d in enumerate(dims.tolist()):
        z[r, :, d] = values
    save_image_grid(model.mean(z.to(device)).reshape(-1, *cfg.image_shape).cpu(), run_dir / "traversal.png",
                    nrow=len(values), title=f"Traversal: top-{len(dims)} KL dims, z_d from −3 to 3")
    figures.append(("traversal.png", "Latent traversal: each row moves one latent dimension (ordered by "
                    "KL, largest first: " + ", ".join(str(int(d)) for d in dims) +
                    ") from −3 to 3 with the others at 0" + mean_note + "."))

    mus = torch.cat([model.encode(xb)[0] for xb in x_test.split(1000)])
    latent_map(mus, dataset.y_test, run_dir / "latent_map.png", "Posterior means μ(x) of the test set")
    figures.append(("latent_map.png", "Test images placed at their posterior mean μ(x), coloured by label."))

    if records:
        plot_curves(records, ["train_recon", "train_kl", "test_recon", "test_kl"], run_dir / "loss_curves.png",
                    title="Reconstruction NLL and KL per epoch", ylabel="nats per example", log_y=True)
        figures.append(("loss_curves.png", "Training (over the epoch) and test (end of epoch) "
                        "reconstruction NLL −E_q log p(x|z) and KL(q(z|x) ‖ p(z)), nats per example."))
    plot_bars(metrics["kl_per_dim"], run_dir / "kl_per_dim.png", title="KL(q(z_d|x) ‖ N(0, 1)) per latent dimension",
              xlabel="latent dimension d", ylabel="mean KL on the test set (nats)")
    figures.append(("kl_per_dim.png", "KL per latent dimension, averaged over the test set: dimensions "
                    "near 0 are unused by the encoder."))
    plot_bars(metrics["active_unit_variance"], run_dir / "active_units.png",
              title=f"Activity Var_x(E_q[z_d]): {metrics['active_units']} of {cfg.latent_dim} units active",
              xlabel="latent dimension d", ylabel="variance of μ_d(x) over the test set",
              threshold=ACTIVE_UNIT_THRESHOLD)
    figures.append(("active_units.png", f"Active units: a dimension is active when the variance of its "
                    f"posterior mean over the test set exceeds {ACTIVE_UNIT_THRESHOLD} (Burda et al. 2016)."))

    shown = {k: v for k, v in metrics.items() if not isinstance(v, list)}
    notes = ["All quantities are in nats per example (summed over pixels and latent dimensions). "
             "test_elbo is the evidence lower bound (β = 1); test_iw_nll is the importance-weighted "
             f"estimate of −log p(x) with k = {metrics['iw_k']} samples (Burda et al. 2016), "
             "an upper bound on the true NLL in expectation."]
    return write_report(run_dir, title=f"VAE on {config['data']['name']}", metrics=shown, figures=figures,
                        config=config, notes=notes)
