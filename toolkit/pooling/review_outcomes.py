"""Pooling a review's own extracted outcome (``review pool --outcome NAME``): the outcome
table from the store, with each study's year, its unit of analysis and the recorded
overlapping cohorts, pooled by :func:`toolkit.pooling.api.pool_table`.
"""

from __future__ import annotations

import pandas as pd

from ..store import Review


def study_years(review: Review) -> dict[str, int | None]:
    """{included study: the year of its most recent report} (None when no report has one)."""
    from ..fulltext import included_studies

    out: dict[str, int | None] = {}
    for label, reports in included_studies(review).items():
        years = [r[0] for r in review.db.execute(
            f"select year from records where id in ({','.join('?' * len(reports))}) "
            "and year is not null", reports)]
        out[label] = max(years) if years else None
    return out


def outcome_data(review: Review, outcome: str, form=None) -> pd.DataFrame:
    """The outcome table (:func:`toolkit.extraction.export.outcome_table`) plus a ``year``
    column, with ``attrs["overlaps"]``: the recorded overlapping pairs among its studies."""
    from ..extraction.export import outcome_table
    from ..overlaps import overlapping_pairs

    df = outcome_table(review, outcome, form=form)
    years = study_years(review)
    df["year"] = pd.array([years.get(s) for s in df["study"]], dtype="Int64")
    present = set(df["study"])
    df.attrs["overlaps"] = [p for p in overlapping_pairs(review)
                            if set(p["studies"]) <= present]
    return df


def pool_kwargs(df: pd.DataFrame) -> dict:
    """The column arguments of ``pool_table`` for an :func:`outcome_data` table (its own
    columns: study, counts or means, unit, year, overlaps)."""
    kw = dict(df.attrs["pool_kwargs"])
    kw["overlaps"] = [tuple(p["studies"]) for p in df.attrs.get("overlaps", [])]
    kw["year"] = "year"
    return kw


def pool_outcome(review: Review, outcome: str, *, form=None, measure: str | None = None,
                 **options) -> dict:
    """Pool ``outcome`` as extracted in ``review``; ``options`` are ``pool_table``'s (model,
    method, knha, use_unit, overlap_policy, by, moderators, forest...). The result also has
    "outcome" and "notes" (the studies the outcome table left out, and why)."""
    from .api import pool_table

    df = outcome_data(review, outcome, form=form)
    kw = pool_kwargs(df)
    if df.attrs["measure"] == "mean_change" and "r" not in kw and "r" not in options:
        from ..errors import ReviewError

        raise ReviewError(f"outcome {outcome} is a mean change: give the pre/post correlation "
                          "r (the form has no r field)")
    kw.update(options)
    out = pool_table(df, measure or df.attrs["default_measure"], file=f"outcome {outcome}",
                     **kw)
    out["outcome"] = outcome
    out["notes"] = list(df.attrs.get("notes", []))
    return out
