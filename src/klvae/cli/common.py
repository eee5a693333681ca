"""What every command module shares: the error type, flags spelled once, deprecated aliases,
resume checks and the training call that turns Ctrl-C and a diverging loss into exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = [
    "UsageError",
    "check_resume_flags",
    "run_training",
    "add_loop_flags",
    "Deprecated",
    "warn",
    "fixed",
    "check_resume_target",
    "suffixed_path",
]

DIGITS = 3  # decimals of a loss or a KL in nats as the commands print it: one precision everywhere


def fixed(value: float, digits: int = DIGITS) -> str:
    """`value` with `digits` decimals, never "-0.000" (a tiny negative rounds to 0)."""
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


class UsageError(Exception):
    """An error caused by the user's input: `klvae.cli.main` prints it in one line, without a
    traceback, and returns exit code 2.

    Examples
    --------
    >>> str(UsageError("--k must be at least 1"))
    '--k must be at least 1'
    """


def warn(command: str, message: str) -> None:
    print(f"klvae {command}: warning: {message}", file=sys.stderr)


class Deprecated(argparse.Action):
    """An old spelling of a flag: stores into the new field and prints one deprecation line.

    `values_map` turns the old flag into the new field's value (for a flag without a value)."""

    def __init__(self, option_strings, dest, *, new: str, value=None, **kw):
        self.new, self.value = new, value
        if value is not None:
            kw["nargs"] = 0
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        warn(parser.prog.split()[-1], f"{option_string} is deprecated; use {self.new}")
        setattr(namespace, self.dest, self.value if self.value is not None else values)


def check_resume_flags(given: dict, allowed: tuple[str, ...] | None = None) -> None:
    """On --resume the run's config.json is used: refuse any flag other than `allowed`
    (default: the loop settings a resume may change, `klvae.runs.folder.RESUME_OVERRIDES`)."""
    from klvae.runs.folder import RESUME_OVERRIDES

    allowed = RESUME_OVERRIDES if allowed is None else allowed
    fixed = sorted(set(given) - set(allowed) - {"resume"})
    if fixed:
        raise ValueError(
            f"--{fixed[0].replace('_', '-')} cannot change when resuming: the run's "
            f"config.json is used (only --{', --'.join(allowed).replace('_', '-')} "
            f"may be given)"
        )


def check_resume_target(command: str, run: str, epochs: int | None) -> None:
    """Refuse a --resume that cannot train: a run of the other kind (a VAE run given to `klvae gan`,
    a GAN run to `klvae train`), or a finished run that has already trained `epochs` epochs."""
    from safetensors import safe_open

    from klvae.runs.folder import CHECKPOINT, METRICS, read_config

    run_dir = Path(run)
    if not (run_dir / "config.json").is_file():
        return  # not a run folder: the job says what is missing
    config = read_config(run_dir)
    is_gan = "gan" in config
    if is_gan != (command == "gan"):
        kind, other = ("a GAN", "gan") if is_gan else ("a VAE", "train")
        raise UsageError(f"{run} is {kind} run: continue it with klvae {other} --resume {run}")
    if not ((run_dir / METRICS).is_file() and (run_dir / CHECKPOINT).is_file()):
        return  # stopped before its evaluation: resuming finishes it
    try:
        with safe_open(str(run_dir / CHECKPOINT), "pt", device="cpu") as f:
            done = int(json.loads((f.metadata() or {})["loop"])["epoch"])
    except Exception:  # a damaged checkpoint: the loop says what is wrong with it
        return
    target = epochs if epochs is not None else config["train"].get("epochs")
    if target is not None and done >= target:
        raise UsageError(
            f"nothing to train: {run} has finished {done} epoch{'s' * (done != 1)} "
            f"(--epochs {target}); give --epochs above {done} to train on, or klvae eval {run} to evaluate it again"
        )


