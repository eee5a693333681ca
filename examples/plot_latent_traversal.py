"""
The latent space: a 2-D map and a traversal
===========================================

With two latent dimensions the decoder can be read directly: decode a grid of z values
(quantiles of the N(0, 1) prior, so each cell holds equal prior mass) and the digits morph
into one another. The grid is drawn with :func:`klvae.save_image_grid`.
"""

import tempfile
from pathlib import Path

import torch

import klvae
from klvae.training import TrainConfig
from klvae.vae import ELBOConfig, VAEConfig

root = Path(tempfile.mkdtemp())
run, metrics = klvae.train_vae(
    VAEConfig(latent_dim=2),
    ELBOConfig(iw_k=50),
    TrainConfig(out=str(root / "run"), epochs=40, threads=1),
    figures=False,
)
model = klvae.load_run(run).eval()
print(f"2 latent dimensions: test −log p(x) ≤ {metrics['test_iw_nll']:.2f} nats")

n = 12
quantiles = torch.linspace(0.04, 0.96, n)
values = torch.distributions.Normal(0.0, 1.0).icdf(quantiles)
z = torch.cartesian_prod(values, values)  # (n², 2), row by row
with torch.no_grad():
    images = torch.sigmoid(model.decode(z))  # Bernoulli means
assert images.shape == (n * n, 1, 8, 8)
traversal = klvae.save_image_grid(
    images, root / "traversal.png", nrow=n, title="decoded z on a 12 × 12 grid of prior quantiles"
)
