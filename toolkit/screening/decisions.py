"""Title/abstract decisions in the store (table ``ta_decisions``).

Contract used by later stages (full text, PRISMA, dedup inheritance):
``final_decisions(review)`` -> {record_id: 'include' | 'exclude' | 'maybe' | 'conflict'} for every
record with at least one live (not undone) decision.
"""

from __future__ import annotations

from ..store import Review, now_iso


def record_decision(review: Review, record_id: int, decision: str, reviewer: str, *,
                    origin: str = "human", score=None, rank=None, model_version=None,
                    note=None) -> int:
    """Save one decision (caller holds the transaction); returns its row id."""
    if decision not in ("include", "exclude", "maybe"):
        raise ValueError(f"unknown decision {decision!r}")
    return review.db["ta_decisions"].insert({
        "record_id": record_id, "reviewer": reviewer, "decision": decision, "origin": origin,
        "decided_at": now_iso(), "score": score, "rank": rank, "model_version": model_version,
        "note": note, "undone_at": None,
    }).last_pk


def final_decisions(review: Review) -> dict[int, str]:
    """The decision per record: a resolution wins; else agreement of reviewers' latest live
    decisions; disagreement is 'conflict'."""
    latest: dict[int, dict[str, str]] = {}
    resolved: dict[int, str] = {}
    for row in review.db.query(
        "select record_id, reviewer, decision, origin from ta_decisions "
        "where undone_at is null order by id"
    ):
        if row["origin"] == "resolution":
            resolved[row["record_id"]] = row["decision"]
        else:
            latest.setdefault(row["record_id"], {})[row["reviewer"]] = row["decision"]
    out = {}
    for rid, by_reviewer in latest.items():
        values = set(by_reviewer.values())
        out[rid] = values.pop() if len(values) == 1 else "conflict"
    out.update(resolved)
    return out
