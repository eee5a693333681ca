"""Checkpoints of the training loop: ONE safetensors file, no pickle.

The file holds module weights (`module/<name>/<param>`), optimizer state tensors
(`optim/<name>/<param index>/<key>`), RNG states (`rng/cpu`, `rng/cuda/<i>`, uint8) and the
partial-epoch sums (`loop/sums`); step, epoch, optimizer hyper-parameters and the run's config
are JSON in the header metadata. Resuming from it continues the exact random stream, so a
resumed run ends where an uninterrupted one with the same seed ends.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import safe_open

from klvae._io import atomic_save_safetensors
from klvae.task import LoopState, Task

__all__ = ["save_checkpoint", "load_checkpoint", "restore_checkpoint"]


def save_checkpoint(path: Path, task: Task, state: LoopState, keys: list[str],
                    acc: torch.Tensor | None, config: dict | None = None) -> Path:
    """Write model, optimizer, RNG and loop state to ONE safetensors file, atomically (no pickle)."""
    tensors: dict[str, torch.Tensor] = {}
    meta = {"format": "klvae-checkpoint-1", "loop": json.dumps(asdict(state)),
            "config": json.dumps(config or {}), "sum_keys": json.dumps(keys)}
    for name, module in task.modules.items():
        for k, v in module.state_dict().items():
            tensors[f"module/{name}/{k}"] = v
    for name, opt in task.optimizers.items():
        sd = opt.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"optim/{name}/{pid}/{key}"] = val
                else:
                    scalars[f"{pid}/{key}"] = val
        meta[f"optim/{name}"] = json.dumps({"param_groups": sd["param_groups"], "scalars": scalars})
    tensors["rng/cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    if acc is not None:
        tensors["loop/sums"] = acc
    return atomic_save_safetensors(tensors, path, metadata=meta)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a checkpoint; a damaged file raises ValueError naming it."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no checkpoint {path}")
    try:
        with safe_open(str(path), "pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint ({err})") from None


def restore_checkpoint(path: Path, task: Task,
                       device: torch.device) -> tuple[LoopState, list[str], torch.Tensor | None]:
    """Load a checkpoint into `task` and torch's RNG; returns the loop state, the names of the
    partial-epoch sums and those sums (K,) on `device` (None if no step was taken)."""
    tensors, meta = load_checkpoint(path)
    if meta.get("format") != "klvae-checkpoint-1":
        raise ValueError(f"{path} is not a klvae checkpoint")
    for name, module in task.modules.items():
        prefix = f"module/{name}/"
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, opt in task.optimizers.items():
        info = json.loads(meta[f"optim/{name}"])
        state: dict[int, dict] = {}
        prefix = f"optim/{name}/"
        for k, v in tensors.items():
            if k.startswith(prefix):
                pid, key = k[len(prefix):].split("/", 1)
                state.setdefault(int(pid), {})[key] = v
        for k, v in info["scalars"].items():
            pid, key = k.split("/", 1)
            state.setdefault(int(pid), {})[key] = v
        groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in info["param_groups"]]
        opt.load_state_dict({"state": state, "param_groups": groups})
    torch.set_rng_state(tensors["rng/cpu"])
    if device.type == "cuda":
        cuda = [tensors[f"rng/cuda/{i}"] for i in range(torch.cuda.device_count()) if f"rng/cuda/{i}" in tensors]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    acc = tensors["loop/sums"].to(device) if "loop/sums" in tensors else None
    return LoopState(**json.loads(meta["loop"])), json.loads(meta["sum_keys"]), acc
