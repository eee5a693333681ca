"""The VAE family under one honest protocol: each model trained for the same time budget, then
evaluated once on the test set.

Rows: VAE, IWAE k = 5, IWAE k = 50, VampPrior (K = 500 pseudo-inputs), two-layer VAE and
two-layer IWAE k = 5, each with klvae's defaults for the image size (28×28: 1024 hidden units,
32 latents — two layers add z2 of 16 through 128 units —, batch 256, Adam 3e-3 with β2 0.95,
the rate decaying linearly to 0 over the budget), dynamically binarized pixels, the Bernoulli
likelihood and 10 % of the training images held out for the validation curve. Every model
goes through `klvae.runs.vae.job.train_vae`, the code path of `klvae train`, with `--max-seconds`
set to the budget; then `klvae.vae.evaluate_vae` on the test set (binarized once with klvae's
fixed seed): −log p(x) by importance sampling with k draws (± one standard error over the test
images), each row's difference from the VAE (± the standard error of the per-image differences,
which the shared images make far smaller), the ELBO (± SE), active units per layer and the KL
split (index-code MI, total correlation, dimension-wise KL; one layer and the N(0, I) prior only).

Rows run one after another, each in a process of its own and alone on the machine; the load
average before each is printed, since a busy machine gives a model fewer epochs in its budget. Each row's metrics are
written to OUT/<row>/metrics.json as it finishes, so an interrupted benchmark resumes at the
first row without them (`--out` the same folder); `--finished` prints the table of the rows done.
A row already trained but evaluated at another k is evaluated again at `--iw-k` (RUN/eval.json, the
code of `klvae eval`), not trained again: settings can be chosen from runs evaluated at a small k,
and only the chosen rows brought to k = 5000.

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

from klvae.data.datasets import load_dataset
from klvae.measures.elementwise import entr
from klvae.runs.folder import EVAL, EVAL_PER_IMAGE, METRICS, PER_IMAGE, read_per_image
from klvae.runs.vae.finished import evaluate_run
from klvae.runs.vae.job import train_vae
from klvae.training.config import TrainConfig
from klvae.training.hardware import cpu_has_bf16
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
    "vamp512x2": ("VampPrior, 512-512 networks", VAEConfig(prior="vamp", hidden=(512, 512)), ELBOConfig()),
    "vamp2": ("two-layer VAE, VampPrior", VAEConfig(stochastic_layers=2, prior="vamp"), ELBOConfig()),
    "vamp2048": ("VampPrior, 2048 hidden units", VAEConfig(prior="vamp", hidden=(2048,)), ELBOConfig()),
    "vampwarm": ("VampPrior, KL warm-up 10 epochs", VAEConfig(prior="vamp"), ELBOConfig(warmup_epochs=10)),
    "vampiwae2": (
        "two-layer IWAE k = 5, VampPrior",
        VAEConfig(stochastic_layers=2, prior="vamp"),
        ELBOConfig(objective="iwae", k_train=5),
    ),
}
DEFAULT_ROWS = "vae,iwae5,iwae50,vamp,vae2,iwae2"


def evaluation(folder: Path, k: int) -> tuple[dict, str] | None:
    """The row's test metrics at k importance samples and the file of its per-image values: the
    training run's own evaluation, or a later `klvae eval RUN --iw-k K` of the same weights (so a
    row trained with a small k, to choose between settings, is brought to the table's k without
    training again). None where neither used k."""
    for metrics_file, per_image in ((METRICS, PER_IMAGE), (EVAL, EVAL_PER_IMAGE)):
        path = folder / metrics_file
        if path.is_file() and (metrics := json.loads(path.read_text())).get("iw_k") == k:
            return metrics, per_image
    return None


def run_row(key: str, args, out: Path) -> dict:
    """Train and evaluate one row (or read its finished metrics); returns the metrics, with the
    training figures (epochs, steps) of the run's metrics.json."""
    done = out / key / METRICS
    if done.is_file():
        trained = json.loads(done.read_text())
        found = evaluation(out / key, args.iw_k)
        if found is None and not args.finished:  # trained, not yet evaluated at this k: `klvae eval`'s code
            print(f"{key}: load average {os.getloadavg()[0]:.2f}; evaluating at k = {args.iw_k}", flush=True)
            started = time.time()
            evaluate_run(out / key, args.iw_k)
            print(f"{key}: evaluated in {time.time() - started:.0f} s", flush=True)
            found = evaluation(out / key, args.iw_k)
        return trained if found is None else {**trained, **found[0]}
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


def binarization_floor(data: str) -> str:
    """E Σᵢ H(x̄ᵢ), the entropy of the Bernoulli draws that binarize an image of grey levels x̄, averaged
    over the test images (and over the training images). The binarized images are a mixture over grey
    images of products of Bernoullis, whose entropy is at least its components' mean entropy, so no
    model's −log p(x) can go below this; its difference between the two sets is most of the gap between
    the validation and the test ELBO."""
    dataset = load_dataset(data)
    if dataset.image_shape is None:
        return ""
    images = (dataset.x_test.double().flatten(1), dataset.x_train.double().flatten(1))  # (N, C·H·W) each
    test, train = (float((entr(x) + entr(1 - x)).sum(1).mean()) for x in images)
    return f"binarization floor E Σ H(x̄ᵢ): {test:.2f} nats on the test images ({train:.2f} on the training images)"


def fmt_se(value: float, se: float | None) -> str:
    return f"{value:.2f} ± {se:.2f}" if se is not None else f"{value:.2f}"


def versus_vae(key: str, out: Path, k: int) -> str:
    """−log p(x) of the row minus the VAE's, ± the standard error of the per-image differences
    (both models see the same test images), or — where a run has no per-image values."""
    found = [evaluation(out / name, k) for name in (key, "vae")]
    if None in found:
        return "—"
    try:
        mine, vae = (read_per_image(out / name, f[1])["log_px"] for name, f in zip((key, "vae"), found))
    except FileNotFoundError:
        return "—"
    diff, se = paired_difference(-mine, -vae)
    return fmt_se(diff, se)


def table(results: dict[str, dict], args, out: Path) -> str:
    paired = {key: "" if key == "vae" else versus_vae(key, out, args.iw_k) for key in results}
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
        other_k = f" (k = {m['iw_k']})" if m.get("iw_k", args.iw_k) != args.iw_k else ""  # not yet at the table's k
        lines.append(
            f"| {ROWS[key][0]} | {m['epochs']} | {fmt_se(m['test_iw_nll'], m.get('test_iw_nll_se'))}{other_k} | "
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
        keys = [key for key in keys if (out / key / METRICS).is_file()]
    if len(keys) > 1 and not args.finished:  # each row in a fresh process: no memory or state carried over
        for key in keys:
            if evaluation(out / key, args.iw_k) is None:
                row_argv = [f"--data={args.data}", f"--budget={args.budget}", f"--epochs={args.epochs}"]
                row_argv += [f"--iw-k={args.iw_k}", f"--threads={args.threads}", f"--out={out}", f"--rows={key}"]
                subprocess.run([sys.executable, __file__, *row_argv], check=True)
    results = {key: run_row(key, args, out) for key in keys}
    print(f"\n{args.data}, {args.budget:g} s of training per model, {args.threads} threads, torch {torch.__version__}")
    print(cpu_name())
    print(binarization_floor(args.data))
    print()
    print(table(results, args, out))


if __name__ == "__main__":
    main()
