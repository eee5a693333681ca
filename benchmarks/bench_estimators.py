"""The sample estimators at every size: time and peak memory against n, beside their peers.

For n = 10³ … 10⁶ samples per side (where each fits) in d = 1, 5, 50 (float64 NumPy in, the
CPU, standard normal samples, the second sample shifted by 0.1 on every coordinate), each
row times one call of a klvae estimator and of its peer in the same process (wall time, and
the CPU time of all the process's threads, which a loaded machine inflates less; the load
average is saved with each row) and gives each one's peak memory above what was resident
before the call (VmHWM after the peak was reset
through /proc/self/clear_refs; glibc is told to return freed blocks to the system, so
the figure is what the call itself held). The peers: scikit-learn's
``mutual_info_regression`` (KSG), scipy's ``energy_distance``, ``wasserstein_distance``
and ``differential_entropy`` (a different, spacing-based estimator: its value is shown
beside, not expected equal), POT's ``sliced_wasserstein_distance`` if POT is installed (an
optional benchmark-only dependency: ``pip install pot``; its directions differ from
klvae's, so the two sliced values agree only to Monte Carlo error), and klvae before this
rewrite ("before", the previous module read from git, run only where its memory fits).

Ends with the cost curve (CPU time against n on log–log axes, one line per estimator and peer,
slope of the fit over the points above 20 ms in the legend) in
benchmarks/estimators_cost.png and the rows in benchmarks/results/estimators.json.

Run: PYTHONPATH=src python benchmarks/bench_estimators.py [--quick] [--threads 2] [--only PREFIXES --append]
     PYTHONPATH=src python benchmarks/bench_estimators.py --table  (the saved rows as one table)
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import subprocess
import time
import types
from pathlib import Path

import numpy as np
import scipy.stats
import torch
from sklearn.feature_selection import mutual_info_regression

import klvae
from klvae.figures import new_figure, save_png

try:
    import ot  # POT, optional
except ImportError:  # pragma: no cover - optional
    ot = None

HERE = Path(__file__).resolve().parent
LIBC = ctypes.CDLL("libc.so.6")
LIBC.mallopt(-3, 65536)  # M_MMAP_THRESHOLD: large blocks are mapped, and unmapped when freed


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def measure(fn, *args):
    """(seconds, CPU seconds of all threads, peak bytes above the resident set before the call,
    value) of fn(*args)."""
    gc.collect()
    LIBC.malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set (VmHWM)
    base = _status("VmRSS:")
    t, c = time.perf_counter(), time.process_time()
    value = fn(*args)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    peak = _status("VmHWM:") - base
    value = getattr(value, "mmd2", value)
    return seconds, cpu, max(peak, 0), float(value)


def before_module():
    """The estimators as they were before the rewrite (from git), for the 'before' rows."""
    src = subprocess.run(
        ["git", "show", "7e1e380:src/klvae/measures/sample_estimators.py"],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
    ).stdout
    mod = types.ModuleType("before")
    exec(compile(src, "before_sample_estimators.py", "exec"), mod.__dict__)
    return mod


def data(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.1


def cases(before, quick: bool):
    """(estimator, d, n list, {library: callable(x, y)})."""
    big = [1_000, 10_000, 100_000, 1_000_000]
    sk = lambda x, y: mutual_info_regression(x, y[:, 0], n_neighbors=3, random_state=0)[0]  # noqa: E731

    def ksg_pair(x, y):
        return x[:, :1] / x[:, 0].std(ddof=1), (x[:, 0] + y[:, 0]) / (x[:, 0] + y[:, 0]).std(ddof=1)

    rows = [
        (
            "mmd2 (U, median σ)",
            5,
            [1_000, 5_000, 10_000, 20_000],
            {
                "klvae": lambda x, y: klvae.mmd2(x, y),
                "before": (lambda x, y: before.mmd2(x, y), 5_000),
            },
        ),
        (
            "mmd2, 200 permutations",
            5,
            [1_000, 5_000, 10_000, 20_000],
            {
                "klvae": lambda x, y: klvae.mmd2(x, y, permutations=200),
                "before": (lambda x, y: before.mmd2(x, y, permutations=200), 5_000),
            },
        ),
        ("mmd2, 1000 Fourier features", 5, big[:3], {"klvae": lambda x, y: klvae.mmd2(x, y, features=1000)}),
        (
            "mmd2, 1000 Fourier features, 200 permutations",
            5,
            big[:3],
            {"klvae": lambda x, y: klvae.mmd2(x, y, features=1000, permutations=200)},
        ),
        ("mmd2_linear", 5, big, {"klvae": lambda x, y: klvae.mmd2_linear(x, y)}),
        ("mmd2_block (B = √n)", 5, big[:3], {"klvae": lambda x, y: klvae.mmd2_block(x, y)}),
        (
            "energy_distance",
            1,
            big,
            {
                "klvae": lambda x, y: klvae.energy_distance(x, y),
                "scipy": lambda x, y: scipy.stats.energy_distance(x[:, 0], y[:, 0]),
                "before": (lambda x, y: before.energy_distance(x, y), 10_000),
            },
        ),
        (
            "energy_distance",
            5,
            [1_000, 5_000, 10_000, 20_000],
            {
                "klvae": lambda x, y: klvae.energy_distance(x, y),
                "before": (lambda x, y: before.energy_distance(x, y), 20_000),
            },
        ),
        ("energy_distance", 50, [1_000, 5_000, 10_000], {"klvae": lambda x, y: klvae.energy_distance(x, y)}),
        (
            "energy_distance, 10⁶ random pairs",
            5,
            big,
            {"klvae": lambda x, y: klvae.energy_distance(x, y, pairs=1_000_000)},
        ),
        (
            "sliced_wasserstein, p = 1",
            1,
            big,
            {
                "klvae": lambda x, y: klvae.sliced_wasserstein(x, y, p=1),
                "scipy": lambda x, y: scipy.stats.wasserstein_distance(x[:, 0], y[:, 0]),
            },
        ),
        (
            "sliced_wasserstein, 50 proj.",
            5,
            big,
            {
                "klvae": lambda x, y: klvae.sliced_wasserstein(x, y, n_projections=50),
                # POT holds all projections at once: about 1 GB at n = 10⁵, so 10 GB at 10⁶
                "POT": (lambda x, y: ot.sliced_wasserstein_distance(x, y, n_projections=50, p=2, seed=0), 100_000),
                "before": (lambda x, y: before.sliced_wasserstein(x, y, n_projections=50), 100_000),
            },
        ),
        (
            "sliced_wasserstein, 50 proj.",
            50,
            big[:3],
            {
                "klvae": lambda x, y: klvae.sliced_wasserstein(x, y, n_projections=50),
                "POT": lambda x, y: ot.sliced_wasserstein_distance(x, y, n_projections=50, p=2, seed=0),
            },
        ),
        (
            "knn_entropy",
            1,
            big,
            {
                "klvae": lambda x, y: klvae.knn_entropy(x),
                "scipy (spacings)": lambda x, y: scipy.stats.differential_entropy(x[:, 0]),
                "before": (lambda x, y: before.knn_entropy(x), 1_000_000),
            },
        ),
        (
            "knn_entropy",
            5,
            big[:3],
            {
                "klvae": lambda x, y: klvae.knn_entropy(x),
                "before": (lambda x, y: before.knn_entropy(x), 100_000),
            },
        ),
        ("knn_entropy", 50, [1_000, 10_000], {"klvae": lambda x, y: klvae.knn_entropy(x)}),
        (
            "knn_kl_divergence",
            5,
            big[:3],
            {
                "klvae": lambda x, y: klvae.knn_kl_divergence(x, y),
                "before": (lambda x, y: before.knn_kl_divergence(x, y), 100_000),
            },
        ),
        (
            "ksg_mutual_information",
            1,
            big,
            {
                "klvae": lambda x, y: klvae.ksg_mutual_information(*ksg_pair(x, y)),
                "scikit-learn": lambda x, y: sk(x[:, :1], x + y),
                "before": (lambda x, y: before.ksg_mutual_information(*ksg_pair(x, y)), 1_000_000),
            },
        ),
        (
            "ksg_mutual_information",
            5,
            big[:3],
            {
                "klvae": lambda x, y: klvae.ksg_mutual_information(x, x[:, :1] + y[:, :1]),
                "before": (lambda x, y: before.ksg_mutual_information(x, x[:, :1] + y[:, :1]), 100_000),
            },
        ),
    ]
    for name, d, ns, libs in rows:
        if ot is None:
            libs.pop("POT", None)
        yield name, d, (ns[:2] if quick else ns), libs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two smallest n only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table", action="store_true", help="the saved rows as one table, and the figure")
    parser.add_argument("--only", default="", help="estimator-name prefixes to run, separated by ; (default: all)")
    parser.add_argument(
        "--append", action="store_true", help="add the rows to the saved ones (replacing rows measured again)"
    )
    args = parser.parse_args()
    results = HERE / "results" / "estimators.json"
    if args.table:
        rows = json.loads(results.read_text())
        pivot(rows)
        plot(rows, HERE / "estimators_cost.png")
        return
    torch.set_num_threads(args.threads)
    before = before_module()
    out = []
    print("| estimator | d | n | library | time (s) | CPU (s) | peak (MB) | value | load |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    only = [p.strip() for p in args.only.split(";") if p.strip()]
    for name, d, ns, libs in cases(before, args.quick):
        if only and not any(name.startswith(p) for p in only):
            continue
        for n in ns:
            x, y = data(n, d)
            for lib, fn in libs.items():
                limit = math.inf
                if isinstance(fn, tuple):
                    fn, limit = fn
                if n > limit:
                    continue
                seconds, cpu, peak, value = measure(fn, x, y)
                load = os.getloadavg()[0]
                row = {"estimator": name, "d": d, "n": n, "library": lib, "seconds": seconds, "cpu": cpu}
                out.append({**row, "peak": peak, "value": value, "load": load})
                print(
                    f"| {name} | {d} | {n:,} | {lib} | {seconds:.3g} | {cpu:.3g} | {peak / 2**20:.0f} "
                    f"| {value:.6g} | {load:.1f} |",
                    flush=True,
                )
    results.parent.mkdir(exist_ok=True)
    if args.append and results.exists():
        out = merged(json.loads(results.read_text()), out)
    results.write_text(json.dumps(out, indent=1))
    plot(out, HERE / "estimators_cost.png")


def merged(saved, new):
    """The saved rows with those measured again replaced in place, and the new ones added."""
    key = lambda r: (r["estimator"], r["d"], r["n"], r["library"])  # noqa: E731
    fresh = {key(r): r for r in new}
    out = [fresh.pop(key(r), r) for r in saved]
    return out + [r for r in new if key(r) in fresh]


def pivot(rows) -> None:
    """One line per (estimator, d, n): klvae, its peer and the code before, side by side."""
    groups: dict[tuple, dict] = {}
    for r in rows:
        groups.setdefault((r["estimator"], r["d"], r["n"]), {})[r["library"]] = r
    print(
        "| estimator | d | n | klvae s | klvae CPU s | klvae MB | peer | peer s | peer MB | before s | before CPU s "
        "| before MB | klvae value | peer value |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (name, d, n), libs in groups.items():
        k, b = libs["klvae"], libs.get("before")
        peer_name = next((lib for lib in libs if lib not in ("klvae", "before")), None)
        p = libs.get(peer_name) if peer_name else None

        def cell(r, key, f):
            if r is None or key not in r:
                return "—"
            return format(r[key] / (2**20 if key == "peak" else 1), f)

        print(
            f"| {name} | {d} | {n:,} | {k['seconds']:.3g} | {cell(k, 'cpu', '.3g')} | {k['peak'] / 2**20:.0f} "
            f"| {peer_name or '—'} | {cell(p, 'seconds', '.3g')} | {cell(p, 'peak', '.0f')} "
            f"| {cell(b, 'seconds', '.3g')} | {cell(b, 'cpu', '.3g')} | {cell(b, 'peak', '.0f')} "
            f"| {k['value']:.6g} | {cell(p, 'value', '.6g')} |"
        )


def slope(points) -> float | None:
    """Least-squares slope of log t against log n over the points above 20 ms."""
    pts = [(n, t) for n, t in points if t > 0.02]
    if len(pts) < 2:
        return None
    return float(np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0])


PANELS = (
    ("MMD²", ("mmd2",)),
    ("energy distance and sliced W", ("energy", "sliced")),
    ("k-NN estimators and KSG", ("knn", "ksg")),
)


def plot(rows, path: Path) -> None:
    """CPU time against n on log–log axes, one panel per family, one line per estimator, d and library."""
    fig = new_figure(16, 6.5)
    lines: dict[tuple, list] = {}
    for r in rows:  # CPU time: a machine shared with other jobs inflates wall time far more
        lines.setdefault((r["estimator"], r["d"], r["library"]), []).append((r["n"], r.get("cpu", r["seconds"])))
    print("\n| line | slope of log CPU t on log n (points > 20 ms) |\n| --- | ---: |")
    for i, (title, prefixes) in enumerate(PANELS):
        ax = fig.add_subplot(1, 3, i + 1)
        for (name, d, lib), pts in lines.items():
            if len(pts) < 2 or not name.startswith(prefixes):
                continue
            s = slope(pts)
            label = f"{name}, d = {d}, {lib}" + (f" (slope {s:.2f})" if s is not None else "")
            style = "-" if lib == "klvae" else ("--" if lib == "before" else ":")
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", markersize=3, label=label)
            print(f"| {name}, d = {d}, {lib} | {'—' if s is None else f'{s:.2f}'} |")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n (samples per side)")
        ax.set_ylabel("CPU time of one call (s)")
        ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, frameon=False)
    fig.suptitle("CPU time against n (solid klvae, dashed before, dotted peers; slope of the fit over points > 20 ms)")
    fig.tight_layout()
    save_png(fig, path)


if __name__ == "__main__":
    main()
