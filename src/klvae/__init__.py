"""klvae: divergences you can trust, and the generative models built on them.

Every public name is importable from here (`klvae.kl_divergence`, `klvae.train_vae`, …). The
package's folders are its layers, from the bottom up: `measures` (the maths on arrays,
distributions and samples), `experiments`, `data`, `training`, `figures`, the model families
`vae` and `gan`, `runs` (the jobs that write a run folder) and `cli`; each layer imports only
those below it. A name's layer package is imported on first use of the name: `import klvae`
itself imports neither torch nor NumPy, so it is instant, and the command line can choose how
OpenMP waits before torch starts (`klvae.cli`). This lazy loading (here, in the `measures` and
`data` packages, and the torch paths of the discrete measures and the divergences, which NumPy
input never needs) is the one place where klvae imports inside a function.
"""

from typing import Any

from klvae._lazy import LazyExports
from klvae._version import __version__

# layer package -> the public names it gives this package, imported when one is first asked for
_EXPORTS = {
    "klvae.measures": [
        "entropy",
        "cross_entropy",
        "kl_divergence",
        "js_divergence",
        "js_distance",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "joint_entropy",
        "conditional_entropy",
        "mutual_information",
        "wasserstein_distance",
        "wasserstein_distance_samples",
        "unit_name",
        "kl_normal",
        "kl_std_normal",
        "kl_mvn",
        "entropy_normal",
        "entropy_mvn",
        "kl_lowrank_mvn",
        "rel_entr",
        "kl_div",
        "entr",
        "hellinger_distance",
        "total_variation",
        "chi2_divergence",
        "renyi_divergence",
        "alpha_divergence",
        "f_divergence",
        "kl_distributions",
        "kl_method",
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
        "gaussian_mixture",
        "parse_mixture",
        "kl_numerical",
        "NumericalKL",
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
    ],
    "klvae.experiments": [
        "GaussianFit",
        "fit_forward",
        "fit_reverse",
        "reverse_kl_sweep",
        "pathwise_gradients",
        "score_function_gradients",
        "estimate_gradient",
        "analytic_gradient",
        "exact_variance",
        "sampling_blocks_gradients",
        "variance_table",
    ],
    "klvae.data": ["Dataset", "DataError", "load_dataset", "read_idx", "mode_mixture", "sample_mixture"],
    "klvae.figures": [
        "save_image_grid",
        "plot_curves",
        "plot_bars",
        "plot_points",
        "write_report",
        "load_metrics_jsonl",
    ],
    # the loop itself is klvae.training.fit: `klvae.fit_forward` and `fit_reverse` are the KL fits
    "klvae.training": ["TrainConfig", "NonFiniteLossError", "TrainingInterrupted"],
    "klvae.vae": ["VAE", "VAEConfig", "ELBOConfig", "vae_loss", "iw_log_px", "evaluate_vae", "load_run"],
    "klvae.gan": [
        "GANConfig",
        "value_function",
        "discriminator_loss",
        "generator_loss",
        "critic_loss",
        "gradient_penalty",
        "optimal_discriminator",
        "optimal_value",
        "mode_coverage",
        "ModeCoverage",
    ],
    "klvae.runs": ["train_vae", "evaluate_run", "train_gan"],
}
_LAZY = LazyExports(__name__, _EXPORTS, globals())

__all__: list[str] = ["__version__", *_LAZY.names]


def __getattr__(name: str) -> Any:
    return _LAZY.load(name)


def __dir__() -> list[str]:
    return _LAZY.dir()
