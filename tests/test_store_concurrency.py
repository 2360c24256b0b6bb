"""Writers on one store at once: a write transaction waits for another process's lock, says so,
and gives up cleanly after its bound; an import reads its file without holding the store and
publishes all or nothing; deduplication sees decisions saved while it compared records."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from toolkit import importing
from toolkit.dedup import api
from toolkit.records import make_record
from toolkit.screening.decisions import final_decisions, record_decision
from toolkit.sources import RawRecord
from toolkit.store import StoreBusy, create_review, now_iso, open_review


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "r.db"
    create_review(path).close()
    return path


def hold_lock(db):
    """Another connection holding the write lock (as a long writer in another process)."""
    con = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    con.execute("BEGIN IMMEDIATE")
    return con


def test_a_writer_waits_for_the_lock_says_so_and_then_writes(db):
    holder = hold_lock(db)
    said = []
    with open_review(db) as review:
        review.on_wait = said.append
        threading.Timer(1.0, lambda: holder.execute("COMMIT")).start()
        t0 = time.monotonic()
        with review.atomic():
            review.log("after-the-wait")
        waited = time.monotonic() - t0
        assert waited >= 0.9
        assert said[0].startswith("waiting for the store\u2026 (another process is writing to "
                                  "r.db")
        assert said[1].startswith("the store is free again after")
        assert review.db.execute("select count(*) from events where action = "
                                 "'after-the-wait'").fetchone()[0] == 1


def test_a_writer_gives_up_after_its_bound_having_written_nothing(db, monkeypatch):
    monkeypatch.setenv("REVIEW_LOCK_WAIT", "0.6")
    holder = hold_lock(db)
    try:
        with open_review(db) as review:
            review.on_wait = lambda msg: None
            t0 = time.monotonic()
            with pytest.raises(StoreBusy, match=r"the store r.db stayed busy for 1 s \(another "
                                                r"process holds its write lock\); nothing was "
                                                r"written"):
                with review.atomic():
                    review.log("never")
            assert 0.5 < time.monotonic() - t0 < 3
            holder.execute("COMMIT")
            assert review.db.execute("select count(*) from events where action = 'never'"
                                     ).fetchone()[0] == 0
            with review.atomic():  # the connection is usable again
                review.log("later")
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")


def test_nested_blocks_are_one_transaction(db):
    with open_review(db) as review:
        with pytest.raises(RuntimeError):
            with review.atomic():
                review.log("outer")
                with review.atomic():
                    review.log("inner")
                raise RuntimeError
        assert review.db.execute("select count(*) from events where action in "
                                 "('outer', 'inner')").fetchone()[0] == 0
        assert len(review.lock_held_s) == 0  # rolled back, not counted as a commit


def slow_reader(rows, pause_at, hook):
    """A format reader that yields ``rows`` and calls ``hook`` half-way, as a long parse of a
    large file would give another process time to act."""
    def read(path):
        for i, fields in enumerate(rows):
            if i == pause_at:
                hook()
            yield RawRecord(fields=fields, raw=dict(fields), where=f"row {i + 2}",
                            source=None)
    return read


def test_an_import_does_not_hold_the_store_while_it_reads(db, tmp_path, monkeypatch):
    rows = [{"source_id": f"r{i}", "title": f"Record number {i}"} for i in range(50)]
    seen = {}

    def meanwhile():
        # another process writes (a decision-sized transaction) and reads while the file is
        # half read: the write does not wait, and none of the import is visible yet
        with open_review(db) as other:
            t0 = time.monotonic()
            with other.atomic(wait=0.5):
                other.log("written-during-the-import")
            seen["wait"] = time.monotonic() - t0
            seen["records"] = other.db.execute("select count(*) from records").fetchone()[0]

    monkeypatch.setitem(importing.FORMATS, "csv", slow_reader(rows, 25, meanwhile))
    monkeypatch.setattr(importing, "BATCH", 10)  # several staged batches before the pause
    path = tmp_path / "in.csv"
    path.write_text("id,title\n")
    with open_review(db) as review:
        out = importing.import_file(review, path, fmt="csv", source="Test")
        assert seen["wait"] < 0.5 and seen["records"] == 0
        assert out["records_added"] == 50
        stored = [r[0] for r in review.db.execute("select source_id from records order by id")]
        assert stored == [f"r{i}" for i in range(50)]  # ids in file order
        positions = [r[0] for r in review.db.execute(
            "select position from record_searches order by record_id")]
        assert positions == list(range(1, 51))
        assert not [r for r in review.db.execute(
            "select name from temp.sqlite_master where name like 'import_stage%'")]


def test_an_import_that_fails_late_leaves_nothing(db, tmp_path, monkeypatch):
    rows = [{"source_id": f"r{i}", "title": f"Record number {i}"} for i in range(30)]
    rows.append({"source_id": "r3", "title": "The same id again"})
    monkeypatch.setitem(importing.FORMATS, "csv", slow_reader(rows, -1, None))
    monkeypatch.setattr(importing, "BATCH", 7)
    path = tmp_path / "in.csv"
    path.write_text("id,title\n")
    with open_review(db) as review:
        with pytest.raises(Exception, match="duplicate id 'r3' inside the file"):
            importing.import_file(review, path, fmt="csv", source="Test")
        assert review.db.execute("select count(*) from records").fetchone()[0] == 0
        assert review.db.execute("select count(*) from searches").fetchone()[0] == 0
        assert review.db.execute("select count(*) from events where action like 'import%'"
                                 ).fetchone()[0] == 0
        assert not [r for r in review.db.execute(
            "select name from temp.sqlite_master where name like 'import_stage%'")]


def test_two_imports_of_one_file_at_once_add_it_once(db, tmp_path, monkeypatch):
    rows = [{"source_id": f"r{i}", "title": f"Record number {i}"} for i in range(20)]
    out = {}

    def second_import():
        with open_review(db) as other:
            out["second"] = importing.import_file(other, path, fmt="csv", source="Test")

    reader = slow_reader(rows, 10, second_import)
    plain = slow_reader(rows, -1, None)
    calls = []

    def read(p):
        calls.append(p)
        return reader(p) if len(calls) == 1 else plain(p)

    monkeypatch.setitem(importing.FORMATS, "csv", read)
    path = tmp_path / "in.csv"
    path.write_text("id,title\n")
    with open_review(db) as review:
        first = importing.import_file(review, path, fmt="csv", source="Test")
        assert out["second"]["records_added"] == 20
        assert first["already_imported"] and first["records_added"] == 0
        assert review.db.execute("select count(*) from records").fetchone()[0] == 20
        assert review.db.execute("select count(*) from searches").fetchone()[0] == 1


PAPER = dict(title="Intestinal lipoprotein overproduction in insulin-resistant states",
             authors="Adeli K.Lewis G. F.", year="2008", journal="Curr Opin Lipidol",
             volume="19", issue="3", pages="221-8")


def add(review, source, source_id, **fields) -> int:
    row = make_record({"source_id": source_id, **fields}, source=source)
    row["added_at"] = now_iso()
    with review.atomic():
        return review.db["records"].insert(row).last_pk


def test_a_decision_saved_while_dedup_compares_is_not_overwritten_by_inheritance(db,
                                                                                  monkeypatch):
    with open_review(db) as review:
        first = add(review, "PubMed", "18460911", **PAPER, pmid="18460911")
        api.deduplicate(review)
        with review.atomic():
            record_decision(review, first, "include", "alice")
        later = add(review, "Embase", "L351", **dict(PAPER, pages="221-228"))
        plain = api.build_clusters

        def decide_meanwhile(*args, **kw):
            # a reviewer (another process) screens the new record while dedup compares
            with open_review(db) as other, other.atomic():
                record_decision(other, later, "exclude", "bob")
            return plain(*args, **kw)

        monkeypatch.setattr(api, "build_clusters", decide_meanwhile)
        out = api.deduplicate(review)
        assert api.cluster_of(review, first) == api.cluster_of(review, later)
        # bob's own decision stands; the record gets no inherited decision on top of it
        assert out["inherited_decisions"] == []
        rows = review.db.execute("select reviewer, origin from ta_decisions where "
                                 "record_id = ? and undone_at is null", [later]).fetchall()
        assert rows == [("bob", "human")]
        assert final_decisions(review)[later] == "exclude"
        assert [c["record_id"] for c in api.decision_conflicts(review)] == [later]


def test_dedup_computes_again_when_the_clusters_changed_meanwhile(db, monkeypatch):
    with open_review(db) as review:
        a = add(review, "PubMed", "1", **PAPER, pmid="18460911")
        b = add(review, "Embase", "L1", **dict(PAPER, pages="221-228"))
        api.deduplicate(review)
        cid = api.cluster_of(review, a)
        assert cid == api.cluster_of(review, b)
        add(review, "Scopus", "s1", **dict(PAPER, journal="Current Opinion in Lipidology"))
        plain = api.build_clusters
        calls = []

        def undo_meanwhile(*args, **kw):
            calls.append(1)
            if len(calls) == 1:  # a person splits the cluster while the run compares
                with open_review(db) as other:
                    api.undo_cluster(other, cid, actor="carol")
            return plain(*args, **kw)

        monkeypatch.setattr(api, "build_clusters", undo_meanwhile)
        api.deduplicate(review)
        assert len(calls) == 2  # the first result was stale and was not written
        # the undo is respected: a and b are not put together again
        ca, cb = api.cluster_of(review, a), api.cluster_of(review, b)
        assert ca is None or ca != cb
        assert review.db.execute("select count(*) from clusters where id = ? and "
                                 "undone_at is not null", [cid]).fetchone()[0] == 1
