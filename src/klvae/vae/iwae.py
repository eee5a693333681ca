"""The importance-weighted bound (IWAE) and its doubly-reparameterized gradient.

IWAE_k(x) = E[ log (1/k) Σ_{i=1..k} w_i ],   w_i = p(x, z_i) / q(z_i|x),  z_i ~ q(z|x)

(Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders", eq. 8): equal to the
ELBO at k = 1, non-decreasing in k, → log p(x) as k → ∞.

Its usual gradient for the encoder degrades as k grows (its signal-to-noise ratio falls as
1/√k; Rainforth et al. 2018). The doubly-reparameterized gradient (DReG; Tucker, Lawson, Gu &
Maddison 2019, "Doubly Reparameterized Gradient Estimators for Monte Carlo Objectives", eq. 5)
removes the score-function term: for the encoder's parameters φ

    ∇_φ IWAE_k ≈ Σ_i w̃_i² ∂ log w_i / ∂z_i · ∂z_i / ∂φ,    w̃_i = w_i / Σ_j w_j,

with log q(z_i|x) evaluated with φ held fixed; the decoder (and prior) keep the IWAE gradient
Σ_i w̃_i ∇_θ log w_i. Both come from one backward pass: the surrogate Σ_i w̃_i log w_i (w̃ held
fixed) with the gradient reaching z_i scaled once more by w̃_i.
"""

from __future__ import annotations

import math

import torch

__all__ = ["iwae_bound", "iwae_loss"]


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/k) Σ_i exp(log w_i) over the first axis: log_w (k, B) → (B,), by logsumexp.

    >>> round(float(iwae_bound(torch.log(torch.tensor([[1.0], [3.0]])))), 6)  # log mean(1, 3) = log 2
    0.693147
    """
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def iwae_loss(
    model,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    k: int = 5,
    *,
    beta: float | torch.Tensor = 1.0,
    dreg: bool = False,
    eps: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    r"""−IWAE_k averaged over the batch (nats per example), and its parts for the log.

    Parameters
    ----------
    model : VAE or TwoLayerVAE
        The model; its `log_weights` gives the k draws' terms.
    x : torch.Tensor
        Images, (B, C, H, W).
    y : torch.Tensor, optional
        Labels (B,) of a conditional model.
    k : int, default 5
        Importance samples per example.
    beta : float or torch.Tensor, default 1.0
        KL weight (a warm-up): the weights become p(x|z) (p(z)/q(z|x))^β.
    dreg : bool, default False
        Use the doubly-reparameterized encoder gradient (for two stochastic layers too, see
        `TwoLayerVAE.log_weights`); the loss's value is the bound either way.
    eps : torch.Tensor, optional
        The standard-normal draws, (k, B, model.eps_size); None draws them.

    Returns
    -------
    dict of str to torch.Tensor
        ``"loss"``: −(1/B) Σ_b IWAE_k(x_b), carrying the gradient; ``"recon"``: −E log p(x|z);
        ``"kl"``: E[log q(z|x) − log p(z)] (the last two averaged over the k draws, as the ELBO's
        parts).

    Raises
    ------
    ValueError
        If `k` is below 1.

    See Also
    --------
    vae_loss : the ELBO's loss (k = 1, β = 1 gives the same value).

    Notes
    -----
    .. math::

        \mathrm{IWAE}_k(x) = \mathbb E\Big[\log \frac1k \sum_{i=1}^k w_i\Big],\qquad
        w_i = \frac{p(x, z_i)}{q(z_i|x)},\quad z_i \sim q(z|x),

    a lower bound on log p(x), non-decreasing in k. DReG's encoder gradient is
    :math:`\sum_i \tilde w_i^2\, \partial \log w_i / \partial z_i \cdot \partial z_i / \partial\phi`
    with :math:`\tilde w_i = w_i / \sum_j w_j` (module docstring).

    References
    ----------
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016), eq. 8.
    Tucker, Lawson, Gu & Maddison, "Doubly Reparameterized Gradient Estimators for Monte Carlo
    Objectives" (2019), eq. 5.

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig, vae_loss
    >>> _ = torch.manual_seed(0)
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> x = torch.rand(8, 1, 4, 4).bernoulli()
    >>> parts = iwae_loss(model, x, k=3)
    >>> sorted(parts)
    ['kl', 'loss', 'recon']
    >>> eps = torch.randn(1, 8, 2)  # at k = 1 the bound is the ELBO of the same draw
    >>> bool(torch.isclose(iwae_loss(model, x, k=1, eps=eps)["loss"], vae_loss(model, x, kl="mc", eps=eps)[0]))
    True
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    draw = model.log_weights(x, y, k, eps, stop_q=dreg)
    log_w = draw.log_w(beta)  # (k, B)
    loss = -iwae_bound(log_w).mean()
    points = draw.dreg_at or (draw.z,)
    if dreg and torch.is_grad_enabled() and all(z.requires_grad for z in points):
        w = torch.softmax(log_w.detach(), 0)  # (k, B): normalized weights w̃
        for z in points:  # the encoder's path gets w̃ twice: w̃²
            z.register_hook(lambda g: g * w.unsqueeze(-1))
        surrogate = -(w * log_w).sum(0).mean()
        loss = surrogate + (loss - surrogate).detach()  # the bound's value, DReG's gradient
    return {
        "loss": loss,
        "recon": -draw.log_px_z.mean(),
        "kl": (draw.log_qz - draw.log_pz).mean(),
    }
