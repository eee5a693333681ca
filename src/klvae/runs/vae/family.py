"""What a VAE run's report (`klvae.runs.vae.report`) says differently for each model of the family.

The model and the objective in words, the rows of the KL and of its split (Chen et al. 2018),
the weights evaluated, the prior a sample is drawn from, and the figures only some models have:
a conditional VAE's class-by-class samples, the VampPrior's pseudo-inputs, the β-TC-VAE's total
correlation per epoch. Every metric is read with `.get`, so the metrics of older runs still render.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from klvae.figures.charts import Panel, plot_panels
from klvae.figures.png import save_image_grid

__all__ = [
    "model_name",
    "model_row",
    "objective_name",
    "prior_phrase",
    "family_rows",
    "kl_row",
    "active_units_row",
    "class_samples",
    "pseudo_inputs",
    "prior_samples",
    "traversal",
    "same_class_pairs",
    "loss_curves",
]


def _nats(v: float) -> str:
    return f"{v:.3f}".replace("-", "−")  # a typographic minus


def model_name(vae: Mapping) -> str:
    """ "VAE", "conditional VAE", "VAE with VampPrior (K = 500)", "two-layer VAE (32 → 16)", … from config["vae"]."""
    two = vae.get("stochastic_layers", 1) == 2
    name = f"two-layer VAE ({vae.get('latent_dim')} → {vae.get('latent_dim2')})" if two else "VAE"
    if vae.get("conditional"):
        name = "conditional " + name
    if vae.get("prior") == "vamp":
        name += f" with VampPrior (K = {vae.get('pseudo_inputs')})"
    return name


def model_row(vae: Mapping, likelihood: str) -> tuple[str, str, str]:
    """The "model" row: its name, then the sizes of its latents and its likelihood."""
    sizes = f"z of {vae.get('latent_dim')}"
    if vae.get("stochastic_layers", 1) == 2:
        sizes = f"z₁ of {vae.get('latent_dim')}, z₂ of {vae.get('latent_dim2')}"
    label = "; the label y enters encoder and decoder, q(z|x, y) and p(x|z, y)" if vae.get("conditional") else ""
    return "model", model_name(vae), f"latent {sizes} dimensions, p(x|z) {likelihood}{label}"


def objective_name(objective: Mapping) -> tuple[str, str]:
    """(name, one line on it) of config["objective"]: "ELBO", "IWAE, k = 5 (DReG gradient)",
    "β-TC-VAE, TC weight 6", "ELBO, β = 4", …"""
    beta, warm = objective.get("beta", 1.0), objective.get("warmup_epochs", 0.0)
    extra = (f", β = {beta:g}" if beta != 1 else "") + (f", KL warm-up over {warm:g} epochs" if warm else "")
    kl = {"analytic": "the KL in closed form", "mc": "the KL as the Monte Carlo log q(z|x) − log p(z)"}
    kl_how = kl.get(objective.get("kl") or "", "")
    if objective.get("objective") == "iwae":
        name = f"IWAE, k = {objective.get('k_train')}" + (" (DReG gradient)" if objective.get("dreg") else "")
        why = "the importance-weighted bound E log (1/k) Σ_i w_i ≥ ELBO (Burda et al. 2016)" + (
            "; encoder gradient doubly reparameterized (Tucker et al. 2019)" if objective.get("dreg") else ""
        )
        return name + extra, why
    if objective.get("tc_beta") is not None:
        why = "ELBO with the total correlation weighted (Chen et al. 2018), TC estimated on each minibatch"
        return f"β-TC-VAE, TC weight {objective['tc_beta']:g}" + extra, why + (f"; {kl_how}" if kl_how else "")
    samples = objective.get("samples", 1)
    name = "ELBO" + extra + (f", {samples} draws of z per image" if samples > 1 else "")
    return name, "E_q log p(x|z) − β·KL(q(z|x) ‖ p(z))" + (f", {kl_how}" if kl_how else "")


def prior_phrase(model) -> str:
    """The prior a sample's decoded latent is drawn from, in symbols."""
    cfg = model.config
    top = "z₂" if cfg.stochastic_layers == 2 else "z"
    at = "μ₁(u_k)" if cfg.stochastic_layers == 2 else "u_k"
    prior = f"the VampPrior (1/K) Σ_k q({top} | {at})" if cfg.prior == "vamp" else "N(0, I)"
    return f"{top} ~ {prior}" + (", then z₁ ~ p(z₁ | z₂)" if cfg.stochastic_layers == 2 else "")


