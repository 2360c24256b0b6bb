"""Screening columns for `review export` (see :mod:`toolkit.export`)."""

from __future__ import annotations

from ..store import Review
from .decisions import final_decisions

COLUMNS = ["ta_decision", "ta_origin", "ta_reviewers", "ta_notes", "ta_reasons"]


def columns(review: Review) -> tuple[list[str], dict[int, dict]]:
    """Per record: the final title/abstract decision (``final_decisions``), where it came from
    (human, import, automation, inherited, resolution; several joined by '+'), each reviewer's
    latest decision ("alice:include; bob:exclude"), the notes and the exclusion reasons of the
    latest live decisions ("bob: not spinal")."""
    final = final_decisions(review)
    origins: dict[int, set] = {}
    by_reviewer: dict[int, dict[str, str]] = {}
    notes: dict[int, list[str]] = {}
    reasons: dict[int, dict[str, str | None]] = {}
    resolved = set()
    for row in review.db.query(
        "select record_id, reviewer, decision, origin, note, reason from ta_decisions "
        "where undone_at is null order by id"
    ):
        rid = row["record_id"]
        if row["origin"] == "resolution":
            resolved.add(rid)
        origins.setdefault(rid, set()).add(row["origin"])
        by_reviewer.setdefault(rid, {})[row["reviewer"]] = row["decision"]
        reasons.setdefault(rid, {})[row["reviewer"]] = row["reason"]
        if row["note"] and row["origin"] != "automation":
            notes.setdefault(rid, []).append(f"{row['reviewer']}: {row['note']}")
    values = {}
    for rid, decision in final.items():
        origin = "resolution" if rid in resolved else "+".join(sorted(origins.get(rid, ())))
        values[rid] = {
            "ta_decision": decision,
            "ta_origin": origin,
            "ta_reviewers": "; ".join(f"{r}:{d}" for r, d in sorted(by_reviewer[rid].items())),
            "ta_notes": " | ".join(notes.get(rid, [])) or None,
            "ta_reasons": "; ".join(f"{r}: {why}" for r, why in sorted(
                reasons.get(rid, {}).items()) if why) or None,
        }
    return COLUMNS, values
