"""klvae's VAE training against the PyTorch example's loop on Fashion-MNIST: speed, objective, time to quality.

The reference is the training loop of pytorch/examples `vae/main.py` as users write it: a
784-400-20-400-784 MLP (fc1, fc21, fc22, fc3, fc4), sigmoid decoder,
`binary_cross_entropy(..., reduction="sum")` + the closed-form KL, Adam 1e-3, batch 128, a
`DataLoader(TensorDataset(x), batch_size=128, shuffle=True)`, `torch.bernoulli(data)` per batch
(dynamic binarization) and `loss.item()` accumulated every step. klvae trains through
`klvae.runs.vae.job.train_vae`, the code path of `klvae train`.

Parts (`--part`, default all):

- speed: one epoch each of the example, klvae with `--amp none` (float32) and klvae with `--amp bf16`
  (bf16 matmuls, fp32 weights and loss; what the default `--amp auto` picks on a CPU with native
  bfloat16), the example's 400/20 model, batch 128, constant rate 1e-3, alternating, medians.
- objective: 10 epochs each with the example's model and settings (400/20, batch 128, constant
  Adam 1e-3, β2 0.999; klvae in fp32 and with `--amp bf16`); test −log p(x) by importance sampling
  (`klvae.vae.evaluate_vae`, k samples, the test set binarized once with klvae's fixed seed) for
  both; the example's weights are copied into a klvae `VAE` (the same function) to be evaluated.
- time: 60 s of training each: the example's loop against the command `klvae train --data
  fashion-mnist --binarize --max-seconds 60` itself (klvae's defaults for 28×28 images); the same
  IW estimator and k for both.

Both use the same torch thread count (`--threads`). Load averages are printed so readers can
judge how busy the machine was.

    python benchmarks/bench_vae.py [--part speed|objective|time|all] [--threads 2] [--repeats 5]
                                   [--k 100] [--seconds 60] [--json bench_vae.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from klvae.cli import main as klvae_main
from klvae.data.datasets import load_dataset
from klvae.runs.vae.job import test_set, train_vae
from klvae.training.config import TrainConfig
from klvae.training.hardware import cpu_has_bf16, keep_freed_memory
from klvae.vae import VAE, ELBOConfig, VAEConfig, evaluate_vae

LAYERS = [(784, 400), (400, 20), (400, 20), (20, 400), (400, 784)]  # fc1, fc21, fc22, fc3, fc4 (in, out)
BATCH = 128
DEFAULT_THREADS = torch.get_num_threads()


# ---- the reference: pytorch/examples vae/main.py ----------------------------------------------


class ExampleVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    # KL(q‖p) = −½ Σ(1 + log σ² − μ² − σ²), Kingma & Welling 2014, Appendix B
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def example_train(model, optimizer, train_loader, epochs=1, max_seconds=None, cpu=None):
    """The example's `train(epoch)` loop; returns (training seconds, samples seen).

    `cpu`, a list, receives (process CPU seconds, samples seen) after every step.
    """
    model.train()
    seen, start = 0, time.perf_counter()
    for _ in range(epochs):
        train_loss = 0
        for batch_idx, (data,) in enumerate(train_loader):  # noqa: B007 (the example's own loop)
            data = torch.bernoulli(data)  # dynamic binarization
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            seen += len(data)
            if cpu is not None:
                cpu.append((time.process_time(), seen))
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                return time.perf_counter() - start, seen
    return time.perf_counter() - start, seen


def example_setup(x_train, seed):
    torch.manual_seed(seed)
    model = ExampleVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x_train), batch_size=BATCH, shuffle=True)
    return model, optimizer, loader


def as_klvae(example: ExampleVAE) -> VAE:
    """The same function as a klvae VAE (fc21, fc22 stacked into one 400→40 layer; fc4 gives the logits)."""
    model = VAE(VAEConfig(hidden=(400,), latent_dim=20, image_shape=(1, 28, 28)))
    e = example
    state = {
        "encoder.0.weight": e.fc1.weight,
        "encoder.0.bias": e.fc1.bias,
        "encoder.2.weight": torch.cat([e.fc21.weight, e.fc22.weight]),
        "encoder.2.bias": torch.cat([e.fc21.bias, e.fc22.bias]),
        "decoder.0.weight": e.fc3.weight,
        "decoder.0.bias": e.fc3.bias,
        "decoder.2.weight": e.fc4.weight,
        "decoder.2.bias": e.fc4.bias,
    }
    model.load_state_dict({k: v.detach().clone() for k, v in state.items()})
    return model.eval()


# ---- klvae through the code path of `klvae train` -------------------------------------------


def klvae_run(tmp, name, *, vae=None, objective=None, cpu=None, **train):
    """`train_vae` on Fashion-MNIST; by default the example's model and settings (400/20, batch 128, Adam 1e-3)."""
    vae = vae or VAEConfig(hidden=(400,), latent_dim=20)
    if vae == VAEConfig(hidden=(400,), latent_dim=20):  # the example's settings: constant rate 1e-3, batch 128
        train = {"batch_size": BATCH, "lr": 1e-3, "lr_schedule": "constant", "adam_beta2": 0.999, **train}
    objective = objective or ELBOConfig(binarize=True, iw_k=1)
    cfg = TrainConfig(data="fashion-mnist", out=os.path.join(tmp, name), **train)
    hooks = () if cpu is None else (lambda task, state: cpu.append((time.process_time(), state.samples)),)
    _, metrics = train_vae(vae, objective, cfg, hooks=hooks, figures=False)
    return metrics


def cpu_rate(marks):
    """Samples per CPU second (all threads of the process) from the first step's end to the last."""
    (c0, n0), (c1, n1) = marks[0], marks[-1]
    return (n1 - n0) / (c1 - c0)


# ---- the matmul floor ------------------------------------------------------------------------

# (name, dtype, torch.backends.mkldnn.matmul.fp32_precision): MKL fp32 (torch's default for fp32),
# oneDNN bf16 (what autocast calls), and fp32 tensors that oneDNN may multiply in bf16 (converting
# inside every call)
FLOOR_PATHS = (
    ("fp32", torch.float32, None),
    ("bf16", torch.bfloat16, None),
    ("fp32 tensors, oneDNN bf16", torch.float32, "bf16"),
)


def gemm_seconds_per_step(dtype, threads, precision=None, repeats=30, n=3):
    """Best time of the GEMMs of one step of the five Linear layers at batch 128 (forward addmm,
    weight gradient, input gradient except fc1's), in the layouts autograd uses. Many short
    windows, so that on a shared machine the best one is a quiet one."""
    if precision is not None:
        saved, torch.backends.mkldnn.matmul.fp32_precision = torch.backends.mkldnn.matmul.fp32_precision, precision
        try:
            return gemm_seconds_per_step(dtype, threads, None, repeats, n)
        finally:
            torch.backends.mkldnn.matmul.fp32_precision = saved
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    ops = []
    for i, (d_in, d_out) in enumerate(LAYERS):
        x = torch.randn(BATCH, d_in, generator=g).to(dtype)
        w = torch.randn(d_out, d_in, generator=g).to(dtype)
        b = torch.randn(d_out, generator=g).to(dtype)
        gy = torch.randn(BATCH, d_out, generator=g).to(dtype)
        ops.append(lambda x=x, w=w, b=b: torch.addmm(b, x, w.t()))  # forward
        ops.append(lambda x=x, gy=gy: gy.t().mm(x))  # dW (out, in)
        if i > 0:
            ops.append(lambda w=w, gy=gy: gy.mm(w))  # dx (B, in); fc1's is not needed
    for op in ops:
        op()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            for op in ops:
                op()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def flops_per_example():
    return 6 * sum(i * o for i, o in LAYERS) - 2 * 784 * 400


# ---- parts -----------------------------------------------------------------------------------


def load():
    return round(os.getloadavg()[0], 2)


