"""
Two processes with torchrun (DDP), one answer
=============================================

``klvae train`` runs on several processes with DistributedDataParallel when started by
``torchrun``; ``--batch-size`` is the global batch, each of P ranks trains on every P-th row of
it, and the noise is drawn per example from a generator seeded by (seed, step). So two
processes reach the same model as one, up to the order of floating-point sums. This example
runs the same short training both ways (gloo on CPU) and compares the test numbers.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import klvae
from klvae.figures import new_figure

root = Path(tempfile.mkdtemp())
train = ["-m", "klvae", "train", "--epochs", "3", "--iw-k", "10", "--threads", "1"]
torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
# both at once: one process, and torchrun's two
jobs = [
    subprocess.Popen(
        [sys.executable, *train, "--out", str(root / "one")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ),
    subprocess.Popen(
        [*torchrun, *train, "--out", str(root / "two")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ),
]
outputs = [job.communicate() for job in jobs]
assert all(job.returncode == 0 for job in jobs), outputs
print("\n".join(outputs[1][0].splitlines()[:4]))  # what the two-process run printed first

# %%
# The two runs' metrics agree to float tolerance; the model had 2 processes in one and 1 in
# the other.

a = json.loads((root / "one" / "metrics.json").read_text())
b = json.loads((root / "two" / "metrics.json").read_text())
for key in ("test_elbo", "test_iw_nll", "test_kl"):
    print(f"{key:12s} 1 process {a[key]:.6f}   2 processes {b[key]:.6f}")
    assert abs(a[key] - b[key]) <= 1e-5 * abs(a[key])
print("processes:", a["processes"], "and", b["processes"])
assert (a["processes"], b["processes"]) == (1, 2)

# %%
# The validation ELBO after each epoch, from each run's ``metrics.jsonl``: one curve over
# the other.

curves = {name: klvae.load_metrics_jsonl(root / name / "metrics.jsonl") for name in ("one", "two")}
fig = new_figure(5.6, 3.4)
ax = fig.add_subplot()
for (name, records), style in zip(curves.items(), ("o-", "x--")):
    ax.plot(
        [r["epoch"] for r in records],
        [r["val_elbo"] for r in records],
        style,
        label={"one": "1 process", "two": "2 processes"}[name],
    )
ax.set(xlabel="epoch", ylabel="validation ELBO (nats)", title="1 process and 2 (DDP): the same curve")
ax.legend(fontsize=8)
for r1, r2 in zip(*curves.values()):
    assert abs(r1["val_elbo"] - r2["val_elbo"]) <= 1e-5 * abs(r1["val_elbo"])
