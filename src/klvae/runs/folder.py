"""The run folder: what a run writes, how a new run starts, how a stopped one resumes.

A run folder holds

    config.json             the settings the run used (model, objective, loop, data)
    metrics.jsonl           one line per finished epoch (the loop appends it)
    checkpoint.safetensors  everything `--resume` needs (weights, optimizer, RNG, loop state)
    model.safetensors       the trained weights with their config as JSON (no pickle)
    metrics.json            the final metrics
    *.png, report.html      the figures and the report that shows them
    eval.json               written by `klvae eval`

Every job (`klvae.runs.vae.job`, `klvae.runs.gan.job`) goes through `claim_run`, `write_config` and
`read_config`, so that refusing to overwrite a run, holding the folder against a second process,
resuming (by hand or after a torchrun restart) and reading the config back are written once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, fields, replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from klvae._io import atomic_save_safetensors, atomic_write_json, remove_stale_temporaries
from klvae.training import distributed
from klvae.training.config import TrainConfig
from klvae.training.loop import CHECKPOINT, METRICS_JSONL

__all__ = [
    "CONFIG",
    "METRICS",
    "MODEL",
    "REPORT",
    "EVAL",
    "PER_IMAGE",
    "EVAL_PER_IMAGE",
    "RUN_FILES",
    "RESUME_OVERRIDES",
    "LOCK",
    "open_run",
    "claim_run",
    "read_config",
    "write_config",
    "write_metrics",
    "write_per_image",
    "read_per_image",
    "check_new_run_dir",
    "resolve_defaults",
    "loop_config",
    "train_dict",
    "EvaluationInterrupted",
]

CONFIG = "config.json"
METRICS = "metrics.json"
MODEL = "model.safetensors"
REPORT = "report.html"
EVAL = "eval.json"
PER_IMAGE = "test_per_image.safetensors"  # the final evaluation's value per test example
EVAL_PER_IMAGE = "eval_per_image.safetensors"  # the same of `klvae eval`
RUN_FILES = (CONFIG, METRICS_JSONL, CHECKPOINT, MODEL, METRICS, REPORT, PER_IMAGE)
LOCK = ".klvae.lock"  # held (flock) by the process that writes the folder, while it runs
# What a resumed run may change; everything else comes from the run's config.json.
RESUME_OVERRIDES = ("epochs", "max_seconds", "device", "log_every", "threads", "ckpt_steps", "compile")


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse to start a new run where its files would overwrite another run's (or a file)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir} is a file, not a folder")
    held = [name for name in RUN_FILES if (run_dir / name).exists()]
    if held:
        how = f"continue it with --resume {run_dir}, or " if CHECKPOINT in held else ""
        raise ValueError(f"{run_dir} already holds a run; {how}choose another --out (it holds {', '.join(held)})")


def open_run(train: TrainConfig, prefix: str = "") -> tuple[Path, bool, TrainConfig]:
    """The run folder of `train`, whether it resumes, and `train` with `resume` resolved.

    A new run gets `train.out` or `runs/<prefix><date>-<time>` (the same name on every rank) and
    is refused if that folder already holds a run. A run restarted by torchrun
    (TORCHELASTIC_RESTART_COUNT > 0) whose folder holds a checkpoint resumes from it. Nothing is
    written here: everything is checked before the first write.
    """
    if (
        train.resume is None
        and int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0)) > 0
        and train.out is not None
        and (Path(train.out) / CHECKPOINT).is_file()
    ):
        train = replace(train, resume=train.out)  # restarted by torchrun: continue where it stopped
    if train.resume is not None:
        run_dir = Path(train.resume)
        if not run_dir.is_dir():
            raise FileNotFoundError(f"run folder {run_dir} does not exist")
        if not (run_dir / CHECKPOINT).is_file():
            raise FileNotFoundError(f"{run_dir / CHECKPOINT} is missing: nothing to resume")
        return run_dir, True, train
    run_dir = Path(train.out or distributed.broadcast(time.strftime(f"runs/{prefix}%Y%m%d-%H%M%S")))
    if distributed.context().is_main:  # the other ranks would race rank 0's first write (config.json)
        check_new_run_dir(run_dir)
    return run_dir, False, train


@contextlib.contextmanager
def claim_run(train: TrainConfig, prefix: str = "") -> Iterator[tuple[Path, bool, TrainConfig]]:
    """`open_run`, then hold the folder for this job: rank 0 takes an exclusive lock on
    RUN/.klvae.lock until the job ends, so a second process given the same folder is refused
    ("in use") instead of writing into it. A folder this call made is removed again if the job
    fails before writing anything into it.
    """
    run_dir, resume, train = open_run(train, prefix)
    if not distributed.context().is_main:
        yield run_dir, resume, train
        return
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    ok = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"{run_dir} is in use by another klvae process; wait for it, or choose another --out"
            ) from None
        if not resume:
            check_new_run_dir(run_dir)  # again: another process may have started here meanwhile
        yield run_dir, resume, train
        ok = True
    finally:
        os.close(fd)  # releases the lock
        if not ok and created and [p.name for p in run_dir.iterdir()] == [LOCK]:
            (run_dir / LOCK).unlink()
            run_dir.rmdir()


def read_config(run_dir: str | Path) -> dict:
    """The run's config.json as a dict; a missing or damaged file raises naming it."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a klvae run folder")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("train"), dict):
        raise ValueError(f"{path} is not a klvae run config (no 'train' settings)")
    return config


