"""`review import FILE`: read an export into the store, all or nothing.

The format is detected from the file's content (``detect_format``) unless forced. Importing the
same bytes again (same sha256, whatever the file's name or ``--source``) adds nothing and says
which earlier import had them; a record already in the store (same source and source id) is
linked to the new import, not added twice. Source names are matched case-insensitively: a new
import takes the spelling already in the store (``--source embase`` after ``Embase`` is
"Embase"), else PubMed's and Embase's usual spelling.
"""

from __future__ import annotations

import hashlib
import operator
import os
import re
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import ReviewError
from .records import make_record
from .sources import FORMAT_NAMES, RawRecord, medline, pubmed_xml, ris, tables
from .sources.text import check_not_binary
from .store import Review, now_iso

FORMATS: dict[str, Callable[[Path], Iterator[RawRecord]]] = {
    "pubmed-xml": pubmed_xml.read,
    "medline": medline.read,
    "ris": ris.read,
    "embase-csv": lambda p: tables.read(p, embase=True),
    "csv": lambda p: tables.read(p, embase=None),
}

assert tuple(FORMATS) == FORMAT_NAMES, "keep toolkit.sources.FORMAT_NAMES in step"

BATCH = 2000


def detect_format(path) -> str:
    """The format name of ``path`` from its first bytes (see ``FORMATS``)."""
    head = check_not_binary(path)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        if "PubmedArticleSet" in text or "PubmedArticle" in text or "PubmedBookArticle" in text:
            return "pubmed-xml"
        raise ReviewError("XML that is not PubMed XML (no <PubmedArticleSet>)", file=path)
    first = text.splitlines()[0] if text else ""
    if re.match(r"^[A-Z][A-Z0-9]  -", first):  # RIS tag line (a file without TY is an error there)
        return "ris"
    if first.startswith("PMID-"):
        return "medline"
    lower = first.lower()
    if "," in first or "\t" in first or Path(path).suffix.lower() in (".csv", ".tsv"):
        if any(m in lower for m in tables.EMBASE_MARKERS):
            return "embase-csv"
        return "csv"
    raise ReviewError("cannot tell the format (not PubMed XML, MEDLINE, RIS or CSV); "
                      "use --format", file=path)


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_records(review: Review, search_id: int, rows: Iterable[dict], *,
                 start_position: int = 0) -> tuple[int, int]:
    """Insert ``records`` rows (from ``make_record``) not yet stored and link all of them to the
    search. Caller holds the transaction. Returns (added, already_present)."""
    db = review.db
    rows = list(rows)
    added = present = 0
    for i in range(0, len(rows), BATCH):
        batch = rows[i:i + BATCH]
        by_source: dict[str, list[str]] = {}
        for r in batch:
            by_source.setdefault(r["source"], []).append(r["source_id"])
        existing: dict[tuple[str, str], int] = {}
        for source, ids in by_source.items():
            for j in range(0, len(ids), 900):
                part = ids[j:j + 900]
                for rid, sid in db.execute(
                    f"select id, source_id from records where source = ? and source_id in "
                    f"({','.join('?' * len(part))})", [source, *part]):
                    existing[(source, sid)] = rid
        new: dict[tuple[str, str], dict] = {}
        for r in batch:  # a record given twice in one batch is stored once
            key = (r["source"], r["source_id"])
            if key not in existing and key not in new:
                new[key] = r
        present += len(batch) - len(new)
        if new:
            stamp = now_iso()
            rows_new = list(new.values())
            for r in rows_new:
                r.setdefault("added_at", stamp)
            cols = list(rows_new[0].keys())
            get = operator.itemgetter(*cols)
            # Ids are given explicitly, so no second look-up is needed to link the new rows.
            # Inside the caller's transaction no other writer can add records between this
            # read and the insert (in WAL mode the insert would fail instead of colliding).
            first_id = db.execute("select coalesce(max(id), 0) + 1 from records").fetchone()[0]
            db.conn.executemany(
                f"insert into records (id, {','.join(cols)}) "
                f"values ({','.join('?' * (len(cols) + 1))})",
                ((first_id + k,) + get(r) for k, r in enumerate(rows_new)))
            added += len(new)
            for k, key in enumerate(new):
                existing[key] = first_id + k
        db.conn.executemany(
            "insert or ignore into record_searches (record_id, search_id, position) "
            "values (?, ?, ?)",
            [(existing[(r["source"], r["source_id"])], search_id, start_position + i + k + 1)
             for k, r in enumerate(batch)])
    return added, present


