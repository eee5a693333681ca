"""The GAN job: `train_gan` (data + networks + the loop + evaluation + report, into a run folder).

`job` the run; `task` the GAN as the loop's `GANTask`; `finished` a finished run read back (generator, samples,
evaluation); `report` its figures and report.html.
"""

from klvae.runs.gan.finished import evaluate_gan_run, is_gan_run, load_generator
from klvae.runs.gan.job import train_gan
from klvae.runs.gan.task import GANTask

__all__ = ["train_gan", "GANTask", "is_gan_run", "load_generator", "evaluate_gan_run"]
