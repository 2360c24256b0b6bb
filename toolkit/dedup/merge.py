"""Merged records: which member of a cluster is primary, and what it gains from the others.

The primary's own ``records`` row is never changed. Values it lacks are taken from the other
members (the most complete first) and stored in ``merged_fields`` with the id of the record
they came from, so every value keeps its provenance.
"""

from __future__ import annotations

import json
from typing import Mapping, Sequence

# Fields a primary may gain from its duplicates, in display order.
FILL_FIELDS = ("pmid", "doi", "title", "abstract", "authors", "journal", "year", "volume", "issue",
               "pages", "language", "keywords", "publication_types")


def _empty(value) -> bool:
    return value is None or value == "" or value == "[]"


def completeness(row: dict) -> int:
    """How many of :data:`FILL_FIELDS` the record has (the abstract counts double: it is what
    screeners read)."""
    n = sum(0 if _empty(row.get(f)) else 1 for f in FILL_FIELDS)
    return n + (0 if _empty(row.get("abstract")) else 1)


def choose_primary(rows: Sequence[dict], screened: Mapping[int, int] | set[int] = frozenset()
                   ) -> int:
    """The id of the record to keep: an already-screened record if there is one (so screening
    is not disturbed), else the most complete, ties to the lowest id.

    ``screened`` is a set of screened ids, or {record_id: rank} where a higher rank is a
    stronger decision (the API uses 2 for a person's decision, 1 for an automation exclusion):
    the highest rank wins, then completeness, then the lowest id."""
    if isinstance(screened, Mapping):
        rank = screened.get
    else:
        def rank(i, default=0):
            return 1 if i in screened else default
    return min(rows, key=lambda r: (-rank(r["id"], 0), -completeness(r), r["id"]))["id"]


def fill_values(primary: dict, others: Sequence[dict]) -> list[tuple[str, str, int]]:
    """``(field, value, from_record_id)`` for each field the primary lacks and a member has,
    taken from the most complete member (ties: lowest id)."""
    donors = sorted(others, key=lambda r: (-completeness(r), r["id"]))
    out = []
    for f in FILL_FIELDS:
        if not _empty(primary.get(f)):
            continue
        for d in donors:
            if not _empty(d.get(f)):
                out.append((f, str(d[f]), d["id"]))
                break
    return out


def apply_fills(row: dict, fills: Sequence[dict]) -> dict:
    """``row`` with ``merged_fields`` rows applied; ``merged_from`` maps field -> record id."""
    out = dict(row)
    out["merged_from"] = {}
    for f in fills:
        value = f["value"]
        if f["field"] in ("authors", "keywords", "publication_types"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        elif f["field"] == "year":
            value = int(value) if str(value).isdigit() else value
        out[f["field"]] = value
        out["merged_from"][f["field"]] = f["from_record_id"]
    return out
