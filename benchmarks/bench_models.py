"""The VAE family under one honest protocol: each model trained for the same time budget, then
evaluated once on the test set.

Rows: VAE, IWAE k = 5, IWAE k = 50, VampPrior (K = 500 pseudo-inputs), two-layer VAE and
two-layer IWAE k = 5, each with klvae's defaults for the image size (28×28: 1024 hidden units,
32 latents — two layers add z2 of 16 through 128 units —, batch 256, Adam 3e-3 with β2 0.95,
the rate decaying linearly to 0 over the budget), dynamically binarized pixels, the Bernoulli
likelihood and 10 % of the training images held out for the validation curve. Every model
goes through `klvae.runs.vae.train_vae`, the code path of `klvae train`, with `--max-seconds`
set to the budget; then `klvae.vae.evaluate_vae` on the test set (binarized once with klvae's
fixed seed): −log p(x) by importance sampling with k draws (± one standard error over the test
images), each row's difference from the VAE (± the standard error of the per-image differences,
which the shared images make far smaller), the ELBO (± SE), active units per layer and the KL
split (index-code MI, total correlation, dimension-wise KL; one layer and the N(0, I) prior only).

Rows run one after another, each in a process of its own and alone on the machine; the load
average before each is printed, since a busy machine gives a model fewer epochs in its budget. Each row's metrics are
written to OUT/<row>/metrics.json as it finishes, so an interrupted benchmark resumes at the
first row without them (`--out` the same folder); `--finished` prints the table of the rows done.

    PYTHONPATH=src python benchmarks/bench_models.py --data fashion-mnist --budget 600 --iw-k 5000 \\
        [--rows vae,iwae5,iwae50,vamp,vae2,iwae2] [--threads 2] [--out bench-models-600]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from klvae.hardware import cpu_has_bf16
from klvae.runs.folder import read_per_image
from klvae.runs.vae import train_vae
from klvae.train import TrainConfig
from klvae.vae import ELBOConfig, VAEConfig, paired_difference

ROWS = {
    "vae": ("VAE", VAEConfig(), ELBOConfig()),
    "iwae5": ("IWAE k = 5", VAEConfig(), ELBOConfig(objective="iwae", k_train=5)),
    "iwae50": ("IWAE k = 50", VAEConfig(), ELBOConfig(objective="iwae", k_train=50)),
    "vamp": ("VampPrior, K = 500", VAEConfig(prior="vamp", pseudo_inputs=500), ELBOConfig()),
    "vae2": ("two-layer VAE", VAEConfig(stochastic_layers=2), ELBOConfig()),
    "iwae2": ("two-layer IWAE k = 5", VAEConfig(stochastic_layers=2), ELBOConfig(objective="iwae", k_train=5)),
    "dreg5": ("IWAE k = 5, DReG", VAEConfig(), ELBOConfig(objective="iwae", k_train=5, dreg=True)),
    "vamp100": ("VampPrior, K = 100", VAEConfig(prior="vamp", pseudo_inputs=100), ELBOConfig()),
    "vampiwae": ("IWAE k = 5, VampPrior", VAEConfig(prior="vamp"), ELBOConfig(objective="iwae", k_train=5)),
    "vampdeep": ("VampPrior, 1024-1024 networks", VAEConfig(prior="vamp", hidden=(1024, 1024)), ELBOConfig()),
    "vampiwae2": (
        "two-layer IWAE k = 5, VampPrior",
        VAEConfig(stochastic_layers=2, prior="vamp"),
        ELBOConfig(objective="iwae", k_train=5),
    ),
}
DEFAULT_ROWS = "vae,iwae5,iwae50,vamp,vae2,iwae2"


def run_row(key: str, args, out: Path) -> dict:
    """Train and evaluate one row (or read its finished metrics); returns the metrics."""
    done = out / key / "metrics.json"
    if done.is_file():
        return json.loads(done.read_text())
    _, vae, objective = ROWS[key]
    objective = ELBOConfig(**{**objective.__dict__, "iw_k": args.iw_k})
    train = TrainConfig(
        data=args.data, out=str(out / key), max_seconds=args.budget, epochs=args.epochs, threads=args.threads, seed=0
    )
    print(f"{key}: load average {os.getloadavg()[0]:.2f}; training {args.budget:g} s", flush=True)
    started = time.time()
    _, metrics = train_vae(vae, objective, train, figures=False, log=True)
    print(f"{key}: done in {time.time() - started:.0f} s", flush=True)
    return metrics


def cpu_name() -> str:
    """The CPU's model name (Linux), and whether it multiplies bfloat16 natively (klvae's `--amp
    auto` then trains in bf16): a time budget buys a model a different number of steps on each
    CPU, so tables from two machines do not compare row by row."""
    try:
        names = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else 'CPU'}, {'bf16 matmuls' if cpu_has_bf16() else 'no bf16 matmuls: float32'}"


def fmt_se(value: float, se: float | None) -> str:
    return f"{value:.2f} ± {se:.2f}" if se is not None else f"{value:.2f}"


def versus_vae(key: str, out: Path) -> str:
    """−log p(x) of the row minus the VAE's, ± the standard error of the per-image differences
    (both models see the same test images), or — where a run has no per-image values."""
    try:
        mine, vae = (read_per_image(out / name)["log_px"] for name in (key, "vae"))
    except FileNotFoundError:
        return "—"
    diff, se = paired_difference(-mine, -vae)
    return fmt_se(diff, se)


def table(results: dict[str, dict], args, out: Path) -> str:
    paired = {key: "" if key == "vae" else versus_vae(key, out) for key in results}
    show = any(v not in ("", "—") for v in paired.values())  # runs made before per-image values: no column
    head = (
        f"| model | epochs | test −log p(x), k = {args.iw_k} | {'vs VAE, paired | ' if show else ''}test ELBO | gap | "
        "active units | index-code MI | total correlation | dimension-wise KL |\n"
        f"| --- | ---: | ---: | {'---: | ' if show else ''}---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [head]
    for key, m in results.items():
        split = [m.get(k) for k in ("index_code_mi", "total_correlation", "dimwise_kl")]
        au = " + ".join(map(str, m.get("active_units_per_layer", [m["active_units"]])))
        sizes = " + ".join(map(str, m.get("latent_sizes", [])))
        lines.append(
            f"| {ROWS[key][0]} | {m['epochs']} | {fmt_se(m['test_iw_nll'], m.get('test_iw_nll_se'))} | "
            + (f"{paired[key]} | " if show else "")
            + f"{fmt_se(m['test_elbo'], m.get('test_elbo_se'))} | {-m['test_elbo'] - m['test_iw_nll']:.2f} | "
            f"{au} of {sizes} | " + " | ".join("—" if v is None else f"{v:.2f}" for v in split) + " |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist", help="data set (default fashion-mnist)")
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per model (default 600)")
    parser.add_argument("--epochs", type=int, default=10_000, help="epoch cap, above what the budget allows")
    parser.add_argument("--iw-k", type=int, default=5000, help="importance samples per test image (default 5000)")
    parser.add_argument("--rows", default=DEFAULT_ROWS, help=f"comma-separated rows of {sorted(ROWS)}")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--out", help="folder of the runs (default bench-models-<data>-<budget>)")
    parser.add_argument("--finished", action="store_true", help="only print the table of the rows already run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out or f"bench-models-{args.data}-{args.budget:g}")
    keys = args.rows.split(",")
    if args.finished:
        keys = [key for key in keys if (out / key / "metrics.json").is_file()]
    if len(keys) > 1 and not args.finished:  # each row in a fresh process: no memory or state carried over
        for key in keys:
            if not (out / key / "metrics.json").is_file():
                row_argv = [f"--data={args.data}", f"--budget={args.budget}", f"--epochs={args.epochs}"]
                row_argv += [f"--iw-k={args.iw_k}", f"--threads={args.threads}", f"--out={out}", f"--rows={key}"]
                subprocess.run([sys.executable, __file__, *row_argv], check=True)
    results = {key: run_row(key, args, out) for key in keys}
    print(f"\n{args.data}, {args.budget:g} s of training per model, {args.threads} threads, torch {torch.__version__}")
    print(cpu_name())
    print()
    print(table(results, args, out))


if __name__ == "__main__":
    main()
