"""The ELBO and its parts, in nats, and the one entry point of every training objective.

ELBO(x) = E_{q(z|x)}[log p(x|z)] − KL(q(z|x) ‖ p(z)) ≤ log p(x)   (Kingma & Welling 2014, eq. 3).

Every per-example quantity is summed over pixels and latent dimensions (nats per example);
training losses average it over the batch. Nothing is divided by the number of pixels.
`training_loss` picks the objective of an `ELBOConfig`: the ELBO (β-VAE), the IWAE bound
(`klvae.vae.iwae`) or β-TC (`klvae.vae.tc`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from klvae.measures.gaussian import kl_std_normal
from klvae.vae.iwae import iwae_loss
from klvae.vae.tc import tc_vae_loss

__all__ = ["ELBOConfig", "OBJECTIVES", "elbo_terms", "vae_loss", "training_loss", "check_objective", "binarize"]

OBJECTIVES = ("elbo", "iwae")
IWAE_K = 5  # importance samples of the IWAE objective unless given


@dataclass
class ELBOConfig:
    """Settings of the training objective."""

    samples: int = 1  # L, Monte Carlo samples of z per example in the reconstruction term
    beta: float = 1.0  # weight of the KL term (β-VAE); evaluation always uses β = 1
    kl: str | None = None  # "analytic" (closed form) or "mc" (log q(z|x) − log p(z) at the sampled z);
    # None: analytic where the model has a closed form (one layer, N(0, I) prior), else mc
    warmup_epochs: float = 0.0  # KL annealing: β ramps linearly from 0 over this many epochs
    binarize: bool | None = None  # dynamic binarization; None → on for bernoulli, off otherwise
    iw_k: int = 1000  # importance samples for the final test −log p(x) estimate
    objective: str = "elbo"  # "elbo" or "iwae" (Burda et al. 2016)
    k_train: int | None = None  # IWAE: importance samples per example in training (None: 5)
    dreg: bool = False  # IWAE: doubly-reparameterized encoder gradient (Tucker et al. 2019)
    tc_beta: float | None = None  # β-TC-VAE: weight of the total correlation (Chen et al. 2018); None: off

    def __post_init__(self):
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta must be non-negative and finite, got {self.beta}")
        if self.kl not in (None, "analytic", "mc"):
            raise ValueError(f"kl must be 'analytic' or 'mc', got {self.kl!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.objective == "iwae":
            self.k_train = IWAE_K if self.k_train is None else self.k_train
            if self.k_train < 1:
                raise ValueError(f"k_train must be at least 1, got {self.k_train}")
            if self.samples != 1:
                raise ValueError("--samples is the ELBO's; the IWAE objective takes --k-train")
            if self.tc_beta is not None:
                raise ValueError("--tc-beta is an ELBO objective (β-TC-VAE); it does not combine with --objective iwae")
        elif self.k_train is not None or self.dreg:
            raise ValueError("--k-train and --dreg are for --objective iwae")
        if self.tc_beta is not None and not (self.tc_beta >= 0 and math.isfinite(self.tc_beta)):
            raise ValueError(f"tc_beta must be non-negative and finite, got {self.tc_beta}")
        if not self.warmup_epochs >= 0:
            raise ValueError(f"warmup_epochs must be non-negative, got {self.warmup_epochs}")
        if self.iw_k < 1:
            raise ValueError(f"iw_k must be at least 1, got {self.iw_k}")

    def beta_at(self, epoch: float) -> float:
        """β after `epoch` (fractional) epochs: β·min(1, epoch / warmup_epochs)."""
        if self.warmup_epochs <= 0:
            return self.beta
        return self.beta * min(1.0, epoch / self.warmup_epochs)


def elbo_terms(
    model,
    x: torch.Tensor,
    *,
    y: torch.Tensor | None = None,
    samples: int = 1,
    kl: str | None = None,
    eps: torch.Tensor | None = None,
):
    """Per-example reconstruction NLL and KL, in nats: x (B, C, H, W) → (recon (B,), kl (B,)).

    recon = −(1/L) Σ_l log p(x|z_l), z_l = μ + σ·ε_l; the ELBO is −(recon + kl).
    kl = KL(q(z|x) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1) (Kingma & Welling 2014, App. B)
    with kl="analytic"; with kl="mc", (1/L) Σ_l [log q(z_l|x) − log p(z_l)], unbiased for the same
    (the only choice for the VampPrior and two stochastic layers; None picks). `eps` (L, B,
    model.eps_size): the ε draws to use (None: drawn from torch's generator). `y`: the labels
    of a conditional model.
    """
    kl = resolve_kl(model, kl)
    draw = model.log_weights(x, y, samples, eps)
    recon = -draw.log_px_z.mean(0)  # (B,)
    if kl == "analytic":
        kl_ = kl_std_normal(draw.mu, draw.logvar)  # ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1), K&W 2014 App. B; (B,)
    else:
        kl_ = (draw.log_qz - draw.log_pz).mean(0)  # (B,)
    return recon, kl_


def resolve_kl(model, kl: str | None) -> str:
    """The KL estimate `kl` asks of `model`: None → "analytic" where it has a closed form, else "mc"."""
    if kl is None:
        return "analytic" if model.analytic_kl else "mc"
    if kl not in ("analytic", "mc"):
        raise ValueError(f"kl must be 'analytic' or 'mc', got {kl!r}")
    if kl == "analytic" and not model.analytic_kl:
        raise ValueError(
            "--kl analytic needs one stochastic layer and the N(0, I) prior; the VampPrior's and a "
            "two-layer model's KL is the Monte Carlo log q(z|x) − log p(z) (--kl mc)"
        )
    return kl


def check_objective(model, objective: ELBOConfig) -> None:
    """Refuse, in one line, an objective the model cannot be trained with."""
    resolve_kl(model, objective.kl)
    if objective.tc_beta is not None and model.config.stochastic_layers != 1:
        raise ValueError("--tc-beta needs one stochastic layer (the TC split is of q(z) over one layer)")


def vae_loss(
    model,
    x: torch.Tensor,
    *,
    y: torch.Tensor | None = None,
    samples: int = 1,
    beta: float = 1.0,
    kl: str | None = None,
    eps: torch.Tensor | None = None,
):
    """The training loss −ELBO_β = recon + β·KL, nats per example averaged over the batch.

    Returns (loss, recon, kl), three scalar tensors; `loss` carries the gradient.

    >>> from klvae.vae.model import VAE, VAEConfig
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> loss, recon, kl = vae_loss(model, torch.rand(8, 1, 4, 4).bernoulli())
    >>> bool(torch.isclose(loss, recon + kl))
    True
    """
    recon, kl_ = elbo_terms(model, x, y=y, samples=samples, kl=kl, eps=eps)
    recon, kl_ = recon.mean(), kl_.mean()
    return recon + beta * kl_, recon, kl_


def training_loss(
    model,
    x: torch.Tensor,
    y: torch.Tensor | None,
    objective: ELBOConfig,
    *,
    beta: float | torch.Tensor = 1.0,
    eps: torch.Tensor | None = None,
    n_data: int = 1,
) -> dict[str, torch.Tensor]:
    """The loss of one batch under `objective`, nats per example: {"loss", "recon", "kl"[, "tc"]}.

    "loss" carries the gradient: −ELBO_β (`vae_loss`), −IWAE_k (`klvae.vae.iwae.iwae_loss`) or the
    β-TC loss (`klvae.vae.tc.tc_vae_loss`, whose minibatch-weighted estimate needs `n_data`, the
    training set's size). `eps` (L or k, B, model.eps_size): the ε draws.
    """
    o = objective
    if o.objective == "iwae":
        return iwae_loss(model, x, y, o.k_train or 1, beta=beta, dreg=o.dreg, eps=eps)
    if o.tc_beta is not None:
        return tc_vae_loss(model, x, y, n_data, tc_beta=o.tc_beta, beta=beta, kl=resolve_kl(model, o.kl), eps=eps)
    loss, recon, kl = vae_loss(model, x, y=y, samples=o.samples, beta=beta, kl=o.kl, eps=eps)  # type: ignore[arg-type]
    return {"loss": loss, "recon": recon, "kl": kl}


def binarize(
    x: torch.Tensor, generator: torch.Generator | None = None, *, u: torch.Tensor | None = None
) -> torch.Tensor:
    """A Bernoulli draw of each pixel with probability equal to its grey level (dynamic binarization).

    Used for each training batch afresh and once, with a fixed seed, for the test set
    (Salakhutdinov & Murray 2008; Burda et al. 2016). Computed as 1[u < x] with u ~ U(0, 1),
    which has P(1) = x exactly and is about 3× faster on CPU than `torch.bernoulli`. `u` (shape
    of x) gives the uniform draws instead of drawing them.

    >>> binarize(torch.tensor([0.0, 1.0])).tolist()
    [0.0, 1.0]
    """
    if u is None:
        u = torch.rand(x.shape, dtype=x.dtype, device=x.device, generator=generator)
    return (u < x).to(x.dtype)