def part_speed(args, data, tmp):
    n = data.x_train.shape[0]
    names = ["example", "klvae --amp none (fp32)", "klvae --amp bf16"]
    rates = {k: [] for k in names}  # wall clock
    cpu = {k: [] for k in names}  # per CPU second of the process
    loads = [load()]
    floor_sec = {}  # the best GEMM time over all repeats: measured between epochs, in the same conditions
    for rep in range(args.repeats):
        for name, dtype, precision in FLOOR_PATHS:
            floor_sec[name] = min(floor_sec.get(name, math.inf), gemm_seconds_per_step(dtype, args.threads, precision))
        torch.set_num_threads(args.threads)
        model, opt, loader = example_setup(data.x_train, rep)
        marks = []
        sec, seen = example_train(model, opt, loader, cpu=marks)
        rates[names[0]].append(seen / sec)
        cpu[names[0]].append(cpu_rate(marks))
        for name, amp in zip(names[1:], ("none", "bf16")):
            marks = []
            m = klvae_run(tmp, f"speed-{amp}-{rep}", epochs=1, seed=rep, threads=args.threads, amp=amp, cpu=marks)
            rates[name].append(m["train_samples_per_second"])
            cpu[name].append(cpu_rate(marks))
        loads.append(load())
        print(
            f"  repeat {rep + 1}/{args.repeats}: "
            + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rates.items())
            + f" (load {loads[-1]})",
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in rates.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    fl = flops_per_example()
    floor = {}
    for name, sec in floor_sec.items():
        floor[name] = {
            "gemm_gflops": fl * BATCH / sec / 1e9,
            "samples_per_second": BATCH / sec,
            "epoch_seconds": n / (BATCH / sec),
        }
    print(
        f"\nSpeed: Fashion-MNIST, {n} images per epoch, 784-400-20 MLP, batch {BATCH}, "
        f"{args.threads} threads, median of {args.repeats} alternating epochs (load average "
        f"{min(loads):.1f}–{max(loads):.1f})"
    )
    print("| loop | samples/s | epoch s | vs example | samples per CPU s | vs example | runs (samples/s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for k in names:
        print(
            f"| {k} | {med[k]:.0f} | {n / med[k]:.1f} | {med[k] / med['example']:.2f}× | {med_cpu[k]:.0f} | "
            f"{med_cpu[k] / med_cpu['example']:.2f}× | " + " ".join(f"{r:.0f}" for r in rates[k]) + " |"
        )
    print(
        f"\nMatmul floor: {fl * n / 1e9:.0f} GFLOP per epoch ({fl / 1e6:.3f} MFLOP per example), "
        f"best of {args.repeats} × 30 short windows between the epochs"
    )
    print(
        "| GEMMs in | GFLOP/s measured | floor samples/s | floor epoch s | share of the example's epoch | "
        "share of klvae's |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for k, f in floor.items():
        if k not in ("fp32", "bf16"):
            print(f"| {k} | {f['gemm_gflops']:.0f} | {f['samples_per_second']:.0f} | {f['epoch_seconds']:.1f} | | |")
            continue
        mine = names[1] if k == "fp32" else names[2]
        print(
            f"| {k} | {f['gemm_gflops']:.0f} | {f['samples_per_second']:.0f} | {f['epoch_seconds']:.1f} | "
            f"{med['example'] / f['samples_per_second']:.0%} | {med[mine] / f['samples_per_second']:.0%} ({mine}) |"
        )
    return {
        "samples_per_second": rates,
        "samples_per_cpu_second": cpu,
        "median": med,
        "median_cpu": med_cpu,
        "floor": floor,
        "flops_per_example": fl,
        "load": loads,
    }


def part_objective(args, data, tmp):
    x_test = test_set(data, ELBOConfig(binarize=True))
    out, loads = {}, [load()]
    torch.set_num_threads(args.threads)
    model, opt, loader = example_setup(data.x_train, 0)
    sec, _ = example_train(model, opt, loader, epochs=args.epochs)
    ex = evaluate_vae(as_klvae(model), x_test, k=args.k)
    out["example"] = {"test_iw_nll": ex["test_iw_nll"], "test_elbo": ex["test_elbo"], "train_seconds": sec}
    loads.append(load())
    for amp in ("none", "bf16"):
        m = klvae_run(
            tmp,
            f"objective-{amp}",
            objective=ELBOConfig(binarize=True, iw_k=args.k),
            epochs=args.epochs,
            threads=args.threads,
            amp=amp,
        )
        name = "klvae --amp none (fp32)" if amp == "none" else "klvae --amp bf16"
        out[name] = {k: m[k] for k in ("test_iw_nll", "test_elbo", "train_seconds")}
        loads.append(load())
    print(
        f"\nObjective: {args.epochs} epochs each, 784-400-20 MLP, batch {BATCH}, Adam 1e-3; "
        f"test −log p(x) with k = {args.k} importance samples on the 10000 binarized test images"
    )
    print("| training | test IW-NLL (nats) | test ELBO (nats) | Δ IW-NLL vs example | train s |")
    print("| --- | --- | --- | --- | --- |")
    base = out["example"]["test_iw_nll"]
    for k, v in out.items():
        print(
            f"| {k} | {v['test_iw_nll']:.2f} | {v['test_elbo']:.2f} | {v['test_iw_nll'] - base:+.2f} | "
            f"{v['train_seconds']:.0f} |"
        )
    return {"results": out, "k": args.k, "epochs": args.epochs, "load": loads}


def part_time(args, data, tmp):
    x_test = test_set(data, ELBOConfig(binarize=True))
    loads = [load()]
    torch.set_num_threads(args.threads)
    model, opt, loader = example_setup(data.x_train, 0)
    sec, seen = example_train(model, opt, loader, epochs=10**6, max_seconds=args.seconds)
    ex = evaluate_vae(as_klvae(model), x_test, k=args.k)
    loads.append(load())
    # the command itself; only the number of importance samples of the final estimate is set (the example's k)
    out = os.path.join(tmp, "time")
    argv = [
        "train",
        "--data",
        "fashion-mnist",
        "--binarize",
        "--max-seconds",
        f"{args.seconds:g}",
        "--iw-k",
        str(args.k),
        "--out",
        out,
    ]
    if args.threads != DEFAULT_THREADS:  # (klvae's own choice for this model is torch's default)
        argv += ["--threads", str(args.threads)]
    t0 = time.perf_counter()
    klvae_main(argv)
    wall = time.perf_counter() - t0
    loads.append(load())
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    chosen = {
        "hidden": cfg["vae"]["hidden"],
        "latent_dim": cfg["vae"]["latent_dim"],
        **{k: cfg["train"][k] for k in ("batch_size", "lr", "lr_schedule", "adam_beta2", "amp")},
    }
    rows = {
        "example (784-400-20, batch 128, Adam 1e-3)": {
            "test_iw_nll": ex["test_iw_nll"],
            "test_elbo": ex["test_elbo"],
            "epochs": seen / data.x_train.shape[0],
        },
        f"klvae train {' '.join(argv[1:6])} → {chosen}": {
            "test_iw_nll": m["test_iw_nll"],
            "test_elbo": m["test_elbo"],
            "epochs": m["steps"] * chosen["batch_size"] / data.x_train.shape[0],
        },
    }
    print(
        f"\nTime to quality: {args.seconds:.0f} s of training each, {args.threads} threads; "
        f"test −log p(x) with k = {args.k}; klvae's whole command took {wall:.0f} s "
        f"(data loading, per-epoch test ELBO, checkpoints and the final evaluation included)"
    )
    print("| training | epochs in the budget | test IW-NLL (nats) | test ELBO (nats) |")
    print("| --- | --- | --- | --- |")
    for k, v in rows.items():
        print(f"| {k} | {v['epochs']:.1f} | {v['test_iw_nll']:.2f} | {v['test_elbo']:.2f} |")
    gap = ex["test_iw_nll"] - m["test_iw_nll"]
    print(f"klvae is {gap:.2f} nats lower (goal: at least 3)")
    return {
        "results": rows,
        "gap_nats": gap,
        "k": args.k,
        "seconds": args.seconds,
        "load": loads,
        "klvae_chosen": chosen,
        "klvae_wall_seconds": wall,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["speed", "objective", "time", "all"], default="all")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads for both")
    ap.add_argument("--repeats", type=int, default=5, help="alternating epochs per loop (speed)")
    ap.add_argument("--epochs", type=int, default=10, help="training epochs (objective)")
    ap.add_argument("--k", type=int, default=100, help="importance samples of the test −log p(x)")
    ap.add_argument("--seconds", type=float, default=60.0, help="training budget (time)")
    ap.add_argument("--json", default="bench_vae.json", help="where to write the results")
    args = ap.parse_args(argv)

    # klvae's loop sets this for itself; set here for the example too, so that both loops run on the same
    # allocator and the ratios measure the loops (without it the example's steps page-fault more)
    keep_freed_memory()
    data = load_dataset("fashion-mnist")
    info = {
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_has_bf16": cpu_has_bf16(),
        "threads": args.threads,
        "cores": os.cpu_count(),
        "load_at_start": os.getloadavg(),
    }
    print(
        f"klvae VAE benchmark: torch {torch.__version__}, {args.threads} threads on {os.cpu_count()} cores, "
        f"native bf16: {info['cpu_has_bf16']}, load average {os.getloadavg()[0]:.2f} (1 min)"
    )
    results = {"info": info}
    with tempfile.TemporaryDirectory() as tmp:
        for part, fn in (("speed", part_speed), ("objective", part_objective), ("time", part_time)):
            if args.part in (part, "all"):
                t0 = time.perf_counter()
                results[part] = fn(args, data, tmp)
                results[part]["wall_seconds"] = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["peak_rss_mb"] = peak_mb
    results["load_at_end"] = os.getloadavg()
    print(
        f"\npeak memory (ru_maxrss of this process, all parts): {peak_mb:.0f} MB; "
        f"load average at the end {os.getloadavg()[0]:.2f}"
    )
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
