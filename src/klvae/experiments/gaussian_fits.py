"""Fit a Gaussian q to a target p by forward KL(p‖q) or reverse KL(q‖p).

Forward KL(p‖q) = E_p[log p − log q] punishes q for missing mass where p has it, so the
best Gaussian covers every mode of p: it is the moment match (mean and covariance of p).
Reverse KL(q‖p) = E_q[log q − log p] punishes q for putting mass where p has none, so a
Gaussian settles inside one mode (Bishop, *Pattern Recognition and Machine Learning*,
2006, §10.1.2, Fig. 10.3; Minka, "Divergence measures and message passing", 2005).

The reverse objective is not convex: it is minimized from several initial means spread
over p's range, and every restart is reported where it converged. In 1-D the objective
E_q[log q − log p] = −H(q) − E_q[log p] is evaluated by Gauss–Hermite quadrature of
E_q[log p] on reparameterized nodes x_i = μ + σ·z_i (deterministic, so the optimum is found
to many digits); in more dimensions by Monte Carlo with fixed common random numbers
x_i = μ + L·ε_i. The KLs reported for each fit are computed by numerical integration
(`klvae.measures.mixture.kl_numerical`), independently of the objective that was minimized.

Targets are any object with `log_prob` and `sample` (torch.distributions); Gaussian
mixtures are built with `klvae.measures.mixture.gaussian_mixture` or parsed from "w:mu:sigma,..."
text (`parse_mixture`); both are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scipy import optimize, special
from torch.distributions import MultivariateNormal, Normal

from klvae.measures.mixture import (
    DTYPE,
    event_dim,
    extent,
    gaussian_mixture,
    gaussian_moments,
    kl_numerical,
    log_prob_points,
)

__all__ = ["GaussianFit", "fit_forward", "fit_reverse", "reverse_kl_sweep", "SweepResult", "SweepRow", "Branch"]


@dataclass
class GaussianFit:
    """A fitted Gaussian q = N(mean, cov) and its two KLs to the target (nats)."""

    mean: np.ndarray  # (D,)
    cov: np.ndarray  # (D, D)
    kl_forward: float  # KL(p‖q) by numerical integration
    kl_reverse: float  # KL(q‖p) by numerical integration
    init_mean: np.ndarray | None = None  # (D,) where a reverse restart started
    objective: float = math.nan  # the minimized objective's final value
    converged: bool = True  # gradient norm of the objective below tolerance at the end

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def distribution(self) -> Normal | MultivariateNormal:
        """q as a torch distribution (Normal in 1-D, MultivariateNormal otherwise)."""
        if self.mean.shape[0] == 1:
            return Normal(torch.tensor(self.mean[0], dtype=DTYPE), torch.tensor(self.std[0], dtype=DTYPE))
        return MultivariateNormal(torch.tensor(self.mean, dtype=DTYPE), torch.tensor(self.cov, dtype=DTYPE))

    def to_dict(self) -> dict:
        """JSON-ready: 1-D fits give scalar `mean` and `std`, others `mean` and `cov` lists."""
        out: dict = {}
        if self.mean.shape[0] == 1:
            out.update(mean=float(self.mean[0]), std=float(self.std[0]))
        else:
            out.update(mean=self.mean.tolist(), cov=self.cov.tolist())
        out.update(kl_forward=float(self.kl_forward), kl_reverse=float(self.kl_reverse))
        if self.init_mean is not None:
            init = self.init_mean
            out["init_mean"] = float(init[0]) if init.shape[0] == 1 else init.tolist()
            out["converged"] = bool(self.converged)
        return out


def _fit(p, mean: torch.Tensor, cov: torch.Tensor, **extra) -> GaussianFit:
    fit = GaussianFit(mean.detach().numpy().copy(), cov.detach().numpy().copy(), math.nan, math.nan, **extra)
    q = fit.distribution()
    fit.kl_forward, fit.kl_reverse = float(kl_numerical(p, q)), float(kl_numerical(q, p))
    return fit


# --------------------------------------------------------------------------- forward KL


def fit_forward(p, *, method: str = "moments", n: int = 100_000, seed: int = 0) -> GaussianFit:
    """The Gaussian q minimizing forward KL(p‖q) = E_p[log p − log q].

    Only −E_p[log q] depends on q; for the Gaussian family its minimizer is the moment
    match: q = N(E_p[x], Cov_p[x]) (Bishop 2006, §10.7, eq. 10.187).
    `method="moments"` uses the exact mean and covariance of a Gaussian (mixture) target;
    `method="mc"` draws `n` samples x_i ~ p and minimizes the Monte Carlo estimate
    −(1/n) Σ log q(x_i), whose minimizer is the sample mean and (1/n) sample covariance.

    >>> p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    >>> fit = fit_forward(p)
    >>> round(float(fit.mean[0]), 6), round(float(fit.std[0]) ** 2, 6)
    (0.0, 10.0)
    """
    dim = event_dim(p)
    if method == "moments":
        moments = gaussian_moments(p)
        if moments is None:
            raise ValueError("method='moments' needs a Gaussian or Gaussian-mixture target; use method='mc'")
        return _fit(p, *moments)
    if method == "mc":
        if n < 2:
            raise ValueError(f"n must be at least 2, got {n}")
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            x = p.sample((n,)).to(DTYPE).reshape(n, dim)  # (n, D)
        mean = x.mean(0)
        centred = x - mean
        return _fit(p, mean, centred.T @ centred / n)
    raise ValueError(f"method must be 'moments' or 'mc', got {method!r}")


# --------------------------------------------------------------------------- reverse KL


def _reverse_objective(p, dim: int, objective: str, n_nodes: int, n_samples: int, seed: int):
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


def _minimize(objective_fn, mean0: torch.Tensor, L0: torch.Tensor, steps: int, lr: float, span: float):
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


def _initial_means(p, dim: int, n_restarts: int) -> np.ndarray:
    """Initial means spread over p's range: 2%–98% sample quantiles, (R, D)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        x = p.sample((20_000,)).to(DTYPE).reshape(20_000, dim).numpy()
    lo, hi = np.quantile(x, 0.02, axis=0), np.quantile(x, 0.98, axis=0)
    if dim == 1:
        return np.linspace(lo, hi, n_restarts).reshape(n_restarts, 1)
    k = max(2, math.ceil(n_restarts ** (1 / dim)))
    axes = [np.linspace(lo[i], hi[i], k) for i in range(dim)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, dim)
    return grid[:n_restarts] if len(grid) >= n_restarts else grid


