"""The KL term split in three (Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of
Disentanglement in VAEs", eq. 2), and the β-TC-VAE objective built on it.

With the aggregate posterior q(z) = (1/N) Σ_n q(z|x_n) and its marginals q(z_j), the average KL
to a factorized prior p(z) = Π_j p(z_j) is

    E_x KL(q(z|x) ‖ p(z)) = I_q(x; z)                          index-code mutual information
                          + KL(q(z) ‖ Π_j q(z_j))               total correlation
                          + Σ_j KL(q(z_j) ‖ p(z_j))             dimension-wise KL.

`kl_split` estimates the three on a data set (one z_n ~ q(z|x_n) per example, q(z) and q(z_j)
evaluated on all N examples); `tc_vae_loss` trains with the total correlation weighted by
`tc_beta` (Chen et al.'s β, with α = γ = 1), q(z) estimated on the minibatch by stratified
sampling (their appendix C.2): the example's own posterior carries its share 1/N of the aggregate
and the other M − 1 examples of the batch stand for the remaining N − 1,

    q(z_i) ≈ (1/N) q(z_i|x_i) + (N − 1)/(N (M − 1)) Σ_{j≠i} q(z_i|x_j),

unbiased for q(z_i) given a uniformly drawn batch (the same for each marginal q(z_ij)). Their
simpler minibatch-weighted form, logsumexp_j log q(z_i|x_j) − log(N M), has the same gradient
but its value is off by about (d − 1) log(N M): the logged total correlation would not be one.
"""

from __future__ import annotations

import math

import torch

from klvae.measures.gaussian import kl_std_normal
from klvae.vae.densities import log_normal, log_normal_dims

__all__ = ["tc_vae_loss", "kl_split", "minibatch_total_correlation"]

_MAX_ELEMENTS = 1 << 22  # pairs × latent dimensions per chunk of kl_split (≈32 MB in float64)


def minibatch_total_correlation(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, n_data: int) -> torch.Tensor:
    """Minibatch-stratified estimate of the total correlation: z, mu, logvar (M, d) → scalar, nats.

    mean_i [ log q(z_i) − Σ_j log q(z_ij) ], each log q a logsumexp over the batch with log-weights
    log(1/N) for the example itself and log((N − 1)/(N (M − 1))) for the others (module docstring).
    """
    m = z.shape[0]
    per = log_normal_dims(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))  # (M, M, d): log q(z_i,j | x_k)
    n = max(n_data, m)
    log_w = torch.full((m, m), math.log((n - 1) / (n * max(m - 1, 1))) if n > 1 else 0.0, dtype=z.dtype)
    log_w.fill_diagonal_(-math.log(n))
    log_w = log_w.to(z.device)  # (M, M)
    log_qz = torch.logsumexp(per.sum(-1) + log_w, 1)  # (M,)
    log_prod = torch.logsumexp(per + log_w.unsqueeze(-1), 1).sum(-1)  # (M,)
    return (log_qz - log_prod).mean()


