"""The one training loop: epochs, batches, progress, metrics, checkpoints, resume, Ctrl-C, NaN guard.

A model plugs in as a `Task`: its modules, its optimizers, and `train_step(x, y, step, epoch)`,
which does one optimisation step and returns detached scalar tensors (no host sync). The loop
owns everything else:

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

A checkpoint is ONE safetensors file, no pickle: module weights (`module/<name>/<param>`),
optimizer state tensors (`optim/<name>/<param index>/<key>`), RNG states (`rng/cpu`, `rng/cuda/<i>`,
uint8) and the partial-epoch sums (`loop/sums`); step, epoch, optimizer hyper-parameters and
the run's config are JSON in the header metadata. Resuming from it continues the exact random
stream, so a resumed run ends where an uninterrupted one with the same seed ends.

Other models and devices plug in without changing the loop's shape: a GAN is a Task with
modules {"G", "D"} and two optimizers whose `train_step` does the D and G updates; under
`torchrun` a Task wraps its modules in DistributedDataParallel, each rank takes
`perm[rank::world]`, the epoch sums are all-reduced, and only rank 0 writes files.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from safetensors import safe_open

from klvae._io import atomic_save_safetensors, atomic_write_text

__all__ = ["TrainConfig", "Task", "LoopState", "FitResult", "fit", "resolve_device",
           "NonFiniteLossError", "TrainingInterrupted", "save_checkpoint", "load_checkpoint"]

CHECKPOINT = "checkpoint.safetensors"
METRICS_JSONL = "metrics.jsonl"


@dataclass
class TrainConfig:
    """Settings of the training loop (the CLI maps `--flag-name` onto `flag_name`)."""

    data: str = "digits"  # data set: "digits", or what klvae.data.load_dataset accepts
    out: str | None = None  # run folder; None → runs/<timestamp>
    epochs: int = 200  # passes over the training set
    batch_size: int = 128  # examples per optimisation step
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # seeds initialisation, batch order and every random draw
    device: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"
    max_seconds: float | None = None  # wall-clock budget: stop at the next step boundary after it
    log_every: int = 50  # steps between host syncs (NaN check, progress bar)
    threads: int | None = None  # CPU threads; None: 1 below 200k parameters, else torch's default
    resume: str | None = None  # run folder whose checkpoint to continue

    def __post_init__(self):
        for name in ("epochs", "batch_size", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be positive and finite, got {self.lr}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be positive, got {self.max_seconds}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")


class Task(Protocol):
    """What the loop trains. A GAN is a Task with two modules and two optimizers."""

    modules: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None, step: int,
                   epoch: float) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch; returns detached scalar tensors (first key: the loss)."""

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Called after each epoch (1-based count of finished epochs); returns metrics to log."""


@dataclass
class LoopState:
    epoch: int = 0  # index of the epoch in progress (= number of finished epochs)
    batch: int = 0  # next batch within that epoch
    step: int = 0  # optimisation steps done
    samples: int = 0  # training examples seen
    train_seconds: float = 0.0  # time spent in training steps (excludes evaluation and saving)


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    return torch.device(name)


def _epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint64)[0]
    g = torch.Generator().manual_seed(int(state) & (2**63 - 1))
    return torch.randperm(n, generator=g)


# ---- checkpoints ---------------------------------------------------------------------------

def save_checkpoint(path: Path, task: Task, state: LoopState, keys: list[str],
                    acc: torch.Tensor | None, config: dict | None = None) -> Path:
    """Write model, optimizer, RNG and loop state to ONE safetensors file, atomically (no pickle)."""
    tensors: dict[str, torch.Tensor] = {}
    meta = {"format": "klvae-checkpoint-1", "loop": json.dumps(asdict(state)),
            "config": json.dumps(config or {}), "sum_keys": json.dumps(keys)}
    for name, module in task.modules.items():
        for k, v in module.state_dict().items():
            tensors[f"module/{name}/{k}"] = v
    for name, opt in task.optimizers.items():
        sd = opt.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"optim/{name}/{pid}/{key}"] = val
                else:
                    scalars[f"{pid}/{key}"] = val
        meta[f"optim/{name}"] = json.dumps({"param_groups": sd["param_groups"], "scalars": scalars})
    tensors["rng/cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    if acc is not None:
        tensors["loop/sums"] = acc
    return atomic_save_safetensors(tensors, path, metadata=meta)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a checkpoint; a damaged file raises ValueError naming it."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no checkpoint {path}")
    try:
        with safe_open(str(path), "pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint ({err})") from None


def _restore(path: Path, task: Task, device: torch.device) -> tuple[LoopState, list[str], torch.Tensor | None]:
    tensors, meta = load_checkpoint(path)
    if meta.get("format") != "klvae-checkpoint-1":
        raise ValueError(f"{path} is not a klvae checkpoint")
    for name, module in task.modules.items():
        prefix = f"module/{name}/"
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, opt in task.optimizers.items():
        info = json.loads(meta[f"optim/{name}"])
        state: dict[int, dict] = {}
        prefix = f"optim/{name}/"
        for k, v in tensors.items():
            if k.startswith(prefix):
                pid, key = k[len(prefix):].split("/", 1)
                state.setdefault(int(pid), {})[key] = v
        for k, v in info["scalars"].items():
            pid, key = k.split("/", 1)
            state.setdefault(int(pid), {})[key] = v
        groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in info["param_groups"]]
        opt.load_state_dict({"state": state, "param_groups": groups})
    torch.set_rng_state(tensors["rng/cpu"])
    if device.type == "cuda":
        cuda = [tensors[f"rng/cuda/{i}"] for i in range(torch.cuda.device_count()) if f"rng/cuda/{i}" in tensors]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    acc = tensors["loop/sums"].to(device) if "loop/sums" in tensors else None
    return LoopState(**json.loads(meta["loop"])), json.loads(meta["sum_keys"]), acc


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


def _check_window(window: list[torch.Tensor], keys: list[str], first_step: int, epoch: int,
                  last_good: str) -> torch.Tensor:
    """One host sync: the window's values (n, K) on the CPU; raises on a non-finite value."""
    values = torch.stack(window).cpu()  # (n, K)
    bad = ~torch.isfinite(values)
    if bad.any():
        row, col = (int(i) for i in bad.nonzero()[0])
        raise NonFiniteLossError(
            f"{keys[col]} became {float(values[row, col])} at epoch {epoch + 1}, step {first_step + row + 1}; "
            f"training stopped. {last_good} Try a smaller --lr.")
    return values


