"""A finished GAN run read back: its generator, fresh samples and its evaluation.

`klvae sample` and `klvae eval` call these when RUN is a GAN run (its config.json has a "gan"
key); the VAE's own commands are in `klvae.runs.vae.job`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from klvae._io import check_tensors_fit, safetensors_header
from klvae.data.datasets import load_dataset
from klvae.data.mixtures import mode_mixture
from klvae.gan.evaluate import EVAL_SAMPLES, IMAGE_EVAL_SAMPLES
from klvae.gan.model import GANConfig, Generator, build_gan
from klvae.runs.folder import MODEL, read_config
from klvae.runs.gan.job import MIXTURES, Evaluator, load_classifier

__all__ = ["is_gan_run", "load_generator", "evaluate_gan_run", "mode_means"]


def is_gan_run(run_dir: str | Path) -> bool:
    """True when RUN/config.json describes a GAN run (it has a "gan" key)."""
    return "gan" in read_config(run_dir)


def load_generator(run_dir: str | Path, device: str | torch.device = "cpu") -> Generator:
    """The trained generator of a GAN run, in eval mode (weights from RUN/model.safetensors).

    The GANConfig in the file and its tensors' shapes are checked against each other, on networks
    laid out on the meta device, before anything is built: a small file cannot ask for a huge one."""
    path = Path(run_dir) / MODEL
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (the run has no trained model yet)")
    meta, found = safetensors_header(path)
    if meta.get("format") != "klvae-gan-1":
        raise ValueError(f"{path} is not a klvae GAN model (format {meta.get('format')!r})")
    try:
        config = GANConfig(**json.loads(meta["gan_config"]))
        shape = tuple(json.loads(meta["data_shape"]))
        with torch.device("meta"):
            g, d = build_gan(config, shape, image=len(shape) == 3)
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as err:
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path}: its gan_config metadata does not describe a GAN ({first})") from None
    expected = {f"generator.{k}": v for k, v in g.state_dict().items()}
    expected.update({f"discriminator.{k}": v for k, v in d.state_dict().items()})
    check_tensors_fit(path, expected, found, "its gan_config")
    generator, _ = build_gan(config, shape, image=len(shape) == 3)
    weights = {k.removeprefix("generator."): v for k, v in load_file(str(path)).items() if k.startswith("generator.")}
    generator.load_state_dict(weights)
    return generator.to(device).eval()


def mode_means(run_dir: str | Path) -> torch.Tensor | None:
    """The mode means of a 2-D mixture run (None for images)."""
    name = read_config(run_dir).get("data", {}).get("name", "")
    return mode_mixture(name)[0] if name in MIXTURES else None


@torch.no_grad()
def evaluate_gan_run(run_dir: str | Path, device: str | torch.device = "cpu") -> dict:
    """The run's evaluation again, by the run's own `Evaluator` on the same fixed z: mode coverage
    for 2-D mixtures; for labelled images the offline classifier scores (when
    RUN/classifier.safetensors exists)."""
    cfg, run_dir = read_config(run_dir), Path(run_dir)
    train = cfg.get("train", {})
    dataset = load_dataset(train.get("data", cfg.get("data", {}).get("name", "")), seed=train.get("seed", 0))
    generator = load_generator(run_dir, device)
    if not dataset.is_image:
        scores = Evaluator(run_dir, dataset)(generator, 0, figure=False)
        return {"data": dataset.name, **scores, "n_modes": len(mode_mixture(dataset.name)[0]), "samples": EVAL_SAMPLES}
    path = run_dir / "classifier.safetensors"
    if not path.is_file() or dataset.y_train is None:
        return {"data": dataset.name}
    scores = Evaluator(run_dir, dataset, load_classifier(path, dataset, device))(generator, 0, figure=False)
    return {"data": dataset.name, **scores, "samples": IMAGE_EVAL_SAMPLES}
