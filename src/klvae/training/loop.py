"""The one training loop: epochs, batches, progress, metrics, checkpoints, resume, Ctrl-C, NaN guard.

A model plugs in as a `Task` (`klvae.training.task`): its modules, its optimizers (built with `adam`
from this config, so the loop owns the optimizer settings and the learning-rate schedule), and
`train_step(x, y, step, epoch)`, which does one optimisation step and returns detached scalar
tensors (no host sync). The loop owns everything else:

- the whole training set lives on the device as one tensor and batches are gathered by index;
  the order of epoch e is a permutation drawn from a generator seeded by (seed, e), so resuming
  needs no data-loader state and a rank of a distributed run takes `perm[rank::world]`;
- one host sync every `log_every` steps: the losses since the last sync are checked for
  NaN/inf (training stops, naming the epoch and step, and the last good checkpoint is kept)
  and shown on the progress bar (`klvae.training.progress`), and at the end of every epoch;
- after each epoch: `task.end_epoch(epoch)` (evaluation), one line appended to `metrics.jsonl`,
  and `checkpoint.safetensors` rewritten atomically;
- Ctrl-C (SIGINT) or SIGTERM (what schedulers send) stops at the next step boundary, saves a
  checkpoint and raises `TrainingInterrupted`; further signals while it stops change nothing, so
  the saved state is always that of a whole step;
- `max_seconds` stops at the first step boundary after the budget.

Checkpoints: `klvae.training.checkpoint`. A GAN is a Task with two modules and two optimizers. Under
`torchrun` (`klvae.training.data_parallel`) `batch_size` is the global batch, rank r trains on rows r::P of
it, modules are called through `data_parallel.wrap` (DDP), the host sync is one all-reduce that also
carries the stop requests (every rank stops at the same step), and only rank 0 evaluates and
writes. `amp` autocasts each step to bf16; `ckpt_steps` adds mid-epoch checkpoints.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from klvae._io import atomic_write_text, read_jsonl
from klvae.training import data_parallel, distributed
from klvae.training.checkpoint import restore_checkpoint, save_checkpoint
from klvae.training.config import TrainConfig
from klvae.training.hardware import keep_freed_memory, resolve_amp
from klvae.training.progress import Progress
from klvae.training.schedule import lr_factor
from klvae.training.signals import StopSignals
from klvae.training.task import FitResult, LoopState, NonFiniteLossError, Task, TrainingInterrupted

__all__ = ["fit"]
__all__ += ["CHECKPOINT", "METRICS_JSONL"]

CHECKPOINT = "checkpoint.safetensors"
METRICS_JSONL = "metrics.jsonl"
DEFAULT_BATCH = 128  # a task with no batch size of its own


class _Loop:
    """The state of one `fit` call and its named steps; `fit` reads as the story."""

    def __init__(
        self,
        task: Task,
        x_train: torch.Tensor,
        y_train: torch.Tensor | None,
        cfg: TrainConfig,
        run_dir: Path,
        config: dict | None,
        hooks,
    ):
        self.task, self.x, self.y, self.cfg, self.config, self.hooks = task, x_train, y_train, cfg, config, hooks
        self.ctx = distributed.context()
        self.ckpt, self.jsonl, self.device = run_dir / CHECKPOINT, run_dir / METRICS_JSONL, x_train.device
        self.n, self.bs = x_train.shape[0], cfg.batch_size or DEFAULT_BATCH
        if self.n == 0:
            raise ValueError("the training set is empty: there is nothing to train on")
        if self.bs % self.ctx.world:
            raise ValueError(
                f"batch_size {self.bs} is not divisible by the {self.ctx.world} processes: "
                f"--batch-size is the global batch, split evenly over the processes"
            )
        self.n_batches = math.ceil(self.n / self.bs)
        self.total_steps = (cfg.epochs or 1) * self.n_batches
        self.amp = resolve_amp(cfg.amp, self.device, *task.modules.values())
        self.state = LoopState()
        self.keys: list[str] = []  # the names of the task's step outputs
        self.acc: torch.Tensor | None = None  # (K,) float64: Σ batch·value of the epoch so far (this rank)
        self.records: list[dict] = []
        self.window: list[torch.Tensor] = []  # (K,) Σ over this rank's rows, for each step since the last host sync
        self.sizes: list[int] = []  # global batch size of each of those steps
        self.pending = (False, False)  # (interrupt, out of time), agreed by all ranks at the last sync
        self.seconds = 0.0  # training seconds of the run, as agreed at the last sync
        self.t0: float | None = None  # start of the current epoch's training steps
        self.last_good = "No checkpoint was written yet."

    # -- start ------------------------------------------------------------------------------
    def start(self, resume: bool) -> None:
        """A fresh metrics log, or the checkpoint's state with the log lines it covers."""
        if self.device.type == "cpu":
            keep_freed_memory()
        self.ckpt.parent.mkdir(parents=True, exist_ok=True)
        if not resume:
            if self.ctx.is_main:
                atomic_write_text(self.jsonl, "")  # a fresh run starts a fresh log
        else:
            self.state, self.keys, self.acc = restore_checkpoint(self.ckpt, self.task, self.device)
            if self.acc is not None and not self.ctx.is_main:
                self.acc.zero_()  # the checkpoint holds the sums of all ranks: rank 0 carries them on
            if self.ctx.is_main and self.jsonl.exists():
                self.records = [r for r in read_jsonl(self.jsonl) if r.get("epoch", 0) <= self.state.epoch]
                atomic_write_text(self.jsonl, "".join(json.dumps(r) + "\n" for r in self.records))
            self._checkpointed()
        for m in self.task.modules.values():
            m.train()
        for opt in self.task.optimizers.values():  # a resumed optimizer brings its own from the checkpoint
            for group in opt.param_groups:
                group.setdefault("initial_lr", self.cfg.lr or group["lr"])
        self.seconds = self.state.train_seconds

    def _checkpointed(self) -> None:
        self.last_good = (
            f"The last good checkpoint (epoch {self.state.epoch}, step {self.state.step}) is kept in {self.ckpt}."
        )

    def lr_factor(self, step: int, seconds: float) -> float:
        return lr_factor(
            self.cfg.lr_schedule,
            step / self.total_steps,
            None if self.cfg.max_seconds is None else seconds / self.cfg.max_seconds,
        )

    # -- time and stop requests ---------------------------------------------------------------
    def elapsed(self) -> float:
        """Training seconds of the run, this epoch's so far included."""
        return self.state.train_seconds + (0.0 if self.t0 is None else time.perf_counter() - self.t0)

    def late(self) -> bool:
        return self.cfg.max_seconds is not None and self.elapsed() > self.cfg.max_seconds

    # -- one step ---------------------------------------------------------------------------
    def step(self, perm: torch.Tensor) -> None:
        """One optimisation step on batch `state.batch` of the epoch's order `perm`."""
        st, ctx, cfg = self.state, self.ctx, self.cfg
        batch = perm[st.batch * self.bs : (st.batch + 1) * self.bs]  # (B,) the global batch
        idx = batch[ctx.rank :: ctx.world]  # (B/P,) this rank's rows
        # index_select, not x[idx]: the advanced-indexing kernel is ~10× slower on CPU
        y = None if self.y is None else self.y.index_select(0, idx)
        shard = data_parallel.Shard(ctx.rank, ctx.world, len(batch), cfg.seed, st.step)
        if cfg.lr_schedule != "constant":
            factor = self.lr_factor(st.step, self.seconds if ctx.distributed else self.elapsed())
            for opt in self.task.optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = group["initial_lr"] * factor
        with (
            data_parallel.using_shard(shard),
            data_parallel.rank_rng(shard),
            torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp == "bf16"),
        ):
            out = self.task.train_step(self.x.index_select(0, idx), y, st.step, st.epoch + st.batch / self.n_batches)
        if self.acc is None:
            self.keys = list(out)
            self.acc = torch.zeros(len(self.keys), dtype=torch.float64, device=self.device)
            distributed.check_in_sync(self.task.modules, "after the first step")
        vals = torch.stack([out[k].float() for k in self.keys]).double()  # (K,)
        sums = vals * len(idx) if len(idx) else torch.zeros_like(vals)  # an empty shard's mean is NaN
        self.acc.add_(sums)
        self.window.append(sums)
        self.sizes.append(len(batch))
        st.batch, st.step, st.samples = st.batch + 1, st.step + 1, st.samples + len(batch)

    # -- host syncs, checks, saves ------------------------------------------------------------
    def sync(self, requests: tuple[bool, bool] = (False, False)) -> torch.Tensor:
        """One host sync: the window's per-step means over all ranks (n, K) on the CPU, with the
        stop requests of any rank and the ranks' mean training seconds (so that a time-based
        learning rate is the same on every rank). Raises on a non-finite value, on every rank."""
        sums = torch.stack(self.window)  # (n, K) float64: Σ of each step's values over this rank's rows
        first_step = self.state.step - len(self.window)
        if self.ctx.distributed:
            flags = torch.tensor([*requests, self.elapsed() / self.ctx.world], dtype=sums.dtype, device=sums.device)
            packed = distributed.all_reduce_sum(torch.cat([sums.flatten(), flags]))  # one collective
            sums, tail = packed[:-3].view_as(sums), packed[-3:].tolist()
            requests, self.seconds = (tail[0] > 0, tail[1] > 0), tail[2]
        self.pending = requests
        values = (sums / torch.tensor(self.sizes, dtype=sums.dtype, device=sums.device)[:, None]).cpu()  # (n, K)
        self.window, self.sizes = [], []
        bad = ~torch.isfinite(values)
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            raise NonFiniteLossError(
                f"{self.keys[col]} became {float(values[row, col])} at epoch {self.state.epoch + 1}, "
                f"step {first_step + row + 1}; training stopped. {self.last_good} Try a smaller --lr."
            )
        return values

    def check_weights(self) -> None:
        for name, module in self.task.modules.items():
            if not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
                raise NonFiniteLossError(
                    f"the weights of {name} became non-finite by epoch {self.state.epoch + 1}, step "
                    f"{self.state.step}; training stopped. {self.last_good} Try a smaller --lr."
                )

    def save(self) -> None:
        """Checkpoint with the partial-epoch sums of all ranks; only rank 0 writes (collective call)."""
        total = None if self.acc is None else distributed.all_reduce_sum(self.acc.clone())
        if self.ctx.is_main:
            save_checkpoint(self.ckpt, self.task, self.state, self.keys, total, self.config)
        self._checkpointed()

    # -- one epoch --------------------------------------------------------------------------
    def show(self, bar: Progress, values: torch.Tensor) -> None:  # values: (n, K) from `sync`
        bar.show(self.state.step, self.elapsed(), dict(zip(self.keys, values.mean(0).tolist())))

    def train_epoch(self, signals: StopSignals, bar: Progress) -> bool:
        """The epoch's remaining steps; False when the time budget ended it early."""
        cfg, st, ctx = self.cfg, self.state, self.ctx
        perm = data_parallel.epoch_permutation(cfg.seed, st.epoch, self.n).to(self.device)
        bar.start_epoch(st.epoch + 1, cfg.epochs)
        self.t0 = time.perf_counter()
        completed = True
        while st.batch < self.n_batches:
            interrupt, out_of_time = self.pending if ctx.distributed else (signals.raised, self.late())
            if interrupt:
                raise KeyboardInterrupt
            if out_of_time:
                completed = False
                break
            self.step(perm)
            bar.update()
            save_now = (
                cfg.ckpt_steps is not None and st.step % cfg.ckpt_steps == 0 and st.batch < self.n_batches
            )  # (the end of an epoch saves anyway)
            if len(self.window) >= cfg.log_every or save_now:
                self.show(bar, self.sync((signals.raised, self.late())))
            if save_now:  # mid-epoch: the window was just checked
                self.check_weights()
                self.save()
            for hook in self.hooks:
                hook(self.task, st)
        if self.window:
            self.show(bar, self.sync())
        st.train_seconds += time.perf_counter() - self.t0
        self.t0 = None
        self.check_weights()
        distributed.check_in_sync(self.task.modules, f"after epoch {st.epoch + 1}")
        return completed

    def end_epoch(self, bar: Progress) -> None:
        """The epoch's means, the task's evaluation, one metrics.jsonl line, then the checkpoint."""
        st, ctx, acc = self.state, self.ctx, self.acc
        assert acc is not None, "an epoch ends after at least one step"
        totals = distributed.all_reduce_sum(acc.clone())  # (K,) Σ over the epoch, all ranks
        if ctx.is_main:
            record: dict[str, float] = {"epoch": st.epoch + 1, "step": st.step}
            if self.cfg.lr_schedule != "constant":
                record["lr_factor"] = self.lr_factor(st.step, st.train_seconds)
            record.update({f"train_{k}": v / self.n for k, v in zip(self.keys, totals.tolist())})
            for m in self.task.modules.values():
                m.eval()
            record.update(self.task.end_epoch(st.epoch + 1))
            for m in self.task.modules.values():
                m.train()
            record["train_seconds"] = st.train_seconds
            with open(self.jsonl, "a") as f:  # before the checkpoint: a resume drops lines it does not cover
                f.write(json.dumps(record) + "\n")
                f.flush()
            self.records.append(record)
            bar.end_epoch(record)
        st.epoch, st.batch = st.epoch + 1, 0
        acc.zero_()
        self.save()

    def stop_interrupted(self) -> TrainingInterrupted:
        """After Ctrl-C: account the time, check the steps since the last sync, save."""
        if self.t0 is not None:
            self.state.train_seconds += time.perf_counter() - self.t0
            self.t0 = None
        if self.window:  # never save weights that produced a NaN
            self.sync()
        self.check_weights()
        self.save()
        return TrainingInterrupted(self.ckpt, self.state)


