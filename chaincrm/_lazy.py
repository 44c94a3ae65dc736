"""Lazy attributes for a package's ``__init__`` (PEP 562): names it re-exports from modules that
are slow to import (web3, cryptography), imported on first use so that a CLI command that never
touches them never pays for them."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_getattr(package: str, modules: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for `package`: each name in `modules` read from the submodule named
    against it, any other name an AttributeError."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{module}"), name)

    return __getattr__
