"""The one training loop: epochs, batches, progress, metrics, checkpoints, resume, Ctrl-C, NaN guard.

A model plugs in as a `Task` (`klvae.task`): its modules, its optimizers, and
`train_step(x, y, step, epoch)`, which does one optimisation step and returns detached scalar
tensors (no host sync). The loop owns everything else:

- the whole training set lives on the device as one tensor and batches are gathered by index;
  the order of epoch e is a permutation drawn from a generator seeded by (seed, e), so resuming
  needs no data-loader state and a rank of a distributed run takes `perm[rank::world]`;
- one host sync every `log_every` steps: the losses since the last sync are checked for
  NaN/inf (training stops, naming the epoch and step, and the last good checkpoint is kept)
  and shown on a tqdm bar (only when stderr is a terminal);
- after each epoch: `task.end_epoch(epoch)` (evaluation), one line appended to `metrics.jsonl`,
  and `checkpoint.safetensors` rewritten atomically;
- Ctrl-C (SIGINT) stops at the next step boundary, saves a checkpoint and raises
  `TrainingInterrupted`; a second Ctrl-C interrupts at once;
- `max_seconds` stops at the first step boundary after the budget.

What a checkpoint holds, and how resuming continues the exact random stream: `klvae.checkpoint`.

Other models and devices plug in without changing the loop's shape: a GAN is a Task with
modules {"G", "D"} and two optimizers whose `train_step` does the D and G updates.

Under `torchrun` (see `klvae.distributed`) `batch_size` is the global batch: rank r trains on
rows r::P of each global batch, a Task calls its modules through `klvae.distributed.wrap`
(DDP; gradients weighted so they are those of the global batch mean) and draws per-example
noise from `current_shard()` (draws from torch's global generator are seeded per rank and
step: independent across ranks, but not the same at every number of processes). The host
syncs stay at one every `log_every` steps, now one all-reduce that also carries the stop
requests (Ctrl-C, `max_seconds`), so every rank stops at the same step; epoch sums are
all-reduced; only rank 0 evaluates (`end_epoch`) and writes files; a task whose ranks' weights
drift apart (modules not called through `wrap`) is stopped after its first step. `bf16`
autocast (`amp`) wraps each step; `ckpt_steps` adds mid-epoch checkpoints.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from klvae import distributed
from klvae._io import atomic_write_text
from klvae.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from klvae.hardware import keep_freed_memory, resolve_amp, resolve_device
from klvae.hardware import SMALL_MODEL, cpu_has_bf16, default_threads  # noqa: F401 (imported from here elsewhere)
from klvae.task import LoopState, Task

__all__ = ["TrainConfig", "Task", "LoopState", "FitResult", "fit", "resolve_device", "resolve_amp", "lr_factor", "keep_freed_memory",
           "NonFiniteLossError", "TrainingInterrupted", "save_checkpoint", "load_checkpoint"]

CHECKPOINT = "checkpoint.safetensors"
LR_SCHEDULES = ("constant", "linear")
METRICS_JSONL = "metrics.jsonl"
DEFAULT_BATCH = 128  # a task with no batch size of its own


@dataclass
class TrainConfig:
    """Settings of the training loop (the CLI maps `--flag-name` onto `flag_name`)."""

    data: str = "digits"  # data set: "digits", or what klvae.data.load_dataset accepts
    out: str | None = None  # run folder; None → runs/<timestamp>
    epochs: int = 200  # passes over the training set
    batch_size: int | None = None  # examples per step, over all processes (the global batch); None: the task's default
    lr: float | None = None  # Adam learning rate; None: the task's default (the VAE's depend on the image size)
    seed: int = 0  # seeds initialisation, batch order and every random draw
    device: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"
    max_seconds: float | None = None  # training-time budget of the run (resumes included): stop at the next step after it
    log_every: int = 50  # steps between host syncs (NaN check, progress bar)
    threads: int | None = None  # CPU threads; None: 1 below 200k parameters, else torch's default
    resume: str | None = None  # run folder whose checkpoint to continue
    ckpt_steps: int | None = None  # also checkpoint every this many steps (None: after each epoch only)
    amp: str = "auto"  # "bf16": autocast each step to bfloat16; "none": float32; "auto": see `resolve_amp`
    adam_beta2: float | None = None  # Adam's β2; None: the task's default (the VAE's 0.95; a GAN's is in GANConfig)
    lr_schedule: str = "linear"  # "linear": lr × (1 − progress), progress = max(step / all steps, seconds / max_seconds)
    compile: bool = False  # torch.compile the step's module (slower for small models on CPU)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "log_every"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.ckpt_steps is not None and self.ckpt_steps < 1:
            raise ValueError(f"ckpt_steps must be at least 1, got {self.ckpt_steps}")
        if self.amp not in ("auto", "none", "bf16"):
            raise ValueError(f"amp must be 'auto', 'none' or 'bf16', got {self.amp!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.adam_beta2 is not None and not 0 <= self.adam_beta2 < 1:
            raise ValueError(f"adam_beta2 must lie in [0, 1), got {self.adam_beta2}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be positive and finite, got {self.lr}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be positive, got {self.max_seconds}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")


@dataclass
class FitResult:
    state: LoopState
    stopped: str  # "completed" or "max_seconds"
    records: list[dict] = field(default_factory=list)  # the metrics.jsonl lines of the whole run


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message says where and which checkpoint is kept."""


