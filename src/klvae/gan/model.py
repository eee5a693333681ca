"""Generator and discriminator networks: MLPs for 2-D points and for small images.

G maps z ~ N(0, I) to a sample; D maps a *pack* of m samples to one logit (PacGAN: the
discriminator judges m samples jointly, which penalizes a generator whose samples lack
diversity; m = 1 is the ordinary GAN). D embeds each sample with shared layers before it
concatenates the m embeddings (see `Discriminator`). For the Wasserstein loss D is a critic
whose output is a score, not a logit; it then has no batch normalization (the gradient penalty is per
sample). References: Goodfellow et al. (2014); Lin et al., "PacGAN" (2018), section 3;
Gulrajani et al. (2017), section 4.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from klvae._io import atomic_save_safetensors
from klvae.gan.objective import LOSSES

__all__ = ["GANConfig", "Generator", "Discriminator", "Classifier", "pack", "build_gan", "save_gan", "save_classifier"]


@dataclass
class GANConfig:
    """Settings of the GAN's networks and game (one field per `klvae gan` flag).

    Fields left as None take a default that depends on the loss or the data (see `resolved`).
    The optimizer settings are the training loop's (`klvae.training.TrainConfig`: lr, Adam's
    β's, schedule), shared by both players.

    Parameters
    ----------
    loss : str
        ``"minimax"``, ``"nonsaturating"`` or ``"wasserstein"`` (WGAN-GP).
    pack : int
        PacGAN degree m: D judges m samples jointly.
    latent_dim : int, optional
        Dimension of z ~ N(0, I) (2-D data: 2; images: 32).
    g_hidden : int, optional
        Generator hidden width (2-D: 128; images: 256).
    g_layers : int
        Generator hidden layers.
    d_hidden : int, optional
        Discriminator hidden width (2-D: 128; images: 256).
    d_layers : int
        Discriminator hidden layers.
    n_critic : int, optional
        Discriminator steps per generator step (1; wasserstein: 5).
    gp_weight : float
        λ of the gradient penalty (wasserstein only).

    Raises
    ------
    ValueError
        For an unknown loss, a size below 1 or a negative penalty weight.
    """

    loss: str = "nonsaturating"  # minimax | nonsaturating | wasserstein
    pack: int = 1  # PacGAN degree m: D judges m samples jointly
    latent_dim: int | None = None  # dimension of z ~ N(0, I) (2-D data: 2; images: 32)
    g_hidden: int | None = None  # generator hidden width (2-D: 128; images: 256)
    g_layers: int = 3  # generator hidden layers
    d_hidden: int | None = None  # discriminator hidden width (2-D: 128; images: 256)
    d_layers: int = 3  # discriminator hidden layers
    n_critic: int | None = None  # discriminator steps per generator step (1; wasserstein: 5)
    gp_weight: float = 10.0  # λ of the gradient penalty (wasserstein only)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        for name in ("pack", "latent_dim", "g_hidden", "g_layers", "d_hidden", "d_layers", "n_critic"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise ValueError(f"{name} must be at least 1, got {v}")
        if self.gp_weight < 0:
            raise ValueError(f"gp_weight must be non-negative, got {self.gp_weight}")

    def resolved(self, *, image: bool) -> GANConfig:
        """A copy with every None field set to its default for this loss and kind of data.

        Parameters
        ----------
        image : bool
            Whether the data are images (else 2-D points).

        Returns
        -------
        GANConfig
            The copy, with no field None.
        """
        wgan = self.loss == "wasserstein"
        pick = lambda v, default: default if v is None else v  # noqa: E731
        return replace(
            self,
            latent_dim=pick(self.latent_dim, 32 if image else 2),
            g_hidden=pick(self.g_hidden, 256 if image else 128),
            d_hidden=pick(self.d_hidden, 256 if image else 128),
            n_critic=pick(self.n_critic, 5 if wgan else 1),
        )

    def as_dict(self) -> dict:
        return asdict(self)


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """Group a batch into packs of m: (N, *shape) → (N // m, m, *shape), dropping N mod m.

    Parameters
    ----------
    x : torch.Tensor
        A batch, shape (N, ...).
    m : int
        Samples per pack.

    Returns
    -------
    torch.Tensor
        The packs, shape (N // m, m, ...).

    Raises
    ------
    ValueError
        If m < 1 or the batch cannot fill one pack.

    Examples
    --------
    >>> pack(torch.arange(10.0).reshape(5, 2), 2).shape
    torch.Size([2, 2, 2])
    """
    if m < 1:
        raise ValueError(f"pack must be a positive integer, got {m}")
    n = (x.shape[0] // m) * m
    if n == 0:
        raise ValueError(f"a batch of {x.shape[0]} samples cannot fill one pack of {m}")
    return x[:n].reshape(n // m, m, *x.shape[1:])


def _mlp(sizes: list[int], act: nn.Module, norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(a, b))
        if norm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(act)
    return layers


class Generator(nn.Module):
    """G: z (B, latent_dim) → x (B, *out_shape); an MLP with batch normalization and ReLU.

    Batch normalization (as in PacGAN's 2-D generator and DCGAN) markedly helps G spread its
    mass over many modes; in eval mode G uses the running statistics.

    Parameters
    ----------
    latent_dim : int
        Dimension of z.
    out_shape : tuple of int
        One sample's shape.
    hidden : int
        Hidden width.
    layers : int
        Hidden layers.
    out_range : str
        ``"real"``: a linear output (2-D points); ``"unit"``: a sigmoid (images in [0, 1]).

    Raises
    ------
    ValueError
        For another `out_range`.
    """

    def __init__(
        self, latent_dim: int, out_shape: tuple[int, ...], hidden: int = 128, layers: int = 3, out_range: str = "real"
    ):
        super().__init__()
        if out_range not in ("real", "unit"):
            raise ValueError(f"out_range must be 'real' or 'unit', got {out_range!r}")
        self.latent_dim, self.out_shape = latent_dim, tuple(out_shape)
        body = _mlp([latent_dim] + [hidden] * layers, nn.ReLU(), norm=True)
        head: list[nn.Module] = [nn.Linear(hidden, math.prod(self.out_shape))]
        if out_range == "unit":
            head.append(nn.Sigmoid())
        self.net = nn.Sequential(*body, *head)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(len(z), *self.out_shape)  # (B, *out_shape)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Samples G(z), z ~ N(0, I), drawn on the module's device.

        Parameters
        ----------
        n : int
            Number of samples.
        generator : torch.Generator, optional
            Source of z.

        Returns
        -------
        torch.Tensor
            Shape (n, *out_shape).
        """
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)  # (n, latent)
        return self(z)


class Discriminator(nn.Module):
    """D: a pack (B, m, *in_shape) → one logit (or critic score) per pack, (B,).

    An MLP with LeakyReLU(0.2) and no normalization (safe for the gradient penalty). Its first
    ``layers − 1`` hidden layers embed each of the m samples separately (shared weights); the
    m embeddings are concatenated (PacGAN) and the last hidden layer and the output judge
    the pack jointly. With m = 1 this is the plain MLP. Concatenating the raw samples instead
    makes every first-layer unit see a projection mixing the m samples, in which fine
    per-sample structure (grid25's σ = 0.05 modes) is blurred by the other samples'
    coordinates; such a discriminator stayed at chance on grid25.

    Parameters
    ----------
    in_shape : tuple of int
        One sample's shape.
    hidden : int
        Hidden width.
    layers : int
        Hidden layers.
    pack : int
        Samples per pack, m.

    Raises
    ------
    ValueError
        If `pack` < 1.
    """

    def __init__(self, in_shape: tuple[int, ...], hidden: int = 128, layers: int = 3, pack: int = 1):
        super().__init__()
        if pack < 1:
            raise ValueError(f"pack must be a positive integer, got {pack}")
        self.in_shape, self.pack = tuple(in_shape), pack
        features = math.prod(self.in_shape)
        embed = _mlp([features] + [hidden] * (layers - 1), nn.LeakyReLU(0.2), norm=False)
        self.embed = nn.Sequential(*embed)  # per sample: features → hidden (identity if layers = 1)
        width = hidden if layers > 1 else features
        joint = _mlp([pack * width, hidden], nn.LeakyReLU(0.2), norm=False)
        self.head = nn.Sequential(*joint, nn.Linear(hidden, 1))

    def forward(self, packs: torch.Tensor) -> torch.Tensor:
        h = self.embed(packs.flatten(2))  # (B, m, features) → (B, m, hidden)
        return self.head(h.flatten(1)).squeeze(1)  # (B, m·hidden) → (B,)


class Classifier(nn.Module):
    """A small MLP image classifier (B, C, H, W) → logits (B, classes), for offline GAN scores.

    Parameters
    ----------
    in_shape : tuple of int
        One image's shape (C, H, W).
    num_classes : int
        Number of classes.
    hidden : int
        Hidden width.
    """

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, hidden: int = 256):
        super().__init__()
        self.in_shape, self.num_classes = tuple(in_shape), num_classes
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(self.in_shape), hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, classes)


