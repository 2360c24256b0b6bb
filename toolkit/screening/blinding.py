"""Blinding of dual screening: who may see other reviewers' decisions, and when.

Blinding is on for every review until a resolver opens the conflicts (`review serve`'s
conflicts page); while it is on, the web app shows each reviewer only their own decisions, and a
resolver sees no more than how many records two or more reviewers decided. Opening (and closing
again) is kept in the store's meta table and logged, so the audit log says from when the
reviewers' judgements were no longer independent.
"""

from __future__ import annotations

from ..store import Review, now_iso

META_KEY = "screening_conflicts_opened"


def blinding_state(review: Review) -> dict:
    """{"blinded": bool, "opened_at": str | None, "opened_by": str | None}."""
    opened = review.get_meta(META_KEY)
    if not opened:
        return {"blinded": True, "opened_at": None, "opened_by": None}
    return {"blinded": False, "opened_at": opened["at"], "opened_by": opened["by"]}


def open_conflicts(review: Review, by: str) -> dict:
    """End blinding (everyone may now see the conflicts); logged. Returns the new state."""
    with review.atomic():
        if blinding_state(review)["blinded"]:
            review.set_meta(META_KEY, {"at": now_iso(), "by": by})
            review.log("screen.conflicts_opened", {}, actor=by)
    return blinding_state(review)


def close_conflicts(review: Review, by: str) -> dict:
    """Blind again (e.g. before a second batch of records is screened); logged."""
    with review.atomic():
        if not blinding_state(review)["blinded"]:
            review.db.execute("delete from meta where key = ?", [META_KEY])
            review.log("screen.conflicts_closed", {}, actor=by)
    return blinding_state(review)


def decided_by_several(review: Review) -> int:
    """How many records two or more people decided (all a resolver sees while blinded)."""
    return review.db.execute(
        "select count(*) from (select record_id from ta_decisions where undone_at is null and "
        "origin in ('human', 'import') group by record_id "
        "having count(distinct reviewer) > 1)").fetchone()[0]
