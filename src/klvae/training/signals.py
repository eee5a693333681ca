"""Stop requests: Ctrl-C (SIGINT) and SIGTERM become a flag the training loop reads between steps."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
from typing import Any

__all__ = ["StopSignals"]

_WAIT = b"klvae: stopping after this step and saving a checkpoint; please wait\n"


class StopSignals:
    """Turns Ctrl-C (SIGINT) and SIGTERM into a flag read at step boundaries.

    The handler never raises: a signal landing inside a step, or during the checkpoint write
    that follows, cannot leave half a step or half a save behind, however many arrive.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.raised = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.raised:  # straight to the file descriptor: the handler may run inside a write to sys.stderr
            # (the progress bar's, right after a step), where print() would raise "reentrant call"
            try:
                os.write(sys.stderr.fileno(), _WAIT)
            except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
                pass  # no stderr to tell: stopping matters more than saying so
        self.raised = True

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
