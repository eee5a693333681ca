"""Train and report a GAN: the glue between the data, `klvae.train.fit` and a run folder.

A run folder holds config.json, metrics.jsonl (one line per epoch), metrics.json (final
metrics), model.safetensors (G and D weights + GANConfig), checkpoint.safetensors (for
--resume), samples/epoch_NNN.png (a scatter over the modes for 2-D data, an image grid
otherwise), curves, report.html, and for images classifier.safetensors (the offline scorer).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from klvae import distributed
from klvae._io import atomic_save_safetensors, atomic_write_json
from klvae.gan.evaluate import EVAL_SAMPLES, classifier_scores, mode_coverage
from klvae.gan.model import Classifier, GANConfig, build_gan, pack
from klvae.gan.objective import (
    critic_loss, discriminator_loss, generator_loss, gradient_penalty,
)

__all__ = ["GANTask", "train_gan", "read_run_config", "train_classifier", "train_defaults", "NOT_FID"]

NOT_FID = ("Image scores come from a classifier that klvae trains on the same data and keeps in the "
           "run (classifier.safetensors): class_kl = KL(generated class histogram ‖ data class "
           "histogram) and confidence = mean max softmax probability. This is not FID (which needs a "
           "downloaded Inception network) and is not comparable with published FID numbers.")
EVAL_SEED = 1234  # evaluation samples use their own seed: epochs compare, training RNG untouched
IMAGE_EVAL_SAMPLES = 2000
RESUME_OVERRIDES = ("epochs", "max_seconds", "device", "log_every", "threads", "ckpt_steps", "compile")


MIXTURES = ("ring8", "grid25")


def train_defaults(data: str) -> dict:
    """Loop settings a GAN run uses unless given: they depend on the kind of data.

    2-D mixtures (100000 points): 8 epochs of batches of 256 (3128 steps), lr 1e-3;
    digits (1437 images): 60 epochs of 32 (2700 steps), lr 2e-4; other images: 10 epochs of 64.
    """
    key = data.strip().lower()
    if key in MIXTURES:
        return {"data": data, "epochs": 8, "batch_size": 256, "lr": 1e-3, "amp": "none"}
    if key == "digits":
        return {"data": data, "epochs": 60, "batch_size": 32, "lr": 2e-4, "amp": "none"}
    return {"data": data, "epochs": 10, "batch_size": 64, "lr": 2e-4, "amp": "none"}


class GANTask:
    """The GAN as a `klvae.train.Task`: G and D, one Adam each.

    Each loop step is one discriminator (critic) update on a real batch; every `n_critic`-th
    step also updates the generator. Both learning rates decay linearly to 0 over
    `total_steps` when `config.lr_decay` (a function of the step, so resuming is exact).
    Returns d_loss (= −V(D, G) on the batch, except for wasserstein), g_loss (the generator's
    loss on the step's fake batch) and, for wasserstein, `w_estimate` = E f(x) − E f(G(z)).
    """

    def __init__(self, generator, discriminator, config: GANConfig, lr: float, total_steps: int,
                 evaluate, *, compile: bool = False):
        self.generator, self.discriminator, self.config = generator, discriminator, config
        # each update as ONE module call, so DDP (under torchrun) synchronises what it trains
        self.d_step = distributed.wrap(_DiscriminatorLoss(discriminator, config), compile=compile)
        self.g_step = distributed.wrap(_GeneratorLoss(generator, discriminator, config), compile=compile)
        self.lr, self.total_steps, self.evaluate = lr, total_steps, evaluate
        betas = (config.beta1, config.beta2)
        self.modules = {"generator": generator, "discriminator": discriminator}
        self.optimizers = {"generator": torch.optim.Adam(generator.parameters(), lr=lr, betas=betas),
                           "discriminator": torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)}

    def _set_lr(self, step: int) -> None:
        if self.config.lr_decay:
            lr = self.lr * max(0.0, 1.0 - step / self.total_steps)
            for opt in self.optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = lr

    def train_step(self, x, y, step, epoch):
        cfg, G, D = self.config, self.generator, self.discriminator
        m, wgan = cfg.pack, cfg.loss == "wasserstein"
        self._set_lr(step)
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


def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, *, epochs: int = 5,
                     batch_size: int = 128, lr: float = 1e-3, seed: int = 0) -> Classifier:
    """Fit the small MLP `Classifier` with Adam on cross-entropy (the offline GAN scorer)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Classifier(tuple(x.shape[1:]), num_classes).to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    with torch.random.fork_rng():  # dropout draws must not move the training RNG
        torch.manual_seed(seed)
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=g).to(x.device).split(batch_size):
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return model.eval()


@torch.no_grad()
def _sample_fixed(generator, n: int) -> torch.Tensor:
    device = next(generator.parameters()).device
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(EVAL_SEED))
    return generator(z.to(device))


