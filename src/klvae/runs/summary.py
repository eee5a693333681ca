"""Words and facts every run prints or reports: counts said properly, how a run was made, warnings."""

from __future__ import annotations

import math
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from klvae._version import __version__

__all__ = [
    "count",
    "epochs_phrase",
    "command_line",
    "provenance",
    "undertrained_warning",
    "startup_line",
    "UNDERTRAINED_EPOCHS",
    "summary_line",
    "steps_per_epoch",
    "training_rows",
    "Figure",
    "figures_and_notes",
    "used_settings",
    "USED_SETTINGS_NOTE",
    "evaluation_bar",
]

UNDERTRAINED_EPOCHS = 5  # a run stopped by its time budget before this many epochs is flagged


def count(n: float, word: str, plural: str | None = None) -> str:
    """`n word` with the plural when n ≠ 1: count(1, "epoch") == "1 epoch", count(0, "bit") == "0 bits".

    >>> count(1, "epoch"), count(0, "epoch"), count(2.5, "epoch")
    ('1 epoch', '0 epochs', '2.5 epochs')
    """
    text = f"{n:g}" if isinstance(n, float) else str(n)
    return f"{text} {word if n == 1 else (plural or word + 's')}"


def epochs_phrase(steps: int, steps_per_epoch: int) -> str:
    """The training done, in epochs, a fraction when the last one is partial.

    >>> epochs_phrase(24, 12), epochs_phrase(5, 12), epochs_phrase(30, 12), epochs_phrase(12, 12)
    ('2 epochs', '0.42 of an epoch (5 of 12 steps)', '2.5 epochs', '1 epoch')
    """
    if steps_per_epoch < 1 or steps % steps_per_epoch == 0:
        return count(steps // max(steps_per_epoch, 1), "epoch")
    e = steps / steps_per_epoch
    if e < 1:
        return f"{e:.2g} of an epoch ({steps} of {steps_per_epoch} steps)"
    return count(float(f"{e:.3g}"), "epoch")


def steps_per_epoch(config: dict) -> int:
    n, batch = config.get("data", {}).get("n_train"), config.get("train", {}).get("batch_size")
    return math.ceil(n / batch) if n and batch else 0


def command_line(command: str | None = None, options: dict | None = None) -> str:
    """A command line that makes the run again: `klvae COMMAND --flag value …` from the parsed
    `options` (None values left out), else the command that started this process.

    >>> command_line("train", {"epochs": 3, "hidden": (48, 24), "binarize": False, "compile": True})
    'klvae train --epochs 3 --hidden 48,24 --no-binarize --compile'
    """
    if command is None:
        return shlex.join(["python" if not sys.argv else sys.argv[0], *sys.argv[1:]])
    words = ["klvae", command]
    for k, v in (options or {}).items():
        flag = "--" + k.replace("_", "-")
        if v is None:
            continue
        if isinstance(v, bool):
            words.append(flag if v else "--no-" + flag[2:])
        elif isinstance(v, (tuple, list)):
            words += [flag, ",".join(str(u) for u in v)]
        else:
            words += [flag, str(v)]
    return shlex.join(words)


def undertrained_warning(metrics: dict, config: dict | None = None) -> str | None:
    """A sentence when the time budget stopped the run before `UNDERTRAINED_EPOCHS` epochs, else None."""
    if metrics.get("stopped") != "max_seconds" or metrics.get("epochs", 0) >= UNDERTRAINED_EPOCHS:
        return None
    done = (
        epochs_phrase(metrics.get("steps", 0), steps_per_epoch(config or {}))
        if config
        else count(metrics.get("epochs", 0), "finished epoch")
    )
    return (
        f"Undertrained: the time budget (--max-seconds) stopped training after {done}; the figures and "
        f"numbers show an early model. Give more time or fewer epochs for a model worth judging."
    )


def startup_line(device: torch.device, threads: int, amp: str, parameters: int, sizes: dict) -> str:
    """One line before training: where, how fast, how big."""
    where = f"{device.type}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    split = ", ".join(f"{k} {v}" for k, v in sizes.items() if v is not None)
    return (
        f"{where}, {count(threads, 'thread')}, {'bfloat16' if amp == 'bf16' else 'float32'}, "
        f"{parameters:,} parameters; {split}"
    )


def code_commit(where: Path = Path(__file__).parent) -> str | None:
    """The git commit of the code that ran ("…+" when its files differ from it), or None outside a
    git checkout (an installed package) or without git."""
    try:
        run = lambda *args: subprocess.run(  # noqa: E731
            ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        commit = run("rev-parse", "--short=12", "HEAD")
        changed = run("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+ (uncommitted changes)" if changed else "") if commit else None


def provenance(
    config: dict,
    metrics: dict,
    *,
    command: str | None = None,
    started: float | None = None,
    wall_seconds: float | None = None,
    device: str | None = None,
) -> list[tuple[str, str]]:
    """(label, text) rows saying when, how and with what a run was made."""
    train = config.get("train", {})
    rows = [
        ("date", time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started or time.time()))),
        ("command", command or command_line()),
        ("versions", f"klvae {__version__}, torch {torch.__version__}, Python {platform.python_version()}"),
        *[("code", f"git commit {commit}") for commit in [code_commit()] if commit],
        ("device", device or str(train.get("device", "?"))),
        ("threads", str(metrics.get("threads", "?"))),
        ("processes", str(config.get("processes", metrics.get("processes", 1)))),
        ("seed", str(train.get("seed", "?"))),
    ]
    if wall_seconds is not None:
        rows.append(("wall time", f"{wall_seconds:.1f} s (data, training, evaluation and figures)"))
    return rows


