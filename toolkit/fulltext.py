"""Full-text eligibility: decisions with reasons on reports, and studies vs reports.

A *report* is a record that passed title/abstract screening (final decision ``include`` or
``maybe``). Each report is ``sought`` (pending), ``not_retrieved``, or ``assessed``; an assessed
report is included, or excluded with exactly one reason from the review's criteria file.

A *study* is what extraction and pooling count. By default each report is its own study,
labelled with its record id; ``link_report`` puts several reports (a conference abstract and
the paper, overlapping cohorts of one centre) under one study label.

Criteria file (``screening/criteria.yaml`` beside the review store, or any path)::

    question: "..."                 # the review question (text)
    inclusion: ["...", ...]         # criteria (list of text)
    exclusion: ["...", ...]
    fulltext_reasons: ["wrong intervention", "not spinal", ...]   # required, unique

Other top-level keys (e.g. ``pico:``) are allowed and ignored here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import yaml

from .csvdialect import delimiter_of_file
from .errors import ReviewError
from .records import normalise_doi, normalise_pmid
from .screening.decisions import final_decisions
from .store import Review, default_actor, now_iso

STATUSES = ("sought", "not_retrieved", "assessed")
DECISIONS = ("include", "exclude")
IMPORT_COLUMNS = ("record_id", "source_id", "pmid", "doi", "status", "decision", "reason",
                  "reviewer", "note", "source")


# -- criteria ------------------------------------------------------------------------------------

def criteria_path_for(db_path: str | Path) -> Path:
    """``screening/criteria.yaml`` next to the review store, else in the working directory
    (`review screen` and `review fulltext` both look here)."""
    beside = Path(db_path).resolve().parent / "screening" / "criteria.yaml"
    return beside if beside.is_file() else Path("screening") / "criteria.yaml"


def default_criteria_path(review: Review) -> Path:
    """The criteria file of ``review`` (see :func:`criteria_path_for`)."""
    return criteria_path_for(review.path)


def load_criteria(path: str | Path) -> dict:
    """Read and validate a criteria file; returns it with ``fulltext_reasons`` as a list."""
    path = Path(path)
    if not path.exists():
        raise ReviewError("criteria file not found (pass --criteria PATH)", file=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReviewError(f"not valid YAML: {exc}", file=path) from None
    if not isinstance(data, dict):
        raise ReviewError("expected a mapping with fulltext_reasons: [...]", file=path)
    if "question" in data and not isinstance(data["question"], str):
        raise ReviewError("'question' must be text", file=path, record="key question")
    for key in ("inclusion", "exclusion", "fulltext_reasons"):
        if key not in data:
            if key == "fulltext_reasons":
                raise ReviewError("missing key fulltext_reasons (a list of reasons)", file=path)
            continue
        items = data[key]
        if not isinstance(items, list) or not all(isinstance(x, str) and x.strip()
                                                  for x in items):
            raise ReviewError(f"'{key}' must be a list of non-empty text items", file=path,
                              record=f"key {key}")
    reasons = [r.strip() for r in data["fulltext_reasons"]]
    if not reasons:
        raise ReviewError("fulltext_reasons is empty", file=path, record="key fulltext_reasons")
    seen = Counter(_norm(r) for r in reasons)
    dupes = sorted(r for r in reasons if seen[_norm(r)] > 1)
    if dupes:
        raise ReviewError(f"duplicate reasons: {dupes}", file=path, record="key fulltext_reasons")
    data["fulltext_reasons"] = reasons
    return data


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


def match_reason(reason: str, reasons: list[str]) -> str | None:
    """The canonical reason that ``reason`` names (case/space-insensitive, or its 1-based
    number in the list), else None."""
    text = str(reason).strip()
    if text.isdigit() and 1 <= int(text) <= len(reasons):
        return reasons[int(text) - 1]
    for r in reasons:
        if _norm(r) == _norm(text):
            return r
    return None


# -- reports -------------------------------------------------------------------------------------

def duplicate_primaries(review: Review) -> dict[int, int]:
    """{duplicate record id: its primary record id} from deduplication's live clusters
    (empty when deduplication has not run or its tables do not exist)."""
    if "cluster_members" not in review.db.table_names():
        return {}
    return {r["record_id"]: r["primary_id"] for r in review.db.query(
        "select m.record_id, c.primary_id from cluster_members m join clusters c "
        "on c.id = m.cluster_id where c.undone_at is null and m.role = 'duplicate'")}


def fulltext_reports(review: Review) -> list[int]:
    """Record ids at the full-text stage, ascending: final title/abstract decision 'include'
    or 'maybe', and not a duplicate merged into another record."""
    dupes = duplicate_primaries(review)
    return sorted(rid for rid, d in final_decisions(review).items()
                  if d in ("include", "maybe") and rid not in dupes)


def resolve_record(review: Review, ref, *, kind: str | None = None,
                   dupes: dict[int, int] | None = None,
                   at_ft: set[int] | None = None) -> int | None:
    """The record id that ``ref`` names, or None.

    A record merged into another by deduplication resolves to that primary record.
    ``kind`` is 'record_id', 'source_id', 'pmid' or 'doi'; without it, ``ref`` may be a record
    id (digits; when no record has that id, a source id or PMID of those digits), ``pmid:N``,
    ``doi:10....``, or a source id. ``dupes`` (:func:`duplicate_primaries`) and ``at_ft``
    (:func:`fulltext_reports` as a set) may be passed by a caller that resolves many
    references, so they are not recomputed for each one.
    """
    text = str(ref).strip()
    if not text:
        return None
    if kind is None:
        low = text.lower()
        if text.isdigit():
            # A record id; else (an accession number or PMID typed bare) a source id or PMID.
            for k in ("record_id", "source_id", "pmid"):
                rid = resolve_record(review, text, kind=k, dupes=dupes, at_ft=at_ft)
                if rid is not None:
                    return rid
            return None
        elif low.startswith("pmid:"):
            kind, text = "pmid", text[5:]
        elif low.startswith("doi:") or low.startswith("10."):
            kind = "doi"
        else:
            kind = "source_id"
    if kind == "record_id":
        if not text.isdigit():
            return None
        rows = list(review.db.query("select id from records where id = ?", [int(text)]))
    elif kind == "pmid":
        rows = list(review.db.query("select id from records where pmid = ? order by id",
                                    [normalise_pmid(text)]))
    elif kind == "doi":
        rows = list(review.db.query("select id from records where doi = ? order by id",
                                    [normalise_doi(text)]))
    else:
        rows = list(review.db.query("select id from records where source_id = ? order by id",
                                    [text]))
    if dupes is None:
        dupes = duplicate_primaries(review)
    ids = sorted({dupes.get(r["id"], r["id"]) for r in rows})  # a duplicate names its primary
    if len(ids) > 1:
        # Several copies (e.g. PubMed and Embase) of one paper: the one at full text, if unique.
        if at_ft is None:
            at_ft = set(fulltext_reports(review))
        chosen = [i for i in ids if i in at_ft]
        if len(chosen) == 1:
            return chosen[0]
        raise ReviewError(f"{kind} {text!r} matches several records {ids}; use the record id")
    return ids[0] if ids else None


def require_report(review: Review, ref, **where) -> int:
    """The record id of a report at the full-text stage, or a ReviewError naming ``ref``."""
    rid = resolve_record(review, ref)
    if rid is None:
        raise ReviewError(f"no record {ref!r}", **where)
    if rid not in set(fulltext_reports(review)):
        raise ReviewError(f"record {rid} is not at the full-text stage (it was not included "
                          "or maybed at title/abstract)", **where)
    return rid


# -- decisions -----------------------------------------------------------------------------------

class DecisionError(ValueError):
    """An invalid full-text decision; ``column`` is the CSV column at fault."""

    def __init__(self, message: str, column: str):
        super().__init__(message)
        self.column = column


def check_decision(status: str, decision: str | None, reason: str | None,
                   reasons: list[str] | None) -> tuple[str, str | None, str | None]:
    """Validate one full-text decision; returns (status, decision, canonical reason).

    Raises DecisionError with the reason in words and the column at fault."""
    status = (status or "").strip().lower().replace("-", "_").replace(" ", "_")
    if not status and decision:
        status = "assessed"
    if status not in STATUSES:
        raise DecisionError(f"status {status!r} is not one of {', '.join(STATUSES)}", "status")
    decision = (decision or "").strip().lower() or None
    reason = (reason or "").strip() or None
    if status != "assessed":
        if decision or reason:
            raise DecisionError(f"a report that is {status} has no decision or reason", "decision")
        return status, None, None
    if decision not in DECISIONS:
        raise DecisionError(f"decision {decision!r} is not include or exclude", "decision")
    if decision == "include":
        if reason:
            raise DecisionError("an included report takes no exclusion reason", "reason")
        return status, decision, None
    if not reason:
        raise DecisionError("an excluded report needs a reason", "reason")
    if reasons is None:
        raise DecisionError("no list of reasons (criteria file) to check the reason against", "reason")
    canonical = match_reason(reason, reasons)
    if canonical is None:
        raise DecisionError(f"reason {reason!r} is not in the review's fulltext_reasons", "reason")
    return status, decision, canonical


def record_fulltext(review: Review, record_id: int, status: str, decision: str | None = None,
                    reason: str | None = None, *, reviewer: str | None = None,
                    reasons: list[str] | None = None, note: str | None = None,
                    origin: str = "human", source: str | None = None) -> int:
    """Save one full-text decision (caller holds the transaction); returns its row id."""
    try:
        status, decision, reason = check_decision(status, decision, reason, reasons)
    except ValueError as exc:
        raise ReviewError(str(exc), record=f"record {record_id}") from None
    reviewer = reviewer or default_actor()
    row_id = review.db["ft_decisions"].insert({
        "record_id": record_id, "reviewer": reviewer, "status": status, "decision": decision,
        "reason": reason, "origin": origin, "decided_at": now_iso(), "note": note,
        "source": source, "undone_at": None,
    }).last_pk
    review.log("fulltext_decision", {"record_id": record_id, "status": status,
                                     "decision": decision, "reason": reason, "origin": origin,
                                     "note": note, "id": row_id}, actor=reviewer)
    return row_id


def undo_last(review: Review, reviewer: str) -> dict | None:
    """Undo ``reviewer``'s latest live full-text decision; returns it (or None)."""
    rows = list(review.db.query(
        "select * from ft_decisions where reviewer = ? and undone_at is null "
        "order by id desc limit 1", [reviewer]))
    if not rows:
        return None
    review.db.execute("update ft_decisions set undone_at = ? where id = ?",
                      [now_iso(), rows[0]["id"]])
    review.log("fulltext_undo", {"id": rows[0]["id"], "record_id": rows[0]["record_id"]},
               actor=reviewer)
    return rows[0]