def fit_reverse(
    p,
    *,
    inits=None,
    n_restarts: int | None = None,
    init_std: float | None = None,
    objective: str = "auto",
    n_nodes: int = 1024,
    n_samples: int = 4096,
    steps: int = 300,
    lr: float = 0.05,
    seed: int = 0,
) -> list[GaussianFit]:
    """Gaussians q minimizing reverse KL(q‖p) = E_q[log q − log p], one per restart.

    Each restart starts at a mean from `inits` ((R,) or (R, D); default `n_restarts`
    means spread over p's 2%–98% quantiles: 7 in 1-D, a 3×3 grid in 2-D) with covariance
    `init_std`² I (default half of p's standard deviation), runs `steps` Adam steps on the
    reparameterized objective and polishes with L-BFGS. `objective="quadrature"` (1-D,
    the default there) uses `n_nodes` Gauss–Hermite nodes: E_q[log p] = Σ w_i log p(μ + σ z_i);
    ~1000 nodes are needed for q much wider than p's modes, because log p has a sharp
    bend between modes. `objective="mc"` (default in 2-D and above) uses `n_samples` fixed
    draws ε ~ N(0, I), x = μ + Lε (common random numbers, seeded by `seed`).

    Returns every restart, sorted by `kl_reverse` (numerical integration), best first;
    restarts that converge to the same optimum are all kept.

    >>> p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    >>> best = fit_reverse(p, inits=[2.0])[0]
    >>> round(float(best.mean[0]), 3), round(float(best.std[0]), 3), round(best.kl_reverse, 3)
    (2.984, 1.023, 0.689)
    """
    dim = event_dim(p)
    if objective == "auto":
        objective = "quadrature" if dim == 1 else "mc"
    if objective not in ("quadrature", "mc"):
        raise ValueError(f"objective must be 'auto', 'quadrature' or 'mc', got {objective!r}")
    if objective == "quadrature" and dim != 1:
        raise ValueError("objective='quadrature' is for 1-D targets; use objective='mc'")
    if inits is None:
        if n_restarts is None:
            n_restarts = 7 if dim == 1 else 9
        if n_restarts < 1:
            raise ValueError(f"n_restarts must be at least 1, got {n_restarts}")
        inits = _initial_means(p, dim, n_restarts)
    inits = np.asarray(inits, dtype=float).reshape(-1, dim)
    if init_std is None:
        moments = gaussian_moments(p)
        if moments is None:
            with torch.random.fork_rng():
                torch.manual_seed(0)
                x = p.sample((20_000,)).to(DTYPE).reshape(20_000, dim)
            init_std = 0.5 * float(x.std(0).mean())
        else:
            init_std = 0.5 * float(moments[1].diagonal().sqrt().mean())
    if not init_std > 0:
        raise ValueError(f"init_std must be positive, got {init_std}")
    objective_fn = _reverse_objective(p, dim, objective, n_nodes, n_samples, seed)
    lo, hi = extent(p, dim)
    span = float(np.max(hi - lo))
    fits = []
    for init in inits:
        mean0 = torch.as_tensor(init, dtype=DTYPE)
        L0 = init_std * torch.eye(dim, dtype=DTYPE)
        mean, cov, value, converged = _minimize(objective_fn, mean0, L0, steps, lr, span)
        fits.append(_fit(p, mean, cov, init_mean=init.copy(), objective=value, converged=converged))
    return sorted(fits, key=lambda f: f.kl_reverse)