def _no_closed_form(vae: Mapping) -> str:
    """Why a model's KL has no closed form (or its split is not computed)."""
    two, vamp = vae.get("stochastic_layers", 1) == 2, vae.get("prior") == "vamp"
    return " and ".join([w for w, on in (("two stochastic layers", two), ("the VampPrior", vamp)) if on]) or "?"


def kl_row(metrics: Mapping, vae: Mapping) -> tuple[str, str, str]:
    """The KL row (of config["vae"]'s model); it names its estimate (closed form or Monte Carlo)."""
    z = "z₁, z₂" if vae.get("stochastic_layers", 1) == 2 else "z"
    how = metrics.get("kl_estimate") or "closed form"  # runs before the estimate was recorded: closed form
    why = "" if how == "closed form" else f" (no closed form with {_no_closed_form(vae)})"
    return (
        f"KL(q({z}|x) ‖ p({z}))",
        f"{metrics['test_kl']:.3f} nats per example",
        f"{how}{why}; the information the code carries about x, summed over the latent dimensions",
    )


def active_units_row(metrics: Mapping, latent_dim: int, threshold: float) -> tuple[str, str, str]:
    """ "5 of 8", or per layer "5 + 2 of 32 + 16"."""
    per, sizes = metrics.get("active_units_per_layer"), metrics.get("latent_sizes")
    why = f"latent dimensions whose posterior mean varies over the test set (variance > {threshold})"
    if per and sizes and len(per) > 1:
        joined = " + ".join
        value = f"{joined(map(str, per))} of {joined(map(str, sizes))}"
        return "active units", value, why + "; per stochastic layer, z₁ + z₂ (z₂'s at z₁ = μ₁(x))"
    return "active units", f"{metrics['active_units']} of {latent_dim}", why


def family_rows(metrics: Mapping, config: Mapping) -> list[tuple[str, str, str]]:
    """The rows on the KL split, the objective trained and the weights evaluated (each only when known)."""
    rows = []
    if "index_code_mi" in metrics:
        if metrics.get("index_code_mi") is None:
            rows.append(
                (
                    "KL split (Chen et al. 2018)",
                    "not computed",
                    "index-code MI + total correlation + dimension-wise KL needs one stochastic layer and a "
                    f"factorized prior (N(0, I)); this model has {_no_closed_form(config.get('vae') or {})}",
                )
            )
        else:
            n = metrics.get("n_test") or 1
            rows += [
                (
                    "index-code MI",
                    f"{_nats(metrics['index_code_mi'])} nats",
                    f"I_q(x; z): how much z tells which test image it came from (Chen et al. 2018); "
                    f"at most log N = {math.log(n):.2f} nats",
                ),
                (
                    "total correlation",
                    f"{_nats(metrics['total_correlation'])} nats",
                    "KL(q(z) ‖ Π_j q(z_j)): the dependence between latent dimensions of the aggregate "
                    "posterior q(z); 0 when they are independent",
                ),
                (
                    "dimension-wise KL",
                    f"{_nats(metrics['dimwise_kl'])} nats",
                    "Σ_j KL(q(z_j) ‖ p(z_j)): how far each marginal of q(z) is from the prior's; the three "
                    "sum to the KL (one draw of z per image, so up to Monte Carlo error)",
                ),
            ]
    if config.get("objective"):
        rows.append(("objective", *objective_name(config["objective"])))
    evaluated = metrics.get("evaluated")
    if evaluated and evaluated.get("checkpoint") == "best":
        value = f"best validation ELBO (epoch {evaluated['epoch']}, {_nats(evaluated['val_elbo'])} nats)"
        rows.append(("evaluated weights", value, "--keep best: the epoch with the highest validation ELBO"))
    elif evaluated:
        rows.append(("evaluated weights", "last epoch", evaluated.get("note", "the weights at the end of training")))
    return rows


def _row_name(c: int, names: Sequence[str] | None) -> str:
    return names[c] if names and 0 <= c < len(names) else f"label {c}"


