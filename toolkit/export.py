"""`review export`: every record as CSV or RIS, with the columns later stages add.

A stage adds columns by naming a provider in ``COLUMN_PROVIDERS``: a function
``provider(review) -> (columns: list[str], values: dict[record_id, dict[column, value]])``.
Providers whose module does not exist yet are skipped.
"""

from __future__ import annotations

import importlib

COLUMN_PROVIDERS = (
    "toolkit.dedup.export:columns",
    "toolkit.screening.export:columns",
    "toolkit.extraction.export:record_columns",
)


def _providers():
    for spec in COLUMN_PROVIDERS:
        modname, func = spec.split(":")
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name and modname.startswith(exc.name):
                continue
            raise
        yield getattr(mod, func)
