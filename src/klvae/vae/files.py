"""A VAE's model file: safetensors weights with the `VAEConfig` as JSON in the file's metadata,
so loading never runs pickled code; `build_model` makes the network a configuration describes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open

from klvae._io import atomic_save_safetensors, check_tensors_fit, safetensors_header
from klvae.vae.config import VAEConfig
from klvae.vae.model import VAE
from klvae.vae.two_layer import TwoLayerVAE

__all__ = ["build_model", "save_model", "load_model", "load_run"]


def build_model(config: VAEConfig) -> VAE:
    """The network of `config`: a `VAE`, or a `TwoLayerVAE` with two stochastic layers.

    Parameters
    ----------
    config : VAEConfig
        The settings; `image_shape` must be set.

    Returns
    -------
    VAE
        A new, untrained network.

    Raises
    ------
    ValueError
        If `config.image_shape` is not set.

    See Also
    --------
    load_model : a trained network from a file.

    Notes
    -----
    The number of standard-normal draws per latent sample is :math:`d_1` (one layer) or
    :math:`d_1 + d_2` (two).

    References
    ----------
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016), §5 (two layers).

    Examples
    --------
    >>> build_model(VAEConfig(latent_dim=4, stochastic_layers=2, image_shape=(1, 8, 8))).eps_size
    6
    """
    return TwoLayerVAE(config) if config.stochastic_layers == 2 else VAE(config)


def save_model(model: VAE, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write the weights as safetensors with the `VAEConfig` as JSON metadata, atomically.

    Parameters
    ----------
    model : VAE
        The model.
    path : str or os.PathLike
        The file to write.
    metadata : dict of str to str, optional
        More string entries for the file's header (e.g. the epoch of a kept checkpoint).

    Returns
    -------
    pathlib.Path
        The file written.

    See Also
    --------
    load_model : the inverse.

    Notes
    -----
    The header holds ``format = "klvae-vae-1"`` and ``vae_config``; the file is written to a
    temporary name and renamed, so a reader never sees half a file.

    References
    ----------
    The safetensors format: https://huggingface.co/docs/safetensors (no pickled code).

    Examples
    --------
    >>> import tempfile
    >>> model = build_model(VAEConfig(hidden=(8,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> path = save_model(model, Path(tempfile.mkdtemp()) / "model.safetensors")
    >>> load_model(path).config == model.config
    True
    """
    meta = {**(metadata or {}), "format": "klvae-vae-1", "vae_config": model.config.to_json()}
    return atomic_save_safetensors(model.state_dict(), path, metadata=meta)


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
    if config.arch == "mlp" and (len(config.hidden) + len(config.hidden2 or ())) > len(
        found
    ):  # before a million layers
        raise ValueError(
            f"{path} does not fit its vae_config: the config describes {wanted} tensors, the file holds {len(found)}"
        )
    try:
        with torch.device("meta"):
            expected = build_model(config).state_dict()
    except (RuntimeError, ValueError, OverflowError, TypeError) as err:  # e.g. sizes beyond int64
        first = (str(err).splitlines() or [type(err).__name__])[0]  # torch appends a C++ stack
        raise ValueError(f"{path}: its vae_config describes a network that cannot be built ({first})") from None
    check_tensors_fit(path, expected, found, "its vae_config")


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> VAE:
    """Load a model written by `save_model`, in eval mode; no pickle involved.

    The configuration and the tensors' shapes are checked against each other before the network
    is built, so a small file cannot ask for a huge one.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    device : str or torch.device, default "cpu"
        Where to put the model.

    Returns
    -------
    VAE
        The model, in eval mode.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        Naming the file, if it is not a klvae model file or its tensors do not fit its configuration.

    See Also
    --------
    load_run : the model of a run folder.

    Notes
    -----
    Every tensor's name, shape and dtype must equal those of the network the stored
    configuration describes (laid out on the meta device, which holds no data).

    References
    ----------
    The safetensors format: https://huggingface.co/docs/safetensors (no pickled code).

    Examples
    --------
    >>> import tempfile
    >>> model = build_model(VAEConfig(hidden=(8,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> path = save_model(model, Path(tempfile.mkdtemp()) / "model.safetensors")
    >>> loaded = load_model(path)
    >>> loaded.training, all(torch.equal(a, b) for a, b in zip(loaded.parameters(), model.parameters()))
    (False, True)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file {path}")
    meta, found = safetensors_header(path)
    config = _config_of(path, meta)
    _check_tensors_fit(path, config, found)
    with safe_open(str(path), "pt", device="cpu") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model = build_model(config)
    model.load_state_dict(tensors)
    return model.to(device).eval()


def load_run(path: str | os.PathLike, device: str | torch.device = "cpu") -> VAE:
    """The trained VAE of a run folder (its ``model.safetensors``), in eval mode.

    Parameters
    ----------
    path : str or os.PathLike
        The run folder (``klvae train --out``).
    device : str or torch.device, default "cpu"
        Where to put the model.

    Returns
    -------
    VAE
        The model, in eval mode.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    ValueError
        If its model file is not one (see `load_model`).

    See Also
    --------
    load_model : the file itself.

    Notes
    -----
    The weights are those the run kept (``--keep last`` or ``best``); their configuration is the
    run's config.json's ``vae``.

    References
    ----------
    The safetensors format: https://huggingface.co/docs/safetensors (no pickled code).

    Examples
    --------
    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> model = build_model(VAEConfig(hidden=(8,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> _ = save_model(model, run / "model.safetensors")
    >>> load_run(run).config.latent_dim
    2
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run folder {path} does not exist")
    return load_model(path / "model.safetensors", device)