def loop_config(path: Path, saved: dict, given: TrainConfig | None = None) -> TrainConfig:
    """The TrainConfig stored in a config.json (`saved["train"]`), with those RESUME_OVERRIDES that
    `given` sets (not None) when resuming. Runs saved before a setting existed read as they trained."""
    # torch's Adam, no decay, every training image trained on: how runs saved before these settings ran
    old = {"lr_schedule": "constant", "adam_beta1": 0.9, "adam_beta2": 0.999, "val_size": 0.0}
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(saved) - known)
    if unknown:
        raise ValueError(f"{path} is not a valid run config (unknown train setting {unknown[0]!r})")
    try:
        train = TrainConfig(**{**old, **saved})
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a valid run config ({err})") from None
    if given is not None:
        train = replace(
            train,
            **{name: getattr(given, name) for name in RESUME_OVERRIDES if getattr(given, name) is not None},
            resume=given.resume,
        )
    return train


def resolve_defaults(train: TrainConfig, defaults: dict) -> TrainConfig:
    """`train` with every field left as None (or "auto" precision) set from the task's `defaults`."""
    return replace(train, **{k: v for k, v in defaults.items() if getattr(train, k) in (None, "auto")})


def write_config(run_dir: Path, config: dict) -> None:
    """Make the folder, remove the temporaries a killed write left behind, and write config.json
    (rank 0); on resume it records the new budget."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if distributed.context().is_main:
        for folder in (run_dir, run_dir / "samples"):
            if folder.is_dir():
                remove_stale_temporaries(folder)
        atomic_write_json(run_dir / CONFIG, config)


def write_metrics(run_dir: Path, metrics: dict, name: str = METRICS) -> Path:
    return atomic_write_json(Path(run_dir) / name, metrics)


def write_per_image(run_dir: Path, values: dict[str, torch.Tensor], k: int, name: str = PER_IMAGE) -> Path:
    """The evaluation's per-example values ("log_px", "elbo": (N,) float64, test-set order), atomically,
    with k in the header: two runs on the same test set compare example by example."""
    return atomic_save_safetensors(values, Path(run_dir) / name, metadata={"iw_k": str(k)})


def read_per_image(run_dir: str | Path, name: str = PER_IMAGE) -> dict[str, torch.Tensor]:
    """The per-example values `write_per_image` wrote ({"log_px", "elbo"})."""
    path = Path(run_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the run was evaluated before per-example values were kept")
    return load_file(str(path))


def train_dict(train: TrainConfig) -> dict:
    """The loop settings as config.json records them (a run is never recorded as resuming)."""
    return {**asdict(train), "resume": None}


class EvaluationInterrupted(Exception):
    """Ctrl-C after training, while the run was evaluated: the model is saved, the metrics are not.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        The run folder; the message says how to evaluate it (``klvae eval RUN``).

    Examples
    --------
    >>> err = EvaluationInterrupted("runs/a")
    >>> err.run_dir
    PosixPath('runs/a')
    >>> str(err).endswith("klvae eval runs/a")
    True
    """

    def __init__(self, run_dir: Path):
        super().__init__(
            f"interrupted during the final evaluation; the trained model is saved in "
            f"{Path(run_dir) / MODEL}. Evaluate it with: klvae eval {run_dir}"
        )
        self.run_dir = Path(run_dir)
