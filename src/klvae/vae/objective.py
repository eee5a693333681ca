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
    r"""Settings of the training objective (one field per flag of ``klvae train``'s objective group).

    Parameters
    ----------
    samples : int, default 1
        L, Monte Carlo samples of z per example in the reconstruction term.
    beta : float, default 1.0
        Weight of the KL term (β-VAE); evaluation always uses β = 1.
    kl : str, optional
        ``"analytic"`` (closed form) or ``"mc"``; None: analytic where the model has a closed form
        (one layer, N(0, I) prior), else mc.
    warmup_epochs : float, default 0.0
        KL annealing: β ramps linearly from 0 over this many epochs.
    binarize : bool, optional
        Dynamic binarization; None: on for the Bernoulli likelihood, off otherwise.
    iw_k : int, default 1000
        Importance samples for the final test −log p(x) estimate.
    objective : str, default "elbo"
        ``"elbo"`` or ``"iwae"`` (Burda et al. 2016).
    k_train : int, optional
        IWAE: importance samples per example in training (None: 5).
    dreg : bool, default False
        IWAE: the doubly-reparameterized encoder gradient (Tucker et al. 2019).
    tc_beta : float, optional
        β-TC-VAE: weight of the total correlation (Chen et al. 2018); None: off.

    Raises
    ------
    ValueError
        For a value out of range, an unknown `kl` or `objective`, or settings that do not combine
        (`samples` or `tc_beta` with IWAE; `k_train` or `dreg` without it).

    References
    ----------
    Higgins et al., "β-VAE" (2017); Bowman et al., "Generating Sentences from a Continuous
    Space" (2016), the KL warm-up.

    Examples
    --------
    >>> ELBOConfig(objective="iwae").k_train
    5
    >>> ELBOConfig(beta=2.0, warmup_epochs=4).beta_at(1.0)
    0.5
    """

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
        r"""β after `epoch` (fractional) epochs of the KL warm-up.

        Parameters
        ----------
        epoch : float
            Epochs done.

        Returns
        -------
        float
            :math:`\beta \min(1, \text{epoch} / \text{warmup\_epochs})`; β itself without a warm-up.

        Examples
        --------
        >>> ELBOConfig(warmup_epochs=2).beta_at(0.5)
        0.25
        """
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
    r"""Per-example reconstruction NLL and KL, in nats (the ELBO is −(recon + kl)).

    Parameters
    ----------
    model : VAE or TwoLayerVAE
        The model.
    x : torch.Tensor
        Images, (B, C, H, W).
    y : torch.Tensor, optional
        Labels (B,) of a conditional model.
    samples : int, default 1
        L, Monte Carlo draws of z per example.
    kl : str, optional
        ``"analytic"`` (closed form; one stochastic layer and the N(0, I) prior only) or ``"mc"``
        (log q(z|x) − log p(z) at the draws, unbiased for the same); None picks analytic where
        the model has it.
    eps : torch.Tensor, optional
        The standard-normal draws, (L, B, model.eps_size); None draws them from torch's generator.

    Returns
    -------
    recon : torch.Tensor
        (B,): −(1/L) Σ_l log p(x|z_l).
    kl : torch.Tensor
        (B,): KL(q(z|x) ‖ p(z)), closed form or Monte Carlo.

    Raises
    ------
    ValueError
        For an unknown `kl`, or ``"analytic"`` for a model without a closed form.

    Notes
    -----
    With :math:`z_l = \mu + \sigma \odot \varepsilon_l`:

    .. math::

        \mathrm{ELBO}(x) = \mathbb E_{q(z|x)}[\log p(x|z)] - \mathrm{KL}(q(z|x) \,\|\, p(z)),\qquad
        \mathrm{KL} = \tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1),

    or, with kl="mc", :math:`\frac1L \sum_l [\log q(z_l|x) - \log p(z_l)]`.

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), eq. 3 and appendix B.

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig
    >>> _ = torch.manual_seed(0)
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> recon, kl = elbo_terms(model, torch.rand(8, 1, 4, 4).bernoulli())
    >>> tuple(recon.shape), bool((kl >= 0).all())
    ((8,), True)
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
    r"""The training loss −ELBO_β = recon + β·KL, nats per example averaged over the batch.

    Parameters
    ----------
    model : VAE or TwoLayerVAE
        The model.
    x : torch.Tensor
        Images, (B, C, H, W).
    y : torch.Tensor, optional
        Labels (B,) of a conditional model.
    samples : int, default 1
        L, Monte Carlo draws of z per example.
    beta : float, default 1.0
        Weight of the KL term.
    kl : str, optional
        ``"analytic"`` (closed form; one stochastic layer and the N(0, I) prior only) or ``"mc"``
        (log q(z|x) − log p(z) at the draws, unbiased for the same); None picks analytic where
        the model has it.
    eps : torch.Tensor, optional
        The standard-normal draws, (L, B, model.eps_size); None draws them from torch's generator.

    Returns
    -------
    loss : torch.Tensor
        Scalar, carrying the gradient.
    recon : torch.Tensor
        Scalar, the mean reconstruction NLL.
    kl : torch.Tensor
        Scalar, the mean KL.

    Notes
    -----
    .. math::

        \mathcal L_\beta = \frac1B \sum_b \Big( -\mathbb E_{q(z|x_b)} \log p(x_b|z)
        + \beta\, \mathrm{KL}(q(z|x_b) \,\|\, p(z)) \Big).

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), eq. 10; Higgins et al.,
    "β-VAE" (2017).

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig
    >>> _ = torch.manual_seed(0)
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
    r"""The loss of one batch under `objective`, nats per example.

    Parameters
    ----------
    model : VAE or TwoLayerVAE
        The model.
    x : torch.Tensor
        Images, (B, C, H, W).
    y : torch.Tensor or None
        Labels (B,) of a conditional model, else None.
    objective : ELBOConfig
        Which loss: −ELBO_β (`vae_loss`), −IWAE_k (`iwae_loss`) or β-TC (`tc_vae_loss`).
    beta : float or torch.Tensor, default 1.0
        The KL weight at this step (`ELBOConfig.beta_at`).
    eps : torch.Tensor, optional
        The ε draws, (L or k, B, model.eps_size).
    n_data : int, default 1
        The training set's size (β-TC's minibatch-stratified estimate).

    Returns
    -------
    dict of str to torch.Tensor
        ``"loss"`` (carrying the gradient), ``"recon"``, ``"kl"`` and, for β-TC, ``"tc"``.

    Notes
    -----
    All three are :math:`-\text{bound}(x)` averaged over the batch (ELBO, IWAE_k or β-TC).

    References
    ----------
    Kingma & Welling (2014); Burda et al. (2016); Chen et al. (2018).

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig
    >>> _ = torch.manual_seed(0)
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> sorted(training_loss(model, torch.rand(8, 1, 4, 4).bernoulli(), None, ELBOConfig(objective="iwae")))
    ['kl', 'loss', 'recon']
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
    r"""A Bernoulli draw of each pixel with probability equal to its grey level (dynamic binarization).

    Used for each training batch afresh and once, with a fixed seed, for the test set.

    Parameters
    ----------
    x : torch.Tensor
        Grey levels in [0, 1], any shape.
    generator : torch.Generator, optional
        The generator of the uniform draws.
    u : torch.Tensor, optional
        The uniform draws themselves (x's shape), instead of drawing them.

    Returns
    -------
    torch.Tensor
        0s and 1s, x's shape and dtype.

    Notes
    -----
    Computed as :math:`\mathbb 1[u < x]`, :math:`u \sim U(0, 1)`, which has
    :math:`P(1) = x` exactly and is about 3× faster on CPU than ``torch.bernoulli``.

    References
    ----------
    Salakhutdinov & Murray, "On the Quantitative Analysis of Deep Belief Networks" (2008);
    Burda et al., "Importance Weighted Autoencoders" (2016).

    Examples
    --------
    >>> binarize(torch.tensor([0.0, 1.0])).tolist()
    [0.0, 1.0]
    >>> binarize(torch.tensor([0.3, 0.3]), u=torch.tensor([0.2, 0.4])).tolist()
    [1.0, 0.0]
    """
    if u is None:
        u = torch.rand(x.shape, dtype=x.dtype, device=x.device, generator=generator)
    return (u < x).to(x.dtype)
