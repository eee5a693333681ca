"""Train, evaluate and report a VAE run: the glue between the data, `klvae.train.fit` and a run folder.

A run folder holds config.json, metrics.jsonl (one line per epoch), metrics.json (final test
metrics), model.safetensors (weights + VAEConfig), checkpoint.safetensors (for --resume),
PNG figures and report.html.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import torch

from klvae import distributed
from klvae._io import atomic_write_json
from klvae.hardware import torch_threads
from klvae.train import (FitResult, LoopState, TrainConfig, check_new_run_dir, default_threads, fit,
                          resolve_amp, resolve_device)
from klvae.vae.evaluate import evaluate_vae
from klvae.vae.model import VAE, VAEConfig, load_run, save_model, size_defaults
from klvae.vae.objective import ELBOConfig, binarize, elbo_terms, vae_loss

__all__ = ["VAETask", "train_vae", "evaluate_run", "read_run_config", "test_set", "RESUME_OVERRIDES"]

# Adam's β2: 0.95 rather than torch's 0.999. At 60 s on Fashion-MNIST (the 28×28 defaults) the test
# −log p(x) fell from 235.1–235.4 (0.999) to 234.6 (0.99, 0.98) and 234.2 (0.95); on the digits it changes
# nothing beyond noise (README, "Why these defaults").
ADAM_BETA2 = 0.95
TEST_BINARIZE_SEED = 1234  # the test set is binarized once, with this seed, in every run
# What a resumed run may change; everything else comes from the run's config.json.
RESUME_OVERRIDES = ("epochs", "max_seconds", "device", "log_every", "threads", "ckpt_steps", "compile")


class _NegELBO(torch.nn.Module):
    """−ELBO_β of a batch as ONE forward call, so DistributedDataParallel sees the whole loss."""

    def __init__(self, model: VAE, objective: ELBOConfig):
        super().__init__()
        self.model, self.objective = model, objective

    def forward(self, x: torch.Tensor, beta: torch.Tensor, eps: torch.Tensor):
        o = self.objective
        return vae_loss(self.model, x, samples=o.samples, beta=beta, kl=o.kl, eps=eps)


class VAETask:
    """The VAE as a `klvae.train.Task`: one module, one Adam, one ELBO step per batch.

    The binarization and ε draws come from `klvae.distributed.current_shard()`: the same
    numbers for each example whatever the number of processes.
    """

    def __init__(self, model: VAE, objective: ELBOConfig, lr: float, x_test: torch.Tensor, *,
                 beta2: float = ADAM_BETA2, compile: bool = False):
        self.model, self.objective, self.x_test = model, objective, x_test
        self.binarize = bool(objective.binarize)
        fused = x_test.device.type in ("cpu", "cuda")
        self.modules = {"vae": model}
        self.optimizers = {"vae": torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, beta2), fused=fused)}
        self.loss = distributed.wrap(_NegELBO(model, objective), compile=compile)  # DDP under torchrun

    def train_step(self, x, y, step, epoch):
        shard, o = distributed.current_shard(), self.objective
        if self.binarize:  # a fresh draw every time the batch is seen
            x = binarize(x, u=shard.rand(*x.shape, dtype=x.dtype, device=x.device))
        eps = shard.randn(o.samples, x.shape[0], self.model.config.latent_dim, batch_dim=1,
                          dtype=x.dtype, device=x.device)  # (L, B, latent)
        beta = torch.tensor(o.beta_at(epoch), dtype=x.dtype)  # a 0-d CPU tensor: no recompile, no host sync
        loss, recon, kl = self.loss(x, beta, eps)
        opt = self.optimizers["vae"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Test ELBO (β = 1, one z per example, a fixed seed so epochs compare), nats per example."""
        devices = [self.x_test.device] if self.x_test.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            recon = kl = 0.0
            for xb in self.x_test.split(1000):
                r, k = elbo_terms(self.model, xb, kl="analytic")
                recon, kl = recon + r.sum(), kl + k.sum()
        n = self.x_test.shape[0]
        return {"test_elbo": -float(recon + kl) / n, "test_recon": float(recon) / n, "test_kl": float(kl) / n}