def tc_vae_loss(
    model,
    x: torch.Tensor,
    y: torch.Tensor | None,
    n_data: int,
    *,
    tc_beta: float,
    beta: float | torch.Tensor = 1.0,
    kl: str = "analytic",
    eps: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    r"""The β-TC-VAE loss, nats per example: recon + β·(KL + (tc_beta − 1)·TC).

    Parameters
    ----------
    model : VAE
        A model with one stochastic layer.
    x : torch.Tensor
        Images, (B, C, H, W).
    y : torch.Tensor or None
        Labels (B,) of a conditional model, else None.
    n_data : int
        The training set's size N (the stratified estimate's weights).
    tc_beta : float
        Weight of the total correlation (Chen et al.'s β); 1 gives the ELBO.
    beta : float or torch.Tensor, default 1.0
        Weight of the whole KL term (a warm-up).
    kl : str, default "analytic"
        ``"analytic"`` (closed-form KL) or ``"mc"`` (log q(z|x) − log p(z) at the draw).
    eps : torch.Tensor, optional
        The standard-normal draws, (1, B, latent_dim).

    Returns
    -------
    dict of str to torch.Tensor
        ``"loss"`` (carrying the gradient), ``"recon"``, ``"kl"`` and ``"tc"``, scalars in nats.

    See Also
    --------
    kl_split : the three parts of the KL on a whole data set.

    Notes
    -----
    .. math::

        \mathcal L = \text{recon} + \beta\big(\mathrm{MI} + \beta_{TC}\,\mathrm{TC}
        + \textstyle\sum_j \mathrm{KL}(q(z_j) \,\|\, p(z_j))\big),

    the KL being MI + TC + dimension-wise KL. TC is estimated by minibatch-stratified sampling from
    one z per example: :math:`q(z_i) \approx \frac1N q(z_i|x_i) + \frac{N-1}{N(M-1)} \sum_{j\ne i} q(z_i|x_j)`.

    References
    ----------
    Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
    Autoencoders" (2018), eq. 4 with α = γ = 1, appendix C.2.

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig, vae_loss
    >>> _ = torch.manual_seed(0)
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> x, eps = torch.rand(8, 1, 4, 4).bernoulli(), torch.randn(1, 8, 2)
    >>> out = tc_vae_loss(model, x, None, 100, tc_beta=1.0, eps=eps)  # tc_beta = 1: the ELBO
    >>> bool(torch.isclose(out["loss"], vae_loss(model, x, eps=eps)[0]))
    True
    """
    draw = model.log_weights(x, y, 1, eps)
    recon = -draw.log_px_z.mean()
    kl_ = kl_std_normal(draw.mu, draw.logvar).mean() if kl == "analytic" else (draw.log_qz - draw.log_pz).mean()
    tc = minibatch_total_correlation(draw.z[0], draw.mu, draw.logvar, n_data)
    return {"loss": recon + beta * (kl_ + (tc_beta - 1.0) * tc), "recon": recon, "kl": kl_, "tc": tc}


@torch.no_grad()
def kl_split(model, x: torch.Tensor, y: torch.Tensor | None = None, *, seed: int = 0) -> dict:
    r"""The average KL split into index-code MI, total correlation and dimension-wise KL, in nats.

    Parameters
    ----------
    model : VAE
        One stochastic layer and the N(0, I) prior; for other models every value is None.
    x : torch.Tensor
        The data set, (N, C, H, W).
    y : torch.Tensor, optional
        Labels (N,) of a conditional model.
    seed : int, default 0
        Seeds the generator of the one draw z_n ~ q(z|x_n) per example.

    Returns
    -------
    dict
        ``"index_code_mi"``, ``"total_correlation"``, ``"dimwise_kl"`` and ``"kl"`` (their sum,
        the Monte Carlo KL from the same draws), floats; computed in float64.

    See Also
    --------
    tc_vae_loss : the objective that weights the total correlation.

    Notes
    -----
    With the aggregate posterior :math:`q(z) = \frac1N \sum_n q(z|x_n)`:

    .. math::

        \mathbb E_x \mathrm{KL}(q(z|x) \,\|\, p(z)) = I_q(x; z)
        + \mathrm{KL}\Big(q(z) \,\Big\|\, \prod_j q(z_j)\Big) + \sum_j \mathrm{KL}(q(z_j) \,\|\, p(z_j)).

    References
    ----------
    Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
    Autoencoders" (2018), eq. 2.

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig
    >>> _ = torch.manual_seed(0)
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> parts = kl_split(model, torch.rand(50, 1, 4, 4))
    >>> total = parts["index_code_mi"] + parts["total_correlation"] + parts["dimwise_kl"]
    >>> abs(total - parts["kl"]) < 1e-12
    True
    """
    if model.config.stochastic_layers != 1 or model.prior is not None:
        return dict.fromkeys(("index_code_mi", "total_correlation", "dimwise_kl", "kl"))
    mus, logvars = zip(*(model.encode(xb, None if y is None else y[i : i + 1000]) for i, xb in _batches(x)))
    mu, logvar = torch.cat(mus).double(), torch.cat(logvars).double()  # (N, d) each
    n, d = mu.shape
    eps = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps  # (N, d)
    log_q_cond = log_normal(z, mu, logvar)  # (N,): log q(z_n | x_n)
    log_qz, log_qzj = torch.empty(n, dtype=mu.dtype, device=mu.device), torch.empty_like(z)
    rows = max(1, _MAX_ELEMENTS // (n * d))
    for start in range(0, n, rows):
        per = log_normal_dims(z[start : start + rows, None], mu, logvar)  # (r, N, d)
        log_qz[start : start + rows] = torch.logsumexp(per.sum(-1), 1) - math.log(n)
        log_qzj[start : start + rows] = torch.logsumexp(per, 1) - math.log(n)
    log_pzj = -0.5 * (z.square() + math.log(2 * math.pi))  # (N, d): N(0, 1) per dimension
    mi = float((log_q_cond - log_qz).mean())
    tc = float((log_qz - log_qzj.sum(-1)).mean())
    dimwise = float((log_qzj - log_pzj).sum(-1).mean())
    return {"index_code_mi": mi, "total_correlation": tc, "dimwise_kl": dimwise, "kl": mi + tc + dimwise}


def _batches(x: torch.Tensor, size: int = 1000):
    for i in range(0, len(x), size):
        yield i, x[i : i + size]
