"""
Two processes with torchrun (DDP), one answer
=============================================

``klvae train`` runs on several processes with DistributedDataParallel when started by
``torchrun``; ``--batch-size`` is the global batch, each of P ranks trains on every P-th row of
it, and the noise is drawn per example from a generator seeded by (seed, step). So two
processes reach the same model as one, up to the order of floating-point sums. This example
runs the same short training both ways (gloo on CPU) and compares the test numbers: once in
this process and once in two processes started by ``torchrun``, both through
:func:`klvae.train_vae`, the function behind ``klvae train`` (so
``torchrun --nproc-per-node 2 -m klvae train --epochs 3 --iw-k 10`` runs the same training).
"""

import json
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

import klvae
from klvae.figures import new_figure

root = Path(tempfile.mkdtemp())
(root / "job.py").write_text('''
import sys
from klvae import ELBOConfig, TrainConfig, VAEConfig, train_vae

def main(out):
    """Three epochs of the digits VAE; its run folder without the report's figures."""
    train = TrainConfig(epochs=3, threads=1, out=str(out))
    return train_vae(VAEConfig(), ELBOConfig(iw_k=10), train, figures=False)

if __name__ == "__main__":
    main(sys.argv[1])
''')
torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
two = subprocess.Popen(  # torchrun's two processes, in the background
    [*torchrun, str(root / "job.py"), str(root / "two")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
)
runpy.run_path(str(root / "job.py"))["main"](root / "one")  # the same job in this one process
output = two.communicate()
assert two.returncode == 0, output

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
fig = new_figure(5.6, 3.4, layout="constrained")
ax = fig.add_subplot()
for (name, records), style in zip(curves.items(), ("o-", "x--")):
    ax.plot(
        [r["epoch"] for r in records],
        [r["val_elbo"] for r in records],
        style,
        label={"one": "1 process", "two": "2 processes"}[name],
    )
ax.set(xlabel="epoch", ylabel="validation ELBO (nats)", title="1 process and 2 (DDP): the same curve")
ax.set_xticks([r["epoch"] for r in curves["one"]])
ax.legend(fontsize=8)
for r1, r2 in zip(*curves.values()):
    assert abs(r1["val_elbo"] - r2["val_elbo"]) <= 1e-5 * abs(r1["val_elbo"])
