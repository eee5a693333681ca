"""The experiments layer: the theory's claims as computations that run (above the measures).

`gaussian_fits`: fit a Gaussian q to a target p by forward KL(p‖q) (the moment match) or reverse
KL(q‖p) from several starts. `mode_sweep`: the sweep of two modes pulled apart (mode covering vs
mode seeking).
`gradient_estimators`: the pathwise (reparameterized), score-function and baseline estimators of
∂/∂θ E_{N(μ,σ²)}[f(x)]; `gradient_theory`: the test costs, their exact gradients and the
estimators' exact variances.
"""

from klvae.experiments.gaussian_fits import GaussianFit, fit_forward, fit_reverse
from klvae.experiments.gradient_estimators import (
    estimate_gradient,
    pathwise_gradients,
    score_function_gradients,
    variance_table,
)
from klvae.experiments.gradient_theory import (
    ESTIMATORS,
    Cost,
    analytic_gradient,
    cosine,
    exact_variance,
    gaussian_bump,
    quadratic,
    sampling_blocks_gradients,
)
from klvae.experiments.mode_sweep import SweepResult, SweepRow, reverse_kl_sweep

__all__ = [
    "GaussianFit",
    "fit_forward",
    "fit_reverse",
    "reverse_kl_sweep",
    "SweepResult",
    "SweepRow",
    "Cost",
    "quadratic",
    "gaussian_bump",
    "cosine",
    "ESTIMATORS",
    "pathwise_gradients",
    "score_function_gradients",
    "estimate_gradient",
    "analytic_gradient",
    "exact_variance",
    "sampling_blocks_gradients",
    "variance_table",
]
