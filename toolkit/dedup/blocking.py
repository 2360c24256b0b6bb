"""Candidate pairs by blocking, so the work grows about linearly with the number of records.

Sorted neighbourhood (Hernández & Stolfo 1995) on several keys: records are sorted by a key and
every record is paired with the next ``window`` records. A duplicate pair is found when it is
close under *any* key, so one damaged field (a mojibake first word, a missing DOI) does not hide
it. Exact identifiers (DOI, PMID) use the same scheme, which pairs every record of a group of up
to ``window + 1`` records sharing the identifier. All of this is numpy sorting: O(n log n).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .normalise import Norm

_STOP = {"the", "a", "an", "of", "in", "and", "on", "for", "with", "to", "by", "at", "from"}


def blocking_keys(norms: Sequence[Norm]) -> dict[str, list[str]]:
    """The sort keys, one list per key name, aligned with ``norms``; '' = no key."""
    title = []
    title_rev = []
    author_year = []
    title_content = []
    for n in norms:
        words = [w for w in n.title.split() if w not in _STOP]
        title.append(n.title)
        title_rev.append(" ".join(reversed(words)))
        # the title's rarest-looking words first (longest), so leading noise does not matter
        title_content.append(" ".join(sorted(words, key=lambda w: (-len(w), w))[:6])
                             if words else "")
        fa = n.surnames[0] if n.surnames else ""
        author_year.append(f"{fa} {n.year or ''} {n.page_first}" if fa else "")
    return {
        "title": title,
        "title_reversed": title_rev,
        "title_long_words": title_content,
        "author_year_page": author_year,
        "doi": [n.doi for n in norms],
        "pmid": [n.pmid for n in norms],
    }


def sorted_neighbourhood(keys: Sequence[str], window: int) -> np.ndarray:
    """Index pairs (i, j), i < j, of records within ``window`` places in key order.

    Records with an empty key take no part. Returns an int64 array of shape (m, 2).
    """
    arr = np.asarray(keys, dtype=object)
    has = np.flatnonzero(arr != "")
    if has.size < 2:
        return np.empty((0, 2), dtype=np.int64)
    sub = np.asarray(arr[has], dtype=str)
    order = has[np.argsort(sub, kind="stable")]
    out = []
    for k in range(1, min(window, order.size - 1) + 1):
        a, b = order[:-k], order[k:]
        out.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return np.concatenate(out).astype(np.int64)


def candidate_pairs(norms: Sequence[Norm], *, window: int = 10,
                    restrict_to: np.ndarray | None = None) -> np.ndarray:
    """Unique candidate index pairs (i, j), i < j, sorted; ``restrict_to`` (a boolean mask)
    keeps only pairs with at least one flagged record (incremental runs)."""
    keys = blocking_keys(norms)
    parts = [sorted_neighbourhood(v, window) for v in keys.values()]
    pairs = np.concatenate(parts) if parts else np.empty((0, 2), dtype=np.int64)
    if restrict_to is not None and pairs.size:
        pairs = pairs[restrict_to[pairs[:, 0]] | restrict_to[pairs[:, 1]]]
    if not pairs.size:
        return pairs.reshape(0, 2)
    n = len(norms)
    code = np.sort(pairs[:, 0] * n + pairs[:, 1])
    code = code[np.concatenate(([True], code[1:] != code[:-1]))]
    return np.stack([code // n, code % n], axis=1)
