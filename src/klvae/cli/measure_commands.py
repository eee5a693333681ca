"""`klvae entropy / kl / js / ce`: information measures of distributions given on the command line.

A distribution is a comma list (``0.5,0.25,0.25``) or a ``.npy`` / ``.csv`` file; a 2-D
file holds one distribution per row and prints one value per row, with its unit.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

from klvae.cli.common import UsageError
from klvae.cli.measure_output import NO_UNIT, png_path, with_unit

_NAMED = re.compile(r"^\s*[A-Za-z_]\w*\s*\(")  # "Normal(0, 1)": a distribution's name and its arguments

# name -> (function name in klvae.measures, number of distributions, help)
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


def _read_npy(path: Path, source: str):
    """A .npy of real numbers as float64, its header checked against the file's size first."""
    import numpy as np

    from klvae.data.files import DataError, read_npy_header

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
            raise UsageError(
                f"{source}: dtype {dtype} is not supported: save the probabilities "
                f"as float64 (or float32, float16, integers)"
            )
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False).astype(np.float64, copy=False)


def load_distribution(text: str, name: str):
    """Read a distribution argument: a `.npy` or `.csv` file, or a comma-separated list.

    Files come back as float64 arrays; a file that holds no numbers, or that is not a plain
    array of real numbers, raises `UsageError` naming the argument and the file. A named
    distribution such as ``Normal(0, 1)`` is refused with the advice to add ``--dist``.
    """
    import numpy as np

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
        if _NAMED.match(text):
            advice = "add --dist to read it as one"
            raise UsageError(f"{name}: {text!r} is a distribution, not probabilities: {advice}") from None
        raise UsageError(
            f"{name}: expected comma-separated numbers like 0.5,0.25,0.25 or a .npy/.csv file, got {text!r}"
        ) from None


def _measure(fn, *args, **kwargs):
    """Call a measure; its advice about the keyword `normalize=True` becomes the flag's."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError) as err:  # TypeError: a pair of distributions the measure does not take
        raise ValueError(str(err).replace("pass normalize=True", "pass --normalize")) from None


def _run(args: argparse.Namespace) -> int:
    func_name, n_args, _ = _COMMANDS[args.command]
    if args.dist:
        if getattr(args, "density", False) or args.normalize:
            raise UsageError("--dist takes distributions such as 'Beta(2, 3)': no --density or --normalize")
        from klvae.cli.distribution_commands import run_dist

        return run_dist(args, args.command)
    if getattr(args, "density", False) or getattr(args, "plot", None):
        return kl_plot(args)
    dists = [load_distribution(args.P, "P")]
    if n_args == 2:
        dists.append(load_distribution(args.Q, "Q"))
    import numpy as np

    from klvae import measures

    unit = measures.unit_name(args.base)
    value = _measure(getattr(measures, func_name), *dists, base=args.base, normalize=args.normalize)
    for v in np.atleast_1d(value).ravel():
        print(with_unit(float(v), unit))
    return 0


# --measure -> (function in klvae.measures, help, has a unit); Rényi is in the log
# base, the others are pure numbers and say so ("(no unit)")
_DIVERGENCES = {
    "hellinger": ("hellinger_distance", "Hellinger distance H(P, Q) = √(½ Σ (√p − √q)²), in [0, 1]", False),
    "tv": ("total_variation", "total variation ½ Σ |p − q|, in [0, 1]", False),
    "chi2": ("chi2_divergence", "Pearson χ²(P‖Q) = Σ (p − q)²/q", False),
    "renyi": ("renyi_divergence", "Rényi divergence D_α(P‖Q) = log(Σ p^α q^(1−α))/(α − 1)", True),
    "alpha": ("alpha_divergence", "Amari α-divergence (Σ p^α q^(1−α) − 1)/(α(α − 1))", False),
}


def _divergence(args: argparse.Namespace) -> int:
    fn_name, _, has_unit = _DIVERGENCES[args.measure]
    if args.measure in ("renyi", "alpha") and args.alpha is None:
        raise UsageError(f"--measure {args.measure} needs --alpha")
    if args.measure not in ("renyi", "alpha") and args.alpha is not None:
        raise UsageError(f"--alpha applies to renyi and alpha, not {args.measure}")
    if args.base is not None and not has_unit:
        raise UsageError(f"--base applies to renyi (a log), not {args.measure}")
    if args.dist:
        if args.normalize:
            raise UsageError("--dist takes distributions such as 'Beta(2, 3)': no --normalize")
        from klvae.cli.distribution_commands import run_dist

        return run_dist(args, args.measure, args.alpha)
    extra = {"base": args.base} if has_unit else {}
    alpha = () if args.alpha is None else (args.alpha,)
    p, q = load_distribution(args.P, "P"), load_distribution(args.Q, "Q")
    import numpy as np

    from klvae import measures

    value = _measure(getattr(measures, fn_name), p, q, *alpha, **extra, normalize=args.normalize)
    unit = measures.unit_name(args.base) if has_unit else NO_UNIT
    for v in np.atleast_1d(value).ravel():
        print(with_unit(float(v), unit))
    return 0


def register(subparsers) -> None:
    """Add `entropy`, `kl`, `js`, `ce` and `divergence` to the `klvae` command line."""
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
        cmd.add_argument(
            "--base", type=_base, default=None, help="logarithm base: 2 for bits, 10 for dits, e (default) for nats"
        )
        cmd.add_argument(
            "--normalize",
            action="store_true",
            help="rescale each row to sum to 1 instead of rejecting it (default off)",
        )
        _add_dist_flags(cmd, two=n_args == 2)
        if command == "kl":
            cmd.add_argument(
                "--plot",
                metavar="PNG",
                help="also draw p, q and p·log(p/q) to this PNG file, a name ending in .png; with --dist, "
                "for two distributions of one variable (default: no figure)",
            )
            cmd.add_argument(
                "--density",
                action="store_true",
                help="P and Q are 1-D Gaussian mixtures 'w:mu:sigma,...' (KL by integration; default off)",
            )
        cmd.set_defaults(func=_run)
    d = subparsers.add_parser(
        "divergence",
        help="Hellinger, total variation, χ², Rényi or Amari α divergence of P and Q",
        description="One member of the f-divergence and Rényi families between two distributions: comma "
        "lists or .npy/.csv files (one value per row), or with --dist two distributions such as 'Beta(2, 3)' "
        "'Gamma(2, 1)'. Measures: " + "; ".join(f"{k}: {v[1]}" for k, v in _DIVERGENCES.items()) + ".",
    )
    d.add_argument("P", help="probabilities (comma list or .npy/.csv file), or a distribution with --dist")
    d.add_argument("Q", help="the same for Q")
    d.add_argument(
        "--measure", choices=sorted(_DIVERGENCES), required=True, help="which divergence (required: no default)"
    )
    d.add_argument("--alpha", type=float, help="the order α of renyi and alpha (required by them; default none)")
    d.add_argument(
        "--base",
        type=_base,
        default=None,
        help="logarithm base of renyi: 2 for bits, 10 for dits, e (default) for nats",
    )
    d.add_argument(
        "--normalize", action="store_true", help="rescale each row to sum to 1 instead of rejecting it (default off)"
    )
    _add_dist_flags(d, two=True)
    d.set_defaults(func=_divergence)


def _add_dist_flags(cmd, *, two: bool) -> None:
    """--dist and --samples: the arguments are distributions written as text, such as 'Beta(2, 3)'."""
    what = "P and Q are distributions" if two else "P is a distribution"
    cmd.add_argument(
        "--dist",
        action="store_true",
        help=f"{what} such as 'Beta(2, 3)', 'Poisson(3)' or 'Normal(0, [1, 2])': a closed form where there "
        "is one, else quadrature or summation with its error bound, else Monte Carlo ± its standard error "
        "(default off)",
    )
    cmd.add_argument(
        "--samples",
        type=int,
        default=100_000,
        help="Monte Carlo samples when --dist has no closed form or quadrature (default 100000)",
    )


def kl_plot(args: argparse.Namespace) -> int:
    """`klvae kl P Q [--density] [--plot PNG]`: print KL(P‖Q) and draw its integrand."""
    from klvae.measures import discrete
    from klvae.measures.mixture import parse_mixture
    from klvae.measures.numerical_kl import kl_numerical
    from klvae.training.hardware import torch_threads

    png = png_path(args.plot) if args.plot else None  # refused before any work
    unit = discrete.unit_name(args.base)
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
            raise ValueError(
                f"--plot draws one pair of distributions; got P of shape {p.shape} and Q of shape {q.shape}"
            )
    path, numerical = None, None
    with torch_threads(1):  # small tensors: one thread is faster than contending for cores
        if args.density:
            numerical = kl_numerical(p, q)
            value = numerical / log_base
        else:
            value = float(discrete.kl_divergence(p, q, base=args.base))
        if png is not None:
            from klvae.figures.integrands import plot_kl_integrand

            path, _ = plot_kl_integrand(p, q, png, base=args.base, labels=("P", "Q"))
    print(with_unit(float(value), unit))
    if numerical is not None:  # say how exact the integral is
        print(
            f"  ({numerical.method}; absolute error ≤ {numerical.error / log_base:.1e} {unit})"
            if numerical.method != "closed form"
            else "  (closed form: both are single Gaussians)"
        )
    if path is not None:
        print(f"wrote {path}")
    return 0
