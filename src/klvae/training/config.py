"""The settings of a training run (the data, the budget, the optimizer, the schedule, the hardware)
and the optimizer they describe.

A `TrainConfig` is what a run folder's config.json stores under "train"; `klvae.training.fit`
trains with it and `klvae.training.adam` builds the optimizer from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from klvae.training.schedule import LR_SCHEDULES

__all__ = ["TrainConfig", "KEEP", "adam"]

KEEP = ("last", "best")


@dataclass
class TrainConfig:
    r"""Settings of the training loop and its optimizer (the CLI maps ``--flag-name`` onto ``flag_name``).

    Fields left as None take the task's default (``klvae.runs.vae.job.defaults``,
    ``klvae.runs.gan.job.defaults``).

    Parameters
    ----------
    data : str, default "digits"
        The data set: ``"digits"``, or what `klvae.data.load_dataset` accepts.
    out : str, optional
        The run folder; None: ``runs/<timestamp>``.
    epochs : int, optional
        Passes over the training set.
    batch_size : int, optional
        Examples per step, over all processes (the global batch).
    lr : float, optional
        Adam's learning rate (the VAE's depends on the image size).
    adam_beta1, adam_beta2 : float, optional
        Adam's β1 (VAE 0.9; GAN 0.5) and β2 (VAE 0.95; GAN 0.999, WGAN-GP 0.9).
    weight_decay : float, default 0.0
        Adam's L2 weight decay.
    val_size : float, optional
        Share of the training set held out for the per-epoch curves (VAE; 0: none).
    lr_schedule : str, default "linear"
        The learning rate's factor over the run's budget: ``"linear"``, ``"cosine"`` or
        ``"constant"`` (`lr_factor`).
    seed : int, default 0
        Seeds initialisation, batch order and every random draw.
    device : str, default "auto"
        ``"auto"`` (cuda if available), ``"cpu"`` or ``"cuda"``.
    max_seconds : float, optional
        Training-time budget (resumes included): stop at the next step after it.
    log_every : int, default 50
        Steps between host syncs (NaN check, progress bar).
    threads : int, optional
        CPU threads; None: 1 below 200k parameters, else torch's default.
    resume : str, optional
        The run folder whose checkpoint to continue.
    ckpt_steps : int, optional
        Also checkpoint every this many steps (None: after each epoch only).
    amp : str, default "auto"
        ``"bf16"``: autocast each step to bfloat16; ``"none"``: float32; ``"auto"``: see
        `resolve_amp`.
    compile : bool, default False
        ``torch.compile`` the step's module (slower for small models on CPU).
    keep : str, default "last"
        The weights a run keeps and evaluates: ``"last"``, or ``"best"`` (best validation score, VAE).

    Raises
    ------
    ValueError
        Naming the field, for a count below 1, a share outside [0, 1), a negative seed, a
        non-positive or infinite rate or budget, or an unknown amp, schedule, device or keep.

    See Also
    --------
    fit : the loop that trains with it.

    Notes
    -----
    The optimizer is Adam (`adam`); the step-t update of each parameter θ with gradient g is

    .. math::

        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g,\quad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g^2,\quad
        \theta \leftarrow \theta - \eta_t \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon},

    with :math:`\eta_t = \text{lr} \cdot` `lr_factor`.

    References
    ----------
    Kingma & Ba, "Adam: A Method for Stochastic Optimization" (2015), algorithm 1.

    Examples
    --------
    >>> TrainConfig(epochs=3).batch_size is None  # the task's default
    True
    >>> TrainConfig(lr_schedule="cosine", keep="best").keep
    'best'
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


def adam(params: Iterable[torch.nn.Parameter], cfg: TrainConfig, device: torch.device) -> torch.optim.Adam:
    r"""The optimizer of every task: Adam with the config's rate, β's and weight decay.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        The parameters to optimise.
    cfg : TrainConfig
        With ``lr``, ``adam_beta1`` and ``adam_beta2`` resolved (not None).
    device : torch.device
        Where the parameters are; on CPU and CUDA the fused implementation is used.

    Returns
    -------
    torch.optim.Adam
        The optimizer.

    Raises
    ------
    ValueError
        If ``lr``, ``adam_beta1`` or ``adam_beta2`` is still None.

    Notes
    -----
    Adam's update (`TrainConfig`) with :math:`\eta = \text{lr}`,
    :math:`(\beta_1, \beta_2)` = (adam_beta1, adam_beta2) and L2 weight decay
    :math:`g \leftarrow g + \lambda\theta`.

    References
    ----------
    Kingma & Ba, "Adam: A Method for Stochastic Optimization" (2015).

    Examples
    --------
    >>> cfg = TrainConfig(lr=1e-3, adam_beta1=0.9, adam_beta2=0.95)
    >>> opt = adam([torch.nn.Parameter(torch.zeros(2))], cfg, torch.device("cpu"))
    >>> opt.defaults["lr"], opt.defaults["betas"]
    (0.001, (0.9, 0.95))
    """
    if cfg.lr is None or cfg.adam_beta1 is None or cfg.adam_beta2 is None:
        raise ValueError("lr, adam_beta1 and adam_beta2 must be resolved to the task's defaults first")
    return torch.optim.Adam(
        params,
        lr=cfg.lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        weight_decay=cfg.weight_decay,
        fused=device.type in ("cpu", "cuda"),
    )
