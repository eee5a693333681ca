"""
The decoder's likelihood: Bernoulli (BCE) vs Gaussian with a learned σ
======================================================================

A VAE's reconstruction term is log p(x|z) of the decoder's output. For a Bernoulli decoder it
is minus the binary cross-entropy; for a Gaussian with fixed σ it is −‖x − m‖²/(2σ²) plus a
constant, the MSE rescaled; with σ learned per pixel, −(x − m)²/(2σ²) − log σ − ½ log 2π is
maximized at σ² = (x − m)², so a learned σ tracks the residual. This example checks the three
forms of :func:`klvae.vae.log_likelihood` against torch's distributions and the optimum σ.
Theory: :doc:`/theory/decoders`.
"""

import math

import torch
from torch.distributions import Bernoulli, Normal

import klvae
from klvae.figures import new_figure
from klvae.vae import log_likelihood

torch.manual_seed(0)
x = torch.rand(4, 1, 8, 8).bernoulli()
logits = torch.randn(4, 1, 8, 8)
ll = log_likelihood(logits, x, "bernoulli")
reference = Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
bce = klvae.binary_cross_entropy(x, torch.sigmoid(logits)).sum((1, 2, 3))
print("Bernoulli log p(x|z):", [round(v, 4) for v in ll.tolist()])
assert torch.allclose(ll, reference, atol=1e-5) and torch.allclose(ll, -bce, atol=1e-4)

mean = torch.rand(4, 1, 8, 8)
for sigma in (0.1, 1.0):
    ll = log_likelihood(mean, x, "gaussian", sigma=sigma)
    mse = (x - mean).square().sum((1, 2, 3))
    by_hand = -mse / (2 * sigma**2) - 64 / 2 * math.log(2 * math.pi * sigma**2)
    assert torch.allclose(ll, Normal(mean, sigma).log_prob(x).sum((1, 2, 3)), atol=1e-3)
    assert torch.allclose(ll, by_hand, atol=1e-3)

# %%
# With σ learned, the log-likelihood of one pixel with residual r = x − m as a function of σ
# peaks at :math:`\sigma = |r|`, where it equals :math:`-\log|r| - \tfrac12(1 + \log 2\pi)`: small residuals earn large
# (positive) log-densities, which is why a Gaussian decoder's ELBO can be positive.

residuals = [0.05, 0.2, 0.5]
log_sigmas = torch.linspace(math.log(0.01), math.log(2.0), 400)
fig = new_figure(6.2, 3.8)
ax = fig.add_subplot()
for r in residuals:
    m, x = torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), r)
    values = torch.stack([log_likelihood((m, torch.full_like(m, s)), x, "gaussian-learned") for s in log_sigmas])
    values = values.reshape(-1)
    best = float(log_sigmas[values.argmax()].exp())
    peak = -math.log(r) - 0.5 * (1 + math.log(2 * math.pi))
    print(f"residual {r}: best σ {best:.3f}, peak {float(values.max()):.4f} (formula {peak:.4f})")
    assert abs(best - r) < 0.02 * r and abs(float(values.max()) - peak) < 1e-3
    ax.semilogx(log_sigmas.exp(), values, label=f"|x − m| = {r}")
    ax.plot([r], [peak], "k.")
ax.set(xlabel="σ", ylabel="log p(x|z), nats", ylim=(-6, 3), title="Learned σ: the optimum is σ = |x − m|")
ax.legend(fontsize=8)