def add_loop_flags(
    group, *, data_help: str, out_default: str, epochs: str, batch: str, lr: str, betas: tuple[str, str], amp: str
) -> None:
    """The TrainConfig flags, the same spelling and meaning in every training command."""
    group.add_argument("--data", help=data_help)
    group.add_argument("--out", metavar="DIR", help=f"run folder (default {out_default})")
    group.add_argument("--epochs", type=int, help=f"passes over the training set (default {epochs})")
    group.add_argument(
        "--batch-size", type=int, help=f"examples per step, over all processes under torchrun (default {batch})"
    )
    group.add_argument("--lr", type=float, help=f"Adam's learning rate (default {lr})")
    group.add_argument("--adam-beta1", type=float, help=f"Adam's β1, the memory of the gradients (default {betas[0]})")
    group.add_argument(
        "--adam-beta2", type=float, help=f"Adam's β2, the memory of the squared gradients (default {betas[1]})"
    )
    group.add_argument("--weight-decay", type=float, help="Adam's L2 weight decay (default 0)")
    group.add_argument(
        "--lr-schedule",
        choices=["linear", "cosine", "constant"],
        help="the rate decays to 0 over the epochs, or over --max-seconds when that ends first (default linear)",
    )
    group.add_argument("--seed", type=int, help="random seed (default 0)")
    group.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="where to train; auto: cuda when present (default auto)"
    )
    group.add_argument(
        "--max-seconds",
        type=float,
        help="budget of the training steps in seconds (resumes included); the final evaluation, "
        "figures and report come after it and are not counted (default none)",
    )
    group.add_argument("--log-every", type=int, help="steps between NaN checks and progress updates (default 50)")
    group.add_argument(
        "--threads", type=int, help="CPU threads for torch (default 1 below 200k parameters, else torch's default)"
    )
    group.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its checkpoint")
    group.add_argument(
        "--ckpt-steps", type=int, metavar="K", help="also checkpoint every K steps (default: after each epoch only)"
    )
    group.add_argument("--amp", choices=["auto", "none", "bf16"], help=amp)
    group.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile the step (default off: slower for small models on CPU)",
    )


def _where(state) -> str:
    """'at epoch 2, step 12', or 'after epoch 2, step 18' on an epoch's boundary."""
    if state.batch == 0 and state.epoch > 0:
        return f"after epoch {state.epoch}, step {state.step}"
    return f"at epoch {state.epoch + 1}, step {state.step}"


def run_training(command: str, train_fn, *args):
    """Call `train_fn(*args)` -> (run_dir, metrics); Ctrl-C and a diverging loss become exit codes.

    Returns (exit_code, run_dir, metrics): 130 after Ctrl-C or SIGTERM (a checkpoint was saved; the
    message says how to resume), 1 after a NaN or infinite loss (the last good checkpoint is kept),
    else 0.
    """
    from klvae.runs.folder import EvaluationInterrupted
    from klvae.training.task import NonFiniteLossError, TrainingInterrupted

    try:
        run_dir, metrics = train_fn(*args)
    except TrainingInterrupted as err:
        print(
            f"klvae {command}: interrupted {_where(err.state)}; "
            f"checkpoint saved. Resume with: klvae {command} --resume {err.checkpoint.parent}",
            file=sys.stderr,
        )
        return 130, None, None
    except EvaluationInterrupted as err:
        print(f"klvae {command}: {err}", file=sys.stderr)
        return 130, None, None
    except NonFiniteLossError as err:
        print(f"klvae {command}: error: {err}", file=sys.stderr)
        return 1, None, None
    return 0, run_dir, metrics


def suffixed_path(text: str, suffix: str, flag: str, what: str) -> Path:
    """The file a flag names: a name ending in `suffix` (any case), or without a suffix (`suffix` is
    added); another suffix is a UsageError saying what the file is (`what`)."""
    path = Path(text)
    if path.suffix.lower() == suffix:
        return path
    if path.suffix:
        raise UsageError(f"{flag} {text}: {what}; give a file name ending in {suffix}")
    return path.with_name(path.name + suffix)
