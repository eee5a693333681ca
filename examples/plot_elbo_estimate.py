"""
The ELBO and its L-sample Monte Carlo estimate
==============================================

For a model where everything is known — p(z) = N(0, 1), p(x|z) = N(z, 1), so p(x) = N(0, 2) —
and an approximate posterior q(z|x) = N(m, s²), the ELBO

    E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)) ≤ log p(x)

has a closed form, and the gap is KL(q(z|x) ‖ p(z|x)) with p(z|x) = N(x/2, 1/2). This example
checks that identity, then shows that the L-sample estimate (1/L) Σ log p(x|zₗ) − KL is
unbiased with a standard error shrinking like 1/√L, and that the importance-weighted bound
log (1/K) Σ wₖ climbs towards log p(x) as K grows. Theory: :doc:`/theory/elbo`.
"""

import math

import torch
from torch.distributions import Normal

import klvae
from klvae.figures import new_figure

torch.manual_seed(0)
x, m, s = 1.2, 0.3, 0.9
log_px = -0.5 * math.log(2 * math.pi * 2.0) - x**2 / 4  # log N(x; 0, 2)
# E_q log N(x; z, 1) = −½ log 2π − ½[(x − m)² + s²]
expected_recon = -0.5 * math.log(2 * math.pi) - 0.5 * ((x - m) ** 2 + s**2)
kl_prior = float(klvae.kl_normal(m, s, 0.0, 1.0))
elbo = expected_recon - kl_prior
gap = float(klvae.kl_normal(m, s, x / 2, math.sqrt(0.5)))
print(f"log p(x) = {log_px:.6f}; ELBO = {elbo:.6f}; KL(q ‖ p(z|x)) = {gap:.6f}")
assert abs(log_px - (elbo + gap)) < 1e-12  # log p(x) = ELBO + KL(q(z|x) ‖ p(z|x))

# %%
# The L-sample estimate: z = m + s·ε, the reconstruction term averaged over L draws, the KL in
# closed form. Over 2000 repeats its mean is the ELBO and its spread falls like 1/√L.

Ls = [1, 4, 16, 64, 256]
means, sds = [], []
for L in Ls:
    z = m + s * torch.randn(2000, L, dtype=torch.float64)
    estimate = Normal(z, 1.0).log_prob(torch.tensor(x, dtype=torch.float64)).mean(1) - kl_prior
    means.append(float(estimate.mean()))
    sds.append(float(estimate.std()))
    assert abs(means[-1] - elbo) < 4 * sds[-1] / math.sqrt(2000)
    print(f"L = {L:3d}: mean {means[-1]:.4f} (ELBO {elbo:.4f}), standard deviation {sds[-1]:.4f}")
assert abs(sds[0] / sds[-1] - 16) < 2  # √256 = 16

# %%
# The importance-weighted bound uses the same draws differently: log (1/K) Σₖ p(x, zₖ)/q(zₖ|x).
# At K = 1 it is the ELBO; it rises with K towards log p(x) (Burda et al. 2016).

q, prior = Normal(m, s), Normal(0.0, 1.0)
Ks = [1, 2, 5, 20, 100, 1000]
bounds = []
for K in Ks:
    z = q.sample((4000, K)).double()
    log_w = prior.log_prob(z) + Normal(z, 1.0).log_prob(torch.tensor(x)) - q.log_prob(z)
    bounds.append(float((torch.logsumexp(log_w, 1) - math.log(K)).mean()))
print("IW bound by K:", ", ".join(f"{K}: {b:.4f}" for K, b in zip(Ks, bounds)))
assert abs(bounds[0] - elbo) < 0.02 and bounds[-1] <= log_px + 1e-3 and bounds[-1] > bounds[0]

fig = new_figure(6.4, 3.6)
ax = fig.add_subplot()
ax.semilogx(Ks, bounds, "o-", label="E log (1/K) Σ wₖ")
ax.axhline(log_px, color="k", lw=1, label="log p(x)")
ax.axhline(elbo, color="C1", ls="--", lw=1, label="ELBO")
ax.set(xlabel="K", ylabel="nats", title="The importance-weighted bound rises with K")
ax.legend(fontsize=8)
