"""`klvae entropy / kl / js / ce`: information measures of distributions given on the command line.

A distribution is a comma list (``0.5,0.25,0.25``) or a ``.npy`` / ``.csv`` file; a 2-D
file holds one distribution per row and prints one value per row, with its unit.
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from klvae import info
from klvae.cli.common import UsageError
from klvae.data import DataError, read_npy_header
from klvae.hardware import torch_threads
from klvae.mixture import kl_numerical, parse_mixture
from klvae.plots import plot_kl_integrand

# name -> (function name in klvae.info, number of distributions, help)
_COMMANDS = {
    "entropy": ("entropy", 1, "Shannon entropy H(P)"),
    "kl": ("kl_divergence", 2, "KL divergence KL(P‖Q)"),
    "js": ("js_divergence", 2, "Jensen–Shannon divergence JS(P, Q)"),
    "ce": ("cross_entropy", 2, "cross-entropy H(P, Q) = H(P) + KL(P‖Q)"),
}


def _base(text: str) -> float:
    if text.lower() == "e":
        return math.e
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'e', got {text!r}") from None


def _read_npy(path: Path, source: str) -> np.ndarray:
    """A .npy of real numbers as float64, its header checked against the file's size first."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise UsageError(f"{source}: the file is empty (0 bytes)")
        try:
            _, dtype = read_npy_header(f, size, source)
        except DataError as err:
            raise UsageError(str(err)) from None
        # float64 holds every value of these exactly (64-bit integers up to 2**53); long double,
        # complex, text and dates it cannot, so those are refused rather than rounded or cast.
        if not (dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8)):
            raise UsageError(f"{source}: dtype {dtype} is not supported: save the probabilities "
                             f"as float64 (or float32, float16, integers)")
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False).astype(np.float64, copy=False)


def load_distribution(text: str, name: str) -> np.ndarray:
    """Read a distribution argument: a `.npy` or `.csv` file, or a comma-separated list.

    Files come back as float64 arrays; a file that holds no numbers, or that is not a plain
    array of real numbers, raises `UsageError` naming the argument and the file.
    """
    if text.endswith((".npy", ".csv")):
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"{name}: no such file: {text}")
        try:
            if text.endswith(".npy"):
                values = _read_npy(path, f"{name}: {text}")
            else:
                with warnings.catch_warnings():  # an empty file: said once below, not as a warning
                    warnings.filterwarnings("ignore", message=".*input contained no data")
                    values = np.loadtxt(path, delimiter=",", ndmin=1, dtype=np.float64)
        except (ValueError, OSError) as err:
            raise UsageError(f"{name}: cannot read {text}: {err}") from None
        if values.size == 0:
            raise UsageError(f"{name}: {text} holds no numbers")
        return values
    try:
        return np.array([float(x) for x in text.split(",")], dtype=np.float64)
    except ValueError:
        raise UsageError(
            f"{name}: expected comma-separated numbers like 0.5,0.25,0.25 or a .npy/.csv file, got {text!r}"
        ) from None


def _run(args: argparse.Namespace) -> int:
    func_name, n_args, _ = _COMMANDS[args.command]
    if getattr(args, "density", False) or getattr(args, "plot", None):
        return kl_plot(args)
    dists = [load_distribution(args.P, "P")]
    if n_args == 2:
        dists.append(load_distribution(args.Q, "Q"))
    unit = info.unit_name(args.base)
    value = getattr(info, func_name)(*dists, base=args.base, normalize=args.normalize)
    for v in np.atleast_1d(value).ravel():
        print(f"{float(v):.15g} {unit}")
    return 0


def register(subparsers) -> None:
    """Add `entropy`, `kl`, `js` and `ce` to the `klvae` command line."""
    for command, (_, n_args, help_text) in _COMMANDS.items():
        cmd = subparsers.add_parser(
            command,
            help=help_text,
            description=f"{help_text}. Distributions are comma lists (0.5,0.25,0.25) or .npy/.csv "
            "files (one distribution per row).",
        )
        cmd.add_argument("P", help="probabilities: comma list or .npy/.csv file")
        if n_args == 2:
            cmd.add_argument("Q", help="probabilities, same length as P: comma list or .npy/.csv file")
        cmd.add_argument("--base", type=_base, default=None,
                         help="logarithm base: 2 for bits, 10 for dits, e (default) for nats")
        cmd.add_argument("--normalize", action="store_true",
                         help="rescale each row to sum to 1 instead of rejecting it (default off)")
        if command == "kl":
            cmd.add_argument("--plot", metavar="PNG", help="also draw p, q and p·log(p/q) to this PNG file "
                             "(default: no figure)")
            cmd.add_argument("--density", action="store_true",
                             help="P and Q are 1-D Gaussian mixtures 'w:mu:sigma,...' (KL by integration; "
                             "default off)")
        cmd.set_defaults(func=_run)


def kl_plot(args: argparse.Namespace) -> int:
    """`klvae kl P Q [--density] [--plot PNG]`: print KL(P‖Q) and draw its integrand."""
    unit = info.unit_name(args.base)
    log_base = 1.0 if args.base is None else math.log(args.base)
    p: Any
    q: Any  # two mixtures (--density) or two probability vectors
    if args.density:
        p, q = parse_mixture(args.P), parse_mixture(args.Q)
    else:
        p, q = load_distribution(args.P, "P"), load_distribution(args.Q, "Q")
        if args.normalize:
            p, q = p / p.sum(), q / q.sum()
        if p.ndim != 1 or q.ndim != 1:
            raise ValueError(f"--plot draws one pair of distributions; got P of shape {p.shape} "
                             f"and Q of shape {q.shape}")
    path = None
    with torch_threads(1):  # small tensors: one thread is faster than contending for cores
        if args.plot:
            path, value = plot_kl_integrand(p, q, args.plot, base=args.base, labels=("P", "Q"))
        elif args.density:
            value = kl_numerical(p, q) / log_base
        else:
            value = float(info.kl_divergence(p, q, base=args.base))
    print(f"{float(value):.15g} {unit}")
    if path is not None:
        print(f"wrote {path}")
    return 0
