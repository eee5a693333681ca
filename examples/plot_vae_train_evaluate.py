"""
A VAE trained and evaluated honestly
====================================

:func:`klvae.train_vae` is what ``klvae train`` runs: the bundled 8×8 digits, a validation split
for the curves, the test set read once at the end, −log p(x) estimated with k importance samples
(an upper bound, ± one standard error over test images), and a run folder with figures and
``report.html``. Here 30 epochs with k = 200 (the command's defaults are 200 epochs, k = 1000).
"""

import tempfile
from pathlib import Path

import klvae
from klvae.training import TrainConfig
from klvae.vae import ELBOConfig, VAEConfig

out = Path(tempfile.mkdtemp()) / "vae"
run, metrics = klvae.train_vae(VAEConfig(), ELBOConfig(iw_k=200), TrainConfig(out=str(out), epochs=30, threads=1))
print(f"test −log p(x) ≤ {metrics['test_iw_nll']:.2f} ± {metrics['test_iw_nll_se']:.2f} nats (IW, k = 200)")
print(f"test ELBO      = {metrics['test_elbo']:.2f} ± {metrics['test_elbo_se']:.2f} nats")
print(f"KL term {metrics['test_kl']:.2f} nats, active units {metrics['active_units']} of {metrics['latent_dim']}")
# the importance-weighted bound is tighter than the ELBO: −log p(x) ≤ IW-NLL ≤ −ELBO
assert metrics["test_iw_nll"] <= -metrics["test_elbo"]

# %%
# The curves come from the validation split, never from the test set.

loss_curves = run / "loss_curves.png"

# %%
# Reconstructions (top: test images, below: their reconstructions) and samples from the prior.

reconstructions = run / "reconstructions.png"
samples = run / "samples.png"

# %%
# A trained run is reloaded with :func:`klvae.load_run` and re-evaluated with
# :func:`klvae.evaluate_run` (``klvae eval``): the same seed gives the same numbers.

again = klvae.evaluate_run(run, k=200, save=False)
print(f"re-evaluated: {again['test_iw_nll']:.4f} (in training: {metrics['test_iw_nll']:.4f})")
assert abs(again["test_iw_nll"] - metrics["test_iw_nll"]) < 1e-6
