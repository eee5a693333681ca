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
    """Evaluate a finished run again on its test set.

    The test set is the one the run was evaluated on (binarized with the same seed when the run
    binarizes); the model is the run's model.safetensors.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        The run folder.
    k : int, optional
        Importance samples of the −log p(x) estimate; None: the run's `iw_k`.
    device : str or torch.device
        Where to evaluate.
    save : bool
        Write the metrics to RUN/eval.json and each test example's values to
        RUN/eval_per_image.safetensors.

    Returns
    -------
    dict
        The test metrics (`klvae.vae.evaluate_vae`), in nats per example.

    Raises
    ------
    FileNotFoundError
        When the folder, its config.json or its model is missing.
    ValueError
        For a damaged run config or model file, or a conditional run whose test set has no labels.

    Examples
    --------
    >>> import tempfile
    >>> from klvae.runs import train_vae
    >>> from klvae.training import TrainConfig
    >>> from klvae.vae import ELBOConfig, VAEConfig
    >>> train = TrainConfig(data="digits", epochs=1, val_size=0.0, out=tempfile.mkdtemp(), threads=1)
    >>> folder, _ = train_vae(VAEConfig(hidden=(32,), latent_dim=4), ELBOConfig(iw_k=5), train, figures=False)
    >>> metrics = evaluate_run(folder, k=2)
    >>> metrics["iw_k"], metrics["n_test"], (folder / "eval.json").exists()
    (2, 360, True)
    """
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
