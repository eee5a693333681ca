"""What a VAE run's report (`klvae.runs.vae.report`) says and draws differently for each model of the family.

The model and the objective in words, the rows of the KL and of its split (Chen et al. 2018),
the weights evaluated, the prior a sample is drawn from; `Family`, which the report's figures
(`klvae.runs.vae.figures`) ask instead of reading the model's flags; and the figures only some
models have: a conditional VAE's class-by-class samples, the VampPrior's pseudo-inputs. Every
metric is read with `.get`, so the metrics of older runs still render. A new model of the family
is described here: its words, its phrases in `Family` and its own figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from klvae.figures.png import save_image_grid
from klvae.runs.summary import Figure

__all__ = [
    "model_name",
    "model_row",
    "objective_name",
    "prior_phrase",
    "family_rows",
    "kl_row",
    "active_units_row",
    "Family",
    "class_samples",
    "pseudo_inputs",
    "prior_samples",
    "row_name",
    "same_class_pairs",
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


def row_name(c: int, names: Sequence[str] | None) -> str:
    """Class `c` by its name in `names`, else "label c"."""
    return names[c] if names and 0 <= c < len(names) else f"label {c}"


@torch.no_grad()
def class_samples(model, path: Path, names: Sequence[str] | None = None, seed: int = 0) -> Figure:
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
        row_labels=[row_name(c, names) for c in range(n)],
        col_labels=[f"z{i + 1}" for i in range(8)],
        col_title="the same 8 draws of z in every row",
        title="Samples by class: E[x | z, y], one row per label y",
    )
    return Figure(
        path.name,
        f"Samples of the conditional VAE: each row decodes the same 8 draws {prior_phrase(model)} with "
        "the row's label y, so a row shows one class and a column one z (what the label does not "
        "say: style, slant, thickness); decoder means E[x | z, y].",
    )


@torch.no_grad()
def pseudo_inputs(model, path: Path, n: int = 32) -> Figure:
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
    return Figure(
        path.name,
        f"The VampPrior's learned pseudo-inputs u_k ({shown}; rows “u…”) and under each the decoder mean "
        f"at {z} (rows “decoded”). The prior is the mixture p = (1/K) Σ_k q({top}) of the encoder's "
        f"posteriors at these K = {k} inputs (Tomczak & Welling 2018): a draw from it picks one k at random, "
        "then draws from that component.",
    )


@torch.no_grad()
def prior_samples(model, run_dir: Path) -> Figure:
    """RUN/samples.png: 64 decoded draws of the prior (16 of means, draws and σ with a learned σ); (name, caption)."""
    cfg = model.config
    z = model.sample_latent(64, torch.Generator().manual_seed(0))  # (64, latent): what the decoder reads
    prior = prior_phrase(model)
    if cfg.likelihood != "gaussian-learned":
        short = " (means σ(logits))" if cfg.likelihood == "bernoulli" else " (means)"
        note = " (Bernoulli means σ(logits))" if cfg.likelihood == "bernoulli" else " (means of p(x|z))"
        save_image_grid(model.mean(z).cpu(), run_dir / "samples.png", nrow=8, title="Samples from the prior" + short)
        return Figure("samples.png", f"{len(z)} samples from the prior, {prior}, decoded{note}.")
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
    return Figure(
        "samples.png",
        f"16 samples from the prior, {prior}, in two groups of three rows: the decoder "
        "mean E[x|z], one draw x ~ N(mean, σ²) (clipped to [0, 1]) and the learned σ per "
        "pixel (white = the largest). The means are the pictures to look at; the draws "
        "show the pixel noise the model believes in.",
    )


@dataclass(frozen=True)
class Family:
    """One VAE of the family as its report sees it, read once from the model's config: the phrases
    its captions and notes use and the figures only it has. The report's figures ask it; none of
    them reads the model's flags."""

    conditional: bool = False
    two_layers: bool = False
    vamp: bool = False
    likelihood: str = "bernoulli"

    @classmethod
    def of(cls, model) -> Family:
        cfg = model.config
        return cls(bool(cfg.conditional), cfg.stochastic_layers == 2, cfg.prior == "vamp", cfg.likelihood)

    @property
    def z(self) -> str:
        """The latent its figures show: z, or z₁ of two layers."""
        return "z₁" if self.two_layers else "z"

    @property
    def code(self) -> str:
        """The latent a reconstruction decodes."""
        return "z₁ = μ₁(x), the first layer's posterior mean" if self.two_layers else "z = μ(x)"

    @property
    def means(self) -> str:
        """What a decoded image shows."""
        return " (Bernoulli means σ(logits))" if self.likelihood == "bernoulli" else " (means of p(x|z))"

    def phrase(self, which: str) -> str:
        """A caption's words that only some models need ("" for the others), by `which`:
        "label" (a reconstruction decodes with it), "pairs" (interpolations stay in a class),
        "pairs layer", "samples label", "map" (what colours the latent map mean), "units"."""
        own = {
            "label": (self.conditional, ", with the image's label"),
            "pairs": (self.conditional, " of the same class, decoded with that label"),
            "pairs layer": (self.two_layers, " (of the first layer, z₁)"),
            "samples label": (self.conditional, " with the labels 0, 1, 2, … in turn"),
            "map": (
                self.conditional,
                " The conditional VAE is given the label, so its z need not separate the classes.",
            ),
            "units": (self.two_layers, " of the first layer z₁"),
        }
        on, text = own[which]
        return text if on else ""

    @property
    def no_closed_form(self) -> str:
        """Why its KL has no closed form (asked only of a model without one)."""
        return "two stochastic layers" if self.two_layers else "the VampPrior"

    @property
    def prior_on_code(self) -> str:
        """Why the decoded latent has no N(0, I) prior (asked only of a model without one)."""
        if self.two_layers:
            return "with two stochastic layers z₁'s prior is p(z₁ | z₂), not N(0, I)."
        return "the VampPrior is a mixture of the encoder's posteriors, not N(0, I)."

    def samples(self, model, run_dir: Path, names: Sequence[str] | None) -> Figure:
        """RUN/samples.png: by class for a conditional model, else draws of the prior."""
        if self.conditional:
            return class_samples(model, run_dir / "samples.png", names)
        return prior_samples(model, run_dir)

    def own_figures(self, model, run_dir: Path) -> list[Figure]:
        """The figures only this model has, after its samples: the VampPrior's pseudo-inputs."""
        return [pseudo_inputs(model, run_dir / "pseudo_inputs.png")] if self.vamp else []

    @property
    def no_pairs(self) -> Figure | None:
        """What the report says when `pairs` finds none: only a conditional model, which needs two of a class."""
        if not self.conditional:
            return None
        return Figure.note("No interpolations: no class has two test images to interpolate between with its label.")

    def pairs(
        self, x: torch.Tensor, y: torch.Tensor | None, names: Sequence[str] | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, list[str] | None] | None:
        """The test images to interpolate between, in pairs, with the labels the model reads and the
        pairs' names: two of a class for a conditional model; None when there are too few."""
        if not self.conditional or y is None:
            return (x[:8], None, None) if len(x[:8]) >= 4 else None
        found = same_class_pairs(x, y, 4, names)
        return found if found is not None and len(found[0]) >= 2 else None


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
    return x[idx], y[idx], [row_name(int(c), names) for c in y[idx[0::2]].tolist()]