def final_fulltext(review: Review) -> dict[int, dict]:
    """Per report at full text: {'status', 'decision', 'reason'}; status 'conflict' when
    reviewers' latest live decisions disagree (a resolution wins); 'sought' when undecided."""
    latest: dict[int, dict[str, tuple]] = {}
    resolved: dict[int, tuple] = {}
    for row in review.db.query("select * from ft_decisions where undone_at is null order by id"):
        key = (row["status"], row["decision"], row["reason"])
        if row["origin"] == "resolution":
            resolved[row["record_id"]] = key
        else:
            latest.setdefault(row["record_id"], {})[row["reviewer"]] = key
    out = {}
    for rid in fulltext_reports(review):
        if rid in resolved:
            key = resolved[rid]
        elif rid in latest:
            values = set(latest[rid].values())
            key = values.pop() if len(values) == 1 else ("conflict", None, None)
        else:
            key = ("sought", None, None)
        out[rid] = dict(zip(("status", "decision", "reason"), key))
    return out


def _reviewer_decisions(review: Review, record_id: int | None = None) -> dict[int, dict]:
    """{record id: {reviewer: their latest live decision}} (resolutions left out); each
    decision is {'status', 'decision', 'reason', 'note'}."""
    sql, args = "select * from ft_decisions where undone_at is null and origin != 'resolution'", []
    if record_id is not None:
        sql, args = sql + " and record_id = ?", [record_id]
    out: dict[int, dict] = {}
    for row in review.db.query(sql + " order by id", args):
        out.setdefault(row["record_id"], {})[row["reviewer"]] = {
            k: row[k] for k in ("status", "decision", "reason", "note")}
    return out


