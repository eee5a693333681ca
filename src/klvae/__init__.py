"""klvae: divergences you can trust, and the generative models built on them."""

__version__ = "0.1.0"

from klvae.estimate import MCEstimate, check_closed_form, mc_kl
from klvae.gaussian import entropy_mvn, entropy_normal, kl_mvn, kl_normal, kl_std_normal

__all__: list[str] = [
    "kl_normal",
    "kl_std_normal",
    "kl_mvn",
    "entropy_normal",
    "entropy_mvn",
    "MCEstimate",
    "mc_kl",
    "check_closed_form",
]
