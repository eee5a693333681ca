"""A finished VAE run evaluated again: `evaluate_run`."""

from __future__ import annotations

from pathlib import Path

import torch

from klvae.data.datasets import load_dataset
from klvae.runs.folder import EVAL, EVAL_PER_IMAGE, write_metrics, write_per_image
from klvae.runs.summary import evaluation_bar
from klvae.runs.vae.job import read_run_config, test_labels, test_set
from klvae.vae.evaluate import evaluate_vae_per_image
from klvae.vae.files import load_run

__all__ = ["evaluate_run"]


def evaluate_run(
    run_dir: str | Path, k: int | None = None, device: str | torch.device = "cpu", *, save: bool = True
) -> dict:
    """Re-evaluate a finished run on its test set; returns the metrics and, with `save`, writes
    them to RUN/eval.json (and each test example's values to RUN/eval_per_image.safetensors)."""
    vae, objective, train = read_run_config(run_dir)
    model = load_run(run_dir, device)
    dataset = load_dataset(train.data)
    x_test, y_test = test_set(dataset, objective).to(device), test_labels(dataset, vae, device)
    k = k or objective.iw_k
    with evaluation_bar(len(x_test), k) as bar:
        metrics, per_image = evaluate_vae_per_image(model, x_test, y=y_test, k=k, progress=bar.update)
    metrics["units"] = "nats per example"
    if save:
        write_per_image(Path(run_dir), per_image, k, EVAL_PER_IMAGE)
        write_metrics(Path(run_dir), metrics, EVAL)
    return metrics
