"""PRISMA 2020 flow counts derived from what the store recorded (never typed).

``prisma_counts(review)`` returns the counts dict of :mod:`toolkit.prisma`:
- records identified per database: distinct records linked to that database's searches/imports;
- duplicates removed: the deduplication log (:func:`toolkit.dedup.api.duplicates_removed`);
- excluded by automation: records whose only title/abstract decisions are the stopping rule's;
- records screened / excluded: the deduplicated records with a human (or imported) decision;
- reports sought / not retrieved / assessed / excluded with reasons / included, and studies
  included: the full-text stage (:func:`toolkit.fulltext.fulltext_counts`);
- studies in the meta-analysis: :func:`studies_in_meta_analysis` (studies with data in an
  outcome that two or more studies report), passed in by the caller.
Unfinished stages are reported as errors that say what to run, not as wrong numbers.
"""

from __future__ import annotations

from .errors import ReviewError
from .store import Review


def identified_by_database(review: Review) -> dict[str, int]:
    """{database: distinct records found by its searches/imports}, in order of first search."""
    out: dict[str, int] = {}
    for row in review.db.query(
        "select s.database, count(distinct rs.record_id) n, min(s.id) first "
        "from searches s join record_searches rs on rs.search_id = s.id "
        "group by s.database order by first"
    ):
        out[row["database"]] = row["n"]
    return out


def _primary_ids(review: Review) -> list[int]:
    from .dedup.api import primary_record_ids

    return primary_record_ids(review)


def _duplicates_removed(review: Review) -> int:
    from .dedup.api import duplicates_removed

    return duplicates_removed(review)


def title_abstract_counts(review: Review) -> dict:
    """Screened, excluded, automation-excluded and pending among deduplicated records."""
    from .screening.decisions import final_decisions

    primary = set(_primary_ids(review))
    origins: dict[int, set[str]] = {}
    for row in review.db.query("select record_id, origin from ta_decisions "
                               "where undone_at is null"):
        origins.setdefault(row["record_id"], set()).add(row["origin"])
    final = final_decisions(review)
    automation = {rid for rid in primary if origins.get(rid) == {"automation"}}
    screened = {rid for rid in primary if rid in final and rid not in automation}
    return {
        "records": len(primary),
        "automation_excluded": len(automation),
        "records_screened": len(screened),
        "records_excluded": sum(1 for rid in screened if final[rid] == "exclude"),
        "records_passed": sum(1 for rid in screened if final[rid] in ("include", "maybe")),
        "conflicts": sum(1 for rid in screened if final[rid] == "conflict"),
        "pending": len(primary - screened - automation),
    }


def studies_in_meta_analysis(review: Review) -> int | None:
    """Included studies with data in at least one outcome that can be meta-analysed: an outcome
    of an extraction form used in the review with data from two or more studies.

    None before anything is extracted, or when the extracted data cannot be tabulated yet
    (the box is then left empty)."""
    from .extraction import export, forms

    if "extraction_values" not in review.db.table_names():
        return None
    if not review.db["extraction_values"].count:
        return None
    studies: set[str] = set()
    try:
        for form in forms.stored_forms(review):
            for outcome in form.outcomes:
                df = export.outcome_table(review, outcome, form=form)
                with_data = set(df["study"]) if len(df) else set()
                if len(with_data) >= 2:
                    studies |= with_data
    except ReviewError:
        return None
    return len(studies)


def prisma_counts(review: Review, studies_in_meta_analysis: int | None = None) -> dict:
    """The PRISMA 2020 counts dict for this review (see module docstring)."""
    from .fulltext import fulltext_counts

    ident = identified_by_database(review)
    if not ident:
        raise ReviewError("no records yet; run `review import FILE` or `review search` first")
    ta = title_abstract_counts(review)
    if ta["pending"]:
        raise ReviewError(f"title/abstract screening is not finished: {ta['pending']} "
                          f"records have no decision (run `review screen`)")
    if ta["conflicts"]:
        raise ReviewError(f"{ta['conflicts']} records have unresolved screening conflicts "
                          f"(run `review conflicts`)")
    ft = fulltext_counts(review)
    if ft.get("reports_pending") or ft.get("reports_conflict"):
        raise ReviewError(f"full-text stage not finished: {ft.get('reports_pending', 0)} reports "
                          f"undecided, {ft.get('reports_conflict', 0)} in conflict (decide with "
                          "`review fulltext`; list conflicts with `review fulltext conflicts` "
                          "and resolve with `review fulltext resolve REF --decision D`)")
    counts = {
        "identified_by_database": ident,
        "duplicates_removed": _duplicates_removed(review),
        "automation_excluded": ta["automation_excluded"],
        "other_removed": 0,
        "records_screened": ta["records_screened"],
        "records_excluded": ta["records_excluded"],
        # No linked_reports_delta: the store keeps one report per record (links join reports
        # into studies), so reports sought must equal the records passed on; computing the
        # delta as their difference would make that invariant hold by construction.
        "reports_sought": ft["reports_sought"],
        "reports_not_retrieved": ft["reports_not_retrieved"],
        "reports_assessed": ft["reports_assessed"],
        "reports_excluded_reasons": ft["excluded_reasons"],
        "new_studies_included": ft["studies_included"],
        "new_reports_included": ft["reports_included"],
    }
    if studies_in_meta_analysis is not None:
        counts["studies_in_meta_analysis"] = studies_in_meta_analysis
    return counts
