"""Pooling with the appraisal: each study's overall risk of bias as a column, for a
sensitivity analysis without the studies at high risk and for subgroups by judgement."""

from __future__ import annotations

import pandas as pd

from ..fulltext import study_sort_key
from ..store import Review
from .assessments import final_assessments
from .templates import OVERALL, Tool

NOT_APPRAISED = "not appraised"
NOT_FINAL = "not final"
COLUMN = "risk_of_bias"


def with_risk_of_bias(review: Review, df: pd.DataFrame, tool: Tool,
                      study: str = "study") -> pd.DataFrame:
    """``df`` with a ``risk_of_bias`` column: each study's final overall judgement with
    ``tool``; "not appraised" for a study nobody appraised with it, "not final" for one whose
    overall judgement is still open (a conflict, or answers missing)."""
    finals = final_assessments(review, tool)
    out = df.copy()
    out[COLUMN] = [(finals[str(s)]["overall"]["value"] or NOT_FINAL) if str(s) in finals
                   else NOT_APPRAISED for s in out[study]]
    return out


def exclude_high_risk(df: pd.DataFrame, tool: Tool, study: str = "study"
                      ) -> tuple[pd.DataFrame, list[str]]:
    """(the rows whose overall judgement is not at high or critical risk, the studies left
    out). Studies not appraised are kept (and named in the caller's notes)."""
    high = [v not in (NOT_APPRAISED, NOT_FINAL) and tool.class_of(OVERALL, v) in
            ("high", "critical") for v in df[COLUMN]]
    mask = pd.Series(high, index=df.index)
    return df[~mask], [str(s) for s in df.loc[mask, study]]


def risk_of_bias_for_pooling(review: Review, df: pd.DataFrame, tool: Tool, *, study: str,
                             exclude_high: bool) -> tuple[pd.DataFrame, dict]:
    """``df`` with the ``risk_of_bias`` column (and, with ``exclude_high``, without the
    studies at high or critical risk), and what was done: {'tool', 'excluded_high_risk':
    [studies left out], 'not_appraised': [...], 'not_final': [studies whose overall
    judgement is open]}.
    ``study`` is the column of study labels: they must be the review's (the labels
    `review appraise` shows); a label that matches no appraised study is not appraised."""
    from ..errors import ReviewError

    if study not in df.columns:
        raise ReviewError(f"no column {study!r} of study labels to match the appraisal "
                          "(give --study COL)", column=study)
    out = with_risk_of_bias(review, df, tool, study=study)
    dropped: list[str] = []
    if exclude_high:
        out, dropped = exclude_high_risk(out, tool, study=study)
    def named(value):
        return sorted({str(s) for s, v in zip(out[study], out[COLUMN]) if v == value},
                      key=study_sort_key)
    return out, {"tool": tool.name, "excluded_high_risk": sorted(set(dropped),
                                                                  key=study_sort_key),
                 "not_appraised": named(NOT_APPRAISED), "not_final": named(NOT_FINAL)}


def pooled_weights(review: Review, outcome: str, r=None, **options) -> dict[str, float]:
    """{study: its weight (percent) in the pool of ``outcome`` (``options`` as ``review pool
    --outcome``'s; the GLMM's studies weighed as the inverse-variance model weighs them)};
    rows of one study (arms, time points) add up."""
    from .grade import pool_outcome, study_weights

    df, _, kw, measure, result = pool_outcome(review, outcome, r=r, **options)
    return study_weights(df, kw, measure, result, options)
