"""Package exports that load on first use, so that importing one light module of a package loads nothing heavy."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ["exports"]


def exports(package: str, modules: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that imports each exported name from its module when first asked for.

    Args:
      package: The package's `__name__`, for the error message.
      modules: Exported name -> the module that defines it.
    """

    def load(name: str) -> object:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(modules[name]), name)

    return load
