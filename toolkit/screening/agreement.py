"""Dual screening: disagreements, maybes and Cohen's kappa between reviewers.

Each reviewer's decision on a record is their latest live (not undone) human or imported
decision; automation exclusions and resolutions are not a reviewer's judgement and are left out
of kappa. Kappa is computed per pair of reviewers over the records both decided, with the three
categories include / exclude / maybe (scikit-learn's ``cohen_kappa_score``).
"""

from __future__ import annotations

import itertools
import math

from sklearn.metrics import cohen_kappa_score

from ..store import Review


def reviewer_table(review: Review, origins=("human", "import")) -> dict[int, dict[str, str]]:
    """{record_id: {reviewer: decision}} of every reviewer's latest live decision of the given
    origins (default: people's own decisions)."""
    out: dict[int, dict[str, str]] = {}
    marks = ",".join("?" * len(origins))
    for row in review.db.query(
        "select record_id, reviewer, decision from ta_decisions where undone_at is null "
        f"and origin in ({marks}) order by id", list(origins)
    ):
        out.setdefault(row["record_id"], {})[row["reviewer"]] = row["decision"]
    return out


def resolutions(review: Review) -> dict[int, dict]:
    """{record_id: the latest live resolution row}."""
    return {r["record_id"]: r for r in review.db.query(
        "select * from ta_decisions where origin = 'resolution' and undone_at is null "
        "order by id")}


def kappa(a: list[str], b: list[str]) -> float | None:
    """Cohen's kappa of two paired decision lists; None when undefined (no items, or both
    reviewers used one and the same category, so chance agreement is 1)."""
    if not a:
        return None
    if len(set(a) | set(b)) == 1:
        return None
    k = float(cohen_kappa_score(a, b))
    return None if math.isnan(k) else k


def pairwise_kappa(table: dict[int, dict[str, str]]) -> list[dict]:
    """Per pair of reviewers: records both decided, observed agreement and kappa."""
    reviewers = sorted({r for by in table.values() for r in by})
    out = []
    for r1, r2 in itertools.combinations(reviewers, 2):
        pairs = [(by[r1], by[r2]) for _, by in sorted(table.items()) if r1 in by and r2 in by]
        a = [p[0] for p in pairs]
        b = [p[1] for p in pairs]
        agree = sum(x == y for x, y in pairs)
        out.append({"reviewers": [r1, r2], "n": len(pairs),
                    "agreement": agree / len(pairs) if pairs else None,
                    "kappa": kappa(a, b)})
    return out


def conflicts(review: Review) -> dict:
    """Disagreements and maybes, resolved or not, and kappa per pair of reviewers.

    Returns {"conflicts": [...], "maybes": [...], "duplicate_conflicts": [...], "kappa": [...],
    "n_unresolved": int}; each item is {"record_id", "title", "decisions": {reviewer: decision},
    "resolution"}. Duplicate conflicts (:func:`duplicate_conflicts`) are the same kind of thing
    deduplication finds: every conflict the toolkit mentions is listed here.
    """
    table = reviewer_table(review)
    # a person's include against an automation exclusion (another reviewer's stopping rule) is
    # a disagreement to resolve too; automation is left out of kappa
    listed = reviewer_table(review, ("human", "import", "automation", "inherited"))
    res = resolutions(review)
    titles = {r["id"]: r["title"] for r in review.db.query("select id, title from records")}
    conflict_items, maybe_items = [], []
    for rid, by in sorted(listed.items()):
        values = set(by.values())
        item = {"record_id": rid, "title": titles.get(rid), "decisions": dict(sorted(by.items())),
                "resolution": res[rid]["decision"] if rid in res else None}
        if len(values) > 1:
            conflict_items.append(item)
        elif values == {"maybe"}:
            maybe_items.append(item)
    duplicates = duplicate_conflicts(review, titles)
    unresolved = sum(1 for it in conflict_items + maybe_items if it["resolution"] is None)
    return {"conflicts": conflict_items, "maybes": maybe_items,
            "duplicate_conflicts": duplicates, "kappa": pairwise_kappa(table),
            "n_unresolved": unresolved + len(duplicates)}


def duplicate_conflicts(review: Review, titles: dict[int, str] | None = None) -> list[dict]:
    """Records deduplication put in one cluster after both were screened, with different
    final decisions (:func:`toolkit.dedup.api.decision_conflicts`): one paper, two answers.
    They are resolved like any conflict, on the primary record (`review conflicts resolve
    PRIMARY`). Each item: {record_id (the primary), title, cluster_id, duplicate_id,
    decisions: {"record N": decision}, resolution: None}."""
    from ..dedup.api import decision_conflicts

    if titles is None:
        titles = {r["id"]: r["title"] for r in review.db.query("select id, title from records")}
    return [{"record_id": c["primary_id"], "title": titles.get(c["primary_id"]),
             "cluster_id": c["cluster_id"], "duplicate_id": c["record_id"],
             "decisions": {f"record {c['primary_id']}": c["primary_decision"] or "not screened",
                           f"record {c['record_id']}": c["decision"]},
             "resolution": None}
            for c in decision_conflicts(review)]
