"""Screening-simulation metrics (work saved over sampling, recall at a budget).

Definitions follow Cohen et al. (2006) and ASReview's simulation metrics; the priors are left out of every count, so with ``N`` records and
``R`` includes *after* removing the priors:

- ``n95`` / ``n100``: records screened (after the priors) until ``ceil(0.95 R)`` / ``R`` includes
  have been found;
- ``wss95 = (N - n95) / N - 0.05``;
- ``recall_at_10pct``: includes among the first ``floor(0.10 N)`` screened, divided by ``R``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def records_to_recall(labels_in_order: Sequence[int], target_hits: int) -> int | None:
    """Return how many records must be screened (1-based count) to find ``target_hits`` includes.

    ``None`` when the ranking never reaches that many includes; 0 when ``target_hits`` is 0.
    """
    if target_hits <= 0:
        return 0
    cum = np.cumsum(np.asarray(labels_in_order, dtype=np.int64))
    pos = int(np.searchsorted(cum, target_hits, side="left"))
    return pos + 1 if pos < len(cum) else None


def ceil_fraction(numerator_pct: int, total: int) -> int:
    """``ceil(numerator_pct / 100 * total)`` in exact integer arithmetic (no float rounding)."""
    return -(-numerator_pct * total // 100)


def screening_metrics(labels_in_order: Sequence[int]) -> dict:
    """Return n95, n100, wss95 and recall_at_10pct for one screening order.

    Parameters
    ----------
    labels_in_order
        True labels (1 include, 0 exclude) of the non-prior records, in the order screened.

    Returns
    -------
    dict
        ``N``, ``R``, ``n95``, ``n100``, ``wss95``, ``recall_at_10pct``. When there is no include
        left to find (``R == 0``) the metrics that divide by ``R`` are ``None``.
    """
    y = np.asarray(labels_in_order, dtype=np.int64)
    n, r = int(y.size), int(y.sum())
    out = {"N": n, "R": r, "n95": None, "n100": None, "wss95": None, "recall_at_10pct": None}
    if r == 0 or n == 0:
        return out
    n95 = records_to_recall(y, ceil_fraction(95, r))
    n100 = records_to_recall(y, r)
    budget = n // 10  # floor(0.10 N) in integers
    out.update(
        n95=n95,
        n100=n100,
        wss95=(n - n95) / n - 0.05,
        recall_at_10pct=int(y[:budget].sum()) / r,
    )
    return out
