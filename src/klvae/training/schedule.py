"""The learning-rate schedule of every task: one formula over the run's budget.

The loop (`klvae.training.loop`) multiplies each optimizer group's initial rate by `lr_factor` before
every step; the optimizer itself is built by `klvae.training.loop.adam` from `TrainConfig`.
"""

from __future__ import annotations

import math

__all__ = ["LR_SCHEDULES", "lr_factor"]

LR_SCHEDULES = ("linear", "cosine", "constant")


def lr_factor(schedule: str, step_share: float, time_share: float | None = None) -> float:
    """The learning rate's multiplier when `step_share` of the steps (and `time_share` of the
    time budget, if there is one) are spent.

    progress = max(step_share, time_share), capped at 1: a decay over whichever budget ends
    first (budgeted training, Li, Yumer & Ramanan 2020). "linear": 1 − progress; "cosine":
    ½(1 + cos(π·progress)) (Loshchilov & Hutter 2017, without restarts); "constant": 1.

    >>> lr_factor("linear", 30 / 40)
    0.25
    >>> lr_factor("linear", 0.1, time_share=0.5)  # the time budget ends first
    0.5
    >>> round(lr_factor("cosine", 0.5), 12)
    0.5
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    if schedule == "constant":
        return 1.0
    progress = min(1.0, max(step_share, 0.0 if time_share is None else time_share))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress
