"""klvae: divergences you can trust, and the generative models built on them."""

__version__ = "0.1.0"

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
from klvae import info as _info

__all__: list[str] = [*_info.__all__]
