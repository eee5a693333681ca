"""A finished GAN run read back: its generator, fresh samples and its evaluation.

`klvae sample` and `klvae eval` call these when RUN is a GAN run (its config.json has a "gan"
key); the VAE's own commands are in `klvae.runs.vae`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from klvae.data import load_dataset, mode_mixture
from klvae.gan.evaluate import EVAL_SAMPLES, IMAGE_EVAL_SAMPLES, classifier_scores, mode_coverage, sample_fixed
from klvae.gan.model import Classifier, GANConfig, Generator, build_gan
from klvae.runs.folder import MODEL, read_config

__all__ = ["is_gan_run", "load_generator", "evaluate_gan_run", "mode_means"]


def is_gan_run(run_dir: str | Path) -> bool:
    """True when RUN/config.json describes a GAN run (it has a "gan" key)."""
    return "gan" in read_config(run_dir)


def load_generator(run_dir: str | Path, device: str | torch.device = "cpu") -> Generator:
    """The trained generator of a GAN run, in eval mode (weights from RUN/model.safetensors)."""
    path = Path(run_dir) / MODEL
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (the run has no trained model yet)")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != "klvae-gan-1":
        raise ValueError(f"{path} is not a klvae GAN model (format {meta.get('format')!r})")
    config = GANConfig(**json.loads(meta["gan_config"]))
    shape = tuple(json.loads(meta["data_shape"]))
    generator, _ = build_gan(config, shape, image=len(shape) == 3)
    weights = {k.removeprefix("generator."): v for k, v in load_file(str(path)).items() if k.startswith("generator.")}
    generator.load_state_dict(weights)
    return generator.to(device).eval()


def mode_means(run_dir: str | Path) -> torch.Tensor | None:
    """The mode means of a 2-D mixture run (None for images)."""
    name = read_config(run_dir).get("data", {}).get("name", "")
    return mode_mixture(name)[0] if name in ("ring8", "grid25") else None


@torch.no_grad()
def evaluate_gan_run(run_dir: str | Path, device: str | torch.device = "cpu") -> dict:
    """The run's evaluation again, on the same fixed z: mode coverage for 2-D mixtures; for
    labelled images the offline classifier scores (when RUN/classifier.safetensors exists)."""
    cfg = read_config(run_dir)
    name = cfg.get("data", {}).get("name", "")
    generator = load_generator(run_dir, device)
    if name in ("ring8", "grid25"):
        means, sigma = mode_mixture(name)
        cov = mode_coverage(sample_fixed(generator, EVAL_SAMPLES).cpu(), means, sigma)
        rkl = cov.reverse_kl if math.isfinite(cov.reverse_kl) else None
        return {
            "data": name,
            "modes": cov.modes,
            "n_modes": len(means),
            "high_quality": cov.high_quality,
            "reverse_kl": rkl,
            "samples": EVAL_SAMPLES,
        }
    path = Path(run_dir) / "classifier.safetensors"
    if not path.is_file():
        return {"data": name}
    train = cfg.get("train", {})
    dataset = load_dataset(train.get("data", name), seed=train.get("seed", 0))
    assert dataset.y_train is not None and dataset.num_classes is not None
    classifier = Classifier(dataset.image_shape, dataset.num_classes).to(device)
    classifier.load_state_dict(load_file(str(path), device=str(device)))
    x = sample_fixed(generator, IMAGE_EVAL_SAMPLES)
    s = classifier_scores(classifier, x, dataset.y_train.to(x.device), dataset.num_classes)
    return {"data": name, "class_kl": s["class_kl"], "confidence": s["confidence"], "samples": IMAGE_EVAL_SAMPLES}
