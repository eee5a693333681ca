"""klvae: divergences you can trust, and the generative models built on them.

Every public name is importable from here (`klvae.kl_divergence`, `klvae.train_vae`, …); its
module is imported on first use of one of its names. `import klvae` itself imports neither torch
nor NumPy, so it is instant, and the command line can choose how OpenMP waits before torch starts
(`klvae.cli`). This lazy loading is the one place where klvae imports inside a function.
"""

from importlib import import_module

from klvae._version import __version__

# name -> module, imported when the name is first asked for
_LAZY = {
    **dict.fromkeys(
        [
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
        ],
        "klvae.info",
    ),
    **dict.fromkeys(["kl_normal", "kl_std_normal", "kl_mvn", "entropy_normal", "entropy_mvn"], "klvae.gaussian"),
    **dict.fromkeys(["kl_lowrank_mvn"], "klvae.lowrank"),
    **dict.fromkeys(["rel_entr", "kl_div", "entr"], "klvae.elementwise"),
    **dict.fromkeys(
        [
            "hellinger_distance",
            "total_variation",
            "chi2_divergence",
            "renyi_divergence",
            "alpha_divergence",
            "f_divergence",
        ],
        "klvae.divergences",
    ),
    **dict.fromkeys(["kl_distributions", "kl_method"], "klvae.distributions"),
    **dict.fromkeys(["MCEstimate", "mc_kl", "check_closed_form"], "klvae.estimate"),
    **dict.fromkeys(["gaussian_mixture", "parse_mixture", "kl_numerical", "NumericalKL"], "klvae.mixture"),
    **dict.fromkeys(
        [
            "knn_entropy",
            "knn_kl_divergence",
            "ksg_mutual_information",
            "mmd2",
            "MMDResult",
            "energy_distance",
            "sliced_wasserstein",
            "wasserstein_distance_nd",
        ],
        "klvae.estimators",
    ),
    **dict.fromkeys(["GaussianFit", "fit_forward", "fit_reverse", "reverse_kl_sweep"], "klvae.fit"),
    **dict.fromkeys(
        [
            "pathwise_gradients",
            "score_function_gradients",
            "estimate_gradient",
            "analytic_gradient",
            "exact_variance",
            "sampling_blocks_gradients",
            "variance_table",
        ],
        "klvae.gradients",
    ),
    **dict.fromkeys(
        ["Dataset", "DataError", "load_dataset", "read_idx", "mode_mixture", "sample_mixture"], "klvae.data"
    ),
    **dict.fromkeys(["save_image_grid"], "klvae.figures"),
    **dict.fromkeys(["plot_curves", "plot_bars", "plot_points"], "klvae.charts"),
    **dict.fromkeys(["write_report", "load_metrics_jsonl"], "klvae.report"),
    # (the loop's `fit` stays klvae.train.fit: `klvae.fit` is the module of forward and reverse KL fits)
    **dict.fromkeys(["TrainConfig", "NonFiniteLossError", "TrainingInterrupted"], "klvae.train"),
    **dict.fromkeys(
        ["VAE", "VAEConfig", "ELBOConfig", "vae_loss", "iw_log_px", "evaluate_vae", "load_run"], "klvae.vae"
    ),
    **dict.fromkeys(
        [
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
        "klvae.gan",
    ),
    **dict.fromkeys(["train_vae", "evaluate_run", "train_gan"], "klvae.runs"),
}

__all__: list[str] = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'klvae' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