def _check_weights(task: Task, state: LoopState, last_good: str) -> None:
    for name, module in task.modules.items():
        if not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
            raise NonFiniteLossError(f"the weights of {name} became non-finite by epoch {state.epoch + 1}, "
                                     f"step {state.step}; training stopped. {last_good} Try a smaller --lr.")


def fit(task: Task, x_train: torch.Tensor, y_train: torch.Tensor | None, cfg: TrainConfig,
        run_dir: str | Path, *, config: dict | None = None, resume: bool = False,
        hooks: tuple[Callable[[Task, LoopState], None], ...] = ()) -> FitResult:
    """Train `task` on x_train (N, ...) for `cfg.epochs` epochs, writing into `run_dir`.

    The task's modules and the data must already be on the device. `hooks` run at every step
    boundary as `hook(task, state)` (a hook raising KeyboardInterrupt acts like Ctrl-C; a
    KeyboardInterrupt raised inside a step may leave that step half-applied, the SIGINT path
    never does). Raises `NonFiniteLossError` (nothing saved) or `TrainingInterrupted`
    (after saving a checkpoint).
    """
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    ckpt, jsonl = run_dir / CHECKPOINT, run_dir / METRICS_JSONL
    device = x_train.device
    n, bs = x_train.shape[0], cfg.batch_size
    n_batches = math.ceil(n / bs)
    state, keys, acc = LoopState(), [], None  # acc (K,) float64: Σ batch·value of the epoch so far
    records: list[dict] = []
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        atomic_write_text(jsonl, "")  # a fresh run in an old folder starts a fresh log
    else:
        state, keys, acc = _restore(ckpt, task, device)
        if jsonl.exists():  # keep the lines of the finished epochs the checkpoint knows about
            records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
            records = [r for r in records if r.get("epoch", 0) <= state.epoch]
            atomic_write_text(jsonl, "".join(json.dumps(r) + "\n" for r in records))
    last_good = (f"The last good checkpoint (epoch {state.epoch}, step {state.step}) is kept in {ckpt}."
                 if resume else "No checkpoint was written yet.")
    for m in task.modules.values():
        m.train()
    start = time.perf_counter()
    stopped = "completed"
    window: list[torch.Tensor] = []  # (K,) values of the steps since the last host sync
    t0 = None  # start of the current epoch's training steps
    bar = tqdm(total=cfg.epochs * n_batches, initial=state.epoch * n_batches + state.batch,
               disable=not sys.stderr.isatty(), unit="step", dynamic_ncols=True, leave=False)
    try:
        with _SigintFlag() as sigint:
            while state.epoch < cfg.epochs:
                perm = _epoch_permutation(cfg.seed, state.epoch, n).to(device)  # a DDP rank: perm[rank::world]
                bar.set_description(f"epoch {state.epoch + 1}/{cfg.epochs}", refresh=False)
                t0 = time.perf_counter()
                while state.batch < n_batches:
                    if sigint.raised:
                        raise KeyboardInterrupt
                    if cfg.max_seconds is not None and time.perf_counter() - start > cfg.max_seconds:
                        stopped = "max_seconds"
                        break
                    idx = perm[state.batch * bs:(state.batch + 1) * bs]  # (b,)
                    y = None if y_train is None else y_train[idx]
                    out = task.train_step(x_train[idx], y, state.step, state.epoch + state.batch / n_batches)
                    if acc is None:
                        keys = list(out)
                        acc = torch.zeros(len(keys), dtype=torch.float64, device=device)
                    vals = torch.stack([out[k] for k in keys])  # (K,)
                    acc += vals.double() * len(idx)
                    window.append(vals)
                    state.batch, state.step, state.samples = state.batch + 1, state.step + 1, state.samples + len(idx)
                    bar.update()
                    if len(window) >= cfg.log_every:
                        values = _check_window(window, keys, state.step - len(window), state.epoch, last_good)
                        window = []
                        bar.set_postfix({k: f"{v:.2f}" for k, v in zip(keys, values.mean(0).tolist())})
                    for hook in hooks:
                        hook(task, state)
                if window:
                    _check_window(window, keys, state.step - len(window), state.epoch, last_good)
                    window = []
                state.train_seconds += time.perf_counter() - t0
                t0 = None
                _check_weights(task, state, last_good)
                if stopped != "completed":
                    break
                record = {"epoch": state.epoch + 1, "step": state.step}
                record.update({f"train_{k}": v / n for k, v in zip(keys, acc.tolist())})
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
                save_checkpoint(ckpt, task, state, keys, acc, config)
                last_good = f"The last good checkpoint (epoch {state.epoch}, step {state.step}) is kept in {ckpt}."
    except KeyboardInterrupt:
        bar.close()
        if t0 is not None:
            state.train_seconds += time.perf_counter() - t0
        if window:  # never save weights that produced a NaN
            _check_window(window, keys, state.step - len(window), state.epoch, last_good)
        _check_weights(task, state, last_good)
        save_checkpoint(ckpt, task, state, keys, acc, config)
        raise TrainingInterrupted(ckpt, state) from None
    bar.close()
    if stopped == "max_seconds":
        save_checkpoint(ckpt, task, state, keys, acc, config)
    return FitResult(state, stopped, records)