class _Evaluator:
    """Per-epoch evaluation and the per-epoch samples figure of one run."""

    def __init__(self, run_dir: Path, dataset, classifier=None):
        self.run_dir, self.dataset, self.classifier = run_dir, dataset, classifier
        self.image = dataset.is_image
        if not self.image:
            from klvae.data import mode_mixture

            self.means, self.sigma = mode_mixture(dataset.name)

    def __call__(self, generator, epoch: int, *, figure: bool = True) -> dict:
        from klvae.report import plot_points, save_image_grid

        path = self.run_dir / "samples" / f"epoch_{epoch:03d}.png"
        if not self.image:
            x = _sample_fixed(generator, EVAL_SAMPLES).cpu()  # (2500, 2)
            cov = mode_coverage(x, self.means, self.sigma)
            if figure:
                plot_points(x, path, means=self.means, label="G(z)", title=(
                    f"{self.dataset.name}, epoch {epoch}: {cov.modes} modes, "
                    f"{cov.high_quality:.1%} high quality"))
            rkl = cov.reverse_kl if math.isfinite(cov.reverse_kl) else None  # JSON has no NaN
            return {"modes": cov.modes, "high_quality": cov.high_quality, "reverse_kl": rkl}
        x = _sample_fixed(generator, IMAGE_EVAL_SAMPLES)
        if figure:
            save_image_grid(x[:64].cpu(), path, nrow=8, title=f"{self.dataset.name}: G(z), epoch {epoch}")
        out = {}
        if self.classifier is not None:
            s = classifier_scores(self.classifier, x, self.dataset.y_train.to(x.device),
                                  self.classifier.num_classes)
            out = {"class_kl": s["class_kl"], "confidence": s["confidence"]}
        return out


def read_run_config(run_dir: str | Path):
    """The (GANConfig, TrainConfig) stored in a run folder's config.json."""
    from klvae.train import TrainConfig

    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a klvae run folder")
    try:
        cfg = json.loads(path.read_text())
        return GANConfig(**cfg["gan"]), TrainConfig(**cfg["train"])
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a valid GAN run config ({err})") from None


def train_gan(gan: GANConfig | None, train, *, hooks=(), figures: bool = True) -> tuple[Path, dict]:
    """Train a GAN on `train.data`, evaluate it and write the run folder; returns (folder, metrics).

    2-D mixtures (ring8, grid25, drawn with `train.seed`) get mode coverage (modes,
    high_quality, reverse_kl) on 2500 samples; labelled images get class_kl and confidence from
    a classifier trained here (not FID). With `train.resume` set, continues that run from its
    checkpoint: the run's config.json is used, except for the fields in RESUME_OVERRIDES
    (epochs, max_seconds, device, log_every, threads, ckpt_steps, compile), which come from
    `train`; `gan` is then ignored. A resume with more epochs stretches the learning-rate decay
    to the new end. The caller's configs are not modified.

    Under torchrun every process calls this (DDP on D's and G's updates; see
    `klvae.distributed`); rank 0 evaluates and writes the folder, the other ranks return {} as
    metrics. After a torchrun restart a run whose folder holds a checkpoint resumes from it.
    The GAN matches one process in distribution, not exactly: z is drawn per rank and G's
    batch normalization uses each rank's shard.
    """
    from klvae.train import resolve_device

    with distributed.setup(resolve_device(train.device)) as (ctx, device):
        if train.resume is None and int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0)) > 0 \
                and train.out is not None and (Path(train.out) / "checkpoint.safetensors").is_file():
            train = replace(train, resume=train.out)  # restarted by torchrun: continue where it stopped
        return _train_gan(gan, train, ctx, device, hooks, figures)


