"""Title/abstract decisions in the store (table ``ta_decisions``).

Contract used by later stages (full text, PRISMA, dedup inheritance):
``final_decisions(review)`` -> {record_id: 'include' | 'exclude' | 'maybe' | 'conflict'} for every
record with at least one live (not undone) decision.
"""

from __future__ import annotations

from ..errors import ReviewError
from ..store import Review, now_iso


def record_decision(review: Review, record_id: int, decision: str, reviewer: str, *,
                    origin: str = "human", score=None, rank=None, model_version=None,
                    note=None, reason=None) -> int:
    """Save one decision (caller holds the transaction); returns its row id. ``reason`` (one
    of the criteria file's ``ta_reasons``, checked by the caller) goes with an exclusion only."""
    if decision not in ("include", "exclude", "maybe"):
        raise ValueError(f"unknown decision {decision!r}")
    if reason is not None and decision != "exclude":
        raise ValueError(f"a reason goes with an exclusion, not with {decision!r}")
    return review.db["ta_decisions"].insert({
        "record_id": record_id, "reviewer": reviewer, "decision": decision, "origin": origin,
        "decided_at": now_iso(), "score": score, "rank": rank, "model_version": model_version,
        "note": note, "undone_at": None, "reason": reason,
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


# -- Writing decisions (each helper is one transaction with its audit event) -----------------

HUMAN_ORIGINS = ("human", "import")


class DecisionRefused(ReviewError):
    """A decision or undo refused because the store changed since the session last looked
    (another session of the same reviewer, a stopping rule, deduplication). Nothing was written;
    ``record_id`` is the record concerned and ``current`` the reviewer's live decision row on
    it now (or None)."""

    def __init__(self, message: str, *, record_id: int, current: dict | None = None):
        super().__init__(message)
        self.record_id = record_id
        self.current = current


def own_latest(review: Review, reviewer: str, record_id: int) -> dict | None:
    """The reviewer's latest live own decision (human or imported) on the record, or None."""
    rows = list(review.db.query(
        "select * from ta_decisions where reviewer = ? and record_id = ? and undone_at is null "
        "and origin in ('human', 'import') order by id desc limit 1", [reviewer, record_id]))
    return rows[0] if rows else None


def left_queue(review: Review, reviewer: str, record_id: int) -> str | None:
    """Why the record is no longer in the reviewer's queue (an inherited decision, an automation
    exclusion of the reviewer's stopping rule, or deduplication made it a duplicate), or None.
    Indexed look-ups of one record: cheap enough for every save."""
    row = review.db.execute(
        "select origin from ta_decisions where record_id = ? and "
        "undone_at is null and (origin = 'inherited' or origin = 'automation' and "
        "(stopping_id is null or stopping_id in (select id from ta_stopping where reviewer = ?)))"
        " order by id limit 1", [record_id, reviewer]).fetchone()
    if row is not None:
        (origin,) = row
        if origin == "inherited":
            # not which decision: it may be another reviewer's, and screening is blind
            return (f"record {record_id} was given the decision of its duplicate by "
                    "deduplication (another process ran it meanwhile)")
        return (f"record {record_id} was excluded by automation when your stopping rule "
                "fired in another session")
    if "clusters" in review.db.table_names():
        dup = review.db.execute(
            "select c.primary_id from cluster_members m join clusters c on c.id = m.cluster_id "
            "where c.undone_at is null and m.role = 'duplicate' and m.record_id = ?",
            [record_id]).fetchone()
        if dup is not None:
            return (f"record {record_id} is now a duplicate of record {dup[0]} (deduplication "
                    "ran meanwhile); it is screened as that record")
    return None


def save_decision(review: Review, record_id: int, decision: str, reviewer: str, *,
                  seen: int | None, score=None, rank=None, model_version=None, note=None,
                  phase: str = "ranked", reason=None) -> int:
    """Commit one human decision and its audit event in one transaction; returns the row id.

    A compare-and-set: ``seen`` is the id of the reviewer's live decision on this record that
    the person saw when the record was shown (None: undecided). The save goes through only if
    that is still the reviewer's latest live own decision, and, for a record seen undecided,
    only if it is still in the reviewer's queue (:func:`left_queue`); otherwise nothing is
    written and :class:`DecisionRefused` says why. The check and the write are one transaction
    that holds the write lock from its start, so two sessions of one reviewer can never both
    record a live decision on one record. When this returns, the decision is durable."""
    with review.atomic():
        current = own_latest(review, reviewer, record_id)
        if (current["id"] if current else None) != seen:
            if current is None:
                message = (f"record {record_id}: your decision on it was undone in another "
                           "session; not saved")
            else:
                message = (f"record {record_id} was already decided by you in another "
                           f"session: {current['decision']}; not saved")
            raise DecisionRefused(message, record_id=record_id, current=current)
        if seen is None:
            why = left_queue(review, reviewer, record_id)
            if why:
                raise DecisionRefused(f"{why}; not saved", record_id=record_id)
        row_id = record_decision(review, record_id, decision, reviewer, score=score, rank=rank,
                                 model_version=model_version, note=note, reason=reason)
        details = {
            "decision_id": row_id, "record_id": record_id, "decision": decision,
            "score": score, "rank": rank, "model_version": model_version, "note": note,
            "phase": phase,
        }
        if reason is not None:
            details["reason"] = reason
        review.log("screen.decision", details, actor=reviewer)
    return row_id


def reviewer_latest(review: Review, reviewer: str) -> dict[int, tuple[int, str]]:
    """{record_id: (decision row id, decision)} of the reviewer's latest live own decision
    (human or imported), in the order they were made (oldest first)."""
    out: dict[int, tuple[int, str]] = {}
    for rid, row_id, decision in review.db.execute(
        "select record_id, id, decision from ta_decisions where reviewer = ? and "
        "undone_at is null and origin in ('human', 'import') order by id", [reviewer]
    ):
        out.pop(rid, None)
        out[rid] = (row_id, decision)
    return out


def reviewer_decisions(review: Review, reviewer: str) -> dict[int, str]:
    """{record_id: decision} of the reviewer's latest live own decision (human or imported)."""
    return {rid: d for rid, (_, d) in reviewer_latest(review, reviewer).items()}


def latest_human_id(review: Review, reviewer: str) -> int | None:
    """The id of the reviewer's latest live human decision (what undo would take back)."""
    return review.db.execute(
        "select max(id) from ta_decisions where reviewer = ? and origin = 'human' "
        "and undone_at is null", [reviewer]).fetchone()[0]


def reviewer_note(review: Review, record_id: int, reviewer: str) -> str | None:
    """The note of the reviewer's latest live decision on the record (None without one)."""
    row = review.db.execute(
        "select note from ta_decisions where record_id = ? and reviewer = ? and "
        "undone_at is null and origin in ('human', 'import') order by id desc limit 1",
        [record_id, reviewer]).fetchone()
    return row[0] if row and row[0] else None


def live_origins(review: Review) -> dict[int, set[str]]:
    """{record_id: the origins of its live title/abstract decisions}. A record whose only
    origin is ``automation`` was excluded by a stopping rule and by no person."""
    origins: dict[int, set[str]] = {}
    for rid, origin in review.db.execute("select record_id, origin from ta_decisions "
                                         "where undone_at is null"):
        origins.setdefault(rid, set()).add(origin)
    return origins


def blocked_records(review: Review, reviewer: str | None = None) -> set[int]:
    """Records left out of a queue: those with an inherited decision (for every reviewer) and
    those excluded by automation (:func:`automation_excluded`)."""
    return inherited_records(review) | automation_excluded(review, reviewer)


def inherited_records(review: Review) -> set[int]:
    """Records with a live decision inherited by deduplication (out of every queue)."""
    return {r[0] for r in review.db.execute(
        "select distinct record_id from ta_decisions where undone_at is null and "
        "origin = 'inherited'")}


def automation_excluded(review: Review, reviewer: str | None = None) -> set[int]:
    """Records excluded by automation. An automation exclusion stands in for the reviewer whose
    stopping rule fired, so with ``reviewer`` only that reviewer's are counted (exclusions of
    unknown origin, from before this was recorded, count for everyone); without it, all."""
    sql = ("select distinct record_id from ta_decisions where undone_at is null and "
           "origin = 'automation'")
    args: list = []
    if reviewer is not None:
        sql += (" and (stopping_id is null or stopping_id in "
                "(select id from ta_stopping where reviewer = ?))")
        args.append(reviewer)
    return {r[0] for r in review.db.execute(sql, args)}


def undo_last(review: Review, reviewer: str, *, seen: int | None) -> dict | None:
    """Undo the reviewer's latest live human decision (the row is kept, marked undone).

    ``seen`` is the id of what the session showing the undo knows as the reviewer's latest
    decision (:func:`latest_human_id` when it last looked); if another session decided or undid
    since, nothing is undone and :class:`DecisionRefused` says what the latest decision is now.
    Returns the undone row, or None if there is nothing to undo."""
    with review.atomic():
        rows = list(review.db.query(
            "select * from ta_decisions where reviewer = ? and origin = 'human' "
            "and undone_at is null order by id desc limit 1", [reviewer]))
        row = rows[0] if rows else None
        if (row["id"] if row else None) != seen:
            if row is None:
                message = "not undone: your last decision was already undone in another session"
            else:
                message = (f"not undone: your decisions changed in another session; your "
                           f"latest decision is now record {row['record_id']}: "
                           f"{row['decision']}; undo again to take that one back")
            raise DecisionRefused(message, record_id=row["record_id"] if row else 0,
                                  current=row)
        if row is None:
            return None
        review.db.execute("update ta_decisions set undone_at = ? where id = ?",
                          [now_iso(), row["id"]])
        review.log("screen.undo", {"decision_id": row["id"], "record_id": row["record_id"],
                                   "decision": row["decision"]}, actor=reviewer)
    return row


def automation_exclude(review: Review, record_ids, *, rule: str, details: dict,
                       stopping_id: int | None = None) -> int:
    """Record 'exclude' with origin 'automation' (reviewer 'automation') for ``record_ids``
    and log it. The caller holds the transaction. Returns how many were recorded."""
    ids = sorted(set(record_ids))
    at = now_iso()
    review.db["ta_decisions"].insert_all(
        ({"record_id": rid, "reviewer": "automation", "decision": "exclude",
          "origin": "automation", "decided_at": at, "score": None, "rank": None,
          "model_version": None, "note": f"stopping rule: {rule}", "undone_at": None,
          "stopping_id": stopping_id}
         for rid in ids), batch_size=1000)
    review.log("screen.automation_exclude", dict(details, rule=rule, n=len(ids),
                                                 stopping_id=stopping_id, record_ids=ids))
    return len(ids)


def resolve(review: Review, record_id: int, decision: str, reviewer: str,
            note: str | None = None) -> int:
    """Record a 'resolution' of a conflict or maybe (it overrides reviewers' decisions)."""
    if decision not in ("include", "exclude"):
        raise ReviewError(f"a resolution is include or exclude, not {decision!r}")
    if review.db.execute("select 1 from records where id = ?", [record_id]).fetchone() is None:
        raise ReviewError("no such record", record=f"record {record_id}")
    with review.atomic():
        before = {r["reviewer"]: r["decision"] for r in review.db.query(
            "select reviewer, decision from ta_decisions where record_id = ? "
            "and undone_at is null and origin != 'resolution' order by id", [record_id])}
        row_id = record_decision(review, record_id, decision, reviewer, origin="resolution",
                                 note=note)
        review.log("screen.resolve", {"decision_id": row_id, "record_id": record_id,
                                      "decision": decision, "note": note,
                                      "reviewers": before}, actor=reviewer)
    return row_id


# -- review screen import ------------------------------------------------------------------

_DECISION_WORDS = {
    "include": "include", "included": "include", "1": "include", "yes": "include",
    "exclude": "exclude", "excluded": "exclude", "0": "exclude", "no": "exclude",
    "maybe": "maybe", "unsure": "maybe",
}
_MATCH_COLUMNS = ("record_id", "source_id", "pmid", "doi")


def import_decisions(review: Review, path, reviewer: str) -> dict:
    """Load decisions from a CSV (e.g. another screening tool) as this review's labels.

    Columns (names case-insensitive): at least one of ``record_id`` (this store's id),
    ``source_id`` (with an optional ``source``), ``pmid``, ``doi`` to find the record;
    ``decision`` (include/exclude/maybe or 1/0; ``label_included`` is accepted instead);
    optional ``reviewer`` (default ``reviewer``) and ``note``. A row that matches several
    records (the same PMID from two databases) labels each of them.

    Every identifier a row gives is checked (see :func:`_row_records`): a row labels the
    records matched by one of its identifiers and contradicted by none, and each identifier
    must match one of those records. ``record_id 2, pmid 1000`` where record 2 has PMID 1001
    (or no record has PMID 1000) is refused: the identifiers disagree.
    Everything is one transaction: an unknown id, identifiers that disagree or a bad decision
    stop it with an error naming the row, and nothing is written.
    """
    import csv
    import hashlib
    import io
    from pathlib import Path

    from ..csvdialect import delimiter_of
    from ..records import normalise_doi, normalise_pmid

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReviewError(f"cannot read ({exc.strerror})", file=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReviewError("not UTF-8 text", file=path) from None
    # newline='' keeps line breaks inside quoted cells (str.splitlines would drop them)
    reader = csv.DictReader(io.StringIO(text, newline=""),
                            delimiter=delimiter_of(text.partition("\n")[0]))
    header = {(h or "").strip().lower(): h for h in (reader.fieldnames or [])}
    match_cols = [c for c in _MATCH_COLUMNS if c in header]
    if not match_cols:
        raise ReviewError("needs a column to match records: one of "
                          + ", ".join(_MATCH_COLUMNS), file=path, record="header")
    dec_col = "decision" if "decision" in header else (
        "label_included" if "label_included" in header else None)
    if dec_col is None:
        raise ReviewError("needs a 'decision' (or 'label_included') column", file=path,
                          record="header")

    def get(row, col):
        return (row.get(header[col]) or "").strip() if col in header else ""

    def lookup(col, value, source):
        if col == "record_id":
            if not value.isdigit():
                return []
            sql, args = "select id from records where id = ?", [int(value)]
        elif col == "source_id":
            sql, args = "select id from records where source_id = ?", [value]
            if source:
                sql, args = sql + " and source = ?", args + [source]
        elif col == "pmid":
            sql, args = "select id from records where pmid = ?", [normalise_pmid(value)]
        else:
            sql, args = "select id from records where doi = ?", [normalise_doi(value)]
        return [r[0] for r in review.db.execute(sql + " order by id", args).fetchall()]

    counts = {"rows": 0, "decisions": 0, "include": 0, "exclude": 0, "maybe": 0}
    with review.atomic():
        for rowno, row in enumerate(reader, start=2):  # row 1 is the header
            counts["rows"] += 1
            given = [(c, get(row, c)) for c in match_cols if get(row, c)]
            if not given:
                raise ReviewError("no record id (" + ", ".join(match_cols) + " all empty)",
                                  file=path, record=f"row {rowno}")
            for col, value in given:
                if col == "record_id" and not value.isdigit():
                    raise ReviewError(f"record_id {value!r} is not an id of this store (a "
                                      "whole number); match by source_id, pmid or doi instead",
                                      file=path, record=f"row {rowno}", column=header[col])
            matches = {col: lookup(col, value, get(row, "source")) for col, value in given}
            if len(given) == 1:
                col, value = given[0]
                ids = matches[col]
                if not ids:
                    raise ReviewError(f"no record with {col} {value!r} in this review",
                                      file=path, record=f"row {rowno}", column=header[col])
            else:
                ids = _row_records(review, given, matches)
                if ids is None:
                    raise ReviewError(
                        "the row's identifiers disagree: " + "; ".join(
                            f"{col} {value!r} is " + _which(matches[col])
                            for col, value in given) + "; fix the row or keep one identifier",
                        file=path, record=f"row {rowno}")
            word = get(row, dec_col).lower()
            decision = _DECISION_WORDS.get(word)
            if decision is None:
                raise ReviewError(f"decision {word!r} is not include/exclude/maybe or 1/0",
                                  file=path, record=f"row {rowno}", column=header[dec_col])
            who = get(row, "reviewer") or reviewer
            note = get(row, "note") or None
            for rid in ids:
                record_decision(review, rid, decision, who, origin="import", note=note)
                counts["decisions"] += 1
                counts[decision] += 1
        review.log("screen.import", dict(counts, file=str(path),
                                         sha256=hashlib.sha256(raw).hexdigest()),
                   actor=reviewer)
    return counts


def _which(ids: list[int]) -> str:
    if not ids:
        return "no record"
    return ("record " if len(ids) == 1 else "records ") + ", ".join(str(i) for i in ids)


def _row_records(review: Review, given: list[tuple[str, str]],
                 matches: dict[str, list[int]]) -> list[int] | None:
    """The records a row with several identifiers labels, or None if its identifiers disagree.

    ``given`` is [(column, value)] of the row's non-empty identifiers and ``matches`` the records
    each one matches. A record is labelled when one identifier matches it and none contradicts
    it; a record contradicts an identifier when its own value in that field is set and differs
    (another id or source_id, another PMID or DOI; a record with no DOI does not contradict the
    row's DOI). Every identifier must match at least one labelled record: otherwise (one of them
    matches nothing, or they name different records) the row is refused.
    """
    candidates = sorted({rid for ids in matches.values() for rid in ids})
    if not candidates:
        return None
    rows = {r["id"]: r for r in review.db.query(
        f"select id, pmid, doi from records where id in ({','.join('?' * len(candidates))})",
        candidates)}

    def has_field(rid: int, col: str) -> bool:
        # record_id and source_id are set on every record
        return col not in ("pmid", "doi") or bool(rows[rid][col])

    labelled = [rid for rid in candidates
                if all(rid in matches[col] or not has_field(rid, col) for col, _ in given)]
    chosen = set(labelled)
    if not labelled or any(not chosen & set(matches[col]) for col, _ in given):
        return None
    return labelled