def fulltext_conflicts(review: Review) -> dict:
    """Reports whose reviewers disagree at full text, resolved or not.

    Returns {'conflicts': [...], 'n_unresolved': n}; each item is {'record_id', 'title',
    'decisions': {reviewer: {'status', 'decision', 'reason', 'note'}}, 'resolution'} where
    'resolution' is None or {'status', 'decision', 'reason', 'reviewer', 'note'}: the latest
    live decision recorded with ``--resolve``, which overrides the reviewers'."""
    at_ft = set(fulltext_reports(review))
    resolved = {}
    for row in review.db.query("select * from ft_decisions where undone_at is null and "
                               "origin = 'resolution' order by id"):
        resolved[row["record_id"]] = {k: row[k] for k in ("status", "decision", "reason",
                                                          "reviewer", "note")}
    titles = {r["id"]: r["title"] for r in review.db.query("select id, title from records")}
    items = []
    for rid, by in sorted(_reviewer_decisions(review).items()):
        keys = {(d["status"], d["decision"], d["reason"]) for d in by.values()}
        if rid in at_ft and len(keys) > 1:
            items.append({"record_id": rid, "title": titles.get(rid),
                          "decisions": dict(sorted(by.items())),
                          "resolution": resolved.get(rid)})
    return {"conflicts": items,
            "n_unresolved": sum(1 for it in items if it["resolution"] is None)}


