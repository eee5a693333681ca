"""The runs layer: jobs that join data, a model, the training loop and the figures into a run folder.

`folder` is the run-folder protocol (file names, new-run refusal, resume, config read and write);
`summary` what every run prints and reports about itself; `vae` and `gan` the training jobs;
`experiments` writes the teaching experiments' numbers and figures.
"""

from klvae.runs.folder import RESUME_OVERRIDES, EvaluationInterrupted
from klvae.runs.gan import GANTask, train_gan
from klvae.runs.vae import VAETask, evaluate_run, train_vae

__all__ = ["train_vae", "evaluate_run", "train_gan", "VAETask", "GANTask", "RESUME_OVERRIDES", "EvaluationInterrupted"]