def summary_line(metrics: dict, config: dict) -> str:
    """ "trained 3 epochs (36 steps) in 1.2 s, 3600 samples/s", fractions of an epoch said as such."""
    rate, phrase = metrics.get("train_samples_per_second"), epochs_phrase(metrics["steps"], steps_per_epoch(config))
    steps = "" if "steps)" in phrase else f" ({metrics['steps']} step{'s' if metrics['steps'] != 1 else ''})"
    return (
        f"trained {phrase}{steps} in {metrics['train_seconds']:.1f} s"
        + (f", {rate:.0f} samples/s" if rate else "")
        + (" (stopped by --max-seconds)" if metrics["stopped"] == "max_seconds" else "")
    )


def training_rows(metrics: dict, config: dict) -> list[tuple[str, str, str]]:
    """The report's rows on training, (label, value, explanation): how far it went and how fast."""
    rate = metrics.get("train_samples_per_second")
    done = epochs_phrase(metrics["steps"], steps_per_epoch(config))
    return [
        (
            "training",
            done if "steps)" in done else f"{done}, {count(metrics['steps'], 'step')}",
            "stopped by the time budget (--max-seconds)"
            if metrics["stopped"] == "max_seconds"
            else "all the epochs asked for",
        ),
        (
            "training time",
            f"{metrics['train_seconds']:.1f} s" + (f", {rate:.0f} samples/s" if rate else ""),
            "time in training steps (evaluation excluded)",
        ),
    ]


class Figure(NamedTuple):
    """One entry of a report's list of figures: the PNG drawn (its file name in the run folder) with
    its caption, or, with `file` None, a note saying why the figure is not drawn."""

    file: str | None
    text: str

    @classmethod
    def note(cls, text: str) -> Figure:
        """A figure not drawn, and why."""
        return cls(None, text)


def figures_and_notes(figures: Iterable[Figure | None]) -> tuple[list[tuple[str, str]], list[str]]:
    """The (file, caption) pairs of the figures drawn and the notes of those not drawn, each in order;
    None (a figure with nothing to show and nothing to say) is left out."""
    figures = list(figures)
    drawn = [(f.file, f.text) for f in figures if f is not None and f.file is not None]
    notes = [f.text for f in figures if f is not None and f.file is None]
    return drawn, notes


def _unused(section: str, key: str, settings: dict, model: dict, gan: bool) -> bool:
    """Whether `section.key` is a setting this run's model or objective does not read."""
    if section == "vae":
        return (
            (key == "sigma" and model.get("likelihood") != "gaussian")
            or (key == "pseudo_inputs" and model.get("prior") != "vamp")
            or (key in ("latent_dim2", "hidden2") and model.get("stochastic_layers", 1) != 2)
            or (key == "n_classes" and not model.get("conditional"))
        )
    if section == "objective":
        iwae = settings.get("objective") == "iwae"
        return (
            (key in ("k_train", "dreg") and not iwae)
            or (key == "samples" and iwae)
            or (key == "tc_beta" and settings.get("tc_beta") is None)
        )
    if section == "gan":
        return key == "gp_weight" and settings.get("loss") != "wasserstein"
    if section == "train" and gan:
        return key in ("val_size", "keep")  # a GAN has no validation set and keeps its last weights
    return False


USED_SETTINGS_NOTE = "The settings this model reads; config.json in the run folder holds every setting."


def used_settings(config: dict) -> dict:
    """`config` without the settings its model does not read (the report's configuration table):
    no σ of a fixed-σ Gaussian beside another likelihood, no VampPrior K with the N(0, I) prior, no
    second-layer sizes with one layer, no IWAE settings under the ELBO, no gradient penalty outside
    the WGAN-GP; config.json keeps them all.

    >>> used_settings({"vae": {"likelihood": "bernoulli", "sigma": 0.1, "prior": "normal", "pseudo_inputs": 500}})
    {'vae': {'likelihood': 'bernoulli', 'prior': 'normal'}}
    """
    model, gan = config.get("vae") or {}, "gan" in config
    out: dict = {}
    for section, settings in config.items():
        if isinstance(settings, dict):
            out[section] = {k: v for k, v in settings.items() if not _unused(section, k, settings, model, gan)}
        else:
            out[section] = settings
    return out


def evaluation_bar(n: int, k: int, log: bool = True):
    """A progress bar over the test images of an evaluation (only when stderr is a terminal)."""
    return tqdm(
        total=n,
        desc=f"evaluating (IW k = {k})",
        unit="image",
        leave=False,
        dynamic_ncols=True,
        disable=not (log and sys.stderr.isatty()),
    )