def resolve_fulltext(review: Review, record_id: int, status: str, decision: str | None = None,
                     reason: str | None = None, *, reviewer: str | None = None,
                     reasons: list[str] | None = None, note: str | None = None) -> int:
    """Record an adjudicated full-text decision (origin ``resolution``): it overrides the
    reviewers' decisions (theirs are kept). Audited as ``fulltext_resolve`` with the
    reviewers' decisions it overrides. Caller holds the transaction; returns the row id."""
    before = _reviewer_decisions(review, record_id).get(record_id, {})
    reviewer = reviewer or default_actor()
    row_id = record_fulltext(review, record_id, status, decision, reason, reviewer=reviewer,
                             reasons=reasons, note=note, origin="resolution")
    review.log("fulltext_resolve", {"id": row_id, "record_id": record_id,
                                    "reviewers": before}, actor=reviewer)
    return row_id


def describe_decision(d: dict) -> str:
    """'include', 'exclude (not spinal)', 'not retrieved', 'sought' or 'conflict'."""
    if d.get("status") == "assessed":
        return d["decision"] + (f" ({d['reason']})" if d.get("reason") else "")
    return (d.get("status") or "sought").replace("_", " ")


RESOLVE_HINT = ("resolve with `review fulltext resolve REF --decision include|exclude|"
                "not_retrieved [--reason R] [--note WHY]`")


# -- studies -------------------------------------------------------------------------------------

def report_links(review: Review) -> dict[int, str]:
    """{record id: the study label or report id it is linked to} (``ft_study_links``)."""
    return {r["record_id"]: r["study"] for r in review.db.query(
        "select record_id, study from ft_study_links")}


def study_of(review: Review, record_id: int, links: dict[int, str] | None = None) -> str:
    """The study label of a report: its own record id as text unless linked.

    A link to a label (``Smith2016``) names the study; a link to another report (its record id)
    means "the same study as that report", so it follows that report if it is relinked."""
    links = report_links(review) if links is None else links
    label, seen = str(record_id), set()
    while label.isdigit() and int(label) in links and label not in seen:
        seen.add(label)
        label = links[int(label)]
    return label


def link_report(review: Review, report, study: str, *, actor: str | None = None) -> str:
    """Put report ``report`` under study ``study``; returns the study label.

    ``study`` is a label (not all digits), or a report reference (record id, ``pmid:``,
    ``doi:``) whose study the report joins. Any report at the full-text stage may be linked
    (an excluded or not-retrieved report too, to record which study it belongs to), but only
    included reports make a study: a link that would leave a study with extracted values
    without an included report is refused. Caller holds the transaction (an error rolls
    the link back)."""
    rid = require_report(review, report, record=f"report {report}")
    study = str(study).strip()
    if not study:
        raise ReviewError("empty study label", record=f"report {report}")
    if study.isdigit() or study.lower().startswith(("pmid:", "doi:")):
        other = require_report(review, study, record=f"study {study}")
        target = str(other)
    else:
        target = study
    old = study_of(review, rid)
    label = study_of(review, other) if target.isdigit() else target
    if old == label:
        return label
    old_included = old in included_studies(review)
    if target == str(rid):
        review.db["ft_study_links"].delete_where("record_id = ?", [rid])
    else:
        review.db["ft_study_links"].upsert({"record_id": rid, "study": target,
                                            "linked_by": actor or default_actor(),
                                            "linked_at": now_iso()}, pk="record_id")
    # Extraction and pooling count only studies with an *included* report: a label whose
    # remaining reports are all excluded, not retrieved or undecided drops its values.
    lost = old_included and old not in included_studies(review)
    if lost and review.db.execute(
            "select count(*) from extraction_values where study = ?", [old]).fetchone()[0]:
        raise ReviewError(f"study {old!r} has extracted values and this link would leave no "
                          "included report under that label (its values would drop out of "
                          "the export and pooling); link reports before extracting",
                          record=f"report {report}")
    review.log("link_report", {"record_id": rid, "study": label, "link": target,
                               "previous": old}, actor=actor)
    return label


