"""The training layer: the one loop every model trains with, and what it stands on.

`loop`: `fit(task, TrainConfig)` — batches, per-epoch metrics, host syncs, checkpoints, resume,
the NaN guard; `adam`. `task`: what the loop trains (`Task`) and how it ends. `schedule`: the
learning-rate schedule. `signals`: Ctrl-C and SIGTERM as a flag. `checkpoint`: one safetensors
checkpoint, written atomically. `hardware`: device, threads, bf16. `distributed`: the
``torch.distributed`` process group (started by ``torchrun``) and its collectives. `data_parallel`:
each rank's shard of the global batch, its noise and its DDP gradient. `progress`: the progress bar.
`tensorboard`: optional TensorBoard logging.
"""

from klvae.training import data_parallel, distributed
from klvae.training.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from klvae.training.config import TrainConfig, adam
from klvae.training.hardware import resolve_amp, resolve_device
from klvae.training.loop import fit
from klvae.training.schedule import LR_SCHEDULES, lr_factor
from klvae.training.task import FitResult, LoopState, NonFiniteLossError, Task, TrainingInterrupted

__all__ = [
    "TrainConfig",
    "fit",
    "adam",
    "Task",
    "LoopState",
    "FitResult",
    "NonFiniteLossError",
    "TrainingInterrupted",
    "LR_SCHEDULES",
    "lr_factor",
    "save_checkpoint",
    "load_checkpoint",
    "restore_checkpoint",
    "resolve_device",
    "resolve_amp",
    "distributed",
    "data_parallel",
]
