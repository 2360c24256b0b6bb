"""Pooling with the appraisal: each study's overall risk of bias as a column, for a
sensitivity analysis without the studies at high risk and for subgroups by judgement."""

from __future__ import annotations

import pandas as pd

from ..store import Review
from .assessments import final_assessments
from .templates import OVERALL, Tool

NOT_APPRAISED = "not appraised"
COLUMN = "risk_of_bias"


def with_risk_of_bias(review: Review, df: pd.DataFrame, tool: Tool,
                      study: str = "study") -> pd.DataFrame:
    """``df`` with a ``risk_of_bias`` column: each study's final overall judgement with
    ``tool`` ("not appraised" when it has none, e.g. an open conflict)."""
    finals = final_assessments(review, tool)
    out = df.copy()
    out[COLUMN] = [(finals.get(str(s), {}).get("overall", {}).get("value") or NOT_APPRAISED)
                   for s in out[study]]
    return out


def exclude_high_risk(df: pd.DataFrame, tool: Tool, study: str = "study"
                      ) -> tuple[pd.DataFrame, list[str]]:
    """(the rows whose overall judgement is not at high or critical risk, the studies left
    out). Studies not appraised are kept (and named in the caller's notes)."""
    high = [tool.class_of(OVERALL, v) in ("high", "critical") if v != NOT_APPRAISED else False
            for v in df[COLUMN]]
    mask = pd.Series(high, index=df.index)
    return df[~mask], [str(s) for s in df.loc[mask, study]]