def included_studies(review: Review, final: dict[int, dict] | None = None
                     ) -> dict[str, list[int]]:
    """{study label: [included report ids]} for every study with an included report
    (``final``: :func:`final_fulltext` if the caller has it already)."""
    links = report_links(review)
    out: dict[str, list[int]] = {}
    for rid, d in (final_fulltext(review) if final is None else final).items():
        if d["decision"] == "include":
            out.setdefault(study_of(review, rid, links), []).append(rid)
    return dict(sorted(out.items(), key=lambda kv: study_sort_key(kv[0])))


def study_sort_key(label: str):
    """Numeric labels in number order, before other labels in text order."""
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def resolve_study(review: Review, ref, studies: dict[str, list[int]] | None = None) -> str | None:
    """The included study that ``ref`` names: a study label, or a reference to one of its
    reports (record id, pmid:, doi:, source id). None if it names no included study."""
    studies = included_studies(review) if studies is None else studies
    text = str(ref).strip()
    if text in studies:
        return text
    try:
        rid = resolve_record(review, text)
    except ReviewError:
        return None
    if rid is None:
        return None
    for label, rids in studies.items():
        if rid in rids:
            return label
    return None


def included_study(review: Review, ref, studies: dict[str, list[int]] | None = None) -> str:
    """The label of the included study ``ref`` names (see :func:`resolve_study`); a
    ReviewError saying how to include it when it names none."""
    label = resolve_study(review, ref, studies)
    if label is None:
        raise ReviewError(f"{ref!r} is not an included study (nor one of its reports; include "
                          "its report at full text first)", record=f"study {ref}")
    return label


# -- counts for PRISMA ---------------------------------------------------------------------------

def fulltext_counts(review: Review, records: set[int] | None = None,
                    final: dict[int, dict] | None = None) -> dict:
    """Full-text counts for PRISMA 2020 (``records``: only the reports of these records;
    ``final``: :func:`final_fulltext` if the caller has it already).

    ``reports_sought`` = reports at the full-text stage; ``reports_not_retrieved``;
    ``reports_assessed`` (including or excluding); ``reports_excluded`` with
    ``excluded_reasons`` {reason: n}; ``reports_included``; ``studies_included`` (distinct
    studies of included reports, all of them); also ``reports_pending`` (sought, undecided)
    and ``reports_conflict`` (reviewers disagree, unresolved)."""
    every = final_fulltext(review) if final is None else final
    final = every if records is None else {r: d for r, d in every.items() if r in records}
    status = Counter(d["status"] for d in final.values())
    reasons = Counter(d["reason"] for d in final.values() if d["decision"] == "exclude")
    included = sum(1 for d in final.values() if d["decision"] == "include")
    excluded = sum(reasons.values())
    return {
        "reports_sought": len(final),
        "reports_not_retrieved": status["not_retrieved"],
        "reports_assessed": status["assessed"],
        "reports_excluded": excluded,
        "excluded_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "reports_included": included,
        "studies_included": len(included_studies(review, every)),
        "reports_pending": status["sought"],
        "reports_conflict": status["conflict"],
    }


# -- CSV import ----------------------------------------------------------------------------------