@torch.no_grad()
def class_samples(model, path: Path, names: Sequence[str] | None = None, seed: int = 0) -> tuple[str, str]:
    """A conditional VAE's samples, one row per class y, 8 per row; every row draws its latents with
    the same seed, so a column shares z (p(z) does not depend on y). Returns (file name, caption)."""
    n = int(model.config.n_classes or 0)
    images = []
    for c in range(n):
        y = torch.full((8,), c, dtype=torch.long, device=model.device)
        z = model.sample_latent(8, torch.Generator().manual_seed(seed), y)  # (8, latent), the same z each row
        images.append(model.mean(z, y))
    save_image_grid(
        torch.cat(images).float().cpu(),
        path,
        nrow=8,
        row_labels=[_row_name(c, names) for c in range(n)],
        col_labels=[f"z{i + 1}" for i in range(8)],
        col_title="the same 8 draws of z in every row",
        title="Samples by class: E[x | z, y], one row per label y",
    )
    return path.name, (
        f"Samples of the conditional VAE: each row decodes the same 8 draws {prior_phrase(model)} with "
        "the row's label y, so a row shows one class and a column one z (what the label does not "
        "say: style, slant, thickness); decoder means E[x | z, y]."
    )


@torch.no_grad()
def pseudo_inputs(model, path: Path, n: int = 32) -> tuple[str, str]:
    """The VampPrior's first `n` pseudo-inputs u_k, each above the decoder mean at z = μ(u_k)."""
    u = model.prior.pseudo_inputs()[:n]  # (n, C, H, W)
    decoded = model.mean(model.encode(u)[0])  # (n, C, H, W); of two layers, z₁ = μ₁(u_k)
    n, k = len(u), model.prior.n
    groups = math.ceil(n / 8)
    cols = math.ceil(n / groups)  # at most 8 a row, the rows as even as they can be
    pad = torch.ones(groups * cols - n, *u.shape[1:], device=u.device)  # a short last group: white cells
    u, decoded = torch.cat([u, pad]), torch.cat([decoded, pad])
    grid = torch.stack([u.reshape(groups, cols, *u.shape[1:]), decoded.reshape(groups, cols, *u.shape[1:])], 1)
    rows = [
        f"u{g * cols + 1}…u{min(n, g * cols + cols)}" if r == 0 else "decoded" for g in range(groups) for r in (0, 1)
    ]
    shown = f"all {k}" if n == k else f"the first {n} of {k}"
    save_image_grid(
        grid.reshape(-1, *u.shape[1:]).float().cpu(),
        path,
        nrow=cols,
        row_labels=rows,
        title="VampPrior: pseudo-inputs u_k, decoded",  # short: a 5-column grid is 360 px wide
    )
    top = "z₂ | z₁ = μ₁(u_k)" if model.config.stochastic_layers == 2 else "z | u_k"
    z = "z₁ = μ₁(u_k)" if model.config.stochastic_layers == 2 else "z = μ(u_k)"
    return path.name, (
        f"The VampPrior's learned pseudo-inputs u_k ({shown}; rows “u…”) and under each the decoder mean "
        f"at {z} (rows “decoded”). The prior is the mixture p = (1/K) Σ_k q({top}) of the encoder's "
        f"posteriors at these K = {k} inputs (Tomczak & Welling 2018): a draw from it picks one k at random, "
        "then draws from that component."
    )


@torch.no_grad()
def prior_samples(model, run_dir: Path) -> tuple[str, str]:
    """RUN/samples.png: 64 decoded draws of the prior (16 of means, draws and σ with a learned σ); (name, caption)."""
    cfg = model.config
    z = model.sample_latent(64, torch.Generator().manual_seed(0))  # (64, latent): what the decoder reads
    prior = prior_phrase(model)
    if cfg.likelihood != "gaussian-learned":
        short = " (means σ(logits))" if cfg.likelihood == "bernoulli" else " (means)"
        note = " (Bernoulli means σ(logits))" if cfg.likelihood == "bernoulli" else " (means of p(x|z))"
        save_image_grid(model.mean(z).cpu(), run_dir / "samples.png", nrow=8, title="Samples from the prior" + short)
        return "samples.png", f"{len(z)} samples from the prior, {prior}, decoded{note}."
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
        f"16 samples from the prior, {prior}, in two groups of three rows: the decoder "
        "mean E[x|z], one draw x ~ N(mean, σ²) (clipped to [0, 1]) and the learned σ per "
        "pixel (white = the largest). The means are the pictures to look at; the draws "
        "show the pixel noise the model believes in."
    )


