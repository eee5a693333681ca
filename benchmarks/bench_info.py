"""klvae.info against scipy on (1000, 10000) float64 rows: entropy, KL, JS distance.

Both libraries get the same NumPy arrays and return NumPy; klvae's conversion and its
input validation are inside the timed call. Runs alternate scipy / klvae and the table
shows medians. Results are checked to agree to 1e-12 (relative) before timing.

    python benchmarks/bench_info.py [--rows 1000] [--cols 10000] [--repeats 7] [--threads N]
"""

from __future__ import annotations

import argparse
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
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--cols", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

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
    print(
        f"klvae.info vs scipy {scipy.__version__}: ({args.rows}, {args.cols}) float64, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"median of {args.repeats} alternating runs"
    )
    print(f"| measure | scipy (ms) | klvae (ms) | speed-up |")
    print(f"| --- | ---: | ---: | ---: |")
    for name, ref, ours in cases:
        expected, got = ref(), ours()
        rel = np.max(np.abs(got - expected) / np.abs(expected))
        assert rel <= 1e-12, f"{name}: klvae and scipy differ by {rel:.3g} (relative)"
        t_ref, t_ours = [], []
        for _ in range(args.repeats):
            t_ref.append(_timed(ref)[0])
            t_ours.append(_timed(ours)[0])
        a, b = statistics.median(t_ref), statistics.median(t_ours)
        print(f"| {name} | {a * 1e3:.1f} | {b * 1e3:.1f} | {a / b:.1f}× |")


if __name__ == "__main__":
    main()
