"""Overlapping cohorts: included studies that share patients (table ``study_overlaps``).

``review link`` says that several *reports* are one study. Two *studies* can still share
patients -- the same centre over the same years, a two-centre series that contains a
single-centre one -- without being the same study (their outcomes, denominators and follow-up
differ). Such a pair is recorded here, with why and where it is documented; pooling then
keeps one study per overlapping set by default (:mod:`toolkit.pooling.inclusion`) and pools
them all only as a sensitivity analysis.

Each side of a pair is stored as one of the study's included reports, so relinking or
relabelling a study keeps its overlaps.
"""

from __future__ import annotations

from .errors import ReviewError
from .fulltext import included_studies, included_study, report_links, study_of
from .store import Review, default_actor, now_iso


def _study(review: Review, ref, studies) -> tuple[str, int]:
    label = included_study(review, ref, studies)
    return label, studies[label][0]


def record_overlap(review: Review, study_a, study_b, *, note: str | None = None,
                   source: str | None = None, actor: str | None = None) -> dict:
    """Record that two included studies' cohorts overlap (caller holds the transaction).
    Recording a pair again updates its note and source. Returns the pair as
    :func:`overlapping_pairs` gives it."""
    studies = included_studies(review)
    a, ra = _study(review, study_a, studies)
    b, rb = _study(review, study_b, studies)
    if a == b:
        raise ReviewError(f"{study_a!r} and {study_b!r} are the same study ({a}); reports of "
                          "one study are linked with `review link`, not marked as overlapping")
    actor = actor or default_actor()
    existing = _live_id(review, a, b)
    note = (note or "").strip() or None
    source = (source or "").strip() or None
    if existing is not None:
        review.db.execute("update study_overlaps set note = ?, source = ? where id = ?",
                          [note, source, existing])
        row_id = existing
    else:
        row_id = review.db["study_overlaps"].insert({
            "record_a": ra, "record_b": rb, "note": note, "source": source,
            "recorded_by": actor, "recorded_at": now_iso(), "removed_at": None}).last_pk
    review.log("overlap", {"id": row_id, "studies": [a, b], "note": note, "source": source},
               actor=actor)
    return {"id": row_id, "studies": sorted([a, b]), "note": note, "source": source}


def remove_overlap(review: Review, study_a, study_b, *, actor: str | None = None) -> int:
    """Withdraw a recorded overlap (kept, with ``removed_at``, for the audit). Returns its id."""
    studies = included_studies(review)
    a, _ = _study(review, study_a, studies)
    b, _ = _study(review, study_b, studies)
    row_id = _live_id(review, a, b)
    if row_id is None:
        raise ReviewError(f"no overlap recorded between {a} and {b}")
    review.db.execute("update study_overlaps set removed_at = ? where id = ?",
                      [now_iso(), row_id])
    review.log("overlap_removed", {"id": row_id, "studies": [a, b]}, actor=actor)
    return row_id


def _live_id(review: Review, a: str, b: str) -> int | None:
    for pair in overlapping_pairs(review, include_excluded=True):
        if set(pair["studies"]) == {a, b}:
            return pair["id"]
    return None


def overlapping_pairs(review: Review, *, include_excluded: bool = False) -> list[dict]:
    """The recorded overlaps between studies, as [{"id", "studies": [a, b] (current labels,
    sorted), "note", "source", "recorded_by"}], in the order recorded. Pairs whose study is no
    longer included are left out (``include_excluded`` keeps them)."""
    links = report_links(review)
    current = set(included_studies(review))
    out = []
    for row in review.db.query("select * from study_overlaps where removed_at is null "
                               "order by id"):
        a = study_of(review, row["record_a"], links)
        b = study_of(review, row["record_b"], links)
        if a == b:
            continue            # the two were linked into one study since
        if not include_excluded and not {a, b} <= current:
            continue
        out.append({"id": row["id"], "studies": sorted([a, b]), "note": row["note"],
                    "source": row["source"], "recorded_by": row["recorded_by"]})
    return out
