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

root = Path(tempfile.mkdtemp())
train = ["-m", "klvae", "train", "--epochs", "2", "--iw-k", "10", "--threads", "1"]
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
