"""klvae: divergences you can trust, and the generative models built on them."""

__version__ = "0.1.0"

__all__: list[str] = []