def build_gan(config: GANConfig, data_shape: tuple[int, ...], *, image: bool) -> tuple[Generator, Discriminator]:
    """The generator and discriminator for data of `data_shape` (one sample's shape).

    Parameters
    ----------
    config : GANConfig
        The networks' settings (None fields resolved for the data).
    data_shape : tuple of int
        One sample's shape.
    image : bool
        Whether the data are images (a sigmoid output, wider defaults).

    Returns
    -------
    tuple of (Generator, Discriminator)
        The two networks.

    Examples
    --------
    >>> g, d = build_gan(GANConfig(pack=2), (2,), image=False)
    >>> d(pack(g.sample(8), 2)).shape
    torch.Size([4])
    """
    config = config.resolved(image=image)
    # resolved() leaves no field None
    assert config.latent_dim is not None and config.g_hidden is not None and config.d_hidden is not None
    g = Generator(
        config.latent_dim, data_shape, config.g_hidden, config.g_layers, out_range="unit" if image else "real"
    )
    d = Discriminator(data_shape, config.d_hidden, config.d_layers, config.pack)
    return g, d


def save_gan(generator: Generator, discriminator: Discriminator, config: GANConfig, path: str | os.PathLike) -> Path:
    """Save G and D weights (`generator.*`, `discriminator.*`) with the GANConfig as JSON metadata.

    Parameters
    ----------
    generator : Generator
        G.
    discriminator : Discriminator
        D.
    config : GANConfig
        Stored as metadata, so the file says how to rebuild the networks.
    path : str or os.PathLike
        The safetensors file, written atomically.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    tensors = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    tensors.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
    meta = {
        "format": "klvae-gan-1",
        "gan_config": json.dumps(asdict(config)),
        "data_shape": json.dumps(list(generator.out_shape)),
    }
    return atomic_save_safetensors(tensors, path, metadata=meta)


def save_classifier(model: Classifier, path: str | os.PathLike) -> Path:
    """The offline scorer's weights, with its input shape and class count as metadata."""
    return atomic_save_safetensors(
        model.state_dict(),
        path,
        metadata={
            "format": "klvae-gan-classifier-1",
            "in_shape": json.dumps(list(model.in_shape)),
            "num_classes": str(model.num_classes),
        },
    )