# The spelling of a source name the store does not have yet, for names given in other cases
# (the PubMed importers and `search pubmed` say "PubMed", the Embase readers "Embase").
KNOWN_SOURCES = {"pubmed": "PubMed", "embase": "Embase"}


def canonical_source(review: Review, name: str) -> str:
    """``name`` as the store already spells it (sources match case-insensitively), else as
    ``KNOWN_SOURCES`` spells it, else as given (stripped)."""
    name = name.strip()
    row = review.db.execute("select database from searches where lower(database) = lower(?) "
                            "order by id limit 1", [name]).fetchone()
    if row:
        return row[0]
    return KNOWN_SOURCES.get(name.lower(), name)


def _already_imported(review: Review, path: Path, fmt: str, digest: str, source: str | None,
                      t0: float) -> dict | None:
    """The summary for a file whose bytes were imported before (nothing is added; logged), or
    None. The caller holds the transaction."""
    prev = _previous_import(review, digest)
    if prev is None:
        return None
    if source is None:  # the source this file would have had: named inside it, else its name
        try:
            first = next(FORMATS[fmt](path), None)
        except ReviewError:
            first = None
        source = (first.source if first else None) or path.stem
    source = canonical_source(review, source)
    message = (f"the same content (sha256 {digest[:12]}...) was already imported as import "
               f"#{prev['id']} from {prev['file_name']} on {prev['run_at']} with source "
               f"{prev['database']!r}")
    if source != prev["database"]:
        message += f", not {source!r}"
    message += "; nothing added"
    n = prev["count_reported"]
    out = {"file": str(path), "format": fmt, "source": prev["database"], "records_read": n,
           "records_added": 0, "already_present": n, "already_imported": True,
           "search_id": prev["id"], "previous_import": {
               "search_id": prev["id"], "file_name": prev["file_name"],
               "source": prev["database"], "run_at": prev["run_at"]},
           "message": message}
    if source != prev["database"]:
        out["source_given"] = source
    review.log("import-skipped", {**out, "sha256": digest})
    out["wall_s"] = round(time.perf_counter() - t0, 3)
    return out


def import_file(review: Review, path, fmt: str | None = None, source: str | None = None,
                progress: Callable[[int], None] | None = None,
                on_publish: Callable[[int], None] | None = None) -> dict:
    """Import one export file into the store; returns the summary `review import --json` prints.

    All or nothing, without holding the store while the file is read: every record is parsed
    and checked into a staging table private to this connection (:class:`Staging`; no lock on
    the store, so screening and other writers go on meanwhile), then published in one short
    transaction. Bad input stops the import before anything reaches the store.
    ``on_publish(search_id)`` runs inside that transaction, so what a caller adds to the import
    (an update's tag) is committed with it or not at all. Call it outside any transaction:
    inside one, the file would be read while the caller holds the store."""
    path = Path(path)
    if not path.exists():
        raise ReviewError("no such file", file=path)
    if path.is_dir():
        raise ReviewError("is a directory, not an export file", file=path)
    t0 = time.perf_counter()
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ReviewError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    digest = sha256_file(path)
    reader = FORMATS[fmt](path)

    if source is not None and not source.strip():
        raise ReviewError("--source is empty")
    if _previous_import(review, digest) is not None:  # the same bytes: no need to read them
        with review.atomic():
            return _already_imported(review, path, fmt, digest, source, t0)
    with Staging(review) as stage:
        first = next(reader, None)
        if first is None:
            raise ReviewError("no records", file=path)
        src = canonical_source(review, source or first.source or path.stem)
        seen: dict[str, str] = {}
        incomplete = 0
        for rec in _chain(first, reader):
            row = make_record(rec.fields, source=src, raw=rec.raw)
            sid = row["source_id"]
            if sid in seen:
                raise ReviewError(f"duplicate id {sid!r} inside the file (also {seen[sid]})",
                                  file=path, record=rec.where)
            seen[sid] = rec.where
            incomplete += row["incomplete"]
            if stage.add(row) and progress:
                progress(stage.count)
        stage.flush()
        if progress:
            progress(stage.count)
        read = stage.count
        with review.atomic():  # the publication: short, whatever the file's size
            # the same bytes, imported by another process while this one read them
            skipped = _already_imported(review, path, fmt, digest, source, t0)
            if skipped:
                return skipped
            now_src = canonical_source(review, source or first.source or path.stem)
            if now_src != src:  # another import just spelled the source name first
                stage.set_source(now_src)
                src = now_src
            search_id = review.db["searches"].insert({
                "kind": "import", "database": src, "query": None, "query_translation": None,
                "run_at": now_iso(), "mindate": None, "maxdate": None, "count_reported": read,
                "count_retrieved": read, "file_name": path.name, "file_sha256": digest,
                "format": fmt, "status": "complete", "state": None,
            }).last_pk
            added = stage.publish(search_id)
            if on_publish:
                on_publish(search_id)
            out = {"file": str(path), "format": fmt, "source": src, "records_read": read,
                   "records_added": added, "already_present": read - added,
                   "already_imported": False, "search_id": search_id,
                   # rows with no title, abstract, DOI or PMID: imported, marked `incomplete`
                   "incomplete": incomplete}
            review.log("import", {**out, "sha256": digest})
    out["wall_s"] = round(time.perf_counter() - t0, 3)
    return out


