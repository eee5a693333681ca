"""The pictures of a VAE run that need more than one call of the figure layer (`klvae.figures`):
the latent map, the interpolations, the latent traversal and the training curves. Each draws a PNG
and returns its path; the captions are the report's (`klvae.runs.vae.report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import torch

from klvae.figures.charts import Panel, plot_panels
from klvae.figures.png import FONT_PT, new_figure, save_image_grid, save_png

__all__ = [
    "latent_map",
    "interpolations",
    "draw_traversal",
    "draw_loss_curves",
    "is_tc_run",
    "NO_EPOCH",
    "shown_epochs",
    "draw_progress",
]


@torch.no_grad()
def latent_map(
    mu: torch.Tensor, labels: torch.Tensor | None, path: Path, title: str, class_names: Sequence[str] | None = None
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
        fontsize=FONT_PT,
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


@torch.no_grad()
def draw_traversal(model, kl_per_dim: list[float], run_dir: Path, y=None, names=None) -> Path:
    """RUN/traversal.png: the 8 dimensions of largest KL moved from −3 to 3, the others at 0 (an N(0, I)
    prior on the decoded latent); a conditional model decodes with the label y[0]."""
    cfg = model.config
    kl = torch.tensor(kl_per_dim)
    dims = kl.argsort(descending=True)[: min(8, cfg.latent_dim)]
    values = torch.linspace(-3, 3, 9)
    z = torch.zeros(len(dims), len(values), cfg.latent_dim)
    for r, d in enumerate(dims.tolist()):
        z[r, :, d] = values
    label = None if y is None else y[:1].expand(z.numel() // cfg.latent_dim)  # one class for the whole figure
    of = "" if y is None else f", class {names[int(y[0])] if names else int(y[0])}"
    return save_image_grid(
        model.mean(z.reshape(-1, cfg.latent_dim).to(model.device), label).cpu(),
        run_dir / "traversal.png",
        nrow=len(values),
        title=f"Traversal of the {len(dims)} dimensions with the largest KL{of}",
        row_labels=[f"d = {int(d)} (KL {float(kl[d]):.2f} nats)" for d in dims],
        col_labels=[f"{v:g}" for v in values.tolist()],
        col_title="value of the dimension z_d",
    )


def shown_epochs(epochs: Sequence[float], n: int = 8) -> list[float]:
    """At most `n` of the sorted `epochs`, evenly spaced along them, the first and the last included.

    >>> shown_epochs(range(1, 21))
    [1, 4, 6, 9, 12, 15, 17, 20]
    """
    epochs = sorted(epochs)
    if len(epochs) <= n:
        return epochs
    return [epochs[round(i * (len(epochs) - 1) / (n - 1))] for i in range(n)]


def draw_progress(snapshots: Mapping[float, torch.Tensor], inputs: torch.Tensor | None, path: Path) -> list[float]:
    """The per-epoch strip (`shown_epochs` of the snapshots, each 8 samples then the reconstructions),
    under a row of the reconstructed inputs, each above its reconstructions; returns the epochs shown."""
    epochs = shown_epochs(list(snapshots))
    rows = [snapshots[e].float().cpu() for e in epochs]  # (8 + k, C, H, W) each
    k = len(rows[0]) - 8
    blank: list[int] = []
    if inputs is not None and k > 0:  # the first 8 cells, under the samples, left empty
        rows.insert(0, torch.cat([torch.ones(8, *rows[0].shape[1:]), inputs[:k].float().cpu()]))
        blank = list(range(8))
    save_image_grid(
        torch.cat(rows),
        path,
        nrow=8 + k,
        title="Samples and reconstructions by epoch",
        row_labels=["input"] * bool(blank) + [f"epoch {e:g}" for e in epochs],
        col_title=f"8 samples (fixed z) | {k} reconstructions" + (" of the inputs above" if blank else ""),
        col_labels=[f"z{i + 1}" for i in range(8)] + [f"x{i + 1}" for i in range(k)],
        blank=blank,
    )
    return epochs


NO_EPOCH = (
    "no finished epoch: the run stopped (time budget) before the end of its first epoch, "
    "so there is no per-epoch value to draw"
)


def is_tc_run(records: list[dict]) -> bool:
    """Whether the records are a β-TC run's, which carry the minibatch total correlation."""
    return any(isinstance(r.get("train_tc"), (int, float)) for r in records)


def draw_loss_curves(records: list[dict], path: Path, config: Mapping, likelihood: str) -> Path:
    """The training curves: ELBO or the trained bound, reconstruction, KL, the total correlation of a
    β-TC run (`is_tc_run`), and the learning rate the schedule gave."""
    objective, vae = config.get("objective") or {}, config.get("vae") or {}
    per = "nats per example" + (" (densities)" if likelihood != "bernoulli" else "")
    train, test = {"ls": "-"}, {"ls": "--"}
    tc_run = is_tc_run(records)
    first = "train ELBO_β"
    if objective.get("objective") == "iwae":
        first = f"train IWAE bound, k = {objective.get('k_train')}"
    elif tc_run:  # −loss carries (tc_beta − 1)·TC: draw the ELBO itself, −(recon + KL)
        first = "train ELBO, β = 1"
    z = "z₁, z₂" if vae.get("stochastic_layers", 1) == 2 else "z"

    def panel(key: str, title: str, color: str, ylabel: str = per, first="train", second="validation"):
        return Panel(
            [
                (f"train_{key}", f"{first} (epoch mean)", {**train, "color": color}),
                (f"val_{key}", f"{second} (end of epoch)", {**test, "color": color}),
            ],
            ylabel=ylabel,
            title=title,
        )

    panels = [
        panel("elbo", "ELBO", "tab:purple", first=first, second="validation ELBO, β = 1"),
        panel("recon", "reconstruction −E_q log p(x|z)", "tab:blue"),
        panel("kl", f"KL(q({z}|x) ‖ p({z}))", "tab:orange", "nats per example"),
    ]
    if tc_run:
        panels.append(
            Panel(
                [("train_tc", "train (epoch mean)", {**train, "color": "tab:green"})],
                ylabel="nats per example",
                title="total correlation KL(q(z) ‖ Π_j q(z_j))",
            )
        )
    lr = (config.get("train") or {}).get("lr")
    if isinstance(lr, (int, float)) and any(isinstance(r.get("lr_factor"), (int, float)) for r in records):
        schedule = (config.get("train") or {}).get("lr_schedule", "linear")
        panels.append(Panel([("lr", "Adam's rate after the epoch", {"color": "tab:gray"})], ylabel="learning rate",
                            title=f"learning rate ({schedule} schedule)"))  # fmt: skip
    drawn = []
    for r in records:
        if isinstance(lr, (int, float)) and isinstance(r.get("lr_factor"), (int, float)):
            r = {**r, "lr": lr * r["lr_factor"]}
        if tc_run and all(isinstance(r.get(k), (int, float)) for k in ("train_recon", "train_kl")):
            r = {**r, "train_elbo": -(r["train_recon"] + r["train_kl"])}
        elif isinstance(r.get("train_loss"), (int, float)):
            r = {**r, "train_elbo": -r["train_loss"]}
        drawn.append(r)
    return plot_panels(drawn, panels, path, title="Training curves", empty_note=NO_EPOCH)
