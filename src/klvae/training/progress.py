"""The training loop's progress bar (a tqdm bar on stderr, shown only when stderr is a terminal).

It shows the step count, the epoch, and the losses of the last host sync, refreshed at every
sync (every `log_every` steps) and at the end of every epoch, so a short epoch still shows them.
Under a time budget (`max_seconds`) the total and the ETA follow the budget when it ends before
the epochs do: the total becomes the steps done plus the steps the measured rate fits into the
seconds left. Listeners (e.g. `klvae.training.tensorboard.TensorBoardLogger`) receive the same values:
`log_values(step, values)` at each sync and `log_epoch(epoch, record)` after each epoch.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence

from tqdm.auto import tqdm

__all__ = ["Progress"]


class Progress:
    """The bar of one `fit` call; `enabled=None` shows it only when stderr is a terminal."""

    def __init__(
        self,
        total: int,
        initial: int = 0,
        *,
        max_seconds: float | None = None,
        enabled: bool | None = None,
        listeners: Sequence = (),
    ):
        self.full, self.max_seconds, self.listeners = total, max_seconds, list(listeners)
        show = sys.stderr.isatty() if enabled is None else enabled
        self.bar = tqdm(total=total, initial=initial, disable=not show, unit="step", dynamic_ncols=True, leave=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def start_epoch(self, epoch: int, epochs: int | None) -> None:
        """`epoch` counts from 1."""
        self.bar.set_description(f"epoch {epoch}/{epochs or 1}", refresh=False)

    def update(self) -> None:
        self.bar.update()

    def total_for(self, step: int, seconds: float) -> int:
        """The steps the run will end at: all of them, or fewer when the time budget ends first.

        >>> Progress(1000, enabled=False, max_seconds=30).total_for(step=100, seconds=10)
        300
        """
        if self.max_seconds is None or seconds <= 0 or step <= 0:
            return self.full
        left = max(self.max_seconds - seconds, 0.0) * step / seconds  # steps at the mean rate so far
        return max(step, min(self.full, step + math.ceil(left)))

    def show(self, step: int, seconds: float, values: Mapping[str, float]) -> None:
        """The mean losses since the last sync, at `step` after `seconds` of training."""
        self.bar.total = self.total_for(step, seconds)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()})
        for listener in self.listeners:
            if hasattr(listener, "log_values"):
                listener.log_values(step, values)

    def end_epoch(self, record: Mapping) -> None:
        """After an epoch's evaluation (rank 0): the record of its metrics.jsonl line."""
        for listener in self.listeners:
            if hasattr(listener, "log_epoch"):
                listener.log_epoch(int(record["epoch"]), record)

    def finish(self, step: int) -> None:
        """The run ended at `step` (a time budget may end it before the planned total)."""
        self.bar.total = step
        self.bar.refresh()
