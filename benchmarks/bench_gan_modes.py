"""Mode coverage of GAN losses on ring8 and grid25: minimax, non-saturating, WGAN-GP, PacGAN2.

Each configuration trains `klvae gan`'s default 2-D GAN (the same networks, loop and budget
for all: 8 epochs of 100000 points in batches of 256 = 3128 discriminator/critic updates,
Adam lr 1e-3 decayed linearly to 0) for several seeds, then scores 2500 samples: modes
captured, high-quality share (within 3σ of the nearest mode) and reverse KL of the mode
histogram (nats). Printed: mean ± standard error over seeds, next to PacGAN's table 1 (10
trials, their own networks and budget; a reference, not a target). Runs go to a temporary
folder unless --out is given; two worker processes by default (one torch thread each).

    python benchmarks/bench_gan_modes.py             # 5 seeds, about 30-60 minutes on 2 cores
    python benchmarks/bench_gan_modes.py --seeds 2 --epochs 1   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

CONFIGS = [  # (label, loss, pack)
    ("minimax", "minimax", 1),
    ("nonsaturating", "nonsaturating", 1),
    ("wasserstein (WGAN-GP)", "wasserstein", 1),
    ("PacGAN2 (nonsaturating, pack 2)", "nonsaturating", 2),
]
DATA = ("ring8", "grid25")
# Lin et al., "PacGAN" (2018), table 1: (modes, high-quality %, reverse KL), mean of 10 trials.
PACGAN_TABLE1 = {
    ("GAN", "ring8"): (6.3, 98.2, 0.45),
    ("GAN", "grid25"): (17.3, 94.8, 0.70),
    ("PacGAN2", "ring8"): (7.9, 95.6, 0.07),
    ("PacGAN2", "grid25"): (23.8, 91.3, 0.13),
}


def _one(job: dict) -> dict:
    """Train one configuration with one seed in this process; returns its final metrics."""
    import torch

    from klvae.gan.model import GANConfig
    from klvae.runs.gan.job import defaults as train_defaults
    from klvae.runs.gan.job import train_gan
    from klvae.training.config import TrainConfig

    torch.set_num_threads(1)
    settings = {"data": job["data"], **train_defaults(job["data"], job["loss"])}
    if job["epochs"] is not None:
        settings["epochs"] = job["epochs"]
    train = TrainConfig(**settings, seed=job["seed"], out=job["out"], threads=1)
    start = time.perf_counter()
    _, metrics = train_gan(GANConfig(loss=job["loss"], pack=job["pack"]), train, figures=False)
    return {
        **job,
        **{k: metrics[k] for k in ("modes", "high_quality", "reverse_kl", "steps")},
        "seconds": time.perf_counter() - start,
    }


def _mean_se(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return statistics.fmean(values), se


def _pm(mean_se: tuple[float, float], digits: int) -> str:
    mean, se = mean_se
    return f"{mean:.{digits}f}" + (f" ± {se:.{digits}f}" if math.isfinite(se) else "")


def table(results: list[dict]) -> str:
    """Markdown table: one row per (configuration, data), mean ± s.e. over seeds, then PacGAN's."""
    lines = [
        "| configuration | data | seeds | modes | high quality (%) | reverse KL (nats) | s / run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for data in DATA:
        for label, _, _ in CONFIGS:
            rows = [r for r in results if r["label"] == label and r["data"] == data]
            if not rows:
                continue
            modes = _mean_se([r["modes"] for r in rows])
            hq = _mean_se([100 * r["high_quality"] for r in rows])
            rkl = _mean_se([r["reverse_kl"] for r in rows])
            secs = statistics.median(r["seconds"] for r in rows)
            undefined = sum(r["reverse_kl"] is None for r in rows)  # no high-quality sample at all
            note = f" ({undefined} run{'s' if undefined > 1 else ''} undefined)" if undefined else ""
            lines.append(
                f"| {label} | {data} | {len(rows)} | {_pm(modes, 1)} | {_pm(hq, 1)} | "
                f"{_pm(rkl, 3)}{note} | {secs:.0f} |"
            )
        for name in ("GAN", "PacGAN2"):
            m, h, k = PACGAN_TABLE1[(name, data)]
            lines.append(f"| PacGAN paper, table 1: {name} | {data} | 10 | {m} | {h} | {k} | — |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per configuration (5)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (klvae's default, 8)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (2)")
    parser.add_argument("--out", help="folder for the run folders and results.json (a temporary folder)")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=DATA)
    args = parser.parse_args(argv)
    root = Path(args.out or tempfile.mkdtemp(prefix="bench_gan_modes_"))
    # seeds outermost and configurations alternating, so a stopped benchmark still compares them all
    jobs = [
        {
            "label": label,
            "loss": loss,
            "pack": pack,
            "data": data,
            "seed": seed,
            "epochs": args.epochs,
            "out": str(root / f"{data}-{loss}-pack{pack}-seed{seed}"),
        }
        for seed in range(args.seeds)
        for data in args.data
        for label, loss, pack in CONFIGS
    ]
    print(
        f"{len(jobs)} runs ({args.seeds} seeds × {len(CONFIGS)} configurations × "
        f"{len(args.data)} data sets), {args.workers} workers, runs in {root}",
        flush=True,
    )
    start = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for r in pool.map(_one, jobs):
            results.append(r)
            rkl = r["reverse_kl"] if r["reverse_kl"] is not None else float("nan")
            print(
                f"  {r['data']:<7} {r['label']:<32} seed {r['seed']}: {r['modes']:>2} modes, "
                f"{r['high_quality']:.1%} HQ, rKL {rkl:.3f} ({r['seconds']:.0f} s)",
                flush=True,
            )
    total = time.perf_counter() - start
    (root / "results.json").write_text(json.dumps(results, indent=2))
    print()
    print(table(results))
    steps = results[0]["steps"]
    print(
        f"\nbudget per run: {steps} discriminator/critic updates on batches of 256 real points "
        f"(generator updates: {steps} for minimax / nonsaturating / PacGAN2, {steps // 5} for "
        f"WGAN-GP with n_critic = 5); wall time {total / 60:.1f} min for {len(results)} runs on "
        f"{args.workers} workers"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