def import_fulltext_csv(review: Review, path: str | Path, *, reasons: list[str] | None,
                        reviewer: str | None = None) -> dict:
    """Import full-text decisions from CSV (columns in ``IMPORT_COLUMNS``; one of record_id,
    source_id, pmid, doi identifies the report). Every invalid cell is reported; nothing is
    written unless all rows are valid. Returns {'imported': n}."""
    path = Path(path)
    header, rows = read_csv(path)
    id_cols = [c for c in ("record_id", "source_id", "pmid", "doi") if c in header]
    errors = []
    if not id_cols:
        raise ReviewError("needs a column record_id, source_id, pmid or doi", file=path)
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    if unknown:
        raise ReviewError(f"unknown columns {unknown}; expected {list(IMPORT_COLUMNS)}",
                          file=path)
    if "status" not in header and "decision" not in header:
        raise ReviewError("needs a column status and/or decision", file=path)
    if not rows:
        raise ReviewError("no data rows (only a header); nothing was written", file=path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    previous = _previous_import(review, digest)
    if previous is not None:
        message = (f"the same content (sha256 {digest[:12]}...) was already imported from "
                   f"{previous.get('file')} on {previous['at']} ({previous.get('rows')} "
                   "decisions); nothing added")
        with review.atomic():
            review.log("fulltext_import_skipped", {"file": str(path), "sha256": digest,
                                                   "previous_event": previous["id"]})
        return {"imported": 0, "file": str(path), "already_imported": True,
                "message": message}
    at_ft = set(fulltext_reports(review))
    dupes = duplicate_primaries(review)  # computed once, not once per row
    todo = []
    seen: dict[tuple, int] = {}
    for line, row in enumerate(rows, start=2):
        rid = None
        for col in id_cols:
            if (row.get(col) or "").strip():
                try:  # record_id may hold any reference (id, accession, pmid:, doi:)
                    rid = resolve_record(review, row[col],
                                         kind=None if col == "record_id" else col,
                                         dupes=dupes, at_ft=at_ft)
                except ReviewError as exc:
                    errors.append((line, col, exc.bare_message))
                    rid = False
                    break
                if rid is None:
                    errors.append((line, col, f"no record {row[col]!r}"))
                    rid = False
                elif rid not in at_ft:
                    errors.append((line, col, f"record {rid} is not at the full-text stage"))
                    rid = False
                break
        if rid is None:
            errors.append((line, id_cols[0], "empty: no record identifier"))
        who = (row.get("reviewer") or "").strip() or reviewer
        if not who:
            errors.append((line, "reviewer", "empty, and no --reviewer given"))
        try:
            status, decision, reason = check_decision(row.get("status"), row.get("decision"),
                                                      row.get("reason"), reasons)
        except DecisionError as exc:
            errors.append((line, exc.column, str(exc)))
            continue
        if rid and who:
            if (rid, who) in seen:
                errors.append((line, id_cols[0], f"record {rid} by {who} already on row "
                                                 f"{seen[(rid, who)]}"))
                continue
            seen[(rid, who)] = line
            todo.append((rid, status, decision, reason, who,
                         (row.get("note") or "").strip() or None,
                         (row.get("source") or "").strip() or None))
    if errors:
        raise_cell_errors(path, errors)
    with review.atomic():
        for rid, status, decision, reason, who, note, source in todo:
            review.db["ft_decisions"].insert({
                "record_id": rid, "reviewer": who, "status": status, "decision": decision,
                "reason": reason, "origin": "import", "decided_at": now_iso(), "note": note,
                "source": source, "undone_at": None})
        review.log("fulltext_import", {"file": str(path), "rows": len(todo), "sha256": digest})
    return {"imported": len(todo), "file": str(path), "already_imported": False}


def _previous_import(review: Review, digest: str) -> dict | None:
    """The audit event of an earlier full-text import of the same bytes (sha256), or None.
    (Imports made before the digest was logged are not recognised.)"""
    for row in review.db.query("select id, at, details from events where action = "
                               "'fulltext_import' order by id"):
        details = json.loads(row["details"] or "{}")
        if details.get("sha256") == digest:
            return {"id": row["id"], "at": row["at"], **details}
    return None


def read_csv_rows(path: Path) -> list[dict]:
    """A review file's CSV rows (header names stripped and lower-cased); a missing file, no
    header or a row with more cells than the header is an error naming the file and row."""
    return read_csv(path)[1]


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    """(header names stripped and lower-cased, rows) of a review file's CSV; errors as
    :func:`read_csv_rows`."""
    path = Path(path)
    if not path.exists():
        raise ReviewError("file not found", file=path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter_of_file(fh))
            if not reader.fieldnames:
                raise ReviewError("empty file (no header row)", file=path)
            reader.fieldnames = [f.strip().lower() for f in reader.fieldnames]
            rows = []
            for line, row in enumerate(reader, start=2):
                if None in row:
                    raise ReviewError("more cells than header columns", file=path,
                                      record=f"row {line}")
                rows.append(row)
            return list(reader.fieldnames), rows
    except UnicodeDecodeError as exc:
        raise ReviewError(f"not UTF-8 text ({exc})", file=path) from None


def check_columns(path, header: list[str], required: tuple, allowed: tuple) -> None:
    """A ReviewError naming the file when a required column is missing or one is unknown."""
    missing = [c for c in required if c not in header]
    if missing:
        raise ReviewError(f"missing columns {missing}; expected {list(allowed)}", file=path)
    unknown = [c for c in header if c not in allowed]
    if unknown:
        raise ReviewError(f"unknown columns {unknown}; expected {list(allowed)}", file=path)


def study_cell(review: Review, row: dict, line: int, studies: dict, errors: list) -> str | None:
    """The included study a CSV row's ``study`` cell names, or None with the reason appended
    to ``errors`` as (line, 'study', why)."""
    ref = (row.get("study") or "").strip()
    study = resolve_study(review, ref, studies) if ref else None
    if not ref:
        errors.append((line, "study", "empty"))
    elif study is None:
        errors.append((line, "study", f"{ref!r} is not an included study (nor one of its "
                                      "reports)"))
    return study


def raise_cell_errors(path, errors: list[tuple[int, str, str]]):
    """One ReviewError listing every (row, column, why); the first names the place."""
    lines = [f"{path}: row {line}: column {col!r}: {why}" for line, col, why in errors]
    n = len(errors)
    raise ReviewError(f"{n} invalid cell{'s' if n != 1 else ''}, nothing was written:\n"
                      + "\n".join(lines))


# -- terminal prompts ----------------------------------------------------------------------------

FT_KEYS = ("i = include, e = exclude (then a reason), x = full text not retrieved, "
           "n = add a note, s = skip, u = undo your last decision, c = show the criteria, "
           "q = quit (end of input too), ? = help")


def pending_for(review: Review, reviewer: str) -> list[int]:
    """Reports with no final full-text status and no live decision by ``reviewer``."""
    final = final_fulltext(review)
    mine = {r["record_id"] for r in review.db.query(
        "select record_id from ft_decisions where reviewer = ? and undone_at is null",
        [reviewer])}
    return [rid for rid, d in final.items() if d["status"] in ("sought", "conflict")
            and rid not in mine]


def _show(review: Review, rid: int, echo) -> None:
    row = next(review.db.query("select * from records where id = ?", [rid]))
    echo("")
    echo(f"[record {rid}] {row['title'] or '(no title)'}")
    bits = [b for b in (row["journal"], str(row["year"] or ""),
                        row["doi"] and f"doi:{row['doi']}", row["pmid"] and f"pmid:{row['pmid']}")
            if b]
    echo("  " + " | ".join(bits))
    if row["abstract"]:
        text = row["abstract"]
        echo("  " + (text[:600] + " ..." if len(text) > 600 else text))


def run_fulltext(review: Review, reviewer: str, reasons: list[str], *, ask, echo,
                 criteria: dict | None = None, key=None, one_key_reasons: bool = False) -> dict:
    """Ask for a full-text decision on each pending report; each saved at once.

    ``key(prompt)`` returns the key pressed for a decision ('q' at the end of input; default:
    the first letter of ``ask``); ``ask(prompt)`` returns a line of text (a reason, a note),
    or None at the end of input (taken as quit). ``one_key_reasons`` (a terminal, up to 9
    reasons): an exclusion's reason is one key, 1-9, or r to type it, as in `review screen`;
    otherwise (input from a pipe or a script) the reason is typed, by number or text.
    Returns {'decided': n, 'undone': m, 'quit': bool}: ``decided`` counts this session's
    decisions still standing (one undone again is not counted); ``undone`` counts every
    undo, including of a decision from an earlier session (``u`` undoes your latest
    decision, whenever it was made)."""
    queue = pending_for(review, reviewer)
    key_of = key
    mine, undone_n, note, skipped = set(), 0, None, set()  # mine: this session's row ids

    def result(quit_: bool) -> dict:
        return {"decided": len(mine), "undone": undone_n, "quit": quit_}

    echo(f"{len(queue)} report(s) to assess. Keys: {FT_KEYS}")
    open_conflicts = [c for c in fulltext_conflicts(review)["conflicts"]
                      if c["resolution"] is None]
    if open_conflicts:
        echo(f"{len(open_conflicts)} report(s) in conflict between reviewers (list them with "
             f"`review fulltext conflicts`; {RESOLVE_HINT}):")
        for c in open_conflicts:
            echo(f"  record {c['record_id']}: " + "; ".join(
                f"{who}: {describe_decision(d)}" for who, d in c["decisions"].items()))
    while True:
        queue = [r for r in pending_for(review, reviewer) if r not in skipped]
        if not queue:
            echo("no more reports to assess")
            return result(False)
        rid = queue[0]
        _show(review, rid, echo)
        if key_of is not None:
            key = key_of("decision [i/e/x/n/s/u/c/q/?] > ")
        else:
            key = ask("decision [i/e/x/n/s/u/c/q/?]")
            key = "q" if key is None else key.strip().lower()[:1]
        if key == "c":
            for section in ("question", "inclusion", "exclusion", "fulltext_reasons"):
                items = (criteria or {}).get(section)
                if items:
                    echo(f"{section}:")
                    for item in ([items] if isinstance(items, str) else items):
                        echo(f"  - {item}")
        elif key == "?":
            echo(FT_KEYS)
            for i, r in enumerate(reasons, 1):
                echo(f"  {i}. {r}")
        elif key == "q":
            return result(True)
        elif key == "s":
            skipped.add(rid)
        elif key == "n":
            note = (ask("note") or "").strip() or None
        elif key == "u":
            with review.atomic():
                undone = undo_last(review, reviewer)
            if undone is None:
                echo("nothing to undo")
            else:
                earlier = undone["id"] not in mine
                echo(f"undid your decision on record {undone['record_id']} "
                     f"({describe_decision(undone)}"
                     f"{', made in an earlier session' if earlier else ''})")
                skipped.discard(undone["record_id"])
                mine.discard(undone["id"])
                undone_n += 1
        elif key in ("i", "e", "x"):
            status, decision, reason = "assessed", None, None
            if key == "x":
                status = "not_retrieved"
            elif key == "i":
                decision = "include"
            else:
                decision = "exclude"
                for i, r in enumerate(reasons, 1):
                    echo(f"  {i}. {r}")
                while reason is None:
                    if one_key_reasons and key_of is not None and len(reasons) <= 9:
                        # one key, as in `review screen`: a digit, or r to type the reason
                        k = key_of(f"reason [1-{len(reasons)}, r to type it] > ")
                        if k == "q":
                            return result(True)
                        if k.isdigit() and 1 <= int(k) <= len(reasons):
                            reason = reasons[int(k) - 1]
                            continue
                        if k != "r":
                            echo(f"  press 1-{len(reasons)}, or r to type the reason")
                            continue
                    text = ask("reason (number or text)")
                    if text is None:
                        return result(True)
                    reason = match_reason(text.strip(), reasons)
                    if reason is None:
                        echo(f"  {text!r} is not one of the reasons above")
            with review.atomic():
                mine.add(record_fulltext(review, rid, status, decision, reason,
                                         reviewer=reviewer, reasons=reasons, note=note))
            note = None
            echo(f"  saved: {status}{' ' + decision if decision else ''}"
                 f"{' (' + reason + ')' if reason else ''}")
        else:
            echo(f"  unknown key {key!r}. {FT_KEYS}")


def status(review: Review) -> dict:
    """The line `review status` shows for the full-text stage ({} before it starts)."""
    if not review.db.execute("select count(*) from ft_decisions").fetchone()[0]:
        return {}
    c = fulltext_counts(review)
    return {"full text": f"{c['reports_sought']} reports: {c['reports_included']} included "
                         f"({c['studies_included']} studies), {c['reports_excluded']} excluded, "
                         f"{c['reports_not_retrieved']} not retrieved, {c['reports_pending']} "
                         f"pending, {c['reports_conflict']} in conflict"
                         + (" (list them with `review fulltext conflicts`)"
                            if c["reports_conflict"] else "")}
