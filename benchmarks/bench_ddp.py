"""Training throughput with 1 process vs 2 DDP processes (gloo, CPU), and the all-reduce cost per step.

Each configuration trains the VAE through `klvae.runs.vae.job.train_vae` (the real loop) and reads
`train_samples_per_second` from metrics.json (training steps only, evaluation excluded):

- 1 process, 1 thread      (the baseline)
- 1 process, 2 threads     (the other way to use a second core)
- 2 processes × 1 thread   (torchrun --nproc-per-node 2, DDP over gloo)

The runs alternate and the table shows medians. The 2-process job also times
`all_reduce` of a float32 tensor the size of the model's gradient (median of 200), which
is what DDP sends each step. The machine's load average is printed: these 2 cores are
shared with other work, so the numbers say what 2 busy cores allow, nothing more.

Usage: python benchmarks/bench_ddp.py [--repeats 3]
       python benchmarks/bench_ddp.py --compile   (what torch.compile costs and gains, one process)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, data, hidden widths, epochs): digits is the default model; "mnist-size" is 28×28 noise.
CONFIGS = [
    ("digits 8×8, MLP 64-400-8", "digits", "400", 10),
    ("28×28, MLP 784-400-8", "mnist-size", "400", 2),
    ("28×28, MLP 784-1024,512-16", "mnist-size", "1024,512", 1),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(out: str, data: str, hidden: str, epochs: int, threads: int) -> None:
    """One process of a run (plain, or one rank under torchrun)."""
    import torch

    from klvae.runs.vae.job import train_vae
    from klvae.training import distributed
    from klvae.training.config import TrainConfig
    from klvae.vae import ELBOConfig, VAEConfig

    latent = 16 if hidden == "1024,512" else 8
    ctx = distributed.context()
    if ctx.distributed:  # opened here, so train_vae uses it and leaves it open for the timing below
        torch.distributed.init_process_group("gloo")
    train = TrainConfig(out=out, data=data, epochs=epochs, threads=threads, log_every=50)
    train_vae(
        VAEConfig(hidden=tuple(int(h) for h in hidden.split(",")), latent_dim=latent),
        ELBOConfig(iw_k=1),
        train,
        figures=False,
    )
    if ctx.distributed:  # the gradient all-reduce alone, the size of the model's gradient
        import torch.distributed as dist

        from klvae.vae import load_run

        dist.barrier()  # rank 0 has written the model
        n = sum(p.numel() for p in load_run(out).parameters())
        grad = torch.randn(n)
        times = []
        for _ in range(220):
            t = time.perf_counter()
            dist.all_reduce(grad)
            times.append(time.perf_counter() - t)
        if ctx.is_main:
            Path(out, "comm.json").write_text(json.dumps({"params": n, "allreduce_s": statistics.median(times[20:])}))
        dist.destroy_process_group()


def mnist_size_npz(folder: Path) -> str:
    """12000 + 2000 random 28×28 grey images (throughput does not depend on the pixels)."""
    import numpy as np

    path = folder / "mnist_size.npz"
    g = np.random.default_rng(0)
    np.savez(
        path,
        x_train=g.random((12000, 1, 28, 28), dtype=np.float32),
        x_test=g.random((2000, 1, 28, 28), dtype=np.float32),
    )
    return str(path)


def run(kind: str, folder: Path, data: str, hidden: str, epochs: int) -> dict:
    out = folder / f"{kind}-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "GLOO_SOCKET_IFNAME": "lo"}
    args = [str(Path(__file__).resolve()), "--worker", str(out), data, hidden, str(epochs)]
    if kind == "2 proc × 1 thread":
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            "1",
            "--nproc-per-node",
            "2",
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            f"127.0.0.1:{free_port()}",
            *args,
            "1",
        ]
    else:
        cmd = [sys.executable, *args, "1" if kind == "1 proc × 1 thread" else "2"]
    for attempt in range(2):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode == 0:
            break
        print(f"  {kind} failed (attempt {attempt + 1}):\n{proc.stderr[-3000:]}", file=sys.stderr)
    else:
        raise RuntimeError(f"{kind} failed twice")
    metrics = json.loads((out / "metrics.json").read_text())
    comm = json.loads((out / "comm.json").read_text()) if (out / "comm.json").exists() else {}
    return {
        "sps": metrics["train_samples_per_second"],
        "steps": metrics["steps"],
        "seconds": metrics["train_seconds"],
        **comm,
    }


def compile_cost(steps: int = 300) -> None:
    """`--compile` on vs off for the default digits VAE, one process: first step, then steady steps/s.

    Inductor's on-disk cache goes to a fresh folder, so the first step pays a cold compile.
    """
    cache = tempfile.TemporaryDirectory(prefix="inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name  # read when torch first compiles
    import torch

    from klvae.data.datasets import load_dataset
    from klvae.runs.vae.task import VAETask
    from klvae.training.config import TrainConfig
    from klvae.training.data_parallel import Shard, using_shard
    from klvae.vae import VAE, ELBOConfig, VAEConfig

    torch.set_num_threads(1)
    x = load_dataset("digits").x_train
    print(
        f"--compile, digits VAE (MLP 64-400-8), batch 128, 1 thread, {steps} steps; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for compiled in (False, True):
        torch.manual_seed(0)
        train = TrainConfig(lr=1e-3, adam_beta1=0.9, adam_beta2=0.95, compile=compiled)
        task = VAETask(VAE(VAEConfig(image_shape=(1, 8, 8))), ELBOConfig(), train, x[:10])
        times = []
        for step in range(steps):
            idx = torch.arange(step * 128, step * 128 + 128) % len(x)
            t = time.perf_counter()
            with using_shard(Shard(0, 1, 128, 0, step)):
                task.train_step(x[idx], None, step, 0.0)
            times.append(time.perf_counter() - t)
        step = statistics.median(times[10:])
        print(
            f"  compile={compiled!s:5}  first step {times[0]:7.2f} s   then {128 / step:8,.0f} samples/s "
            f"(median step {1e3 * step:.2f} ms)"
        )
    cache.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="measure --compile (one process) instead")
    p.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        out, data, hidden, epochs, threads = a.worker
        return worker(out, data, hidden, int(epochs), int(threads))
    if a.compile:
        return compile_cost()

    kinds = ["1 proc × 1 thread", "1 proc × 2 threads", "2 proc × 1 thread"]
    print(f"cores: {os.cpu_count()}, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"global batch 128 in every run; medians of {a.repeats} alternating runs\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        npz = mnist_size_npz(folder)
        for name, data, hidden, epochs in CONFIGS:
            data = npz if data == "mnist-size" else data
            results: dict[str, list[dict]] = {k: [] for k in kinds}
            for _ in range(a.repeats):
                for kind in kinds:  # alternate, so a burst of load hits every kind alike
                    results[kind].append(run(kind, folder, data, hidden, epochs))
            med = {k: statistics.median(r["sps"] for r in v) for k, v in results.items()}
            two = results["2 proc × 1 thread"]
            step_s = statistics.median(r["seconds"] / r["steps"] for r in two)
            comm_s = statistics.median(r["allreduce_s"] for r in two)
            rows.append((name, two[0]["params"], med, step_s, comm_s))
            print(f"  done: {name}  (load average {os.getloadavg()[0]:.2f})", flush=True)

    print()
    print(
        "| model | params | 1 proc × 1 thread | 1 proc × 2 threads | 2 proc × 1 thread | 2 proc / 1 proc "
        "| 2 proc step | all-reduce of the gradient |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, params, med, step_s, comm_s in rows:
        base = med["1 proc × 1 thread"]
        print(
            f"| {name} | {params:,} | {base:,.0f} /s | {med['1 proc × 2 threads']:,.0f} /s "
            f"| {med['2 proc × 1 thread']:,.0f} /s | {med['2 proc × 1 thread'] / base:.2f}× "
            f"| {1e3 * step_s:.2f} ms | {1e3 * comm_s:.2f} ms ({100 * comm_s / step_s:.0f} %) |"
        )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
