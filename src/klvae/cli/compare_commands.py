"""`klvae compare RUN RUN …`: several runs side by side."""

from __future__ import annotations

__all__ = ["register"]


def register(subparsers) -> None:
    """Add `compare` to the `klvae` command line."""
