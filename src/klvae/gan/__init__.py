"""The GAN min-max game: losses, its theory as numbers, networks and mode-coverage metrics.

min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))] (Goodfellow et al. 2014).
`objective` has the losses (minimax, non-saturating, WGAN-GP), `theory` the optimal
discriminator and V(D*, G) = 2·JSD − log 4, `model` the networks (with PacGAN packing),
`evaluate` the 2-D mode-coverage metrics and offline image scores. Training runs are
`klvae.runs.gan.job`.
"""

from klvae.gan.evaluate import (
    EVAL_SAMPLES,
    NOT_FID,
    ModeCoverage,
    classifier_scores,
    mode_coverage,
    sample_fixed,
    train_classifier,
)
from klvae.gan.model import Classifier, Discriminator, GANConfig, Generator, build_gan, pack, save_gan
from klvae.gan.objective import (
    LOSSES,
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    value_function,
)
from klvae.gan.theory import (
    disjoint_uniform_theory,
    gaussian_shift_theory,
    optimal_discriminator,
    optimal_value,
    saturation_gradients,
)

__all__ = [
    "LOSSES",
    "value_function",
    "discriminator_loss",
    "generator_loss",
    "critic_loss",
    "gradient_penalty",
    "optimal_discriminator",
    "optimal_value",
    "gaussian_shift_theory",
    "saturation_gradients",
    "disjoint_uniform_theory",
    "GANConfig",
    "Generator",
    "Discriminator",
    "Classifier",
    "build_gan",
    "pack",
    "ModeCoverage",
    "mode_coverage",
    "classifier_scores",
    "EVAL_SAMPLES",
    "NOT_FID",
    "sample_fixed",
    "train_classifier",
    "save_gan",
]