def _train_gan(gan, train, ctx, device, hooks, figures) -> tuple[Path, dict]:
    from klvae.data import load_dataset
    from klvae.hardware import torch_threads
    from klvae.train import check_new_run_dir, default_threads, fit

    resume = train.resume is not None
    run_dir = Path(train.resume if resume else
                   (train.out or distributed.broadcast(time.strftime("runs/gan-%Y%m%d-%H%M%S"))))
    if resume:
        if not (run_dir / "checkpoint.safetensors").is_file():
            raise FileNotFoundError(f"{run_dir / 'checkpoint.safetensors'} is missing: nothing to resume")
        gan, saved = read_run_config(run_dir)
        train = replace(saved, **{name: getattr(train, name) for name in RESUME_OVERRIDES})
    if train.adam_beta2 is not None:
        raise ValueError("a GAN's Adam β's are GANConfig.beta1 and beta2 (--beta1, --beta2), not adam_beta2")
    # what is not set comes from the data's defaults; the GAN decays its rates itself (GANConfig.lr_decay)
    train = replace(train, **{k: v for k, v in train_defaults(train.data).items()
                              if getattr(train, k) in (None, "auto")}, lr_schedule="constant")
    dataset = load_dataset(train.data, seed=train.seed)  # the 2-D mixtures are drawn with the seed
    if not dataset.is_image and dataset.name not in MIXTURES:
        raise ValueError(f"2-D data must be ring8 or grid25 (its modes are needed for evaluation), "
                         f"got {dataset.name!r}")
    gan = gan.resolved(image=dataset.is_image)
    if train.batch_size < gan.pack * ctx.world:
        raise ValueError(f"batch_size ({train.batch_size}) must be at least pack ({gan.pack})"
                         + (f" times the {ctx.world} processes" if ctx.distributed else ""))
    if 0 < len(dataset.x_train) % train.batch_size < ctx.world:
        raise ValueError(f"the last batch of each epoch ({len(dataset.x_train) % train.batch_size} examples) "
                         f"would leave a process without examples; choose another --batch-size")
    if not resume:
        check_new_run_dir(run_dir)
    train = replace(train, out=str(run_dir), resume=None)
    config = {"gan": asdict(gan), "train": asdict(train),
              "data": {"name": dataset.name, "n_train": int(dataset.x_train.shape[0]),
                       "shape": list(dataset.image_shape)}}
    run_dir.mkdir(parents=True, exist_ok=True)
    if ctx.is_main:
        atomic_write_json(run_dir / "config.json", config)  # on resume: the new epochs / max_seconds

    classifier, metrics_extra = None, {}
    if ctx.is_main and dataset.is_image and dataset.y_train is not None:  # rank 0 evaluates
        classifier, metrics_extra = _classifier(run_dir, dataset, device, train.seed, resume)
    torch.manual_seed(train.seed)
    generator, discriminator = build_gan(gan, dataset.image_shape, image=dataset.is_image)
    generator, discriminator = generator.to(device), discriminator.to(device)
    threads = (train.threads or default_threads(generator, discriminator)) if device.type == "cpu" else None
    with torch_threads(threads):
        x_train = dataset.x_train.to(device)
        steps_per_epoch = -(-len(x_train) // train.batch_size)
        evaluate = _Evaluator(run_dir, dataset, classifier)
        task = GANTask(generator, discriminator, gan, train.lr, train.epochs * steps_per_epoch, evaluate,
                       compile=train.compile)
        result = fit(task, x_train, None, train, run_dir, config=config, resume=resume, hooks=hooks)
        if not ctx.is_main:
            return run_dir, {}

        generator.eval()
        save_model(generator, discriminator, gan, run_dir / "model.safetensors")
        st = result.state
        metrics = {**evaluate(generator, st.epoch, figure=False), **metrics_extra,
                   "epochs": st.epoch, "steps": st.step, "stopped": result.stopped,
                   "train_seconds": st.train_seconds, "threads": torch.get_num_threads(),
                   "data": dataset.name, "loss": gan.loss, "pack": gan.pack, "processes": ctx.world}
        atomic_write_json(run_dir / "metrics.json", metrics)
        if figures:
            from klvae.gan.figures import write_figures_and_report

            write_figures_and_report(run_dir, generator, dataset, evaluate, result.records, metrics, config)
    return run_dir, metrics


def _classifier(run_dir: Path, dataset, device, seed: int, resume: bool):
    """Train (or, on resume, load) the offline scorer; returns it and its test accuracy."""
    from safetensors.torch import load_file

    path = run_dir / "classifier.safetensors"
    k = dataset.num_classes
    if resume and path.is_file():
        model = Classifier(dataset.image_shape, k).to(device)
        model.load_state_dict(load_file(str(path), device=str(device)))
        model.eval()
    else:
        model = train_classifier(dataset.x_train.to(device), dataset.y_train.to(device), k, seed=seed)
        atomic_save_safetensors(model.state_dict(), path, metadata={
            "format": "klvae-gan-classifier-1", "in_shape": json.dumps(list(dataset.image_shape)),
            "num_classes": str(k)})
    with torch.no_grad():
        pred = torch.cat([model(b).argmax(1) for b in dataset.x_test.to(device).split(1000)])
    accuracy = float((pred.cpu() == dataset.y_test).double().mean())
    return model, {"classifier_test_accuracy": accuracy}


def save_model(generator, discriminator, config: GANConfig, path: str | Path) -> Path:
    """G and D weights (`generator.*`, `discriminator.*`) with the GANConfig as JSON metadata."""
    tensors = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    tensors.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
    meta = {"format": "klvae-gan-1", "gan_config": json.dumps(asdict(config)),
            "data_shape": json.dumps(list(generator.out_shape))}
    return atomic_save_safetensors(tensors, path, metadata=meta)
