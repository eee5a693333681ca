"""The GAN game's theory as numbers: the optimal discriminator, saturation, disjoint supports.

For a fixed generator with density q (= p_g) and data density p, the discriminator that
maximizes V(D, G) = E_p[log D] + E_q[log(1 − D)] is, pointwise,

    D*(x) = p(x) / (p(x) + q(x)),

and at it V(D*, G) = 2·JSD(p ‖ q) − log 4 (Goodfellow et al. 2014, proposition 1 and
theorem 1), so the outer min over G minimizes the Jensen–Shannon divergence. The numbers
here check that identity for discrete distributions and for 1-D densities, show why the
minimax generator loss saturates, and show that JSD stops moving (at log 2) once the supports
are disjoint while the Wasserstein-1 distance keeps growing (Arjovsky et al. 2017, example 1).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from klvae.gan.objective import generator_loss
from klvae.measures.arrays import from_tensor, is_torch, to_tensors
from klvae.measures.jensen_shannon import js_divergence
from klvae.measures.wasserstein import wasserstein_distance

__all__ = [
    "optimal_discriminator",
    "optimal_value",
    "density_theory",
    "gaussian_shift_theory",
    "saturation_gradients",
    "disjoint_uniform_theory",
    "theory_numbers",
    "LOG4",
    "GAUSSIAN_SHIFTS",
]

GAUSSIAN_SHIFTS = (0.0, 1.0, 2.0, 4.0)  # the μ of the printed table
LOG4 = math.log(4.0)


def _check_distribution(t: torch.Tensor, name: str, axis: int) -> None:
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN")
    if (t < 0).any():
        raise ValueError(f"{name} has negative probabilities")
    total = t.sum(dim=axis)
    atol = 1e-6 if t.dtype == torch.float64 else 1e-4
    if not torch.allclose(total, torch.ones_like(total), rtol=0, atol=atol):
        raise ValueError(
            f"{name} does not sum to 1 along axis {axis} (sums: {total.min().item():.6g} to {total.max().item():.6g})"
        )


def optimal_discriminator(p, q):
    """D*(x) = p(x) / (p(x) + q(x)): the discriminator that maximizes V(D, G) for fixed G.

    Where p = q = 0 every D is optimal; 1/2 is returned.

    Parameters
    ----------
    p : array_like or torch.Tensor
        Probabilities or densities of the data (lists, NumPy or torch).
    q : array_like or torch.Tensor
        Probabilities or densities of the generator, broadcastable against `p`.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        D* in [0, 1], of the broadcast shape; a tensor if either input is one.

    References
    ----------
    Goodfellow et al., "Generative Adversarial Nets" (2014), proposition 1.

    Examples
    --------
    >>> optimal_discriminator([0.5, 0.25, 0.0], [0.5, 0.75, 0.0]).tolist()
    [0.5, 0.25, 0.5]
    """
    p_t, q_t = to_tensors(p, q, names=("p", "q"))
    total = p_t + q_t
    d = torch.where(total > 0, p_t / torch.where(total > 0, total, 1), 0.5)
    return from_tensor(d, is_torch(p, q))


def optimal_value(p, q, *, axis: int = -1):
    """V(D*, G) = Σ_x p(x) log D*(x) + Σ_x q(x) log(1 − D*(x)) for discrete p, q, in nats.

    Computed directly from D* = p/(p+q) with 0·log 0 = 0 (torch.xlogy); it equals
    2·JSD(p ‖ q) − log 4, so lies in [−log 4, 0]: −log 4 iff p = q, 0 iff the supports are
    disjoint.

    Parameters
    ----------
    p : array_like or torch.Tensor
        Probability vectors along `axis` (broadcast elsewhere).
    q : array_like or torch.Tensor
        Probability vectors along `axis`.
    axis : int
        The axis of the outcomes.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        V(D*, G) in nats, of the batch shape.

    Raises
    ------
    ValueError
        For NaN, negative or non-normalized input.

    References
    ----------
    Goodfellow et al. (2014), theorem 1.

    Examples
    --------
    >>> float(optimal_value([1.0, 0.0], [0.0, 1.0]))  # disjoint: 2·log 2 − log 4
    0.0
    >>> round(float(optimal_value([0.5, 0.5], [0.5, 0.5])), 6)
    -1.386294
    """
    p_t, q_t = to_tensors(p, q, names=("p", "q"))
    _check_distribution(p_t, "p", axis)
    _check_distribution(q_t, "q", axis)
    p_t, q_t = torch.broadcast_tensors(p_t, q_t)
    total = p_t + q_t
    safe = torch.where(total > 0, total, 1)
    v = torch.xlogy(p_t, p_t / safe) + torch.xlogy(q_t, q_t / safe)
    return from_tensor(v.sum(dim=axis), is_torch(p, q))


def density_theory(log_p: np.ndarray, log_q: np.ndarray, dx: float) -> dict[str, float]:
    """JSD(p ‖ q) and V(D*, G) for 1-D densities given by their logs on a uniform grid, nats.

    The integrals ∫ f(x) dx are Riemann sums Σ f(x_i)·dx on the grid (for smooth densities
    that vanish at the grid's ends this is the trapezoid rule, accurate far beyond 1e-9).
    JSD comes from `klvae.measures.js_divergence` on the cell masses p(x_i)·dx; V(D*, G) from
    log D* = log p − logaddexp(log p, log q) directly, so ``value == 2·jsd − log 4`` is a check.

    Parameters
    ----------
    log_p : numpy.ndarray
        log p at the grid points.
    log_q : numpy.ndarray
        log q at the same points.
    dx : float
        The grid's spacing.

    Returns
    -------
    dict
        ``{"jsd", "value", "identity_gap"}`` with identity_gap = value − (2·jsd − log 4).
    """
    log_p = np.asarray(log_p, dtype=np.float64)
    log_q = np.asarray(log_q, dtype=np.float64)
    p, q = np.exp(log_p) * dx, np.exp(log_q) * dx  # cell masses
    jsd = float(js_divergence(p / p.sum(), q / q.sum()))
    log_d = log_p - np.logaddexp(log_p, log_q)  # log D*
    log_1md = log_q - np.logaddexp(log_p, log_q)  # log(1 − D*)
    value = float(np.sum(p * log_d) + np.sum(q * log_1md))
    return {"jsd": jsd, "value": value, "identity_gap": value - (2 * jsd - LOG4)}


def gaussian_shift_theory(mu: float, sigma: float = 1.0, *, points: int = 40_001) -> dict[str, float]:
    """JSD and V(D*, G) for p = N(0, σ²), q = N(μ, σ²), by `density_theory` on a fine grid.

    The grid spans [min(0, μ) − 14σ, max(0, μ) + 14σ] (tails below e^−98). Nats.

    Parameters
    ----------
    mu : float
        The shift μ of q.
    sigma : float
        The common standard deviation σ.
    points : int
        Grid points.

    Returns
    -------
    dict
        ``{"mu", "sigma", "jsd", "value", "identity_gap"}``.

    Raises
    ------
    ValueError
        If `sigma` is not positive.

    Examples
    --------
    >>> round(gaussian_shift_theory(1.0)["jsd"], 6)
    0.111421
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    x, dx = np.linspace(min(0.0, mu) - 14 * sigma, max(0.0, mu) + 14 * sigma, points, retstep=True)
    log_norm = -0.5 * math.log(2 * math.pi) - math.log(sigma)
    log_p = log_norm - 0.5 * (x / sigma) ** 2
    log_q = log_norm - 0.5 * ((x - mu) / sigma) ** 2
    return {"mu": float(mu), "sigma": float(sigma), **density_theory(log_p, log_q, dx)}


def saturation_gradients(logits) -> dict[str, np.ndarray]:
    """dL/dℓ of the generator losses at D's logits ℓ on generated samples (autograd, float64).

    - minimax, L = log(1 − σ(ℓ)): dL/dℓ = −σ(ℓ), which vanishes as ℓ → −∞ (D rejects the
      samples confidently, early in training): the gradient saturates;
    - non-saturating, L = −log σ(ℓ): dL/dℓ = −σ(−ℓ) → −1.

    Parameters
    ----------
    logits : array_like
        Logits ℓ of D on generated samples.

    Returns
    -------
    dict
        ``{"logit", "minimax", "nonsaturating"}``: NumPy arrays of the logits' shape.

    Examples
    --------
    >>> g = saturation_gradients([-10.0])
    >>> f"{g['minimax'][0]:.2e}", round(float(g['nonsaturating'][0]), 4)
    ('-4.54e-05', -1.0)
    """
    out = {"logit": np.asarray(logits, dtype=np.float64)}
    for kind in ("minimax", "nonsaturating"):
        ell = torch.tensor(out["logit"], dtype=torch.float64).reshape(-1).requires_grad_(True)
        # the loss is a batch mean; × n gives each sample's own derivative
        (grad,) = torch.autograd.grad(generator_loss(ell, kind) * ell.numel(), ell)
        out[kind] = grad.numpy().reshape(out["logit"].shape)
    return out


def disjoint_uniform_theory(shifts, *, bins_per_unit: int = 200, span: float | None = None):
    """JSD and W1 between p = U[0, 1] and q = U[θ, θ + 1] for each shift θ, on a histogram.

    Closed forms: JSD = min(θ, 1)·log 2 (nats), flat at log 2 once the supports are
    disjoint (θ ≥ 1), while W1 = θ keeps growing. Computed with `klvae.measures` on histograms
    of `bins_per_unit` bins per unit length over a shared support [0, span]; θ must be a
    multiple of 1/bins_per_unit to be exact.

    Parameters
    ----------
    shifts : iterable of float
        The shifts θ ≥ 0.
    bins_per_unit : int
        Histogram bins per unit length.
    span : float, optional
        The support's length; default max(shifts) + 1.

    Returns
    -------
    list of dict
        One ``{"shift", "jsd", "wasserstein"}`` per shift.

    Raises
    ------
    ValueError
        If a shift is negative.

    References
    ----------
    Arjovsky et al., "Wasserstein GAN" (2017), example 1.
    """
    shifts = [float(s) for s in shifts]
    if any(s < 0 for s in shifts):
        raise ValueError("shifts must be non-negative")
    span = span if span is not None else max(shifts) + 1.0
    n = int(round(span * bins_per_unit))
    centers = (np.arange(n) + 0.5) / bins_per_unit  # (n,) bin centres on [0, span]
    rows = []
    for s in shifts:
        p = ((centers > 0) & (centers < 1)).astype(np.float64)
        q = ((centers > s) & (centers < s + 1)).astype(np.float64)
        p, q = p / p.sum(), q / q.sum()
        rows.append(
            {"shift": s, "jsd": float(js_divergence(p, q)), "wasserstein": float(wasserstein_distance(p, q, centers))}
        )
    return rows


def theory_numbers() -> dict:
    """All numbers of `klvae gan --theory`: the Gaussian-shift table, saturation, disjoint supports."""
    grad = saturation_gradients([-10.0])
    return {
        "gaussian_shift": [gaussian_shift_theory(mu) for mu in GAUSSIAN_SHIFTS],
        "saturation_at_logit_minus_10": {
            "minimax": float(grad["minimax"][0]),
            "nonsaturating": float(grad["nonsaturating"][0]),
        },
        "disjoint_uniform": disjoint_uniform_theory(np.arange(0, 16) / 4),
    }
