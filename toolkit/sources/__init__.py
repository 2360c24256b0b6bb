"""Importers, one per format. Each is a function ``read(path) -> iterator of RawRecord`` that
streams the file and raises :class:`toolkit.errors.ReviewError` naming the file and the record
(or line) on malformed input. ``FORMATS`` is the registry; ``detect_format`` picks one from the
file's content."""

from __future__ import annotations

from dataclasses import dataclass, field

# The import formats by name (the readers are in toolkit.importing.FORMATS; kept here so the
# CLI can list them without importing the readers' libraries).
FORMAT_NAMES = ("pubmed-xml", "medline", "ris", "embase-csv", "csv")


@dataclass
class RawRecord:
    """One record as read from a file: normalisable ``fields`` and the raw source record."""

    fields: dict
    raw: dict
    where: str  # "record 3 (line 120)" — for error messages
    source: str | None = None  # database named inside the file (e.g. RIS `DB  - Embase`)
    extra: dict = field(default_factory=dict)
