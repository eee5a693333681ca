"""klvae.measures.discrete against scipy on (1000, 10000) float64 rows: entropy, KL, JS distance.

Both libraries get the same NumPy arrays and return NumPy; klvae's conversion and its
input validation are inside the timed call. Runs alternate scipy / klvae (the order
flips every repeat) and the table shows medians. Results are checked to agree to 1e-12
(relative) before timing. Each thread count sets ``torch.set_num_threads``, which is
also the number of workers klvae's NumPy path uses for its row chunks; scipy runs on one
core either way. The load average is printed because the figures mean little without it.

    python benchmarks/bench_info.py [--rows 1000] [--cols 10000] [--repeats 9] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import scipy.spatial.distance
import scipy.stats
import torch

import klvae


def _rows(rng, shape):
    x = rng.gamma(1.0, size=shape) + 1e-12  # Dirichlet(1) rows, strictly positive
    return x / x.sum(-1, keepdims=True)


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _load():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--cols", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", default="1,2", help="comma list of torch thread counts to run")
    args = ap.parse_args(argv)
    thread_counts = [int(t) for t in args.threads.split(",")]

    rng = np.random.default_rng(0)
    p = _rows(rng, (args.rows, args.cols))
    q = _rows(rng, (args.rows, args.cols))
    cases = [
        ("entropy", lambda: scipy.stats.entropy(p, axis=-1), lambda: klvae.entropy(p)),
        ("KL", lambda: scipy.stats.entropy(p, q, axis=-1), lambda: klvae.kl_divergence(p, q)),
        (
            "JS distance",
            lambda: scipy.spatial.distance.jensenshannon(p, q, axis=-1),
            lambda: klvae.js_distance(p, q),
        ),
    ]
    for name, ref, ours in cases:
        expected, got = ref(), ours()
        rel = np.max(np.abs(got - expected) / np.abs(expected))
        assert rel <= 1e-12, f"{name}: klvae and scipy differ by {rel:.3g} (relative)"

    print(
        f"klvae.measures.discrete vs scipy {scipy.__version__}: ({args.rows}, {args.cols}) float64, "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, median of {args.repeats} alternating runs"
    )
    print("| measure | threads | scipy (ms) | klvae (ms) | speed-up | load average (1/5/15 min) |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for threads in thread_counts:
        torch.set_num_threads(threads)
        for name, ref, ours in cases:
            t_ref, t_ours = [], []
            for i in range(args.repeats):
                first, second = (ref, ours) if i % 2 == 0 else (ours, ref)
                a, b = _timed(first), _timed(second)
                t_ref.append(a if i % 2 == 0 else b)
                t_ours.append(b if i % 2 == 0 else a)
            a, b = statistics.median(t_ref), statistics.median(t_ours)
            print(f"| {name} | {threads} | {a * 1e3:.1f} | {b * 1e3:.1f} | {a / b:.1f}× | {_load()} |")


if __name__ == "__main__":
    main()
