"""How well a GAN covers the modes of a 2-D mixture, and offline metrics for image GANs.

Mode coverage (Srivastava et al., "VEEGAN", 2017, section 5.1; Lin et al., "PacGAN", 2018,
section 5), for generated samples x_1..x_n and a mixture with means μ_1..μ_K and common σ:

- a sample is *high quality* when ‖x − μ_k*‖₂ ≤ 3σ for its nearest mean μ_k*;
- ``high_quality``: the fraction of samples that are high quality (in [0, 1]); for samples of
  the data itself it is P(‖x − μ‖ ≤ 3σ) = 1 − e^{−4.5} ≈ 0.9889 for a 2-D isotropic Gaussian;
- ``modes``: the number of modes that are the nearest mode of at least one high-quality sample;
- ``reverse_kl``: KL(q ‖ u) = Σ_k q_k log(K q_k) in nats, with q_k = (number of high-quality
  samples whose nearest mode is k) / (number of high-quality samples) and u uniform over the
  K modes. It is 0 for perfect balance and log K when every sample lies on one mode; NaN when
  no sample is high quality (q is then undefined).

Image GANs are scored offline (no download): a classifier trained on the same data labels
the generated images; ``class_kl`` = KL(generated class histogram ‖ data class histogram) and
``confidence`` = mean max softmax probability. This is not FID.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import torch

from klvae.gan.model import Classifier
from klvae.measures.discrete import kl_divergence

__all__ = [
    "ModeCoverage",
    "mode_coverage",
    "ClassifierScores",
    "classifier_scores",
    "train_classifier",
    "sample_fixed",
    "EVAL_SAMPLES",
    "IMAGE_EVAL_SAMPLES",
    "HQ_RADIUS",
    "NOT_FID",
]

#: Generated samples scored per evaluation, as in VEEGAN and PacGAN.
EVAL_SAMPLES = 2500
IMAGE_EVAL_SAMPLES = 2000  # generated images scored per evaluation by the offline classifier
HQ_RADIUS = 3.0  # high quality: within 3σ of the nearest mode
EVAL_SEED = 1234  # evaluation samples use their own seed: epochs compare, training RNG untouched
#: What the image scores are, and that they are not FID (printed with them).
NOT_FID = (
    "Image scores come from a classifier that klvae trains on the same data and keeps in the "
    "run (classifier.safetensors): class_kl = KL(generated class histogram ‖ data class "
    "histogram) and confidence = mean max softmax probability. This is not FID (which needs a "
    "downloaded Inception network) and is not comparable with published FID numbers."
)


@dataclass(frozen=True)
class ModeCoverage:
    """The mode-coverage numbers of one set of samples (see the module docstring).

    Parameters
    ----------
    modes : int
        Modes with at least one high-quality sample nearest to them.
    high_quality : float
        Fraction of samples within 3σ of their nearest mode, in [0, 1].
    reverse_kl : float
        KL(q_modes ‖ uniform) in nats over the high-quality samples; NaN if there are none.
    counts : tuple of int
        High-quality samples per mode, (K,).
    """

    modes: int  # modes with at least one high-quality sample nearest to them
    high_quality: float  # fraction of samples within 3σ of their nearest mode, in [0, 1]
    reverse_kl: float  # KL(q_modes ‖ uniform) in nats over high-quality samples; NaN if none
    counts: tuple[int, ...]  # (K,) high-quality samples per mode

    def as_dict(self) -> dict:
        return {
            "modes": self.modes,
            "high_quality": self.high_quality,
            "reverse_kl": self.reverse_kl,
            "mode_counts": list(self.counts),
        }


def mode_coverage(samples, means, sigma: float, *, radius: float = HQ_RADIUS) -> ModeCoverage:
    """Modes captured, high-quality fraction and reverse KL of `samples` against a mixture.

    A sample is high quality within `radius`·σ of its nearest mean; KL(q ‖ uniform) over the
    modes' shares of the high-quality samples is computed with `klvae.measures.kl_divergence`.

    Parameters
    ----------
    samples : array_like or torch.Tensor
        Points, shape (n, D).
    means : array_like or torch.Tensor
        The mixture's mode centres, shape (K, D).
    sigma : float
        The modes' common standard deviation.
    radius : float
        High quality within ``radius``·σ of the nearest mean (3 in VEEGAN and PacGAN).

    Returns
    -------
    ModeCoverage
        Modes captured, high-quality fraction, reverse KL in nats, counts per mode.

    Raises
    ------
    ValueError
        For shapes other than (n, D) and (K, D), empty input, or a σ that is not positive and finite.

    References
    ----------
    Srivastava et al., "VEEGAN" (2017), section 5.1; Lin et al., "PacGAN" (2018), table 1.

    Examples
    --------
    >>> means = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    >>> cov = mode_coverage(torch.tensor([[0.0, 0.1], [0.05, 0.0], [5.0, 5.0]]), means, 1.0)
    >>> cov.modes, round(cov.high_quality, 4), round(cov.reverse_kl, 4)  # KL = log 2
    (1, 0.6667, 0.6931)
    """
    x = torch.as_tensor(np.asarray(samples) if not isinstance(samples, torch.Tensor) else samples)
    mu = torch.as_tensor(np.asarray(means) if not isinstance(means, torch.Tensor) else means)
    x, mu = x.detach().to(torch.float64).cpu(), mu.detach().to(torch.float64).cpu()
    if x.dim() != 2 or mu.dim() != 2 or x.shape[1] != mu.shape[1]:
        raise ValueError(
            f"samples must be (n, D) and means (K, D) with the same D, got {tuple(x.shape)} and {tuple(mu.shape)}"
        )
    if len(x) == 0 or len(mu) == 0:
        raise ValueError("samples and means must be non-empty")
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be positive and finite, got {sigma}")
    dist = torch.cdist(x, mu)  # (n, K)
    nearest_dist, nearest = dist.min(dim=1)  # (n,), (n,)
    good = nearest_dist <= radius * sigma  # non-finite samples are never high quality
    k = len(mu)
    counts = torch.bincount(nearest[good], minlength=k)  # (K,)
    n_good = int(counts.sum())
    if n_good:
        q = counts.to(torch.float64) / n_good
        reverse_kl = float(kl_divergence(q, torch.full((k,), 1.0 / k, dtype=torch.float64)))
    else:
        reverse_kl = float("nan")
    return ModeCoverage(
        modes=int((counts > 0).sum()),
        high_quality=n_good / len(x),
        reverse_kl=reverse_kl,
        counts=tuple(int(c) for c in counts),
    )


class ClassifierScores(TypedDict):
    """What `classifier_scores` returns (a plain dict)."""

    class_kl: float  # KL(h_gen ‖ h_data) in nats
    confidence: float  # mean max softmax probability
    class_histogram: list[float]  # (C,) h_gen
    data_class_histogram: list[float]  # (C,) h_data


@torch.no_grad()
def classifier_scores(
    classifier: torch.nn.Module,
    images: torch.Tensor,
    data_labels: torch.Tensor,
    num_classes: int,
    batch_size: int = 500,
) -> ClassifierScores:
    """Offline scores of generated images with a classifier trained on the data (not FID).

    - ``class_kl`` = KL(h_gen ‖ h_data) in nats, h_gen the histogram of the classifier's
      argmax over the generated images, h_data the class histogram of the data's labels;
      +inf when the generator makes a class the data never has; 0 for matching histograms.
    - ``confidence`` = mean over images of max_c softmax(logits)_c, in [1/C, 1].

    Parameters
    ----------
    classifier : torch.nn.Module
        Maps images (B, C, H, W) to logits (B, num_classes), e.g. from `train_classifier`.
    images : torch.Tensor
        Generated images, shape (n, C, H, W).
    data_labels : torch.Tensor
        The data's integer labels, shape (N,).
    num_classes : int
        Number of classes C.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    dict
        ``{"class_kl", "confidence", "class_histogram", "data_class_histogram"}``.
    """
    classifier.eval()
    probs = torch.cat([torch.softmax(classifier(b), dim=1) for b in images.split(batch_size)])
    h_gen = torch.bincount(probs.argmax(1), minlength=num_classes).double() / len(images)
    h_data = torch.bincount(data_labels.long(), minlength=num_classes).double() / len(data_labels)
    return {
        "class_kl": float(kl_divergence(h_gen, h_data)),
        "confidence": float(probs.max(dim=1).values.mean()),
        "class_histogram": h_gen.tolist(),
        "data_class_histogram": h_data.tolist(),
    }


@torch.no_grad()
def sample_fixed(generator, n: int) -> torch.Tensor:
    """Samples of G at a fixed z (seed `EVAL_SEED`): epochs compare, the training RNG is untouched.

    Parameters
    ----------
    generator : Generator
        The generator G.
    n : int
        Number of samples.

    Returns
    -------
    torch.Tensor
        G(z) for n fixed draws z ~ N(0, I), on G's device.
    """
    device = next(generator.parameters()).device
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(EVAL_SEED))
    return generator(z.to(device))


def train_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    *,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
) -> Classifier:
    """Fit the small MLP `Classifier` with Adam on cross-entropy (the offline GAN scorer).

    Parameters
    ----------
    x : torch.Tensor
        Training images, shape (N, C, H, W).
    y : torch.Tensor
        Their integer labels, shape (N,).
    num_classes : int
        Number of classes.
    epochs : int
        Passes over the data.
    batch_size : int
        Images per step.
    lr : float
        Adam's learning rate.
    seed : int
        Seed of the initialization, shuffling and dropout (torch's global RNG is left as it was).

    Returns
    -------
    Classifier
        The trained classifier, in training mode.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Classifier(tuple(x.shape[1:]), num_classes).to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    with torch.random.fork_rng():  # dropout draws must not move the training RNG
        torch.manual_seed(seed)
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=g).to(x.device).split(batch_size):
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return model.eval()
