"""The settings of a training run: the data, the budget, the optimizer, the schedule, the hardware.

A `TrainConfig` is what a run folder's config.json stores under "train"; `klvae.training.fit`
trains with it and `klvae.training.adam` builds the optimizer from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from klvae.training.schedule import LR_SCHEDULES

__all__ = ["TrainConfig", "KEEP"]

KEEP = ("last", "best")


@dataclass
class TrainConfig:
    """Settings of the training loop and its optimizer (the CLI maps `--flag-name` onto `flag_name`).

    Fields left as None take the task's default (`klvae.runs.vae.job.defaults`, `klvae.runs.gan.job.defaults`).
    """

    data: str = "digits"  # data set: "digits", or what klvae.data.datasets.load_dataset accepts
    out: str | None = None  # run folder; None → runs/<timestamp>
    epochs: int | None = None  # passes over the training set; None: the task's default
    batch_size: int | None = None  # examples per step, over all processes (the global batch)
    lr: float | None = None  # Adam's learning rate (the VAE's depends on the image size)
    adam_beta1: float | None = None  # Adam's β1 (VAE 0.9; GAN 0.5)
    adam_beta2: float | None = None  # Adam's β2 (VAE 0.95; GAN 0.999, WGAN-GP 0.9)
    weight_decay: float = 0.0  # Adam's L2 weight decay
    val_size: float | None = None  # share of the training set held out for per-epoch curves (VAE; 0: none)
    lr_schedule: str = (
        "linear"  # lr's factor over the run's budget: linear | cosine | constant (klvae.training.schedule.lr_factor)
    )
    seed: int = 0  # seeds initialisation, batch order and every random draw
    device: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"
    max_seconds: float | None = None  # training-time budget (resumes included): stop at the next step after it
    log_every: int = 50  # steps between host syncs (NaN check, progress bar)
    threads: int | None = None  # CPU threads; None: 1 below 200k parameters, else torch's default
    resume: str | None = None  # run folder whose checkpoint to continue
    ckpt_steps: int | None = None  # also checkpoint every this many steps (None: after each epoch only)
    amp: str = "auto"  # "bf16": autocast each step to bfloat16; "none": float32; "auto": see `resolve_amp`
    compile: bool = False  # torch.compile the step's module (slower for small models on CPU)
    keep: str = "last"  # the weights a run keeps and evaluates: "last", or "best" (best validation score, VAE)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "log_every", "ckpt_steps", "threads"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.val_size is not None and not 0 <= self.val_size < 1:
            raise ValueError(f"val_size must lie in [0, 1), got {self.val_size}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        if self.amp not in ("auto", "none", "bf16"):
            raise ValueError(f"amp must be 'auto', 'none' or 'bf16', got {self.amp!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        for name in ("adam_beta1", "adam_beta2"):
            if getattr(self, name) is not None and not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be positive and finite, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"weight_decay must be non-negative and finite, got {self.weight_decay}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be positive, got {self.max_seconds}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.keep not in KEEP:
            raise ValueError(f"keep must be one of {KEEP}, got {self.keep!r}")
