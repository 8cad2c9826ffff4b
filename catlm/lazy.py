"""Lazy re-exports (PEP 562): a package names its public API without importing heavy modules.

>>> import types
>>> package = types.ModuleType("pkg")
>>> package.__getattr__, package.__dir__ = exports("pkg", {"sqrt": "math"}, vars(package))
>>> package.sqrt(9.0), "sqrt" in dir(package)
(3.0, True)
"""
from __future__ import annotations

import importlib
from typing import Callable, Mapping


def exports(package: str, table: Mapping[str, str],
            namespace: dict) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: name -> the module that defines it."""

    def getattr_(name: str) -> object:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(table[name]), name)

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(table))

    return getattr_, dir_