# --------------------------------------------------------------------------- separation sweep


class Branch(NamedTuple):
    """A reverse-KL Gaussian fit to ½N(−d, σ²) + ½N(d, σ²) found by L-BFGS: its mean and standard
    deviation, KL(q‖p) in nats and the curvature ∂²KL/∂mean² at the optimum."""

    mean: float
    std: float
    kl: float
    curvature: float


class SweepResult(dict):
    """`reverse_kl_sweep`'s result: a dict (its JSON) whose keys read as attributes, as scipy's ``OptimizeResult``."""

    def __getattr__(self, name: str):
        if name not in self:
            raise AttributeError(name)
        return self[name]


class SweepRow(NamedTuple):
    """One separation d of the sweep: the global optimum (`best_`), the symmetric branch (`sym_`)
    and the off-centre branch (`off_`, None where it does not exist)."""

    d: float
    best_mean: float
    best_std: float
    best_kl: float
    sym_std: float
    sym_kl: float
    sym_curvature: float
    off_mean: float | None
    off_std: float | None
    off_kl: float | None

    @classmethod
    def at(cls, d: float, sym: Branch, off: Branch | None) -> SweepRow:
        best = off if off is not None and off.kl < sym.kl else sym
        offs = (None, None, None) if off is None else (abs(off.mean), off.std, off.kl)
        return cls(float(d), abs(best.mean), best.std, best.kl, sym.std, sym.kl, sym.curvature, *offs)


def _branch(d: float, sigma: float, mean0: float, std0: float, n_nodes: int) -> Branch:
    """L-BFGS on the quadrature objective for ½N(−d, σ²) + ½N(d, σ²) from (mean0, std0)."""
    p = gaussian_mixture([0.5, 0.5], [-d, d], [sigma, sigma])
    fn = _reverse_objective(p, 1, "quadrature", n_nodes, 0, 0)
    mean, cov, value, _ = _minimize(
        fn, torch.tensor([mean0], dtype=DTYPE), torch.tensor([[std0]], dtype=DTYPE), 0, 0.0, 2 * d + 24 * sigma
    )
    L = cov.sqrt()
    curvature = torch.autograd.functional.hessian(lambda m: fn(m, L), mean)[0, 0]
    return Branch(float(mean[0]), float(L[0, 0]), max(value, 0.0), float(curvature))  # KL ≥ 0; clip rounding


