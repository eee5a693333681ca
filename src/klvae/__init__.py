"""klvae: divergences you can trust, and the generative models built on them."""

__version__ = "0.1.0"

from klvae.data import (DataError, Dataset, load_dataset, mode_mixture, read_idx,
                        sample_mixture)
from klvae.gan import (GANConfig, ModeCoverage, critic_loss, discriminator_loss, generator_loss,
                       gradient_penalty, mode_coverage, optimal_discriminator, optimal_value,
                       value_function)
from klvae.report import (load_metrics_jsonl, plot_bars, plot_curves, plot_points,
                          save_image_grid, write_report)

__all__: list[str] = []
__all__ += ["Dataset", "DataError", "load_dataset", "read_idx", "mode_mixture", "sample_mixture"]
__all__ += ["save_image_grid", "plot_curves", "plot_bars", "plot_points", "write_report",
            "load_metrics_jsonl"]
__all__ += ["GANConfig", "value_function", "discriminator_loss", "generator_loss", "critic_loss",
            "gradient_penalty", "optimal_discriminator", "optimal_value", "mode_coverage",
            "ModeCoverage"]