class TrainingInterrupted(Exception):
    """Training stopped on Ctrl-C after saving a checkpoint to `self.checkpoint`."""

    def __init__(self, checkpoint: Path, state: LoopState):
        super().__init__(f"interrupted at epoch {state.epoch + 1}, step {state.step}; "
                         f"checkpoint saved to {checkpoint}")
        self.checkpoint, self.state = checkpoint, state


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse to start a new run in a folder that already holds one: its work would be lost."""
    if (Path(run_dir) / "checkpoint.safetensors").is_file():
        raise ValueError(f"{run_dir} already holds a run; continue it with --resume {run_dir}, "
                         f"or choose another --out")


def _epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint64)[0]
    g = torch.Generator().manual_seed(int(state) & (2**63 - 1))
    return torch.randperm(n, generator=g)


# ---- the loop ------------------------------------------------------------------------------

class _SigintFlag:
    """Turns the first Ctrl-C into a flag read at step boundaries; the second one interrupts."""

    def __init__(self):
        self.raised = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _sync(window: list[torch.Tensor], sizes: list[int], keys: list[str], first_step: int, epoch: int,
          last_good: str, requests: tuple[bool, bool] = (False, False),
          seconds: float = 0.0) -> tuple[torch.Tensor, tuple[bool, ...], float]:
    """One host sync: the window's per-step means over all ranks (n, K) on the CPU, the stop
    requests (interrupt, out of time) of any rank, and the ranks' mean training `seconds` (so that
    a time-based learning rate is the same on every rank). Raises on a non-finite value, on every rank."""
    sums = torch.stack(window)  # (n, K) float64: Σ of each step's values over this rank's rows
    ctx = distributed.context()
    if ctx.distributed:
        flags = torch.tensor([*requests, seconds / ctx.world], dtype=sums.dtype, device=sums.device)  # (3,)
        packed = distributed.all_reduce_sum(torch.cat([sums.flatten(), flags]))  # one collective
        sums, tail = packed[:-3].view_as(sums), packed[-3:].tolist()
        requests, seconds = (tail[0] > 0, tail[1] > 0), tail[2]
    values = (sums / torch.tensor(sizes, dtype=sums.dtype, device=sums.device)[:, None]).cpu()  # (n, K)
    bad = ~torch.isfinite(values)
    if bad.any():
        row, col = (int(i) for i in bad.nonzero()[0])
        raise NonFiniteLossError(
            f"{keys[col]} became {float(values[row, col])} at epoch {epoch + 1}, step {first_step + row + 1}; "
            f"training stopped. {last_good} Try a smaller --lr.")
    return values, requests, seconds


def _check_weights(task: Task, state: LoopState, last_good: str) -> None:
    for name, module in task.modules.items():
        if not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
            raise NonFiniteLossError(f"the weights of {name} became non-finite by epoch {state.epoch + 1}, "
                                     f"step {state.step}; training stopped. {last_good} Try a smaller --lr.")


def _save(path: Path, task: Task, state: LoopState, keys: list[str], acc: torch.Tensor | None,
          config: dict | None) -> None:
    """Checkpoint with the partial-epoch sums of all ranks; only rank 0 writes (collective call)."""
    total = None if acc is None else distributed.all_reduce_sum(acc.clone())
    if distributed.context().is_main:
        save_checkpoint(path, task, state, keys, total, config)


def lr_factor(cfg: TrainConfig, step: int, total_steps: int, seconds: float) -> float:
    """The learning rate's multiplier before step `step` (0-based) of `total_steps`.

    "constant": 1. "linear": 1 − progress, where progress = max(step / total_steps,
    seconds / max_seconds) is the share of the run's budget (steps, or training seconds when
    `max_seconds` is set) already spent: a linear decay to 0 over whichever budget ends first
    (budgeted training, Li, Yumer & Ramanan 2020).

    >>> lr_factor(TrainConfig(lr_schedule="linear", epochs=4), 30, 40, 0.0)
    0.25
    """
    if cfg.lr_schedule == "constant":
        return 1.0
    progress = step / total_steps
    if cfg.max_seconds is not None:
        progress = max(progress, seconds / cfg.max_seconds)
    return max(0.0, 1.0 - progress)


def _set_lr(task: Task, factor: float) -> None:
    for opt in task.optimizers.values():
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * factor


def fit(task: Task, x_train: torch.Tensor, y_train: torch.Tensor | None, cfg: TrainConfig,
        run_dir: str | Path, *, config: dict | None = None, resume: bool = False,
        hooks: tuple[Callable[[Task, LoopState], None], ...] = ()) -> FitResult:
    """Train `task` on x_train (N, ...) for `cfg.epochs` epochs, writing into `run_dir`.

    The task's modules and the data must already be on the device. `hooks` run at every step
    boundary as `hook(task, state)` (a hook raising KeyboardInterrupt acts like Ctrl-C; a
    KeyboardInterrupt raised inside a step may leave that step half-applied, the SIGINT path
    never does; under torchrun a hook must raise on every rank). Raises `NonFiniteLossError`
    (nothing saved) or `TrainingInterrupted` (after saving a checkpoint). Under torchrun every
    rank calls `fit` with the full data; `FitResult.records` is filled on rank 0 only.
    """
    from tqdm.auto import tqdm

    ctx = distributed.context()
    run_dir = Path(run_dir)
    ckpt, jsonl = run_dir / CHECKPOINT, run_dir / METRICS_JSONL
    device = x_train.device
    n, bs = x_train.shape[0], cfg.batch_size or DEFAULT_BATCH
    if device.type == "cpu":
        keep_freed_memory()
    amp = resolve_amp(cfg.amp, device, *task.modules.values())
    if bs % ctx.world:
        raise ValueError(f"batch_size {bs} is not divisible by the {ctx.world} processes: --batch-size is "
                         f"the global batch, split evenly over the processes")
    n_batches = math.ceil(n / bs)
    state, keys, acc = LoopState(), [], None  # acc (K,) float64: Σ batch·value of the epoch so far (this rank)
    records: list[dict] = []
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        if ctx.is_main:
            atomic_write_text(jsonl, "")  # a fresh run in an old folder starts a fresh log
    else:
        state, keys, acc = restore_checkpoint(ckpt, task, device)
        if acc is not None and not ctx.is_main:
            acc.zero_()  # the checkpoint holds the sums of all ranks: rank 0 carries them on
        if ctx.is_main and jsonl.exists():  # keep the lines of the finished epochs the checkpoint knows about
            records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
            records = [r for r in records if r.get("epoch", 0) <= state.epoch]
            atomic_write_text(jsonl, "".join(json.dumps(r) + "\n" for r in records))
    last_good = (f"The last good checkpoint (epoch {state.epoch}, step {state.step}) is kept in {ckpt}."
                 if resume else "No checkpoint was written yet.")
    for m in task.modules.values():
        m.train()
    for opt in task.optimizers.values():  # a resumed optimizer brings its own from the checkpoint
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
    total_steps = cfg.epochs * n_batches
    seconds = state.train_seconds  # training seconds of the run so far, as agreed at the last sync
    stopped = "completed"
    window: list[torch.Tensor] = []  # (K,) Σ over this rank's rows, for each step since the last host sync
    sizes: list[int] = []  # global batch size of each of those steps
    pending = (False, False)  # (interrupt, out of time), agreed by all ranks at the last sync
    t0 = None  # start of the current epoch's training steps
    bar = tqdm(total=cfg.epochs * n_batches, initial=state.epoch * n_batches + state.batch,
               disable=not (ctx.is_main and sys.stderr.isatty()), unit="step", dynamic_ncols=True, leave=False)
    try:
        with _SigintFlag() as sigint:
            def elapsed() -> float:  # training seconds of the run, this epoch's so far included
                return state.train_seconds + (time.perf_counter() - t0)

            def late() -> bool:
                return cfg.max_seconds is not None and elapsed() > cfg.max_seconds

            while state.epoch < cfg.epochs:
                perm = _epoch_permutation(cfg.seed, state.epoch, n).to(device)
                bar.set_description(f"epoch {state.epoch + 1}/{cfg.epochs}", refresh=False)
                t0 = time.perf_counter()
                while state.batch < n_batches:
                    interrupt, out_of_time = pending if ctx.distributed else (sigint.raised, late())
                    if interrupt:
                        raise KeyboardInterrupt
                    if out_of_time:
                        stopped = "max_seconds"
                        break
                    batch = perm[state.batch * bs:(state.batch + 1) * bs]  # (B,) the global batch
                    idx = batch[ctx.rank::ctx.world]  # (B/P,) this rank's rows
                    # index_select, not x_train[idx]: the advanced-indexing kernel is ~10× slower on CPU
                    y = None if y_train is None else y_train.index_select(0, idx)
                    shard = distributed.Shard(ctx.rank, ctx.world, len(batch), cfg.seed, state.step)
                    if cfg.lr_schedule != "constant":
                        _set_lr(task, lr_factor(cfg, state.step, total_steps,
                                                seconds if ctx.distributed else elapsed()))
                    with distributed.using_shard(shard), distributed.rank_rng(shard), torch.autocast(
                            device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
                        out = task.train_step(x_train.index_select(0, idx), y, state.step, state.epoch + state.batch / n_batches)
                    if acc is None:
                        keys = list(out)
                        acc = torch.zeros(len(keys), dtype=torch.float64, device=device)
                        distributed.check_in_sync(task.modules, "after the first step")
                    vals = torch.stack([out[k].float() for k in keys]).double()  # (K,)
                    sums = vals * len(idx) if len(idx) else torch.zeros_like(vals)  # an empty shard's mean is NaN
                    acc += sums
                    window.append(sums)
                    sizes.append(len(batch))
                    state.batch, state.step, state.samples = state.batch + 1, state.step + 1, state.samples + len(batch)
                    bar.update()
                    save_now = (cfg.ckpt_steps is not None and state.step % cfg.ckpt_steps == 0
                                and state.batch < n_batches)  # (the end of an epoch saves anyway)
                    if len(window) >= cfg.log_every or save_now:
                        values, pending, seconds = _sync(window, sizes, keys, state.step - len(window),
                                                         state.epoch, last_good, (sigint.raised, late()), elapsed())
                        window, sizes = [], []
                        bar.set_postfix({k: f"{v:.2f}" for k, v in zip(keys, values.mean(0).tolist())})
                    if save_now:  # mid-epoch: the window was just checked
                        _check_weights(task, state, last_good)
                        _save(ckpt, task, state, keys, acc, config)
                        last_good = (f"The last good checkpoint (epoch {state.epoch}, step {state.step}) "
                                     f"is kept in {ckpt}.")
                    for hook in hooks:
                        hook(task, state)
                if window:
                    _sync(window, sizes, keys, state.step - len(window), state.epoch, last_good)
                    window, sizes = [], []
                state.train_seconds += time.perf_counter() - t0
                t0 = None
                _check_weights(task, state, last_good)
                distributed.check_in_sync(task.modules, f"after epoch {state.epoch + 1}")
                if stopped != "completed":
                    break
                totals = distributed.all_reduce_sum(acc.clone())  # (K,) Σ over the epoch, all ranks
                if ctx.is_main:
                    record = {"epoch": state.epoch + 1, "step": state.step}
                    if cfg.lr_schedule != "constant":
                        record["lr_factor"] = lr_factor(cfg, state.step, total_steps, state.train_seconds)
                    record.update({f"train_{k}": v / n for k, v in zip(keys, totals.tolist())})
                    for m in task.modules.values():
                        m.eval()
                    record.update(task.end_epoch(state.epoch + 1))
                    for m in task.modules.values():
                        m.train()
                    record["train_seconds"] = state.train_seconds
                    with open(jsonl, "a") as f:  # before the checkpoint: a resume drops lines it does not cover
                        f.write(json.dumps(record) + "\n")
                        f.flush()
                    records.append(record)
                state.epoch, state.batch = state.epoch + 1, 0
                acc.zero_()
                _save(ckpt, task, state, keys, acc, config)
                last_good = f"The last good checkpoint (epoch {state.epoch}, step {state.step}) is kept in {ckpt}."
    except KeyboardInterrupt:
        bar.close()
        if t0 is not None:
            state.train_seconds += time.perf_counter() - t0
        if window:  # never save weights that produced a NaN
            _sync(window, sizes, keys, state.step - len(window), state.epoch, last_good)
        _check_weights(task, state, last_good)
        _save(ckpt, task, state, keys, acc, config)
        raise TrainingInterrupted(ckpt, state) from None
    bar.close()
    if stopped == "max_seconds":
        _save(ckpt, task, state, keys, acc, config)
    return FitResult(state, stopped, records)