class Staging:
    """Records read from a file, held in a TEMP table of the review's connection until they
    are published. Writing a TEMP table takes no lock on the store (it lives in the
    connection's own temporary database), so a long read of a large file never blocks another
    process; the table disappears with the connection, so a crash leaves nothing behind.

    Columns are the keys of the first row (``make_record``'s fields): the staging follows
    whatever a record is made of."""

    def __init__(self, review: Review, batch: int = BATCH):
        self.review, self.batch = review, batch
        self.table = f"import_stage_{os.getpid()}_{id(self):x}"
        self.count = 0
        self.cols: list[str] | None = None
        self._pending: list[tuple] = []
        # inside a caller's transaction the staging joins it (nothing is committed early)
        self._own = not review.db.conn.in_transaction

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc) -> None:
        conn = self.review.db.conn
        if self._own and conn.in_transaction:
            conn.rollback()  # only staging writes can be open here
        conn.execute(f"drop table if exists temp.{self.table}")
        if self._own and conn.in_transaction:
            conn.commit()

    def add(self, row: dict) -> bool:
        """Stage one record; returns True when a batch was written."""
        if self.cols is None:
            self.cols = list(row)
            self.review.db.conn.execute(
                f"create temp table {self.table} (seq integer primary key, "
                + ", ".join(f'"{c}"' for c in self.cols) + ")")
        self.count += 1
        self._pending.append((self.count, *(row.get(c) for c in self.cols)))
        if len(self._pending) >= self.batch:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        if not self._pending:
            return
        conn = self.review.db.conn
        conn.executemany(f"insert into temp.{self.table} values "
                         f"({','.join('?' * (len(self.cols) + 1))})", self._pending)
        self._pending = []
        if self._own:
            conn.commit()  # commits the temporary database only: the store is untouched

    def set_source(self, source: str) -> None:
        self.review.db.conn.execute(f"update temp.{self.table} set source = ?", [source])

    def publish(self, search_id: int) -> int:
        """Add the staged records the store does not have yet (same source and source id),
        in file order, and link every staged record to ``search_id`` at its position in the
        file. The caller holds the transaction. Returns how many records were added."""
        db = self.review.db
        names = ", ".join(f'"{c}"' for c in self.cols)
        picked = ", ".join(f's."{c}"' for c in self.cols)
        args: list = []
        if "added_at" not in self.cols:  # added when published
            names, picked, args = names + ", added_at", picked + ", ?", [now_iso()]
        cur = db.execute(
            f"insert into records ({names}) select {picked} from temp.{self.table} s "
            "where not exists (select 1 from records r where r.source = s.source and "
            "r.source_id = s.source_id) order by s.seq", args)
        added = cur.rowcount
        db.execute(
            "insert or ignore into record_searches (record_id, search_id, position) "
            f"select r.id, ?, s.seq from temp.{self.table} s join records r "
            "on r.source = s.source and r.source_id = s.source_id order by s.seq", [search_id])
        return added


def _previous_import(review: Review, digest: str) -> dict | None:
    rows = list(review.db.query(
        "select id, database, file_name, run_at, count_reported from searches "
        "where kind = 'import' and file_sha256 = ? and status = 'complete' order by id limit 1",
        [digest]))
    return rows[0] if rows else None


def _chain(first, rest):
    yield first
    yield from rest
