"""
Estimators from samples: bias and spread against the truth
==========================================================

When only samples are available, klvae's estimators are the Kozachenko–Leonenko k-NN entropy
(:func:`klvae.knn_entropy`), the k-NN KL divergence (:func:`klvae.knn_kl_divergence`), and the
Monte Carlo KL (:func:`klvae.mc_kl`) when log-densities are known. This example measures each
one's error against the closed form for 2-D Gaussians as the sample size grows (20 repeats
per size): the table of :doc:`/guide/estimators` in one figure.
"""

import math

import numpy as np
import torch
from torch.distributions import MultivariateNormal

import klvae
from klvae.figures import new_figure

d = 2
p = MultivariateNormal(torch.zeros(d, dtype=torch.float64), torch.eye(d, dtype=torch.float64))
q = MultivariateNormal(torch.full((d,), 0.5, dtype=torch.float64), 2 * torch.eye(d, dtype=torch.float64))
true_h = float(klvae.entropy_mvn(p.covariance_matrix))
true_kl = float(klvae.kl_mvn(p.mean, p.covariance_matrix, q.mean, q.covariance_matrix))
print(f"truth: H(p) = {true_h:.4f}, KL(p‖q) = {true_kl:.4f} nats")

sizes, repeats = [100, 300, 1000, 3000], 20
errors = {"k-NN entropy": [], "k-NN KL": [], "Monte Carlo KL": []}
for n in sizes:
    rows = {name: [] for name in errors}
    for r in range(repeats):
        g = torch.Generator().manual_seed(1000 * n + r)
        x = p.mean + torch.randn(n, d, generator=g, dtype=torch.float64)
        y = q.mean + math.sqrt(2) * torch.randn(n, d, generator=g, dtype=torch.float64)
        rows["k-NN entropy"].append(float(klvae.knn_entropy(x)) - true_h)
        rows["k-NN KL"].append(float(klvae.knn_kl_divergence(x, y)) - true_kl)
        rows["Monte Carlo KL"].append(float(klvae.mc_kl(p, q, n, seed=r).value) - true_kl)
    for name, values in rows.items():
        errors[name].append((np.mean(values), np.std(values)))
        print(f"n = {n:4d} {name:15s} bias {np.mean(values):+.4f}, spread {np.std(values):.4f}")

# every estimator is consistent: at n = 3000 its mean error is small
assert all(abs(errors[name][-1][0]) < 0.05 for name in errors)

# %%
fig = new_figure(6.4, 3.8)
ax = fig.add_subplot()
for i, (name, rows) in enumerate(errors.items()):
    bias, spread = np.array(rows).T
    ax.errorbar(np.array(sizes) * (1 + 0.05 * i), bias, yerr=spread, marker="o", capsize=3, label=name)
ax.axhline(0, color="k", lw=0.6)
ax.set_xscale("log")
ax.set(xlabel="samples n", ylabel="estimate − truth (nats)", title="Bias ± one standard deviation, 2-D Gaussians")
ax.legend(fontsize=8)
