"""The `klvae` command line: one subcommand per job, each a thin layer over the library.

Each module in this package defines `register(subparsers)`, which adds its subcommands
and sets `func` on them. A `func` returns an exit code. Errors a user can fix (bad input,
missing files) are raised as `klvae.cli.UsageError` or `ValueError` and printed as one
line with exit code 2; nothing runs at import time.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "UsageError"]


class UsageError(Exception):
    """An error caused by the user's input: printed without a traceback, exit code 2."""


def check_resume_flags(given: dict, allowed: tuple[str, ...]) -> None:
    """On --resume the run's config.json is used: refuse any flag other than `allowed`."""
    fixed = sorted(set(given) - set(allowed) - {"resume"})
    if fixed:
        raise ValueError(f"--{fixed[0].replace('_', '-')} cannot change when resuming: the run's "
                         f"config.json is used (only --{', --'.join(allowed).replace('_', '-')} "
                         f"may be given)")


def run_training(command: str, train_fn, *args):
    """Call `train_fn(*args)` -> (run_dir, metrics); Ctrl-C and a diverging loss become exit codes.

    Returns (exit_code, run_dir, metrics): 130 after Ctrl-C (a checkpoint was saved; the message says
    how to resume), 1 after a NaN or infinite loss (the last good checkpoint is kept), else 0.
    """
    from klvae.train import NonFiniteLossError, TrainingInterrupted

    try:
        run_dir, metrics = train_fn(*args)
    except TrainingInterrupted as err:
        print(f"klvae {command}: interrupted at epoch {err.state.epoch + 1}, step {err.state.step}; "
              f"checkpoint saved. Resume with: klvae {command} --resume {err.checkpoint.parent}",
              file=sys.stderr)
        return 130, None, None
    except NonFiniteLossError as err:
        print(f"klvae {command}: error: {err}", file=sys.stderr)
        return 1, None, None
    return 0, run_dir, metrics


def build_parser() -> argparse.ArgumentParser:
    from klvae import __version__
    from klvae.cli import (  # add each command module here
        experiment_commands, gan_commands, info_commands, vae_commands)

    parser = argparse.ArgumentParser(
        prog="klvae",
        description="Information measures, and the VAE and GAN built on them.",
    )
    parser.add_argument("--version", action="version", version=f"klvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (info_commands, experiment_commands, vae_commands, gan_commands):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, FileNotFoundError) as err:
        print(f"klvae {args.command}: error: {err}", file=sys.stderr)
        return 2
