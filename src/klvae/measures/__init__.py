"""The measures layer: the maths on arrays, distributions and samples; it imports nothing above it.

Every measure takes lists, NumPy arrays or torch tensors (any device, autograd kept) and gives
the answer back in the same kind; `base=None` means nats, `base=2` bits, `base=10` dits.

=====================  ==========================================================================
module                 what it owns
=====================  ==========================================================================
`discrete`             entropy, cross-entropy, KL, units; the conventions of every discrete measure
`jensen_shannon`       the Jensen–Shannon divergence and distance
`binary`               binary cross-entropy, from probabilities and from logits
`joint`                joint and conditional entropy, mutual information of a joint table
`elementwise`          `rel_entr`, `kl_div`, `entr` as in ``scipy.special``, exact at the edges
`divergences`          Hellinger, total variation, χ², any f-divergence
`renyi`                the Rényi divergence of order α and Amari's α-divergence
`gaussian_divergences` their closed forms between Gaussians
`gaussian`             KL and entropy of univariate and diagonal normals; the VAE's KL term
`mvn`, `lowrank`       KL and entropy of full-covariance and low-rank-plus-diagonal normals
`distributions`        KL between ``torch.distributions`` objects: closed form, torch's, MC
`distribution_measures` every measure of distribution objects; `measure_method` says how
`entropies`            the closed-form entropies of distribution objects in NumPy (CPU, no gradient)
`distribution_kl`      KL between distribution objects; `kl_method` says how
`distribution_quadrature` batched Gauss–Kronrod quadrature and discrete summation, with bounds
`measure_integrands`   each measure as an integral of the densities; its Monte Carlo estimate
`exponential_family`   Rényi, Hellinger, χ², KL within one exponential family, non-cancelling
`pairwise_forms`       closed forms of the Rényi family by pair; the Bhattacharyya distance
`mixture_bounds`       KL between Gaussian mixtures: guaranteed bounds, variational, MC
`scipy_adapter`        a frozen 1-D scipy.stats distribution wherever a torch one goes
`results`              `MeasureResult`: a tensor with its method, error bound or standard error
`mixture`              Gaussian mixtures, and the moments and extent of any target
`numerical_kl`         the numerical KL between 1-D and 2-D densities, with its error estimate
`monte_carlo`          Monte Carlo KL with its standard error
`knn_estimators`       from samples: k-NN entropy and KL, KSG mutual information
`mmd`                  from samples: MMD² over all pairs (U, V, Fourier features), permutation test
`mmd_linear`           from samples: the linear-time MMD² and the B-test, with normal nulls
`sample_distances`     from samples: energy distance, sliced and exact Wasserstein
`wasserstein`          1-D Wasserstein-1 between histograms and between samples
`arrays`               any array in, the same kind out
=====================  ==========================================================================

Private helpers, each named for its idea: `_checks` (argument checks and their messages),
`_kernels` (the cancellation-free terms, each written once), `_partials` (their exact partial
derivatives for autograd, second derivatives included), `_logits` (log space from logits),
`_array_forms` (closed forms over NumPy arrays or tensors, with their partials), `_linalg`
(triangular solves and the relative factor of two Gaussians), `_lgamma` (log-gamma differences),
`_asymptotic` (Bernoulli numbers and the economised Stirling series, in exact arithmetic),
`_numpy_path` and `_numpy_kernels` (the NumPy path of entropy, cross-entropy, KL and JS, and the
checks whose words both paths give; they import no torch), `_divergence_terms` (the f-divergence
and Rényi sums, written once for NumPy and torch, and the NumPy path of `divergences` and `renyi`),
`_discrete_torch` and `_divergences_torch` (the torch paths of `discrete`, `jensen_shannon` and
`binary`, and of `divergences` and `renyi`, imported on the first tensor or distribution object),
`_sample_blocks` (samples in and answers out for the estimators; sums over all pairs in blocks of
bounded memory).

A name's module is imported on first use of the name (`_EXPORTS`), as in `klvae` itself: importing
this package imports neither torch nor SciPy.
"""

from typing import Any

from klvae._lazy import LazyExports

# module -> the public names it gives this package, imported when one is first asked for, so that
# `import klvae.measures` costs nothing and a NumPy measure need not start torch
_EXPORTS = {
    "klvae.measures.binary": ["binary_cross_entropy", "binary_cross_entropy_with_logits"],
    "klvae.measures.discrete": ["cross_entropy", "entropy", "kl_divergence", "unit_name"],
    "klvae.measures.distribution_kl": ["kl_distributions", "kl_method"],
    "klvae.measures.distribution_measures": ["distribution_measure", "measure_method"],
    "klvae.measures.divergences": ["chi2_divergence", "f_divergence", "hellinger_distance", "total_variation"],
    "klvae.measures.elementwise": ["entr", "kl_div", "rel_entr"],
    "klvae.measures.gaussian": ["entropy_normal", "kl_normal", "kl_std_normal"],
    "klvae.measures.gaussian_divergences": [
        "alpha_gaussian",
        "chi2_gaussian",
        "hellinger_gaussian",
        "renyi_gaussian",
        "tv_gaussian",
    ],
    "klvae.measures.jensen_shannon": ["js_distance", "js_divergence"],
    "klvae.measures.joint": ["conditional_entropy", "joint_entropy", "mutual_information"],
    "klvae.measures.knn_estimators": ["knn_entropy", "knn_kl_divergence", "ksg_mutual_information"],
    "klvae.measures.lowrank": ["kl_lowrank_mvn"],
    "klvae.measures.mixture": ["gaussian_mixture", "parse_mixture"],
    "klvae.measures.mixture_bounds": ["MixtureKL", "kl_gaussian_mixtures"],
    "klvae.measures.mmd": ["MMDResult", "mmd2"],
    "klvae.measures.mmd_linear": ["mmd2_block", "mmd2_linear"],
    "klvae.measures.monte_carlo": ["MCEstimate", "check_closed_form", "mc_kl"],
    "klvae.measures.mvn": ["entropy_mvn", "kl_mvn"],
    "klvae.measures.numerical_kl": ["NumericalKL", "kl_numerical"],
    "klvae.measures.pairwise_forms": ["bhattacharyya_distance"],
    "klvae.measures.renyi": ["alpha_divergence", "renyi_divergence"],
    "klvae.measures.results": ["MeasureResult"],
    "klvae.measures.sample_distances": ["energy_distance", "sliced_wasserstein", "wasserstein_distance_nd"],
    "klvae.measures.scipy_adapter": ["ScipyDistribution"],
    "klvae.measures.wasserstein": ["wasserstein_distance", "wasserstein_distance_samples"],
}
_LAZY = LazyExports(__name__, _EXPORTS, globals())

__all__: list[str] = [*_LAZY.names]


def __getattr__(name: str) -> Any:
    return _LAZY.load(name)


def __dir__() -> list[str]:
    return _LAZY.dir()