def test_set(dataset, objective: ELBOConfig) -> torch.Tensor:
    """The evaluation images: binarized once with a fixed seed when training binarizes."""
    if objective.binarize:
        return binarize(dataset.x_test, torch.Generator().manual_seed(TEST_BINARIZE_SEED))
    return dataset.x_test


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def read_run_config(run_dir: str | Path) -> tuple[VAEConfig, ELBOConfig, TrainConfig]:
    """The three configs stored in a run folder's config.json."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a klvae run folder")
    try:
        cfg = json.loads(path.read_text())
        # runs saved before these settings existed trained with a constant rate and torch's β2
        train = {"lr_schedule": "constant", "adam_beta2": 0.999, **cfg["train"]}
        return VAEConfig(**cfg["vae"]), ELBOConfig(**cfg["objective"]), TrainConfig(**train)
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a valid run config ({err})") from None


def train_vae(vae: VAEConfig, objective: ELBOConfig, train: TrainConfig, *, hooks=(),
              figures: bool = True) -> tuple[Path, dict]:
    """Train a VAE, evaluate it on the test set and write the run folder; returns (folder, metrics).

    With `train.resume` set, continues that run from its checkpoint: the run's config.json is
    used, except for the fields in RESUME_OVERRIDES (epochs, max_seconds, device, log_every,
    threads, ckpt_steps, compile), which come from `train`; `vae` and `objective` are then ignored.

    Under torchrun every process calls this; rank 0 evaluates and writes the folder, the other
    ranks return ({}) as metrics. After a torchrun restart (TORCHELASTIC_RESTART_COUNT > 0) a
    run whose folder holds a checkpoint resumes from it.
    """
    from klvae.data import load_dataset

    with distributed.setup(resolve_device(train.device)) as (ctx, device):
        if train.resume is None and int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0)) > 0 \
                and train.out is not None and (Path(train.out) / "checkpoint.safetensors").is_file():
            train = replace(train, resume=train.out)  # restarted by torchrun: continue where it stopped
        resume = train.resume is not None
        run_dir = Path(train.resume if resume else (train.out or distributed.broadcast(time.strftime("runs/%Y%m%d-%H%M%S"))))
        if resume:
            if not (run_dir / "checkpoint.safetensors").is_file():
                raise FileNotFoundError(f"{run_dir / 'checkpoint.safetensors'} is missing: nothing to resume")
            vae, objective, saved = read_run_config(run_dir)
            for name in RESUME_OVERRIDES:
                setattr(saved, name, getattr(train, name))
            train = saved
        dataset = load_dataset(train.data)
        vae = replace(vae, image_shape=dataset.image_shape)  # validated against the data; fills hidden, latent_dim
        auto = size_defaults(dataset.image_shape)
        torch.manual_seed(train.seed)
        model = VAE(vae).to(device)
        if not resume:  # (a resumed run loads its weights)
            model.init_output_bias(dataset.x_train.mean(0))
        train = replace(train, batch_size=train.batch_size or auto["batch_size"], lr=train.lr or auto["lr"],
                        amp=resolve_amp(train.amp, device, model),
                        adam_beta2=ADAM_BETA2 if train.adam_beta2 is None else train.adam_beta2)
        if objective.binarize is None:
            objective = replace(objective, binarize=vae.likelihood == "bernoulli")
        if ctx.is_main and vae.likelihood == "bernoulli" and not objective.binarize \
                and not _is_binary(dataset.x_train):
            warnings.warn("the bernoulli likelihood on grey (non-binary) pixels without --binarize is not a "
                          "likelihood of the data: the reported NLL and ELBO are not valid discrete likelihoods",
                          stacklevel=2)
        if not resume:
            check_new_run_dir(run_dir)
        train = replace(train, out=str(run_dir))
        config = {"vae": asdict(vae), "objective": asdict(objective), "train": {**asdict(train), "resume": None},
                  "data": {"name": dataset.name, "n_train": int(dataset.x_train.shape[0]),
                           "n_test": int(dataset.x_test.shape[0]), "image_shape": list(dataset.image_shape)},
                  "processes": ctx.world}
        run_dir.mkdir(parents=True, exist_ok=True)
        if ctx.is_main:
            atomic_write_json(run_dir / "config.json", config)

        with torch_threads((train.threads or default_threads(model)) if device.type == "cpu" else None):
            x_train = dataset.x_train.to(device)
            x_test = test_set(dataset, objective).to(device)
            task = VAETask(model, objective, train.lr, x_test, beta2=train.adam_beta2, compile=train.compile)
            result = fit(task, x_train, None, train, run_dir, config=config, resume=resume, hooks=hooks)
            if not ctx.is_main:
                return run_dir, {}
            save_model(model, run_dir / "model.safetensors")
            metrics = _final_metrics(model, x_test, objective.iw_k, result)
            metrics["processes"] = ctx.world
            atomic_write_json(run_dir / "metrics.json", metrics)
            if figures:
                from klvae.vae.figures import write_figures_and_report

                write_figures_and_report(run_dir, model, dataset, x_test, result.records, metrics, config)
    return run_dir, metrics


def _final_metrics(model: VAE, x_test: torch.Tensor, k: int, result: FitResult) -> dict:
    st: LoopState = result.state
    metrics = evaluate_vae(model, x_test, k=k)
    metrics.update({
        "epochs": st.epoch,  # finished epochs (a --max-seconds stop may leave one partly done)
        "steps": st.step,
        "stopped": result.stopped,
        "train_seconds": st.train_seconds,
        "train_samples_per_second": st.samples / st.train_seconds if st.train_seconds > 0 else None,
        "threads": torch.get_num_threads(),
        "units": "nats per example",
    })
    return metrics


def evaluate_run(run_dir: str | Path, k: int | None = None, device: str = "cpu") -> dict:
    """Re-evaluate a finished run on its test set and write RUN/eval.json; returns the metrics."""
    from klvae.data import load_dataset

    vae, objective, train = read_run_config(run_dir)
    model = load_run(run_dir, device)
    x_test = test_set(load_dataset(train.data), objective).to(device)
    metrics = evaluate_vae(model, x_test, k=k or objective.iw_k)
    metrics["units"] = "nats per example"
    atomic_write_json(Path(run_dir) / "eval.json", metrics)
    return metrics
