"""The GAN min-max game and its losses, computed from logits.

The game (Goodfellow et al. 2014) is

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))],

with D(x) = σ(ℓ(x)) the discriminator's probability that x is real and ℓ its logit. Every
loss here takes logits and uses log σ(ℓ) = −softplus(−ℓ), log(1 − σ(ℓ)) = −softplus(ℓ), so
no log(0) is ever taken. Losses are in nats and are *minimized*:

=================  ==========================================  ======================================
loss               discriminator / critic                      generator
=================  ==========================================  ======================================
``minimax``        softplus(−ℓ_real) + softplus(ℓ_fake) = −V   log(1 − D(G(z))) = −softplus(ℓ_fake)
``nonsaturating``  the same                                    −log D(G(z)) = softplus(−ℓ_fake)
``wasserstein``    E f(G(z)) − E f(x) + λ E(‖∇f(x̂)‖₂ − 1)²     −E f(G(z))
=================  ==========================================  ======================================

Reductions: every loss averages over the batch (leading axis) and returns a 0-d tensor.
References: Goodfellow et al., "Generative Adversarial Nets" (2014), eq. 1 and section 3;
Gulrajani et al., "Improved Training of Wasserstein GANs" (2017), algorithm 1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "LOSSES",
    "value_function",
    "discriminator_loss",
    "generator_loss",
    "critic_loss",
    "gradient_penalty",
]

#: The generator and discriminator losses `generator_loss` knows.
LOSSES = ("minimax", "nonsaturating", "wasserstein")


def value_function(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))], from the logits of D.

    With D = σ(ℓ): log D = −softplus(−ℓ) and log(1 − D) = −softplus(ℓ). Nats; at most 0.
    At the optimal discriminator V(D*, G) = 2·JSD(p_data ‖ p_g) − log 4 (see `klvae.gan.theory`).

    Parameters
    ----------
    real_logits : torch.Tensor
        D's logits ℓ(x) on a batch of real samples, shape (B,).
    fake_logits : torch.Tensor
        D's logits ℓ(G(z)) on a batch of generated samples, shape (B',).

    Returns
    -------
    torch.Tensor
        The 0-d batch estimate of V(D, G) in nats.

    References
    ----------
    Goodfellow et al., "Generative Adversarial Nets" (2014), eq. 1.

    Examples
    --------
    >>> value_function(torch.zeros(3), torch.zeros(5)).item()  # D = 1/2 everywhere: −log 4
    -1.3862943649291992
    """
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss −V(D, G) = E_x softplus(−ℓ(x)) + E_z softplus(ℓ(G(z))).

    Minimizing it is the inner max_D E_x[log D(x)] + E_z[log(1 − D(G(z)))]: the binary
    cross-entropy of "real" (label 1) against "fake" (label 0), in nats.

    Parameters
    ----------
    real_logits : torch.Tensor
        D's logits on real samples, shape (B,).
    fake_logits : torch.Tensor
        D's logits on generated samples, shape (B',).

    Returns
    -------
    torch.Tensor
        The 0-d loss in nats (batch means).

    References
    ----------
    Goodfellow et al. (2014), eq. 1.

    Examples
    --------
    >>> round(discriminator_loss(torch.tensor([20.0]), torch.tensor([-20.0])).item(), 6)
    0.0
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """The generator's loss from D's logits on generated samples, batch-averaged, in nats.

    - ``minimax``: E_z log(1 − D(G(z))) = −E softplus(ℓ), the game's min_G term. Its gradient
      dL/dℓ = −σ(ℓ) vanishes when D confidently rejects the samples (ℓ ≪ 0): saturation.
    - ``nonsaturating``: −E_z log D(G(z)) = E softplus(−ℓ); dL/dℓ = −σ(−ℓ) → −1 as ℓ → −∞.
    - ``wasserstein``: −E f(G(z)) with f the critic's score (not a logit).

    Parameters
    ----------
    fake_logits : torch.Tensor
        D's logits (or the critic's scores) on generated samples, shape (B,).
    kind : str
        One of `LOSSES`: ``"minimax"``, ``"nonsaturating"`` (default) or ``"wasserstein"``.

    Returns
    -------
    torch.Tensor
        The 0-d loss.

    Raises
    ------
    ValueError
        If `kind` is not one of `LOSSES`.

    References
    ----------
    Goodfellow et al. (2014), section 3.

    Examples
    --------
    >>> l = torch.tensor([-10.0], requires_grad=True)
    >>> generator_loss(l, "minimax").backward(); f"{l.grad.item():.3g}"
    '-4.54e-05'
    """
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "wasserstein":
        return -fake_logits.mean()
    raise ValueError(f"kind must be one of {', '.join(LOSSES)}; got {kind!r}")


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN critic's loss E_z f(G(z)) − E_x f(x), without the gradient penalty.

    Its negative estimates the Wasserstein-1 distance sup_{‖f‖_L ≤ 1} E_p f − E_q f when f is
    1-Lipschitz (Kantorovich–Rubinstein duality); add `gradient_penalty` to keep it so.

    Parameters
    ----------
    real_scores : torch.Tensor
        The critic's scores f(x) on real samples, shape (B,).
    fake_scores : torch.Tensor
        The critic's scores f(G(z)) on generated samples, shape (B',).

    Returns
    -------
    torch.Tensor
        The 0-d loss, in the units of the data.

    References
    ----------
    Arjovsky et al., "Wasserstein GAN" (2017), eq. 3.

    Examples
    --------
    >>> critic_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0])).item()
    -2.0
    """
    return fake_scores.mean() - real_scores.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """λ · E_x̂ (‖∇_x̂ f(x̂)‖₂ − 1)², x̂ = ε x + (1 − ε) x̃, ε ~ U[0, 1] per sample.

    Interpolates each real sample with a generated one and penalizes critic gradients whose
    norm (over all non-batch axes) differs from 1; the graph is kept (create_graph) so the
    penalty trains the critic.

    Parameters
    ----------
    critic : callable
        Maps a batch (B, ...) to scores (B,).
    real : torch.Tensor
        Real samples, shape (B, ...).
    fake : torch.Tensor
        Generated samples, the shape of `real`.
    weight : float
        λ, the penalty's weight (10 in the paper).
    generator : torch.Generator, optional
        Source of the interpolation weights ε.

    Returns
    -------
    torch.Tensor
        The 0-d penalty.

    Raises
    ------
    ValueError
        If `real` and `fake` differ in shape.

    References
    ----------
    Gulrajani et al., "Improved Training of Wasserstein GANs" (2017), eq. 3 and algorithm 1.

    Examples
    --------
    >>> lin = lambda x: 3.0 * x.sum(dim=1)  # ‖∇f‖ = 3·√2 everywhere
    >>> x = torch.zeros(4, 2)
    >>> round(gradient_penalty(lin, x, x, weight=1.0).item(), 4) == round((3 * 2**0.5 - 1) ** 2, 4)
    True
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)  # one ε per sample
    eps = torch.rand(eps_shape, generator=generator, dtype=real.dtype).to(real.device)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)  # (B, ...)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)  # (B,)
    return weight * (norm - 1).square().mean()
