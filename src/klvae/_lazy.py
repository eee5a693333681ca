"""Packages whose public names are imported from their modules on first use (PEP 562).

A package lists ``{module: [names]}`` and delegates its module-level ``__getattr__`` and
``__dir__`` to a `LazyExports`: ``import klvae`` (or ``klvae.measures``, ``klvae.data``) then
costs nothing until a name is used, and each module is imported once, by the first name asked
of it.

>>> lazy = LazyExports("pkg", {"math": ["pi", "tau"]}, {})
>>> lazy.names, round(lazy.load("pi"), 5), lazy.dir()
(['pi', 'tau'], 3.14159, ['pi', 'tau'])
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["LazyExports"]


class LazyExports:
    """The names of `exports` ({module: [names]}) of the package `package`, loaded into `namespace`
    (the package's ``globals()``) when first asked for."""

    def __init__(self, package: str, exports: dict[str, list[str]], namespace: dict[str, Any]):
        self.package, self.namespace = package, namespace
        self.where = {name: module for module, names in exports.items() for name in names}
        self.names = list(self.where)

    def load(self, name: str) -> Any:
        """The object `name`, imported from its module and kept in the package's namespace."""
        if name not in self.where:
            raise AttributeError(f"module {self.package!r} has no attribute {name!r}")
        value = getattr(import_module(self.where[name]), name)
        self.namespace[name] = value
        return value

    def dir(self) -> list[str]:
        """What ``dir(package)`` lists: what it holds and every name it can load."""
        return sorted({*self.namespace, *self.where})
