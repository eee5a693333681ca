"""klvae: divergences you can trust, and the generative models built on them."""

__version__ = "0.1.0"

from klvae.data import (DataError, Dataset, load_dataset, mode_mixture, read_idx,
                        sample_mixture)

__all__: list[str] = []
__all__ += ["Dataset", "DataError", "load_dataset", "read_idx", "mode_mixture", "sample_mixture"]