def reverse_kl_sweep(separations, *, sigma: float = 1.0, n_nodes: int = 1024, bisections: int = 12) -> SweepResult:
    """Reverse-KL Gaussian fits to p_d = ½N(−d, σ²) + ½N(d, σ²) as the modes move apart.

    Two branches are followed by L-BFGS on the Gauss–Hermite objective: the symmetric
    one (mean 0, kept there by symmetry; `sym_curvature` = ∂²KL/∂μ² says whether it is a
    minimum, > 0, or a saddle) and the off-centre one, warm-started from its solution at
    the next larger d (continuation) and absent (None) where it slides back to mean 0.
    The global optimum is the branch with the lower KL(q‖p). `d_appear` (the separation
    where the off-centre optimum first exists) and `d_cross` (where it becomes the global
    one) are refined by `bisections` halvings of the grid step. KLs in nats, by the quadrature objective.

    Returns a `SweepResult` (keys read as attributes): lists keyed by the fields of `SweepRow` (`d`,
    `best_mean` (|μ|), `best_std`, `best_kl`, `sym_std`, `sym_kl`, `sym_curvature`, `off_mean`,
    `off_std`, `off_kl`), and the floats `d_appear`, `d_cross` (None when not inside the swept range).
    """
    ds = np.sort(np.asarray(separations, dtype=float))
    if ds.ndim != 1 or ds.size < 2 or (ds < 0).any():
        raise ValueError("separations must be at least two non-negative numbers")
    tol = 1e-3 * sigma

    def sym_at(d: float) -> Branch:
        return _branch(d, sigma, 0.0, math.sqrt(sigma**2 + d**2), n_nodes)

    def off_at(d: float, warm_d: float, warm: Branch) -> Branch | None:  # warm start: the mean scaled with d
        b = _branch(d, sigma, warm.mean * d / warm_d, warm.std, n_nodes)
        return b if abs(b.mean) >= tol else None

    def bisect(lo: float, hi: float, warm: Branch, accept) -> float:
        for _ in range(bisections):
            mid = 0.5 * (lo + hi)
            b = off_at(mid, hi, warm)
            if b is not None and accept(mid, b):
                hi, warm = mid, b
            else:
                lo = mid
        return 0.5 * (lo + hi)

    sym = [sym_at(d) for d in ds]
    off: list[Branch | None] = [None] * len(ds)  # by continuation from the largest d down, until it slides to 0
    warm_d, warm = ds[-1], Branch(ds[-1], sigma, 0.0, 0.0)
    for i in range(len(ds) - 1, -1, -1):
        if ds[i] == 0 or (found := off_at(ds[i], warm_d, warm)) is None:
            break
        off[i], warm_d, warm = found, ds[i], found
    present = [(i, b) for i, b in enumerate(off) if b is not None]
    d_appear = d_cross = None
    if present and present[0][0] > 0:
        i, b = present[0]
        d_appear = bisect(ds[i - 1], ds[i], b, lambda d, b: True)
    for i, b in present:
        before = off[i - 1]
        if i > 0 and b.kl < sym[i].kl and (before is None or before.kl >= sym[i - 1].kl):
            d_cross = bisect(ds[i - 1], ds[i], b, lambda d, b: b.kl < sym_at(d).kl)
            break
    rows = [SweepRow.at(d, s, o) for d, s, o in zip(ds, sym, off)]
    out = SweepResult({k: [getattr(r, k) for r in rows] for k in SweepRow._fields})
    out["d_appear"], out["d_cross"] = d_appear, d_cross
    return out
