"""The VAE network: encoder → (μ, log σ²), reparameterized z, decoder → parameters of p(x|z).

Names follow Kingma & Welling (2014), "Auto-Encoding Variational Bayes": `encode`,
`reparameterize`, `decode`. A trained model is saved as safetensors weights with its
`VAEConfig` as JSON in the file's metadata, so `load_run` never runs pickled code.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from klvae._io import atomic_save_safetensors, check_tensors_fit, safetensors_header

__all__ = ["VAEConfig", "VAE", "LIKELIHOODS", "size_defaults", "save_model", "load_model", "load_run"]

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-learned")
ARCHS = ("mlp", "conv")
# Bounds of log σ for the learned-σ Gaussian: σ ∈ (1e-3, 1). A pixel in [0, 1] never needs σ > 1,
# and σ → 0 would let the density of a constant pixel grow without bound (a degenerate maximum).
LOG_SIGMA_MIN = math.log(1e-3)
LOG_SIGMA_MAX = 0.0


@dataclass
class VAEConfig:
    """Settings of the network and of the likelihood p(x|z)."""

    arch: str = "mlp"  # "mlp" (any image size) or "conv" (1 or 3 × 28 × 28 images only)
    hidden: tuple[int, ...] | None = None  # encoder hidden widths, the decoder mirrors them (conv: the FC
    # width); None: from the image size, see `size_defaults`
    latent_dim: int | None = None  # size of z, the prior is N(0, I); None: from the image size
    likelihood: str = "bernoulli"  # p(x|z): "bernoulli" | "gaussian" (fixed σ) | "gaussian-learned"
    sigma: float = 0.1  # σ of the fixed-σ "gaussian" likelihood, in pixel units ([0, 1] scale)
    image_shape: tuple[int, ...] | None = None  # (C, H, W) of the data; training sets it from the data

    def __post_init__(self):
        if self.image_shape is not None:
            self.image_shape = tuple(int(s) for s in self.image_shape)
            if len(self.image_shape) == 3:
                auto = size_defaults(self.image_shape)
                self.hidden = auto["hidden"] if self.hidden is None else self.hidden
                self.latent_dim = auto["latent_dim"] if self.latent_dim is None else self.latent_dim
        if self.hidden is not None:
            self.hidden = tuple(int(h) for h in self.hidden)
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

    @property
    def n_pixels(self) -> int:
        if self.image_shape is None:
            raise ValueError("VAEConfig.image_shape is not set: give the (C, H, W) of the data")
        return math.prod(self.image_shape)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VAEConfig:
        return cls(**json.loads(text))


SMALL_IMAGE = 256  # pixels (C·H·W): the 8×8 digits and smaller


def size_defaults(image_shape: tuple[int, ...]) -> dict:
    """The settings a VAE uses unless given, chosen by the number of pixels D = C·H·W.

    - D ≤ 256 (the 8×8 digits): 400 hidden units, 8 latents, batch 128, Adam 2e-3;
    - larger images (28×28 and up): 1024 hidden units, 32 latents, batch 256, Adam 3e-3.

    The larger setting reaches a lower test −log p(x) in a fixed training time on Fashion-MNIST
    than the 400/20 network at batch 128 (benchmarks/bench_vae.py, "time to quality").

    >>> size_defaults((1, 28, 28))["latent_dim"]
    32
    """
    if math.prod(image_shape) <= SMALL_IMAGE:
        return {"hidden": (400,), "latent_dim": 8, "batch_size": 128, "lr": 2e-3}
    return {"hidden": (1024,), "latent_dim": 32, "batch_size": 256, "lr": 3e-3}


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Gaussian encoder q(z|x) = N(μ(x), diag σ²(x)), prior p(z) = N(0, I), decoder p(x|z).

    `decode(z)` returns the likelihood's parameters: Bernoulli logits (`bernoulli`), the mean
    in [0, 1] (`gaussian`, σ fixed by the config), or (mean, log σ) per pixel
    (`gaussian-learned`, log σ smoothly bounded to (log 1e-3, 0)).

    >>> model = VAE(VAEConfig(hidden=(32,), latent_dim=2, image_shape=(1, 8, 8)))
    >>> mu, logvar = model.encode(torch.rand(5, 1, 8, 8))
    >>> tuple(mu.shape), tuple(model.decode(mu).shape)
    ((5, 2), (5, 1, 8, 8))
    """

    def __init__(self, config: VAEConfig):
        super().__init__()
        if config.image_shape is None:
            raise ValueError("VAEConfig.image_shape is not set: give the (C, H, W) of the data")
        assert config.hidden is not None and config.latent_dim is not None  # __post_init__ fills both from image_shape
        self.config = config
        c, d, n_out = config.latent_dim, config.n_pixels, config.image_shape[0]
        self.out_mult = 2 if config.likelihood == "gaussian-learned" else 1  # (mean, log σ) per pixel
        if config.arch == "mlp":
            self.encoder = _mlp([d, *config.hidden, 2 * c])
            self.decoder = _mlp([c, *reversed(config.hidden), self.out_mult * d])
        else:
            h = config.hidden[0]
            self.encoder = nn.Sequential(
                nn.Conv2d(n_out, 32, 4, 2, 1),
                nn.ReLU(),  # (B, 32, 14, 14)
                nn.Conv2d(32, 64, 4, 2, 1),
                nn.ReLU(),  # (B, 64, 7, 7)
                nn.Flatten(),
                nn.Linear(64 * 7 * 7, h),
                nn.ReLU(),
                nn.Linear(h, 2 * c),
            )
            self.decoder = nn.Sequential(
                nn.Linear(c, h),
                nn.ReLU(),
                nn.Linear(h, 64 * 7 * 7),
                nn.ReLU(),
                nn.Unflatten(1, (64, 7, 7)),
                nn.ConvTranspose2d(64, 32, 4, 2, 1),
                nn.ReLU(),  # (B, 32, 14, 14)
                nn.ConvTranspose2d(32, self.out_mult * n_out, 4, 2, 1),
            )  # (B, k·C, 28, 28)

    @torch.no_grad()
    def init_output_bias(self, pixel_mean: torch.Tensor) -> None:
        """Start the decoder at the data's mean image: output bias = logit(mean pixel), clamped to
        [1e-3, 1 − 1e-3] (the usual start for Bernoulli decoders, as in Burda et al. 2016).

        `pixel_mean` (C, H, W): each pixel's mean over the training set. The MLP decoder gets one
        bias per pixel; the conv decoder, whose last layer has one bias per channel, keeps its own.
        """
        if self.config.arch != "mlp":
            return
        last = self.decoder[-1]
        assert isinstance(last, nn.Linear)  # the MLP decoder ends in a Linear layer
        logit = torch.logit(pixel_mean.to(last.bias).flatten().clamp(1e-3, 1 - 1e-3))  # (D,)
        last.bias[: logit.numel()] = logit  # gaussian-learned: the mean half; the log σ half is left alone

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, H, W) → (μ, log σ²), each (B, latent_dim)."""
        if self.config.arch == "mlp":
            x = x.flatten(1)  # (B, D)
        # .to(x.dtype): under bf16 autocast the matmuls run in bf16 but μ, log σ² leave in x's dtype,
        # so the KL, the reparameterization and the loss stay in float32.
        h = self.encoder(x).to(x.dtype)  # (B, 2·latent)
        mu, logvar = h.chunk(2, dim=-1)  # (B, latent) each
        return mu, logvar

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, samples: int | None = None, eps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """z = μ + σ·ε with ε ~ N(0, I) and σ = exp(½ log σ²); gradients flow to μ and log σ².

        `samples=L` draws L z's per input: (B, latent) → (L, B, latent). `eps` gives the draws
        instead (the result's shape), e.g. rows of a draw made for a whole distributed batch.
        """
        std = torch.exp(0.5 * logvar)
        shape = mu.shape if samples is None else (samples, *mu.shape)
        if eps is None:
            eps = torch.randn(shape, dtype=mu.dtype, device=mu.device)  # ([L,] B, latent)
        return mu + std * eps

    def decode(self, z: torch.Tensor):
        """z (..., latent) → likelihood parameters, each (..., C, H, W)."""
        lead = z.shape[:-1]
        h = self.decoder(z.reshape(-1, z.shape[-1])).to(z.dtype)  # (N, k·D) or (N, k·C, H, W), z's dtype
        assert self.config.image_shape is not None  # checked in __init__
        c, hh, ww = self.config.image_shape
        h = h.reshape(*lead, self.out_mult * c, hh, ww)  # (..., k·C, H, W)
        if self.config.likelihood == "bernoulli":
            return h  # logits
        if self.config.likelihood == "gaussian":
            return torch.sigmoid(h)  # mean in [0, 1]
        raw_mean, raw_log_sigma = h.chunk(2, dim=-3)
        # log σ = lo + (hi − lo)·sigmoid(raw): smooth, gradient everywhere, never outside the bounds.
        log_sigma = LOG_SIGMA_MIN + (LOG_SIGMA_MAX - LOG_SIGMA_MIN) * torch.sigmoid(raw_log_sigma)
        return torch.sigmoid(raw_mean), log_sigma

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z] in [0, 1] (for Bernoulli, the probabilities σ(logits)), shape (..., C, H, W)."""
        params = self.decode(z)
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(params)
        return params[0] if isinstance(params, tuple) else params

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def save_model(model: VAE, path: str | os.PathLike) -> Path:
    """Write the weights as safetensors with the `VAEConfig` as JSON metadata (atomically)."""
    return atomic_save_safetensors(
        model.state_dict(), path, metadata={"format": "klvae-vae-1", "vae_config": model.config.to_json()}
    )


def _config_of(path: Path, meta: dict[str, str]) -> VAEConfig:
    """The `VAEConfig` in a model file's metadata; one line naming the file if it is not one."""
    if "vae_config" not in meta:
        raise ValueError(f"{path} has no vae_config metadata: not a klvae VAE model file")
    try:
        fields = json.loads(meta["vae_config"])
    except ValueError as err:
        raise ValueError(f"{path}: its vae_config metadata is not JSON ({err})") from None
    try:
        if not isinstance(fields, dict):
            raise TypeError(f"a JSON object was expected, found {type(fields).__name__}")
        config = VAEConfig(**fields)
        if config.image_shape is None:
            raise ValueError("image_shape is not set")
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{path}: its vae_config metadata is not a valid VAE configuration ({err})") from None
    return config


def _check_tensors_fit(path: Path, config: VAEConfig, found: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Compare the file's tensor names, shapes and dtypes with the network `config` describes,
    before any of it is built: the network is laid out on the meta device, which holds no data."""
    assert config.hidden is not None  # _config_of checked image_shape, which fills hidden
    wanted = 4 * (len(config.hidden) + 1)  # an MLP: weight and bias of each layer, both ways
    if config.arch == "mlp" and len(config.hidden) > len(found):  # before laying out a million layers
        raise ValueError(
            f"{path} does not fit its vae_config: the config describes {wanted} tensors, the file holds {len(found)}"
        )
    try:
        with torch.device("meta"):
            expected = VAE(config).state_dict()
    except (RuntimeError, ValueError, OverflowError, TypeError) as err:  # e.g. sizes beyond int64
        first = (str(err).splitlines() or [type(err).__name__])[0]  # torch appends a C++ stack
        raise ValueError(f"{path}: its vae_config describes a network that cannot be built ({first})") from None
    check_tensors_fit(path, expected, found, "its vae_config")


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> VAE:
    """Load a model written by `save_model`, in eval mode; no pickle involved.

    The configuration and the tensors' shapes are checked against each other before the network
    is built, so a small file cannot ask for a huge one; a file that does not fit raises
    ValueError naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file {path}")
    meta, found = safetensors_header(path)
    config = _config_of(path, meta)
    _check_tensors_fit(path, config, found)
    with safe_open(str(path), "pt", device="cpu") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model = VAE(config)
    model.load_state_dict(tensors)
    return model.to(device).eval()


def load_run(path: str | os.PathLike, device: str | torch.device = "cpu") -> VAE:
    """The trained VAE of a run folder (its `model.safetensors`), in eval mode.

    >>> model = load_run("runs/digits")  # doctest: +SKIP
    >>> mu, logvar = model.encode(x)     # doctest: +SKIP
    >>> model.config.latent_dim          # doctest: +SKIP
    8
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run folder {path} does not exist")
    return load_model(path / "model.safetensors", device)
