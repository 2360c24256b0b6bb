"""Stage wiring: the core reaches a stage's schema, status and export columns through the
names listed in :data:`toolkit.store.STAGE_SCHEMAS`, :data:`toolkit.status.STATUS_HOOKS` and
:data:`toolkit.export.COLUMN_PROVIDERS`. Every stage is part of the toolkit, so a name that
does not resolve is a bug and fails loudly, naming the name."""

from __future__ import annotations

import importlib


def load(spec: str):
    """The module ``"package.module"`` or the object ``"package.module:name"``."""
    modname, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name and modname.startswith(exc.name):
            raise RuntimeError(f"stage wiring names {spec!r}, but there is no module "
                               f"{modname!r}") from exc
        raise
    if not attr:
        return mod
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise RuntimeError(f"stage wiring names {spec!r}, but {modname} has no {attr!r}") from None


def load_all(specs) -> list:
    """:func:`load` of each spec, in order."""
    return [load(spec) for spec in specs]
