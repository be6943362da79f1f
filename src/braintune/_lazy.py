"""Lazy package exports: a stage package's names load their (torch-heavy) module on first
use, so that importing a settings owner or running `braintune --help` stays quick."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, where: dict[str, str]):
    """(__getattr__, __all__) for a package whose attribute `name` lives in module `where[name]`."""

    def __getattr__(name: str):
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(where)
