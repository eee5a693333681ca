"""The VAE job: `train_vae` (data + model + the loop + evaluation + report, into a run folder)
and `evaluate_run` (a finished run evaluated again).

`job` the phases of a run; `finished` a finished run evaluated again; `task` the VAE as the
loop's `Task`; `best` the `--keep best` weights; `report` the run's report.html and its list of
figures, `figures` the pictures that take more than one call of the figure layer, `family` what
each model of the family says and draws of its own.
"""

from klvae.runs.vae.finished import evaluate_run
from klvae.runs.vae.job import read_run_config, train_vae
from klvae.runs.vae.task import VAETask

__all__ = ["train_vae", "evaluate_run", "read_run_config", "VAETask"]
