"""Training throughput on a loaded machine: 0, 1 and 3 competing CPU-bound processes.

For each load, `klvae train --data fashion-mnist` runs for a fixed training-time budget under
several thread settings, and so does the usual PyTorch loop (the pytorch/examples VAE step on the
same data); the table gives samples per second and the share of the unloaded figure kept. The
competitors are pure-Python busy loops that stop by themselves.

    python benchmarks/bench_load.py [--seconds 20] [--loads 0 1 3]

The table of record is in benchmarks/README.md ("Under a loaded machine").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (extra klvae flags, extra environment)
SETTINGS = {
    "klvae default (threads: the CPUs not busy)": ([], {}),
    "--threads 1": (["--threads", "1"], {}),
    "--threads 2 (torch's default; the old default)": (["--threads", "2"], {}),
    "--threads 2, OMP_WAIT_POLICY=PASSIVE": (["--threads", "2"], {"OMP_WAIT_POLICY": "PASSIVE"}),
    "--threads 2, GOMP_SPINCOUNT=10000": (["--threads", "2"], {"GOMP_SPINCOUNT": "10000"}),
}

BUSY = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"

# the usual PyTorch loop: the pytorch/examples VAE (784-400-20), Adam 1e-3, batch 128, torch's threads
EXAMPLE = """
import sys, time, torch
from torch import nn
from torch.nn import functional as F
from klvae.data.datasets import load_dataset
x = load_dataset("fashion-mnist").x_train.flatten(1)
class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)
    def forward(self, x):
        h = F.relu(self.fc1(x)); mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar
model = VAE(); opt = torch.optim.Adam(model.parameters(), lr=1e-3)
budget, n, t0 = float(sys.argv[1]), 0, time.perf_counter()
while time.perf_counter() - t0 < budget:
    for idx in torch.randperm(len(x)).split(128):
        b = torch.bernoulli(x[idx]); logits, mu, logvar = model(b)
        loss = F.binary_cross_entropy_with_logits(logits, b, reduction="sum") - 0.5 * torch.sum(
            1 + logvar - mu.pow(2) - logvar.exp())
        opt.zero_grad(); loss.backward(); opt.step(); n += len(idx)
        if time.perf_counter() - t0 >= budget:
            break
print(n / (time.perf_counter() - t0))
"""


def competitors(n: int, seconds: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY.format(s=seconds)]) for _ in range(n)]


def klvae_rate(flags: list[str], env: dict, seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [
            sys.executable,
            "-m",
            "klvae",
            "train",
            "--data",
            "fashion-mnist",
            "--binarize",
            "--max-seconds",
            str(seconds),
            "--iw-k",
            "1",
            "--out",
            str(out),
            *flags,
        ]
        subprocess.run(cmd, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        metrics = json.loads((out / "metrics.json").read_text())
        return metrics["train_samples_per_second"], metrics["threads"]


def example_rate(seconds: float) -> float:
    done = subprocess.run([sys.executable, "-c", EXAMPLE, str(seconds)], check=True, capture_output=True, text=True)
    return float(done.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="training-time budget of each run (default 20)")
    ap.add_argument("--loads", type=int, nargs="+", default=[0, 1, 3], help="competing processes (default 0 1 3)")
    args = ap.parse_args()
    rows: dict[str, dict[int, tuple[float, int | str]]] = {}
    for load in args.loads:
        busy = competitors(load, 40 * args.seconds)  # outlives the runs at this load; killed after them
        time.sleep(2.0)
        try:
            for name, (flags, env) in SETTINGS.items():
                rows.setdefault(name, {})[load] = klvae_rate(flags, env, args.seconds)
            rows.setdefault("the PyTorch example loop (torch's threads)", {})[load] = (example_rate(args.seconds), "")
        finally:
            for p in busy:
                p.kill()
                p.wait()
        print(f"load {load} done: os.getloadavg() = {os.getloadavg()[0]:.2f}", flush=True)
    print(
        f"\n{os.cpu_count()} cores; samples/s of training, {args.seconds:g} s budget each "
        "(in brackets: share of the unloaded figure; threads used)"
    )
    head = " | ".join(f"{n} competing" for n in args.loads)
    print(f"| setting | {head} |\n|---|" + "---|" * len(args.loads))
    for name, by_load in rows.items():
        base = by_load.get(args.loads[0], (float("nan"),))[0]
        cells = [
            f"{r:.0f} ({r / base:.0%}{f', {t} thr' if t != '' else ''})"
            for r, t in (by_load[load] for load in args.loads)
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
