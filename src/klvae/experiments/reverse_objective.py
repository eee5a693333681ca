"""The reverse KL of a Gaussian q = N(mean, L Lᵀ) to a target p as a deterministic function of
(mean, L), and its minimizer (Adam, then L-BFGS-B).

In 1-D the objective E_q[log q − log p] = −H(q) − E_q[log p] is evaluated by Gauss–Hermite
quadrature on reparameterized nodes x_i = μ + σ·z_i; in more dimensions by Monte Carlo with fixed
common random numbers x_i = μ + L·ε_i. Both are smooth in (mean, L), so the optimum is found to
many digits. `klvae.experiments.gaussian_fits` and `klvae.experiments.mode_sweep` fit with them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import optimize, special

from klvae.measures.mixture import DTYPE, log_prob_points

__all__ = ["reverse_objective", "minimize_kl"]


def reverse_objective(p, dim: int, objective: str, n_nodes: int, n_samples: int, seed: int):
    """J(mean, L) ≈ KL(q‖p) for q = N(mean, L Lᵀ), L lower-triangular, deterministic in (mean, L)."""
    if objective == "quadrature":
        z, w = special.roots_hermitenorm(n_nodes)  # ∫ g(z) e^{−z²/2} dz ≈ Σ w_i g(z_i)
        z = torch.as_tensor(z, dtype=DTYPE)[:, None]  # (n_nodes, 1)
        w = torch.as_tensor(w / math.sqrt(2 * math.pi), dtype=DTYPE)  # (n_nodes,)

        def objective_fn(mean, L):
            x = mean + z * L[0, 0]  # reparameterized nodes, (n_nodes, 1)
            neg_entropy = -0.5 * math.log(2 * math.pi * math.e) - torch.log(L[0, 0])  # −H(q)
            return neg_entropy - (w * log_prob_points(p, x)).sum()

        return objective_fn
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(n_samples, dim, generator=gen, dtype=DTYPE)  # common random numbers, (n, D)
    log_q_eps = -0.5 * eps.square().sum(1) - 0.5 * dim * math.log(2 * math.pi)  # (n,)

    def mc_objective_fn(mean, L):
        x = mean + eps @ L.T  # (n, D)
        log_q = log_q_eps - torch.log(L.diagonal()).sum()  # change of variables
        return (log_q - log_prob_points(p, x)).mean()

    return mc_objective_fn


def minimize_kl(objective_fn, mean0: torch.Tensor, L0: torch.Tensor, steps: int, lr: float, span: float):
    """Adam, then L-BFGS-B to polish, on θ = (mean, log diag L, below-diagonal L).

    The bounds (means within `span` of the start's box, log σ within [log(span)−12,
    log(span)+3]) only keep line searches finite; optima lie well inside them.
    Returns (mean (D,), cov (D, D), objective, converged).
    """
    dim = mean0.shape[0]
    tril = torch.tril_indices(dim, dim, offset=-1)
    n_off = tril.shape[1]

    def unpack(theta):
        mean, log_diag, off = theta[:dim], theta[dim : 2 * dim], theta[2 * dim :]
        L = torch.diag_embed(log_diag.exp())
        if n_off:
            L = L.index_put((tril[0], tril[1]), off)
        return mean, L

    def value_and_grad(theta):
        theta = theta.detach().requires_grad_(True)
        value = objective_fn(*unpack(theta))
        (grad,) = torch.autograd.grad(value, theta)
        return value.detach(), grad

    theta = torch.cat([mean0, torch.log(L0.diagonal()), L0[tril[0], tril[1]]]).to(DTYPE)
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    beta1, beta2 = 0.9, 0.999
    for t in range(1, steps + 1):  # Adam (Kingma & Ba 2015, Algorithm 1)
        value, grad = value_and_grad(theta)
        if not (torch.isfinite(value) and torch.isfinite(grad).all()):
            break
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad.square()
        theta = theta - lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + 1e-8)
    log_span = math.log(span)
    centre = mean0.numpy()
    bounds = [(c - span, c + span) for c in centre] + [(log_span - 12, log_span + 3)] * dim + [(-span, span)] * n_off
    theta0 = np.clip(theta.numpy(), [b[0] for b in bounds], [b[1] for b in bounds])

    def fun(x):
        value, grad = value_and_grad(torch.as_tensor(x, dtype=DTYPE))
        return float(value), grad.numpy().astype(float)

    res = optimize.minimize(
        fun, theta0, jac=True, method="L-BFGS-B", bounds=bounds, options=dict(maxiter=2000, ftol=1e-15, gtol=1e-10)
    )
    mean, L = unpack(torch.as_tensor(res.x, dtype=DTYPE))
    converged = bool(np.abs(res.jac).max() < 1e-6)
    return mean, L @ L.T, float(res.fun), converged
