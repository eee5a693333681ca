"""The measures layer: the maths on arrays, distributions and samples; it imports nothing above it.

Every measure takes lists, NumPy arrays or torch tensors (any device, autograd kept) and gives
the answer back in the same kind; `base=None` means nats, `base=2` bits, `base=10` dits.

=====================  ==========================================================================
module                 what it owns
=====================  ==========================================================================
`discrete`             entropy, cross-entropy, KL, Jensen–Shannon, binary cross-entropy, units
`joint`                joint and conditional entropy, mutual information of a joint table
`elementwise`          `rel_entr`, `kl_div`, `entr` as in ``scipy.special``, exact at the edges
`divergences`          Hellinger, total variation, χ², Rényi, Amari α, any f-divergence
`gaussian_divergences` their closed forms between Gaussians
`gaussian`             KL and entropy of univariate and diagonal normals; the VAE's KL term
`mvn`, `lowrank`       KL and entropy of full-covariance and low-rank-plus-diagonal normals
`distributions`        KL between ``torch.distributions`` objects: closed form, torch's, MC
`distribution_measures` every measure of distribution objects; `measure_method` says how
`distribution_quadrature` batched Gauss–Kronrod quadrature and discrete summation, with bounds
`measure_integrands`   each measure as an integral of the densities; its Monte Carlo estimate
`exponential_family`   Rényi, Hellinger, χ², KL within one exponential family, non-cancelling
`pairwise_forms`       closed forms of the Rényi family by pair; the Bhattacharyya distance
`mixture_bounds`       KL between Gaussian mixtures: guaranteed bounds, variational, MC
`scipy_adapter`        a frozen 1-D scipy.stats distribution wherever a torch one goes
`results`              `MeasureResult`: a tensor with its method, error bound or standard error
`mixture`              Gaussian mixtures and the numerical KL with its error bound
`monte_carlo`          Monte Carlo KL with its standard error
`knn_estimators`       from samples: k-NN entropy and KL, KSG mutual information
`mmd`                  from samples: MMD² (U, V, linear-time, B-test) and its two-sample tests
`sample_distances`     from samples: energy distance, sliced and exact Wasserstein
`wasserstein`          1-D Wasserstein-1 between histograms and between samples
`arrays`               any array in, the same kind out
=====================  ==========================================================================

Private helpers, each named for its idea: `_checks` (argument checks and their messages),
`_kernels` (the cancellation-free terms, each written once), `_lgamma` (log-gamma differences),
`_numpy_path` (the NumPy fast path of entropy, KL and JS), `_sample_blocks` (samples in and
answers out for the estimators; sums over all pairs in blocks of bounded memory).
"""

from klvae.measures.discrete import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    entropy,
    js_distance,
    js_divergence,
    kl_divergence,
    unit_name,
)
from klvae.measures.distribution_measures import distribution_measure, kl_distributions, kl_method, measure_method
from klvae.measures.divergences import (
    alpha_divergence,
    chi2_divergence,
    f_divergence,
    hellinger_distance,
    renyi_divergence,
    total_variation,
)
from klvae.measures.elementwise import entr, kl_div, rel_entr
from klvae.measures.gaussian import entropy_normal, kl_normal, kl_std_normal
from klvae.measures.gaussian_divergences import (
    alpha_gaussian,
    chi2_gaussian,
    hellinger_gaussian,
    renyi_gaussian,
    tv_gaussian,
)
from klvae.measures.joint import conditional_entropy, joint_entropy, mutual_information
from klvae.measures.knn_estimators import knn_entropy, knn_kl_divergence, ksg_mutual_information
from klvae.measures.lowrank import kl_lowrank_mvn
from klvae.measures.mixture import NumericalKL, gaussian_mixture, kl_numerical, parse_mixture
from klvae.measures.mixture_bounds import MixtureKL, kl_gaussian_mixtures
from klvae.measures.mmd import MMDResult, mmd2, mmd2_block, mmd2_linear
from klvae.measures.monte_carlo import MCEstimate, check_closed_form, mc_kl
from klvae.measures.mvn import entropy_mvn, kl_mvn
from klvae.measures.pairwise_forms import bhattacharyya_distance
from klvae.measures.results import MeasureResult
from klvae.measures.sample_distances import energy_distance, sliced_wasserstein, wasserstein_distance_nd
from klvae.measures.scipy_adapter import ScipyDistribution
from klvae.measures.wasserstein import wasserstein_distance, wasserstein_distance_samples

__all__ = [
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "js_divergence",
    "js_distance",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "unit_name",
    "joint_entropy",
    "conditional_entropy",
    "mutual_information",
    "rel_entr",
    "kl_div",
    "entr",
    "hellinger_distance",
    "total_variation",
    "chi2_divergence",
    "renyi_divergence",
    "alpha_divergence",
    "f_divergence",
    "renyi_gaussian",
    "hellinger_gaussian",
    "chi2_gaussian",
    "alpha_gaussian",
    "tv_gaussian",
    "kl_normal",
    "kl_std_normal",
    "entropy_normal",
    "kl_mvn",
    "entropy_mvn",
    "kl_lowrank_mvn",
    "kl_distributions",
    "kl_method",
    "gaussian_mixture",
    "parse_mixture",
    "kl_numerical",
    "NumericalKL",
    "MCEstimate",
    "MeasureResult",
    "ScipyDistribution",
    "MixtureKL",
    "kl_gaussian_mixtures",
    "measure_method",
    "distribution_measure",
    "bhattacharyya_distance",
    "mc_kl",
    "check_closed_form",
    "knn_entropy",
    "knn_kl_divergence",
    "ksg_mutual_information",
    "mmd2",
    "mmd2_linear",
    "mmd2_block",
    "MMDResult",
    "energy_distance",
    "sliced_wasserstein",
    "wasserstein_distance_nd",
    "wasserstein_distance",
    "wasserstein_distance_samples",
]
