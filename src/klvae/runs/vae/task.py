"""The VAE as a `klvae.training.loop.Task`: one module, one Adam, one step of the run's objective per
batch, the validation ELBO after each epoch, and the per-epoch picture of samples and
reconstructions."""

from __future__ import annotations

from typing import cast

import torch

from klvae.runs.vae.figures import shown_epochs
from klvae.training import data_parallel
from klvae.training.config import TrainConfig, adam
from klvae.vae.model import VAE
from klvae.vae.objective import ELBOConfig, binarize, elbo_terms, resolve_kl, training_loss

__all__ = ["VAETask", "TrainingLoss"]


class TrainingLoss(torch.nn.Module):
    """The objective's loss of a batch as ONE forward call, so DistributedDataParallel sees the whole loss."""

    def __init__(self, model: VAE, objective: ELBOConfig, n_data: int):
        super().__init__()
        self.model, self.objective, self.n_data = model, objective, n_data

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, beta: torch.Tensor, eps: torch.Tensor):
        # a 0-d tensor β works where the float does, and changing it needs no recompile
        return training_loss(self.model, x, y, self.objective, beta=cast(float, beta), eps=eps, n_data=self.n_data)


class VAETask:
    """The VAE as a `klvae.training.loop.Task`: one module, one Adam, one ELBO step per batch.

    The binarization and ε draws come from `klvae.training.data_parallel.current_shard()`: the same
    numbers for each example whatever the number of processes. After each epoch, `end_epoch`
    returns the validation ELBO and its two terms (nothing without a validation set) and keeps a
    picture of 8 samples and 8 reconstructions for the report.

    Parameters
    ----------
    model : klvae.vae.VAE
        The model trained.
    objective : klvae.vae.ELBOConfig
        The objective: ELBO, β-VAE, IWAE, free bits, binarization of the data.
    train : klvae.training.TrainConfig
        The optimizer's settings (Adam: `lr`, `adam_beta1` and `adam_beta2` set) and the number
        of epochs (the report's strip: 8 epochs evenly spaced over the run).
    x_val : torch.Tensor
        The validation images, (N, C, H, W); N = 0 for none (the caller then sets `x_show`,
        the 8 images the strip reconstructs, to training images).
    y_val : torch.Tensor, optional
        Their labels, for a conditional model.
    n_data : int
        The number of training examples (the objectives that scale a term by the data size).

    See Also
    --------
    klvae.training.fit : the loop that calls `train_step` and `end_epoch`.

    Notes
    -----
    Each step minimizes the objective's loss of a batch, for the ELBO

    .. math:: -\\mathbb E_{q(z|x)}[\\log p(x|z)] + \\beta\\,\\mathrm{KL}(q(z|x) \\,\\|\\, p(z)),

    averaged over the batch, with ε drawn per example for the reparameterized z = μ + σ ε.

    Examples
    --------
    >>> from klvae.training import TrainConfig
    >>> from klvae.vae import ELBOConfig, VAEConfig, build_model
    >>> _ = torch.manual_seed(0)
    >>> model = build_model(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> x = torch.rand(10, 1, 4, 4)
    >>> train = TrainConfig(epochs=1, lr=1e-3, adam_beta1=0.9, adam_beta2=0.999)
    >>> task = VAETask(model, ELBOConfig(), train, x_val=x)
    >>> sorted(task.train_step(x, None, step=0, epoch=1))
    ['kl', 'loss', 'recon']
    >>> sorted(task.end_epoch(1))
    ['val_elbo', 'val_kl', 'val_recon']
    >>> tuple(task.snapshots[1].shape)  # 8 samples, 8 reconstructions
    (16, 1, 4, 4)
    """

    def __init__(
        self,
        model: VAE,
        objective: ELBOConfig,
        train: TrainConfig,
        x_val: torch.Tensor,
        y_val: torch.Tensor | None = None,
        n_data: int = 1,
    ):
        self.model, self.objective, self.x_val, self.y_val = model, objective, x_val, y_val
        # the images (and labels) of the per-epoch strip (training images without a validation set)
        self.x_show, self.y_show = x_val[:8], None if y_val is None else y_val[:8]
        self.binarize = bool(objective.binarize)
        self.samples = objective.k_train if objective.objective == "iwae" else objective.samples
        self.modules: dict[str, torch.nn.Module] = {"vae": model}
        self.optimizers: dict[str, torch.optim.Optimizer] = {"vae": adam(model.parameters(), train, x_val.device)}
        self.loss = data_parallel.wrap(TrainingLoss(model, objective, n_data), compile=train.compile)  # DDP, torchrun
        self.snapshots: dict[float, torch.Tensor] = {}  # epoch → (16, C, H, W): 8 samples, 8 reconstructions
        # the epochs of the report's strip: 8 evenly spaced over the run, its last included (all when unknown)
        self.shown = set(shown_epochs(range(1, train.epochs + 1))) if train.epochs else None
        self.epoch_hooks: list = []  # called as hook(epoch, record, images) after each epoch's evaluation

    def train_step(self, x, y, step, epoch):
        shard, o = data_parallel.current_shard(), self.objective
        if self.binarize:  # a fresh draw every time the batch is seen
            x = binarize(x, u=shard.rand(*x.shape, dtype=x.dtype, device=x.device))
        eps = shard.randn(
            self.samples, x.shape[0], self.model.eps_size, batch_dim=1, dtype=x.dtype, device=x.device
        )  # (L, B, latents)
        beta = torch.tensor(o.beta_at(epoch), dtype=x.dtype)  # a 0-d CPU tensor: no recompile, no host sync
        out = self.loss(x, y if self.model.config.conditional else None, beta, eps)
        opt = self.optimizers["vae"]
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        return {key: value.detach() for key, value in out.items()}

    @torch.no_grad()
    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Validation ELBO (β = 1, one z per example, a fixed seed so epochs compare), nats per example.

        The test set is not read here: only once, at the end. The epoch's `snapshot` is kept for
        the report when the epoch is one it shows, and given to the epoch hooks.

        Parameters
        ----------
        epoch : int
            The 1-based count of finished epochs.

        Returns
        -------
        dict of str to float
            ``val_elbo``, ``val_recon`` and ``val_kl``; empty without a validation set.
        """
        record: dict[str, float] = {}
        n = self.x_val.shape[0]
        if n:
            devices = [self.x_val.device] if self.x_val.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(0)
                recon = kl = 0.0
                for i, xb in enumerate(self.x_val.split(1000)):
                    yb = None if self.y_val is None else self.y_val[1000 * i : 1000 * (i + 1)]
                    r, k = elbo_terms(self.model, xb, y=yb, kl=resolve_kl(self.model, None))
                    recon, kl = recon + r.sum(), kl + k.sum()
            record = {"val_elbo": -float(recon + kl) / n, "val_recon": float(recon) / n, "val_kl": float(kl) / n}
        if self.shown is None or epoch in self.shown or self.epoch_hooks:  # the report's strip (every epoch for a hook)
            self.snapshots[epoch] = images = self.snapshot()
            for hook in self.epoch_hooks:
                hook(epoch, record, images)
        return record

    @torch.no_grad()
    def snapshot(self) -> torch.Tensor:
        """8 decoded samples from fixed draws of the prior and the reconstructions of 8 held-out images.

        Returns
        -------
        torch.Tensor
            (16, C, H, W) on the CPU: the samples (of a conditional model: labels 0, 1, …), then the
            reconstructions.
        """
        m, x, y = self.model, self.x_show, self.y_show
        labels = torch.arange(8, device=x.device) % (m.config.n_classes or 1) if m.config.conditional else None
        z = m.sample_latent(8, torch.Generator().manual_seed(0), labels)
        return torch.cat([m.mean(z, labels), m.mean(m.encode(x, y)[0], y)]).float().cpu()