def fit(
    task: Task,
    x_train: torch.Tensor,
    y_train: torch.Tensor | None,
    cfg: TrainConfig,
    run_dir: str | Path,
    *,
    config: dict | None = None,
    resume: bool = False,
    hooks: tuple[Callable[[Task, LoopState], None], ...] = (),
) -> FitResult:
    r"""Train `task` on `x_train` for ``cfg.epochs`` epochs, writing into `run_dir`.

    The task's modules and the data must already be on the device. Under torchrun every rank
    calls `fit` with the full data.

    Parameters
    ----------
    task : Task
        What to train: modules, optimizers, ``train_step`` and ``end_epoch``.
    x_train : torch.Tensor
        The training set, (N, ...).
    y_train : torch.Tensor or None
        Its labels, (N,), or None.
    cfg : TrainConfig
        Epochs, batch size, schedule, budget, checkpoints; ``cfg.epochs`` None trains one epoch.
    run_dir : str or pathlib.Path
        The run folder: ``metrics.jsonl`` and ``checkpoint.safetensors`` go there.
    config : dict, optional
        The run's configuration, stored in the checkpoint.
    resume : bool, default False
        Continue from the checkpoint in `run_dir`.
    hooks : tuple of callable, default ()
        Run at every step boundary as ``hook(task, state)`` (raising KeyboardInterrupt acts like
        Ctrl-C, on every rank under torchrun); one with ``log_values``/``log_epoch`` also gets the
        progress bar's values (`klvae.training.progress`).

    Returns
    -------
    FitResult
        The final loop state, why it stopped, and the ``metrics.jsonl`` records (rank 0 only).

    Raises
    ------
    NonFiniteLossError
        If a loss became NaN or infinite (nothing saved; the last good checkpoint is kept).
    TrainingInterrupted
        On Ctrl-C or SIGTERM, after saving a checkpoint.
    ValueError
        If the checkpoint to resume from does not fit the task.

    See Also
    --------
    TrainConfig : the settings.
    Task : what the loop trains.

    Notes
    -----
    Epoch e visits the rows in a permutation drawn from a generator seeded by (seed, e)
    (`klvae.training.data_parallel.epoch_permutation`); with P processes rank r trains on rows
    r, r + P, … of each global batch and the gradients are averaged with weights
    :math:`n_r / B`, so :math:`\sum_r \frac{n_r}{B} g_r` is the gradient of the global batch mean.
    The learning rate at step t is :math:`\text{lr} \cdot \text{lr\_factor}(t / T)`.

    References
    ----------
    Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training" (2020).

    Examples
    --------
    >>> import tempfile
    >>> class Mean:  # fits the mean of the data by gradient descent
    ...     def __init__(self):
    ...         self.w = torch.nn.Parameter(torch.zeros(1))
    ...         self.modules = {"w": torch.nn.ParameterList([self.w])}
    ...         self.optimizers = {"w": torch.optim.SGD([self.w], lr=0.5)}
    ...     def train_step(self, x, y, step, epoch):
    ...         loss = (x - self.w).square().mean()
    ...         self.optimizers["w"].zero_grad()
    ...         loss.backward()
    ...         self.optimizers["w"].step()
    ...         return {"loss": loss.detach()}
    ...     def end_epoch(self, epoch):
    ...         return {}
    >>> task = Mean()
    >>> cfg = TrainConfig(epochs=2, batch_size=8, lr_schedule="constant")
    >>> result = fit(task, torch.full((8, 1), 3.0), None, cfg, tempfile.mkdtemp())
    >>> result.stopped, result.state.step, round(float(task.w), 4)
    ('completed', 2, 3.0)
    """
    loop = _Loop(task, x_train, y_train, cfg, Path(run_dir), config, hooks)
    loop.start(resume)
    stopped, bar = (
        "completed",
        Progress(
            loop.total_steps,
            loop.state.epoch * loop.n_batches + loop.state.batch,
            max_seconds=cfg.max_seconds,
            enabled=loop.ctx.is_main and sys.stderr.isatty(),
            listeners=hooks,
        ),
    )
    with StopSignals() as signals, bar:  # the handler stays until the interrupt checkpoint is written
        try:
            while loop.state.epoch < (cfg.epochs or 1):
                if not loop.train_epoch(signals, bar):
                    stopped = "max_seconds"
                    loop.save()
                    break
                loop.end_epoch(bar)
            if signals.raised and not loop.ctx.distributed:  # Ctrl-C in the last step: stop before evaluating
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise loop.stop_interrupted() from None
        bar.finish(loop.state.step)
    return FitResult(loop.state, stopped, loop.records)
