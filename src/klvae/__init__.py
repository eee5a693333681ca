"""klvae: divergences you can trust, and the generative models built on them.

The measures on arrays and distributions (`klvae.info`, `klvae.elementwise`,
`klvae.divergences`, `klvae.distributions`, `klvae.gaussian`, `klvae.mvn`, `klvae.lowrank`,
`klvae.estimate`) are imported eagerly; the sample-based estimators (`klvae.estimators`,
scipy.spatial), the numerical KL of mixtures (`klvae.mixture`) and the heavier parts (data,
figures, models) are imported on first use of one of their names, so `import klvae` stays
quick.
"""

from importlib import import_module

from klvae import distributions as _distributions
from klvae import divergences as _divergences
from klvae import elementwise as _elementwise
from klvae import estimate as _estimate
from klvae import gaussian as _gaussian
from klvae import info as _info
from klvae.divergences import (
    alpha_divergence,
    chi2_divergence,
    f_divergence,
    hellinger_distance,
    renyi_divergence,
    total_variation,
)
from klvae.distributions import kl_distributions, kl_method
from klvae.elementwise import entr, kl_div, rel_entr
from klvae.estimate import MCEstimate, check_closed_form, mc_kl
from klvae.gaussian import entropy_mvn, entropy_normal, kl_mvn, kl_normal, kl_std_normal
from klvae.lowrank import kl_lowrank_mvn
from klvae.info import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    conditional_entropy,
    cross_entropy,
    entropy,
    joint_entropy,
    js_distance,
    js_divergence,
    kl_divergence,
    mutual_information,
    unit_name,
    wasserstein_distance,
    wasserstein_distance_samples,
)

__version__ = "0.1.0"

# name -> module, imported when the name is first asked for
_LAZY = {
    **dict.fromkeys(["Dataset", "DataError", "load_dataset", "read_idx", "mode_mixture",
                     "sample_mixture"], "klvae.data"),
    **dict.fromkeys(["save_image_grid", "plot_curves", "plot_bars", "plot_points",
                     "write_report", "load_metrics_jsonl"], "klvae.report"),
    **dict.fromkeys(["GaussianFit", "fit_forward", "fit_reverse", "reverse_kl_sweep"], "klvae.fit"),
    **dict.fromkeys(["gaussian_mixture", "parse_mixture", "kl_numerical", "NumericalKL"], "klvae.mixture"),
    **dict.fromkeys(["knn_entropy", "knn_kl_divergence", "ksg_mutual_information", "mmd2", "MMDResult",
                     "energy_distance", "sliced_wasserstein", "wasserstein_distance_nd"], "klvae.estimators"),
    **dict.fromkeys(["pathwise_gradients", "score_function_gradients", "estimate_gradient",
                     "analytic_gradient", "exact_variance", "sampling_blocks_gradients",
                     "variance_table"], "klvae.gradients"),
    **dict.fromkeys(["TrainConfig", "fit", "NonFiniteLossError", "TrainingInterrupted"], "klvae.train"),
    **dict.fromkeys(["VAE", "VAEConfig", "ELBOConfig", "vae_loss", "iw_log_px", "evaluate_vae",
                     "train_vae", "load_run"], "klvae.vae"),
    **dict.fromkeys(["GANConfig", "value_function", "discriminator_loss", "generator_loss",
                     "critic_loss", "gradient_penalty", "optimal_discriminator", "optimal_value",
                     "mode_coverage", "ModeCoverage", "train_gan"], "klvae.gan"),
}

__all__: list[str] = [*_info.__all__, *_gaussian.__all__, "kl_lowrank_mvn", *_elementwise.__all__, *_divergences.__all__,
                      *(n for n in _distributions.__all__ if n != "CLOSED_FORMS"), *_estimate.__all__, *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'klvae' has no attribute {name!r}")

