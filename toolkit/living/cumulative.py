"""Cumulative meta-analysis across review updates: the pooled estimate as the review's versions
added studies (the original review's studies first, then each update's), by year within a
version. The computation is the pooling stage's (:func:`toolkit.pooling.diagnostics.cumulative`,
metafor ``cumul``; the GLMM's refits with ``model="glmm"``), on the studies the outcome's
pooling uses (units of analysis, overlapping cohorts as ``pool_table`` selects them).

A study's version is the earliest version in which one of its included reports was found
(:func:`toolkit.flow.study_versions`); its year is that of its most recent report.
"""

from __future__ import annotations

import pandas as pd

from ..errors import ReviewError
from ..store import Review

ORDER_COLUMN = "_version_then_year"


def cumulative_by_version(review: Review, outcome: str, *, measure: str | None = None,
                          plot=None, **options) -> dict:
    """The cumulative meta-analysis of ``outcome`` in order of review version, then year (ties
    keep the outcome table's order); ``options`` as ``pool_table``'s (model, method, knha,
    level, use_unit, overlap_policy, r...). Each row has the study added, its ``version`` and
    ``year``, and the model on the studies so far; ``plot`` writes the usual cumulative plot."""
    from ..flow import study_versions
    from ..pooling.review_outcomes import outcome_data, pool_kwargs
    from ..pooling.sensitivity import diagnose_table

    df = outcome_data(review, outcome)
    if not len(df):
        raise ReviewError(f"outcome {outcome} has no data to pool")
    versions = study_versions(review)
    df["version"] = [versions.get(s) for s in df["study"]]
    missing = [s for s, y in zip(df["study"], df["year"]) if pd.isna(y)]
    if missing:
        raise ReviewError("the year is missing for " + ", ".join(map(str, missing))
                          + " (the order within a version)")
    keys = [(int(v), int(y), k) for k, (v, y) in enumerate(zip(df["version"], df["year"]))]
    rank = {key: n for n, key in enumerate(sorted(keys), 1)}
    df[ORDER_COLUMN] = [rank[key] for key in keys]
    kw = pool_kwargs(df)
    kw.update(options)
    out = diagnose_table(df, measure or df.attrs["default_measure"], ["cumulative"],
                         order=ORDER_COLUMN, title=outcome,
                         plots={"cumulative": plot} if plot else None, **kw)
    where = {s: (int(v), int(y)) for s, v, y in zip(df["study"], df["version"], df["year"])}
    block = out.pop("cumulative")
    for row in block["rows"]:
        row["version"], row["year"] = where[row["study"]]
        row.pop("order", None)
    block["order"] = "review version, then year"
    if not plot:
        out.pop("plots", None)
    out.update(outcome=outcome, cumulative=block,
               notes=list(df.attrs.get("notes", [])))
    return out


def describe(out: dict) -> str:
    """Human text for `review cumulative`."""
    c = out["cumulative"]
    lines = [f"{out['outcome']}: cumulative meta-analysis by review version, then year "
             f"({c['model']}; {out['scale_label']})"]
    for r in c["rows"]:
        est = "NA" if r.get("estimate") is None else f"{r['estimate']:.4g}"
        ci = ("" if r.get("ci_low") is None
              else f" [{r['ci_low']:.4g}, {r['ci_high']:.4g}]")
        lines.append(f"  version {r['version']}, {r['year']}: + {r['study']} -> k = {r['k']}, "
                     f"{est}{ci}")
    for text in out.get("notes", []):
        lines.append(f"  note: {text}")
    if out.get("plots"):
        lines.append("  plot: " + ", ".join(out["plots"].values()))
    return "\n".join(lines)
