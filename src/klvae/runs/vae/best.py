"""`--keep best`: the weights with the best validation ELBO, kept beside the run as they appear.

After each epoch with a better validation ELBO than any before, the model is written atomically
to RUN/best.safetensors with the epoch and the score in the file's metadata, so a resumed run
knows what it has to beat and a killed one never leaves half a file. At the end these weights
replace the last ones before the test set is read, and the metrics say which were evaluated.
"""

from __future__ import annotations

import math
from pathlib import Path

from safetensors import safe_open

from klvae._io import safetensors_header
from klvae.vae.files import save_model
from klvae.vae.model import VAE

__all__ = ["BEST", "KeepBest"]

BEST = "best.safetensors"


class KeepBest:
    """An epoch hook (`VAETask.epoch_hooks`) that keeps the best weights by "val_elbo"; `restore`
    puts them back into the model and describes them."""

    def __init__(self, model: VAE, run_dir: Path, write: bool = True):
        self.model, self.path, self.write = model, Path(run_dir) / BEST, write
        self.epoch, self.score = 0, -math.inf
        if self.path.is_file():  # a resumed run: the best so far
            meta, _ = safetensors_header(self.path)
            self.epoch, self.score = int(meta.get("epoch", 0)), float(meta.get("val_elbo", "-inf"))

    def __call__(self, epoch: int, record: dict, images) -> None:
        score = record.get("val_elbo")
        if score is None or not math.isfinite(score) or score <= self.score:
            return
        self.epoch, self.score = epoch, score
        if self.write:
            save_model(self.model, self.path, metadata={"epoch": str(epoch), "val_elbo": repr(score)})

    def restore(self) -> dict:
        """Load the kept weights into the model; returns {"checkpoint", "epoch", "val_elbo"} for the metrics."""
        if not self.path.is_file():
            return {"checkpoint": "last", "note": "no epoch finished with a validation ELBO: the last weights"}
        with safe_open(str(self.path), "pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        device = next(self.model.parameters()).device
        self.model.load_state_dict({k: v.to(device) for k, v in tensors.items()})
        return {"checkpoint": "best", "epoch": self.epoch, "val_elbo": self.score}
