"""Stage hooks: the core reaches a stage's code by name, so a stage that is not installed (or
not built yet) is skipped rather than breaking the core."""

from __future__ import annotations

import importlib
from typing import Iterator


def optional_module(modname: str):
    """The module, or None if it (not one of its own imports) does not exist."""
    try:
        return importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name and modname.startswith(exc.name):
            return None
        raise


def hooks(specs) -> Iterator:
    """The functions named ``"module:function"`` in ``specs`` that exist, in order."""
    for spec in specs:
        modname, func = spec.split(":")
        mod = optional_module(modname)
        fn = getattr(mod, func, None) if mod is not None else None
        if fn is not None:
            yield fn
