"""The settings of a VAE: the network, the likelihood p(x|z), the prior and the family member.

A `VAEConfig` is what a run folder's config.json stores under "vae" and what
`klvae.vae.build_model` builds a model from; fields left as None take the defaults of
`size_defaults`, chosen from the data's image size.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from klvae.vae.priors import PRIORS

__all__ = ["VAEConfig", "LIKELIHOODS", "ARCHS", "size_defaults"]

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-learned")
ARCHS = ("mlp", "conv")


@dataclass
class VAEConfig:
    r"""Settings of the network and of the likelihood p(x|z) (one field per flag of ``klvae train``'s
    model group).

    Parameters
    ----------
    arch : str, default "mlp"
        ``"mlp"`` (any image size) or ``"conv"`` (1 or 3 × 28 × 28 images only).
    hidden : tuple of int, optional
        Encoder hidden widths, the decoder mirrors them (conv: the fully connected width); None:
        from the image size (`size_defaults`).
    latent_dim : int, optional
        Size of z; None: from the image size.
    likelihood : str, default "bernoulli"
        p(x|z): ``"bernoulli"``, ``"gaussian"`` (σ fixed) or ``"gaussian-learned"``.
    sigma : float, default 0.1
        σ of the fixed-σ Gaussian likelihood, in pixel units ([0, 1] scale).
    image_shape : tuple of int, optional
        (C, H, W) of the data; training sets it from the data.
    prior : str, default "normal"
        p(z): ``"normal"`` (N(0, I)) or ``"vamp"`` (the VampPrior).
    pseudo_inputs : int, default 500
        K, the VampPrior's learned pseudo-inputs.
    stochastic_layers : int, default 1
        1: x → z; 2: x → z1 → z2.
    latent_dim2 : int, optional
        Size of z2 with two layers; None: half of `latent_dim` (at least 2).
    hidden2 : tuple of int, optional
        Widths of the z1 ↔ z2 networks; None: 4·latent_dim (at least 64).
    conditional : bool, default False
        The label enters encoder and decoder: q(z|x, y), p(x|z, y).
    n_classes : int, optional
        Labels 0 … n_classes − 1 of a conditional model; training sets it.

    Raises
    ------
    ValueError
        For an unknown arch, likelihood or prior, a size below 1, a non-positive σ, an image shape
        that is not (C, H, W), ``arch="conv"`` on images other than 28 × 28, or a conditional
        VampPrior.

    See Also
    --------
    build_model : the network a configuration describes.

    Notes
    -----
    The model is :math:`p(x, z) = p(x|z)\,p(z)` with the encoder
    :math:`q(z|x) = \mathcal N(\mu(x), \operatorname{diag}\sigma^2(x))`; with two layers
    :math:`p(x|z_1)\,p(z_1|z_2)\,p(z_2)`.

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014); Tomczak & Welling, "VAE with a
    VampPrior" (2018); Burda et al., "Importance Weighted Autoencoders" (2016), §5; Sohn et al.,
    "Learning Structured Output Representation using Deep Conditional Generative Models" (2015).

    Examples
    --------
    >>> config = VAEConfig(image_shape=(1, 8, 8))
    >>> config.hidden, config.latent_dim, config.n_pixels
    ((400,), 8, 64)
    >>> VAEConfig.from_json(config.to_json()) == config
    True
    """

    arch: str = "mlp"  # "mlp" (any image size) or "conv" (1 or 3 × 28 × 28 images only)
    hidden: tuple[int, ...] | None = None  # encoder hidden widths, the decoder mirrors them (conv: the FC
    # width); None: from the image size, see `size_defaults`
    latent_dim: int | None = None  # size of z, the prior is N(0, I); None: from the image size
    likelihood: str = "bernoulli"  # p(x|z): "bernoulli" | "gaussian" (fixed σ) | "gaussian-learned"
    sigma: float = 0.1  # σ of the fixed-σ "gaussian" likelihood, in pixel units ([0, 1] scale)
    image_shape: tuple[int, ...] | None = None  # (C, H, W) of the data; training sets it from the data
    prior: str = "normal"  # p(z): "normal" (N(0, I)) or "vamp" (Tomczak & Welling 2018)
    pseudo_inputs: int = 500  # K, the VampPrior's learned pseudo-inputs
    stochastic_layers: int = 1  # 1: x → z; 2: x → z1 → z2 (Burda et al. 2016's two-layer models)
    latent_dim2: int | None = None  # size of z2 with two layers; None: half of latent_dim (at least 2)
    hidden2: tuple[int, ...] | None = None  # widths of the z1 ↔ z2 networks; None: 4·latent_dim (at least 64)
    conditional: bool = False  # the label enters encoder and decoder: q(z|x, y), p(x|z, y)
    n_classes: int | None = None  # labels 0 … n_classes − 1 of a conditional model; training sets it

    def __post_init__(self):
        if self.image_shape is not None:
            self.image_shape = tuple(int(s) for s in self.image_shape)
            if len(self.image_shape) == 3:
                auto = size_defaults(self.image_shape)
                self.hidden = auto["hidden"] if self.hidden is None else self.hidden
                self.latent_dim = auto["latent_dim"] if self.latent_dim is None else self.latent_dim
        if self.hidden is not None:
            self.hidden = tuple(int(h) for h in self.hidden)
        self._check_family()
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if self.hidden is not None and (not self.hidden or min(self.hidden) < 1):
            raise ValueError(f"hidden must be one or more positive widths, got {self.hidden}")
        if self.latent_dim is not None and self.latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {self.latent_dim}")
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise ValueError(f"sigma must be positive and finite, got {self.sigma}")
        if self.image_shape is None:
            return
        if len(self.image_shape) != 3:
            raise ValueError(f"image_shape must be (C, H, W), got {self.image_shape}")
        if self.arch == "conv" and self.image_shape[1:] != (28, 28):
            raise ValueError(
                f"--arch conv needs 28×28 images, the data has {self.image_shape[1]}×"
                f"{self.image_shape[2]}; use --arch mlp"
            )

    def _check_family(self) -> None:
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if self.pseudo_inputs < 1:
            raise ValueError(f"pseudo_inputs must be at least 1, got {self.pseudo_inputs}")
        if self.stochastic_layers not in (1, 2):
            raise ValueError(f"stochastic_layers must be 1 or 2, got {self.stochastic_layers}")
        if self.conditional and self.prior == "vamp":
            raise ValueError("a conditional VAE has the N(0, I) prior: the VampPrior's pseudo-inputs carry no label")
        if self.n_classes is not None and self.n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {self.n_classes}")
        if self.stochastic_layers == 2 and self.latent_dim is not None:
            self.latent_dim2 = max(2, self.latent_dim // 2) if self.latent_dim2 is None else int(self.latent_dim2)
            self.hidden2 = (max(64, 4 * self.latent_dim),) if self.hidden2 is None else tuple(map(int, self.hidden2))
            if self.latent_dim2 < 1 or not self.hidden2 or min(self.hidden2) < 1:
                raise ValueError(f"latent_dim2 and hidden2 must be positive, got {self.latent_dim2}, {self.hidden2}")

    @property
    def n_pixels(self) -> int:
        """D = C·H·W, the pixels of one image (raises ValueError while `image_shape` is unset)."""
        if self.image_shape is None:
            raise ValueError("VAEConfig.image_shape is not set: give the (C, H, W) of the data")
        return math.prod(self.image_shape)

    def to_json(self) -> str:
        """The configuration as JSON text, keys sorted (what model files and config.json store).

        Returns
        -------
        str
            JSON of every field.

        See Also
        --------
        from_json : the inverse.

        Examples
        --------
        >>> VAEConfig(latent_dim=2).to_json()[:30]
        '{"arch": "mlp", "conditional":'
        """
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VAEConfig:
        """The configuration stored as JSON by `to_json`, checked as a new one.

        Parameters
        ----------
        text : str
            JSON of the fields.

        Returns
        -------
        VAEConfig
            The configuration.

        Raises
        ------
        ValueError
            For values a configuration refuses.

        Examples
        --------
        >>> VAEConfig.from_json('{"latent_dim": 3}').latent_dim
        3
        """
        return cls(**json.loads(text))

    @property
    def label_width(self) -> int:
        """Inputs the label adds to a network (its one-hot code): n_classes when conditional, else 0."""
        if not self.conditional:
            return 0
        if self.n_classes is None:
            raise ValueError("a conditional VAE needs n_classes: training sets it from the data's labels")
        return self.n_classes


SMALL_IMAGE = 256  # pixels (C·H·W): the 8×8 digits and smaller


def size_defaults(image_shape: tuple[int, ...]) -> dict:
    """The settings a VAE uses unless given, chosen by the number of pixels D = C·H·W.

    Parameters
    ----------
    image_shape : tuple of int
        (C, H, W) of the data.

    Returns
    -------
    dict
        ``"hidden"``, ``"latent_dim"``, ``"batch_size"`` and ``"lr"``.

    Notes
    -----
    - D ≤ 256 (the 8×8 digits): 400 hidden units, 8 latents, batch 128, Adam 2e-3;
    - larger images (28×28 and up): 1024 hidden units, 32 latents, batch 256, Adam 3e-3.

    The larger setting reaches a lower test −log p(x) in a fixed training time on Fashion-MNIST
    than the 400/20 network at batch 128 (benchmarks/bench_vae.py, "time to quality").

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), §5 (the 400/20 network).

    Examples
    --------
    >>> size_defaults((1, 28, 28))["latent_dim"]
    32
    >>> size_defaults((1, 8, 8))["hidden"]
    (400,)
    """
    if math.prod(image_shape) <= SMALL_IMAGE:
        return {"hidden": (400,), "latent_dim": 8, "batch_size": 128, "lr": 2e-3}
    return {"hidden": (1024,), "latent_dim": 32, "batch_size": 256, "lr": 3e-3}
