"""PRISMA 2020 flow counts derived from what the store recorded (never typed).

``prisma_counts(review)`` returns the counts dict of :mod:`toolkit.prisma` for the whole review;
``prisma_counts(review, version=N)`` the PRISMA 2020 flow of an *updated* review for update N
(``updates`` table; version 0 is the original review): the studies and reports included in the
previous versions, then the flow of what update N identified.

- Arms: searches and imports of a bibliographic database make the databases arm; citation
  searching (`review snowball`, or an import with ``--source "Citation searching"``) is the
  other-methods arm (:data:`CITATION_SEARCHING`).
- A screening unit is a deduplicated record (a primary and the duplicates merged into it). A
  unit belongs to the earliest version any of its records was found in, and to the databases
  arm when a database search of the flow's scope found one of its records, else to the
  other-methods arm.
- Records identified per database: distinct records linked to that database's searches in
  scope; duplicates removed: those records minus the databases arm's units (so a record an
  update found again, or that duplicates one of an earlier version, is a duplicate of this
  flow); excluded by automation: units whose only title/abstract decisions are the stopping
  rule's; records screened / excluded: units with a person's (or an imported) decision.
- Reports sought / not retrieved / assessed / excluded with reasons / included: the full-text
  stage (:mod:`toolkit.fulltext`) over each arm's units; studies included: studies with an
  included report of the scope; in an update, a study already included in a previous version is
  a previous study (its new reports count as reports of this update).
- Studies in the meta-analysis: :func:`studies_in_meta_analysis` (studies with data in an
  outcome that two or more studies report), passed in by the caller.
Unfinished stages are reported as errors that say what to run, not as wrong numbers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .errors import ReviewError
from .store import Review

# The source name of citation searching; its searches and imports are PRISMA's "other methods"
# arm ("Identification of new studies via other methods": citation searching).
CITATION_SEARCHING = "Citation searching"


def is_citation_searching(database: str | None) -> bool:
    return (database or "").strip().lower() == CITATION_SEARCHING.lower()


def identified_by_database(review: Review, version: int | None = None) -> dict[str, int]:
    """{database: distinct records found by its searches/imports}, in order of first search
    (citation searching is not a database; ``version``: that version's searches only)."""
    return _scope(review, version).identified


def _primary_ids(review: Review) -> list[int]:
    from .dedup.api import primary_record_ids

    return primary_record_ids(review)


def _live_origins(review: Review) -> dict[int, set[str]]:
    from .screening.decisions import live_origins

    return live_origins(review)


def _title_abstract(units, final: dict, origins: dict) -> dict:
    automation = {u for u in units if origins.get(u) == {"automation"}}
    screened = {u for u in units if u in final and u not in automation}
    return {
        "records": len(units),
        "automation_excluded": len(automation),
        "records_screened": len(screened),
        "records_excluded": sum(1 for u in screened if final[u] == "exclude"),
        "records_passed": sum(1 for u in screened if final[u] in ("include", "maybe")),
        "conflicts": sum(1 for u in screened if final[u] == "conflict"),
        "pending": len(set(units) - screened - automation),
    }


def title_abstract_counts(review: Review) -> dict:
    """Screened, excluded, automation-excluded and pending among deduplicated records."""
    from .screening.decisions import final_decisions

    return _title_abstract(set(_primary_ids(review)), final_decisions(review),
                           _live_origins(review))


def versions(review: Review) -> list[int]:
    """The review's versions: 0 (the original review) and each update's id, ascending."""
    if "updates" not in review.db.table_names():
        return [0]
    return [0] + [r[0] for r in review.db.execute("select id from updates order by id")]


@dataclass
class _Scope:
    """Which records and screening units one flow counts (see the module docstring)."""

    version: int | None
    identified: dict[str, int] = field(default_factory=dict)
    db_records: set[int] = field(default_factory=set)
    citation_records: set[int] = field(default_factory=set)
    db_units: set[int] = field(default_factory=set)
    citation_units: set[int] = field(default_factory=set)
    unit_version: dict[int, int] = field(default_factory=dict)


def _scope(review: Review, version: int | None) -> _Scope:
    db = review.db
    has_versions = "update_id" in {c.name for c in db["searches"].columns}
    searches = {}  # id -> (version, citation?, database), in id order
    complete: set[int] = set()
    for sid, database, ver, status in db.execute(
            "select id, database, " + ("coalesce(update_id, 0)" if has_versions else "0")
            + ", status from searches order by id"):
        searches[sid] = (ver, is_citation_searching(database), database)
        if status == "complete":
            complete.add(sid)
    if version is not None and version not in versions(review):
        raise ReviewError(f"no update {version}; the review's versions are "
                          f"{', '.join(map(str, versions(review)))} (0 = the original review)")
    links: dict[int, set[int]] = defaultdict(set)
    for rid, sid in db.execute("select record_id, search_id from record_searches"):
        links[rid].add(sid)
    record_version = {rid: min(searches[s][0] for s in sids) for rid, sids in links.items()}
    from .dedup.api import primary_record_ids
    from .fulltext import duplicate_primaries

    primary_of = duplicate_primaries(review)
    members: dict[int, list[int]] = {rid: [] for rid in primary_record_ids(review)}
    for rid in links:
        members[primary_of.get(rid, rid)].append(rid)
    out = _Scope(version)
    members = {u: ms for u, ms in members.items() if ms}  # a record no search found: none
    out.unit_version = {u: min(record_version[m] for m in ms) for u, ms in members.items()}
    per_db: dict[str, set[int]] = {}
    searched: set[str] = set()  # databases a finished search of this scope ran in
    for sid, (ver, citation, database) in searches.items():
        if version is not None and ver != version:
            continue
        if not citation:
            per_db.setdefault(database, set())
            if sid in complete:
                searched.add(database)
    for rid, sids in links.items():
        for s in sids:
            ver, citation, database = searches[s]
            if version is not None and ver != version:
                continue
            if citation:
                out.citation_records.add(rid)
            else:
                out.db_records.add(rid)
                per_db[database].add(rid)
    # a finished search that found nothing is still reported (PubMed, n = 0); one that
    # stopped before fetching anything is not a result
    out.identified = {name: len(rids) for name, rids in per_db.items()
                      if rids or name in searched}
    for u, ms in members.items():
        if version is not None and out.unit_version[u] != version:
            continue
        if any(m in out.db_records for m in ms):
            out.db_units.add(u)
        else:
            out.citation_units.add(u)
    return out


def _meta_analysis_studies(review: Review) -> set[str] | None:
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
    return studies


def study_versions(review: Review) -> dict[str, int]:
    """{included study: the earliest version (0 = the original review, else the update) in
    which one of its included reports was found}."""
    from .fulltext import included_studies

    scope = _scope(review, None)
    return {label: min(scope.unit_version.get(r, 0) for r in rids)
            for label, rids in included_studies(review).items()}


def studies_up_to(review: Review, version: int) -> set[str]:
    """Labels of the included studies with an included report found by version ``version``
    or an earlier one."""
    return {label for label, v in study_versions(review).items() if v <= version}


def studies_in_meta_analysis(review: Review, version: int | None = None) -> int | None:
    """Included studies with data in at least one outcome that can be meta-analysed: an outcome
    of an extraction form used in the review with data from two or more studies (``version``:
    only studies included by that version).

    None before anything is extracted, or when the extracted data cannot be tabulated yet
    (the box is then left empty)."""
    studies = _meta_analysis_studies(review)
    if studies is None:
        return None
    if version is not None:
        studies &= studies_up_to(review, version)
    return len(studies)


def _check_finished(ta: dict, ft: dict, where: str) -> None:
    if ta["pending"]:
        raise ReviewError(f"title/abstract screening is not finished{where}: {ta['pending']} "
                          f"records have no decision (run `review screen`)")
    if ta["conflicts"]:
        raise ReviewError(f"{ta['conflicts']} records{where} have unresolved screening "
                          f"conflicts (run `review conflicts`)")
    if ft["reports_pending"] or ft["reports_conflict"]:
        raise ReviewError(f"full-text stage not finished{where}: {ft['reports_pending']} reports "
                          f"undecided, {ft['reports_conflict']} in conflict (decide with "
                          "`review fulltext`; list conflicts with `review fulltext conflicts` "
                          "and resolve with `review fulltext resolve REF --decision D`)")


def prisma_counts(review: Review, studies_in_meta_analysis: int | None = None, *,
                  version: int | None = None) -> dict:
    """The PRISMA 2020 counts dict for this review, or for update ``version`` of it (the
    updated-review flow: previous studies and reports, then the update's records)."""
    from .fulltext import final_fulltext, fulltext_counts, included_studies
    from .screening.decisions import final_decisions

    scope = _scope(review, version)
    where = f" in update {version}" if version else (" in the original review"
                                                     if version == 0 else "")
    if not scope.db_records and not scope.citation_records and not (
            version is not None and scope.identified):  # an update may find nothing new
        if version is None:
            raise ReviewError("no records yet; run `review import FILE` or `review search` first")
        raise ReviewError(f"no records were found{where}")
    final, origins = final_decisions(review), _live_origins(review)
    ta_db = _title_abstract(scope.db_units, final, origins)
    ta_cit = _title_abstract(scope.citation_units, final, origins)
    reports = final_fulltext(review)
    ft_db = fulltext_counts(review, scope.db_units, reports)
    ft_cit = fulltext_counts(review, scope.citation_units, reports)
    for ta, ft in ((ta_db, ft_db), (ta_cit, ft_cit)):
        _check_finished(ta, ft, where)
    counts = {
        "identified_by_database": scope.identified,
        "duplicates_removed": len(scope.db_records) - len(scope.db_units),
        "automation_excluded": ta_db["automation_excluded"],
        "other_removed": 0,
        "records_screened": ta_db["records_screened"],
        "records_excluded": ta_db["records_excluded"],
        # No linked_reports_delta: the store keeps one report per record (links join reports
        # into studies), so reports sought must equal the records passed on; computing the
        # delta as their difference would make that invariant hold by construction.
        "reports_sought": ft_db["reports_sought"],
        "reports_not_retrieved": ft_db["reports_not_retrieved"],
        "reports_assessed": ft_db["reports_assessed"],
        "reports_excluded_reasons": ft_db["excluded_reasons"],
    }
    if scope.citation_records:
        counts.update({
            "identified_citations": len(scope.citation_records),
            "other_reports_sought": ft_cit["reports_sought"],
            "other_reports_not_retrieved": ft_cit["reports_not_retrieved"],
            "other_reports_assessed": ft_cit["reports_assessed"],
            "other_reports_excluded_reasons": ft_cit["excluded_reasons"],
        })
    in_scope = scope.db_units | scope.citation_units
    studies = included_studies(review, reports)
    included = {r for d_rids in studies.values() for r in d_rids}
    counts["new_reports_included"] = len(included & in_scope)
    if version is None:
        counts["new_studies_included"] = len(studies)
    else:
        earlier = {label for label, rids in studies.items()
                   if any(scope.unit_version[r] < version for r in rids)}
        new = {label for label, rids in studies.items()
               if any(r in in_scope for r in rids)} - earlier
        counts["new_studies_included"] = len(new)
        if version > 0:
            counts["previous_studies"] = len(earlier)
            counts["previous_reports"] = sum(1 for r in included
                                             if scope.unit_version[r] < version)
    if studies_in_meta_analysis is not None:
        counts["studies_in_meta_analysis"] = studies_in_meta_analysis
    return counts
