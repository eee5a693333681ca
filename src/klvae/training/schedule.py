"""The learning-rate schedule of every task: one formula over the run's budget.

The loop (`klvae.training.loop`) multiplies each optimizer group's initial rate by `lr_factor` before
every step; the optimizer itself is built by `klvae.training.config.adam` from `TrainConfig`.
"""

from __future__ import annotations

import math

__all__ = ["LR_SCHEDULES", "lr_factor"]

LR_SCHEDULES = ("linear", "cosine", "constant")


def lr_factor(schedule: str, step_share: float, time_share: float | None = None) -> float:
    r"""The learning rate's multiplier when a share of the run's budget is spent.

    Parameters
    ----------
    schedule : str
        ``"linear"``, ``"cosine"`` or ``"constant"``.
    step_share : float
        Share of the steps done.
    time_share : float, optional
        Share of the time budget spent, if there is one.

    Returns
    -------
    float
        The factor, in [0, 1].

    Raises
    ------
    ValueError
        For an unknown `schedule`.

    Notes
    -----
    With :math:`p = \min(1, \max(\text{step\_share}, \text{time\_share}))`, a decay over whichever
    budget ends first:

    .. math::

        f_{\text{linear}} = 1 - p,\qquad f_{\text{cosine}} = \tfrac12 (1 + \cos \pi p),\qquad
        f_{\text{constant}} = 1.

    References
    ----------
    Li, Yumer & Ramanan, "Budgeted Training: Rethinking Deep Neural Network Training Under
    Resource Constraints" (2020); Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
    Restarts" (2017), without restarts.

    Examples
    --------
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
