"""How fast the command line answers: `klvae --help`, every subcommand's `--help` and the measures
on numbers and files, beside `python -c pass` and `python -c "import numpy"`, each a fresh process.

Each row runs `repeats` times, interleaved with the two baselines (order rotated each round), and
reports the median wall time and its ratio to starting Python. Usage:

    python benchmarks/bench_cli.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PYTHON = sys.executable


def commands(folder: Path) -> list[tuple[str, list[str]]]:
    """(label, argv) of every row; the files the measures read are written into `folder`."""
    p, q = folder / "p.npy", folder / "q.csv"
    rng = np.random.default_rng(0)
    np.save(p, rng.dirichlet(np.ones(10), size=100))
    np.savetxt(q, rng.dirichlet(np.ones(10), size=100), delimiter=",")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from klvae.cli import build_parser

    klvae = [PYTHON, "-m", "klvae"]
    rows = [
        ("python -c pass", [PYTHON, "-c", "pass"]),
        ('python -c "import numpy"', [PYTHON, "-c", "import numpy"]),
        ('python -c "import torch"', [PYTHON, "-c", "import torch"]),
        ('python -c "import klvae.measures"', [PYTHON, "-c", "import klvae.measures"]),
        ("klvae --help", [*klvae, "--help"]),
    ]
    rows += [(f"klvae {name} --help", [*klvae, name, "--help"]) for name in sorted(build_parser()[1])]
    rows += [
        ("klvae entropy 0.5,0.25,0.25", [*klvae, "entropy", "0.5,0.25,0.25"]),
        ("klvae kl 0.5,0.5 0.25,0.75", [*klvae, "kl", "0.5,0.5", "0.25,0.75"]),
        ("klvae js 0.5,0.5 0.25,0.75", [*klvae, "js", "0.5,0.5", "0.25,0.75"]),
        ("klvae ce 0.5,0.5 0.25,0.75", [*klvae, "ce", "0.5,0.5", "0.25,0.75"]),
        (
            "klvae divergence … --measure hellinger",
            [*klvae, "divergence", "0.5,0.5", "0.25,0.75", "--measure", "hellinger"],
        ),
        ("klvae kl p.npy q.csv (100 rows)", [*klvae, "kl", str(p), str(q)]),
        (
            "klvae divergence p.npy q.csv --measure renyi --alpha 2",
            [*klvae, "divergence", str(p), str(q), "--measure", "renyi", "--alpha", "2"],
        ),
    ]
    return rows


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": "src"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = commands(Path(folder))
        times: dict[str, list[float]] = {label: [] for label, _ in rows}
        for r in range(args.repeats):
            order = rows[r % len(rows) :] + rows[: r % len(rows)]
            for label, argv in order:
                times[label].append(timed(argv))
    base = statistics.median(times["python -c pass"])
    print(f"load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}; medians of {args.repeats} runs\n")
    print("| command | median (s) | × python -c pass |")
    print("| --- | ---: | ---: |")
    for label, _ in rows:
        t = statistics.median(times[label])
        print(f"| `{label}` | {t:.3f} | {t / base:.1f}× |")


if __name__ == "__main__":
    main()
