"""
Entropy, cross-entropy and KL in bits, nats and dits; cross-entropy and maximum likelihood
==========================================================================================

H(p) = −Σ p log p, H(p, q) = −Σ p log q and KL(p‖q) = H(p, q) − H(p) differ between units only
by the base of the logarithm: 1 nat = 1/ln 2 bits = 1/ln 10 dits. Minimizing the cross-entropy
of the data's empirical distribution to a model is maximizing the model's log-likelihood: the
minimizer over categorical models is the empirical frequency. Theory: :doc:`/theory/information`.
"""

import math

import numpy as np
import torch

import klvae
from klvae.figures import new_figure

p, q = [0.5, 0.25, 0.25], [0.25, 0.25, 0.5]
for base, unit in ((None, "nats"), (2, "bits"), (10, "dits")):
    h, ce, kl = (
        float(f(*args, base=base))
        for f, args in ((klvae.entropy, (p,)), (klvae.cross_entropy, (p, q)), (klvae.kl_divergence, (p, q)))
    )
    print(f"H(p) = {h:.4f}, H(p, q) = {ce:.4f}, KL(p‖q) = {kl:.4f} {unit}")
    assert abs(ce - (h + kl)) < 1e-12
assert abs(float(klvae.entropy(p, base=2)) - float(klvae.entropy(p)) / math.log(2)) < 1e-12
assert abs(float(klvae.entropy(p, base=10)) - float(klvae.entropy(p)) / math.log(10)) < 1e-12

# %%
# Cross-entropy = negative mean log-likelihood. Data: 100 draws with counts (62, 38) of two
# outcomes. Over Bernoulli models q = (θ, 1 − θ), H(p̂, q) is smallest at θ = 0.62, the
# maximum-likelihood estimate; its minimum value is H(p̂).

counts = np.array([62, 38])
p_hat = counts / counts.sum()
thetas = np.linspace(0.02, 0.98, 481)
models = np.stack([thetas, 1 - thetas], axis=1)
ce = klvae.cross_entropy(np.broadcast_to(p_hat, models.shape), models)
nll = -(counts * np.log(models)).sum(1) / counts.sum()  # −(1/N) log-likelihood
assert np.allclose(ce, nll)
best = thetas[np.argmin(ce)]
print(f"argmin of the cross-entropy: θ = {best:.3f}; min = {ce.min():.5f} = H(p̂) = {float(klvae.entropy(p_hat)):.5f}")
assert abs(best - 0.62) < 0.002 and abs(ce.min() - float(klvae.entropy(p_hat))) < 1e-5

# the same with a torch model trained by gradient descent on the cross-entropy
logit = torch.zeros((), requires_grad=True)
optimizer = torch.optim.SGD([logit], lr=2.0)
target = torch.tensor(p_hat)
for _ in range(200):
    optimizer.zero_grad()
    model = torch.stack([torch.sigmoid(logit), 1 - torch.sigmoid(logit)]).double()
    klvae.cross_entropy(target, model).backward()
    optimizer.step()
print(f"gradient descent on H(p̂, q): θ = {torch.sigmoid(logit).item():.4f}")
assert abs(torch.sigmoid(logit).item() - 0.62) < 1e-3

fig = new_figure(6.0, 3.6)
ax = fig.add_subplot()
ax.plot(thetas, ce, label="H(p̂, q_θ) = −(1/N) log-likelihood")
ax.axhline(float(klvae.entropy(p_hat)), color="k", lw=0.8, ls="--", label="H(p̂)")
ax.axvline(0.62, color="C1", lw=0.8, label="θ = 62/100 (MLE)")
ax.set(xlabel="θ", ylabel="nats", ylim=(0.6, 1.6), title="Cross-entropy is smallest at the MLE")
ax.legend(fontsize=8)
