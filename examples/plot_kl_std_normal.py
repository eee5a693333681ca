"""
KL(N(μ, σ²) ‖ N(0, 1)) in closed form
=====================================

The VAE's KL term is ½(σ² + μ² − 1 − log σ²). This example checks the formula three ways:
against :func:`klvae.kl_normal` (the general two-Gaussian form), against a Monte Carlo estimate
with its standard error (:func:`klvae.mc_kl`), and by drawing it over a grid of (μ, σ): zero
only at μ = 0, σ = 1. The derivation is on the theory page :doc:`/theory/kl_gaussian`.
"""

import numpy as np
import torch
from torch.distributions import Normal

import klvae
from klvae.figures import new_figure

mu, sigma = 1.5, 0.5
by_hand = 0.5 * (sigma**2 + mu**2 - 1 - np.log(sigma**2))
vae_term = float(klvae.kl_std_normal(torch.tensor([mu]), torch.tensor([np.log(sigma**2)])))
general = float(klvae.kl_normal(mu, sigma, 0.0, 1.0))
mc = klvae.mc_kl(Normal(mu, sigma), Normal(0.0, 1.0), 200_000, seed=0)
print(f"by hand {by_hand:.6f}, kl_std_normal {vae_term:.6f}, kl_normal {general:.6f}")
print(f"Monte Carlo {float(mc.value):.4f} ± {float(mc.stderr):.4f}")
assert abs(vae_term - by_hand) < 1e-6 and abs(general - by_hand) < 1e-12
assert abs(float(mc.value) - by_hand) < 4 * float(mc.stderr)

# %%
# Over a grid: the KL grows like μ²/2 in the mean and like (σ² − 1 − log σ²)/2 in the scale,
# which punishes a collapsed σ (log σ² → −∞) more than a wide one.

mus = torch.linspace(-3, 3, 121)
sigmas = torch.linspace(0.05, 3, 119)
M, S = torch.meshgrid(mus, sigmas, indexing="ij")
kl = klvae.kl_std_normal(M.unsqueeze(-1), torch.log(S**2).unsqueeze(-1))
assert torch.allclose(kl, 0.5 * (S**2 + M**2 - 1 - torch.log(S**2)), atol=1e-5)

fig = new_figure(6.4, 4.2)
ax = fig.add_subplot()
im = ax.contourf(M.numpy(), S.numpy(), kl.numpy(), levels=np.linspace(0, 6, 25), extend="max")
ax.contour(M.numpy(), S.numpy(), kl.numpy(), levels=[0.5, 1, 2, 4], colors="white", linewidths=0.8)
ax.plot([0], [1], "w*", markersize=12)
ax.set(xlabel="μ", ylabel="σ", title="KL(N(μ, σ²) ‖ N(0, 1)) in nats; ★ at μ = 0, σ = 1")
fig.colorbar(im, ax=ax, label="nats")
