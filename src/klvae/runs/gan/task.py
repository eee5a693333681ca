"""The GAN as a `klvae.training.loop.Task`: one discriminator (critic) update per batch, a
generator update every `n_critic` steps, each update one module call so DDP synchronises it."""

from __future__ import annotations

import torch

from klvae.gan.model import GANConfig, pack
from klvae.gan.objective import critic_loss, discriminator_loss, generator_loss, gradient_penalty
from klvae.training import data_parallel
from klvae.training.config import TrainConfig, adam

__all__ = ["GANTask"]


class GANTask:
    r"""The GAN as a `klvae.training.loop.Task`: G and D, one Adam each.

    Each loop step is one discriminator (critic) update on a real batch; every `n_critic`-th
    step also updates the generator. Both optimizers follow the loop's learning-rate schedule.
    A step returns d_loss (= −V(D, G) on the batch, except for wasserstein), g_loss (the
    generator's loss on the step's fake batch) and, for wasserstein, `w_estimate` =
    E f(x) − E f(G(z)). After each epoch, `end_epoch` returns ``evaluate(generator, epoch)``.

    Parameters
    ----------
    generator, discriminator : torch.nn.Module
        G and D (the critic f for wasserstein), as `klvae.gan.build_gan` makes them.
    config : klvae.gan.GANConfig
        The loss, the packing m, the critic steps per generator step, the gradient penalty.
    train : klvae.training.TrainConfig
        The optimizers' settings (`lr`, `adam_beta1` and `adam_beta2` set) and whether to compile.
    evaluate : callable
        ``evaluate(generator, epoch)`` → the epoch's metrics (a dict of floats).

    See Also
    --------
    klvae.gan.discriminator_loss, klvae.gan.generator_loss, klvae.gan.critic_loss : the losses.

    Notes
    -----
    The game is :math:`\min_G \max_D V(D, G) = \mathbb E_{x \sim p}[\log D(x)] +
    \mathbb E_{z}[\log(1 - D(G(z)))]`; at the optimal D it equals
    :math:`2\,\mathrm{JSD}(p \,\|\, p_G) - \log 4`.

    References
    ----------
    Goodfellow et al., "Generative Adversarial Nets" (2014).

    Examples
    --------
    >>> from klvae.gan import GANConfig, build_gan
    >>> from klvae.training import TrainConfig
    >>> _ = torch.manual_seed(0)
    >>> cfg = GANConfig(g_hidden=8, d_hidden=8, g_layers=1, d_layers=1).resolved(image=False)
    >>> g, d = build_gan(cfg, (2,), image=False)
    >>> train = TrainConfig(lr=1e-3, adam_beta1=0.5, adam_beta2=0.999)
    >>> task = GANTask(g, d, cfg, train, evaluate=lambda generator, epoch: {"epoch_seen": epoch})
    >>> sorted(task.train_step(torch.randn(8, 2), None, step=0, epoch=1))
    ['d_loss', 'g_loss']
    >>> task.end_epoch(1)
    {'epoch_seen': 1}
    """

    def __init__(self, generator, discriminator, config: GANConfig, train: TrainConfig, evaluate):
        self.generator, self.discriminator, self.config = generator, discriminator, config
        # each update as ONE module call, so DDP (under torchrun) synchronises what it trains
        self.d_step = data_parallel.wrap(_DiscriminatorLoss(discriminator, config), compile=train.compile)
        self.g_step = data_parallel.wrap(_GeneratorLoss(generator, discriminator, config), compile=train.compile)
        self.evaluate = evaluate
        device = next(generator.parameters()).device
        self.modules: dict[str, torch.nn.Module] = {"generator": generator, "discriminator": discriminator}
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "generator": adam(generator.parameters(), train, device),
            "discriminator": adam(discriminator.parameters(), train, device),
        }

    def train_step(self, x, y, step, epoch):
        cfg, G = self.config, self.generator
        m, wgan = cfg.pack, cfg.loss == "wasserstein"
        need = max(m, 2)  # one pack, and two samples for G's batch normalization
        if len(x) < need:  # an epoch's last batch can be smaller: reuse its samples
            x = x[torch.arange(need, device=x.device) % len(x)]
        real = pack(x, m)  # (B/m, m, *shape)
        n = real.shape[0] * m
        with torch.no_grad():
            fake = pack(G.sample(n), m)  # (B/m, m, *shape)
        d_loss, l_real, l_fake = self.d_step(real, fake)  # l_real, l_fake: (B/m,) each
        opt_d = self.optimizers["discriminator"]
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        out = {"d_loss": d_loss.detach()}
        if (step + 1) % cfg.n_critic == 0:
            g_loss = self.g_step(n)
            opt_g = self.optimizers["generator"]
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            out["g_loss"] = g_loss.detach()
        else:
            out["g_loss"] = generator_loss(l_fake.detach(), cfg.loss)
        if wgan:  # (for the other losses d_loss = −V(D, G) already)
            out["w_estimate"] = -critic_loss(l_real, l_fake).detach()
        return out

    @torch.no_grad()
    def end_epoch(self, epoch: int) -> dict[str, float]:
        return self.evaluate(self.generator, epoch)


class _DiscriminatorLoss(torch.nn.Module):
    """D's loss on a real and a fake batch (with the gradient penalty for wasserstein)."""

    def __init__(self, discriminator, config: GANConfig):
        super().__init__()
        self.discriminator, self.config = discriminator, config

    def forward(self, real: torch.Tensor, fake: torch.Tensor):
        D, cfg = self.discriminator, self.config
        l_real, l_fake = D(real), D(fake)  # (B/m,) each
        if cfg.loss == "wasserstein":
            loss = critic_loss(l_real, l_fake) + gradient_penalty(D, real, fake, weight=cfg.gp_weight)
        else:
            loss = discriminator_loss(l_real, l_fake)
        return loss, l_real, l_fake


class _GeneratorLoss(torch.nn.Module):
    """G's loss on n fresh samples; D is held outside the module's parameters (DDP syncs G's only)."""

    def __init__(self, generator, discriminator, config: GANConfig):
        super().__init__()
        self.generator, self.config = generator, config
        self._discriminator = (discriminator,)  # a tuple: not registered as a submodule

    def forward(self, n: int) -> torch.Tensor:
        fake = pack(self.generator.sample(n), self.config.pack)
        return generator_loss(self._discriminator[0](fake), self.config.loss)