@torch.no_grad()
def traversal(model, kl_per_dim: list[float], run_dir: Path, y=None, names=None) -> tuple[str, str]:
    """RUN/traversal.png: the 8 dimensions of largest KL moved from −3 to 3, the others at 0 (an N(0, I)
    prior on the decoded latent); a conditional model decodes with the label y[0]. (name, caption)."""
    cfg = model.config
    kl = torch.tensor(kl_per_dim)
    dims = kl.argsort(descending=True)[: min(8, cfg.latent_dim)]
    values = torch.linspace(-3, 3, 9)
    z = torch.zeros(len(dims), len(values), cfg.latent_dim)
    for r, d in enumerate(dims.tolist()):
        z[r, :, d] = values
    label = None if y is None else y[:1].expand(z.numel() // cfg.latent_dim)  # one class for the whole figure
    of = "" if y is None else f", class {names[int(y[0])] if names else int(y[0])}"
    save_image_grid(
        model.mean(z.reshape(-1, cfg.latent_dim).to(model.device), label).cpu(),
        run_dir / "traversal.png",
        nrow=len(values),
        title=f"Traversal of the {len(dims)} dimensions with the largest KL{of}",
        row_labels=[f"d = {int(d)} (KL {float(kl[d]):.2f} nats)" for d in dims],
        col_labels=[f"{v:g}" for v in values.tolist()],
        col_title="value of the dimension z_d",
    )
    return "traversal.png", (
        "Latent traversal: each row moves one latent dimension (ordered by "
        "KL, largest first; the row label names it, counted from 0 as in the bar charts, with "
        "its KL) from −3 to 3 with the others at 0"
        + ("" if y is None else f" and the label held at y = {int(y[0])}")
        + (" (Bernoulli means σ(logits))." if cfg.likelihood == "bernoulli" else " (means of p(x|z)).")
    )


def same_class_pairs(
    x: torch.Tensor, y: torch.Tensor, pairs: int, names: Sequence[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str]] | None:
    """The first two test images of each of the first `pairs` classes that have two, as (x, y) in
    pair order (2·pairs, …), and the pairs' class names; None when no class has two images."""
    picks = []
    for c in sorted(set(y.tolist())):
        idx = (y == c).nonzero().flatten()[:2]
        if len(idx) == 2:
            picks.append(idx)
        if len(picks) == pairs:
            break
    if not picks:
        return None
    idx = torch.cat(picks)
    return x[idx], y[idx], [_row_name(int(c), names) for c in y[idx[0::2]].tolist()]


def loss_curves(records: list[dict], path: Path, config: Mapping, likelihood: str) -> str:
    """The training curves (ELBO or the trained bound, reconstruction, KL, and the total correlation of a
    β-TC run) and their caption."""
    objective, vae = config.get("objective") or {}, config.get("vae") or {}
    per = "nats per example" + (" (densities)" if likelihood != "bernoulli" else "")
    train, test = {"ls": "-"}, {"ls": "--"}
    tc_run = any(isinstance(r.get("train_tc"), (int, float)) for r in records)
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
    note = ""
    if tc_run:
        panels.append(
            Panel(
                [("train_tc", "train (epoch mean)", {**train, "color": "tab:green"})],
                ylabel="nats per example",
                title="total correlation KL(q(z) ‖ Π_j q(z_j))",
            )
        )
        note = (
            " The total correlation panel is the β-TC objective's minibatch-stratified estimate (Chen et al. "
            "2018, appendix C.2), from the batch's own examples; the table's value uses the whole test set."
        )
    never = (
        "no finished epoch: the run stopped (time budget) before the end of its first epoch, "
        "so there is no per-epoch value to draw"
    )
    drawn = []
    for r in records:
        if tc_run and all(isinstance(r.get(k), (int, float)) for k in ("train_recon", "train_kl")):
            r = {**r, "train_elbo": -(r["train_recon"] + r["train_kl"])}
        elif isinstance(r.get("train_loss"), (int, float)):
            r = {**r, "train_elbo": -r["train_loss"]}
        drawn.append(r)
    plot_panels(drawn, panels, path, title="Training curves", empty_note=never)
    return (
        "Per epoch: training values (solid, means over the epoch's steps"
        + (", the ELBO's at β = 1" if tc_run else ", with the training β")
        + ("; the ELBO panel's solid line is the bound trained on" if first.startswith("train IWAE") else "")
        + ") and validation values (dashed, held-out training images at the end of the epoch, β = 1; "
        "the test set is read once, at the end), "
        + per
        + "."
        + note
        + ("" if records else " " + never[0].upper() + never[1:] + ".")
    )
