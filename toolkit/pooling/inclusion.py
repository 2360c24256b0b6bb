"""Which studies may enter one pooled figure: one unit of analysis, no cohort counted twice.

* :func:`one_unit` -- a proportion counted per tumour and one counted per patient estimate
  different things (and per-tumour counts are clustered within patients); they are never
  pooled together silently. Without a chosen unit, mixed units are an error naming the
  studies of each unit; with one, the others are left out and listed.
* :func:`without_overlaps` -- reports of overlapping cohorts (the same centre and years, a
  later report of an earlier series) are not independent studies. By default one study per
  overlapping set is kept, the larger (more units in this outcome), then the more recent,
  then the first by label; ``policy="all"`` keeps them all (a sensitivity analysis that
  double-counts patients, and says so).
"""

from __future__ import annotations

import math

import pandas as pd

from ..errors import ReviewError

#: Overlap policies: keep one study per overlapping set (default), or keep all of them.
OVERLAP_POLICIES = {"largest": "keep the larger, then the more recent, study of each "
                               "overlapping set",
                    "all": "keep every study (sensitivity analysis: overlapping cohorts "
                           "counted twice)"}


def _text(x) -> str | None:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return None
    t = " ".join(str(x).split())
    return t or None


def one_unit(df: pd.DataFrame, unit_col: str | None, use_unit: str | None = None,
             study_col: str | None = None, file=None) -> tuple[pd.DataFrame, dict]:
    """The rows of ``df`` that count one unit of analysis, and what was decided.

    ``unit_col`` names the column of units (None: nothing to check). With ``use_unit`` None
    every row must have the same unit (or all none recorded), else a ReviewError names the
    studies of each unit. With ``use_unit`` the rows of other (or unrecorded) units are left
    out. Returns (rows kept, {"unit": the unit or None, "left_out": [{"study", "unit"}]}).
    """
    if unit_col is None:
        return df, {"unit": None, "left_out": []}
    if unit_col not in df.columns:
        raise ReviewError(f"no column {unit_col!r} (units of analysis)", file=file,
                          column=unit_col)
    units = [_text(u) for u in df[unit_col]]
    labels = ([str(s) for s in df[study_col]] if study_col is not None
              else [f"row {i + 1}" for i in range(len(df))])
    by_unit: dict[str | None, list[str]] = {}
    for u, s in zip(units, labels):
        by_unit.setdefault(u.casefold() if u else None, []).append(s)
    spelled = {u.casefold(): u for u in units if u}

    def listing():
        return "; ".join(f"{spelled[u] if u else 'not recorded'}: {', '.join(ss)}"
                         for u, ss in sorted(by_unit.items(), key=lambda kv: (kv[0] is None,
                                                                                kv[0] or "")))

    if use_unit is None:
        if len(by_unit) <= 1:
            only = next(iter(by_unit), None)
            return df, {"unit": spelled.get(only) if only else None, "left_out": []}
        choices = ", ".join(spelled[u] for u in sorted(u for u in by_unit if u))
        raise ReviewError(f"the studies count different units of analysis ({listing()}); a "
                          f"pooled proportion needs one: choose it (--unit-of-analysis "
                          f"{choices.split(', ')[0]}; one of {choices}) and the studies of "
                          "other units are left out and listed", file=file, column=unit_col)
    want = " ".join(str(use_unit).split()).casefold()
    if want not in by_unit and want.rstrip("s") in {u.rstrip("s") for u in by_unit if u}:
        want = next(u for u in by_unit if u and u.rstrip("s") == want.rstrip("s"))
    if want not in by_unit:
        raise ReviewError(f"no study counts {use_unit!r} (units present: {listing()})",
                          file=file, column=unit_col)
    keep = [(u.casefold() if u else None) == want for u in units]
    left = [{"study": s, "unit": u} for s, u, k in zip(labels, units, keep) if not k]
    return df[keep].reset_index(drop=True), {"unit": spelled[want], "left_out": left}


def connected_sets(pairs) -> list[list[str]]:
    """The overlapping sets: studies joined by any chain of recorded overlaps, each sorted,
    in order of their first study."""
    parent: dict[str, str] = {}

    def find(a):
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for a in list(parent):
        groups.setdefault(find(a), []).append(a)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def without_overlaps(studies: list[str], pairs, sizes: dict, years: dict | None = None,
                     policy: str = "largest") -> dict:
    """Choose the studies to pool when some overlap.

    ``pairs``: (study, study) overlaps as recorded (studies not in ``studies`` are ignored);
    ``sizes``: {study: units in this outcome}; ``years``: {study: year of its latest report}.
    With ``policy="largest"`` studies are taken largest first (then most recent, then by
    label) and one is left out when it overlaps a study already taken -- so two studies that
    both overlap a third but not each other can both stay. With ``"all"`` nothing is left out.

    Returns {"policy", "keep": [studies, input order], "left_out": [{"study", "overlaps",
    "kept_instead"}], "sets": [[studies]] (overlapping sets among ``studies``)}.
    """
    if policy not in OVERLAP_POLICIES:
        raise ReviewError(f"unknown overlap policy {policy!r}; choose "
                          f"{' or '.join(OVERLAP_POLICIES)}")
    present = set(studies)
    pairs = [(a, b) for a, b in pairs if a in present and b in present and a != b]
    sets = connected_sets(pairs)
    if policy == "all" or not pairs:
        return {"policy": policy, "keep": list(studies), "left_out": [], "sets": sets}
    years = years or {}
    partners: dict[str, set[str]] = {}
    for a, b in pairs:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)

    def rank(s):
        y = years.get(s)
        return (-(sizes.get(s) or 0), -(y if isinstance(y, (int, float)) else -1e9), s)

    kept: list[str] = []
    left = []
    for s in sorted(studies, key=rank):
        clash = sorted(partners.get(s, set()) & set(kept))
        if clash:
            left.append({"study": s, "overlaps": sorted(partners[s]), "kept_instead": clash})
        else:
            kept.append(s)
    keep_set = set(kept)
    return {"policy": policy, "keep": [s for s in studies if s in keep_set],
            "left_out": sorted(left, key=lambda d: studies.index(d["study"])), "sets": sets}
