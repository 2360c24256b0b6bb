"""The store (migrations, audit log), `review status`, `review export` round trips, and the
`--json` contract of every foundation command."""

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit import schema, store
from toolkit.cli import cli
from toolkit.errors import ReviewError
from toolkit.store import create_review, open_review

DATA = Path(__file__).parent / "data" / "formats"
EMBASE_RIS = DATA / "embase_asreview.ris"
PUBMED_XML = DATA / "pubmed_efetch_asreview_10articles.xml"


def review_cli(db, *args):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def one_json_object(result) -> dict:
    """stdout holds exactly one JSON object (json.loads refuses trailing text)."""
    assert result.exit_code == 0, (result.output, result.exception)
    obj = json.loads(result.stdout)
    assert isinstance(obj, dict)
    return obj


# -- migrations -------------------------------------------------------------------------------

def test_old_store_is_upgraded_on_open(tmp_path):
    """A store made when only core_001 existed gets the later migrations when opened."""
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute("create table migrations (name text primary key, version integer not null, "
                "applied_at text not null)")
    con.close()
    import sqlite_utils

    db = sqlite_utils.Database(path)
    schema._core_001(db)
    db["migrations"].insert({"name": "core_001_tables", "version": 1, "applied_at": "2020"})
    db["records"].insert({"source": "PubMed", "source_id": "1", "raw": "{}", "added_at": "2020"})
    db.close()

    review = open_review(path)
    names = [r["name"] for r in review.db.query("select name from migrations order by version")]
    expected = [n for n, _ in store.all_migrations()]
    assert names == expected and names[:2] == ["core_001_tables", "core_002_search_ids"]
    assert review.schema_version == len(expected)
    assert "search_ids" in review.db.table_names()
    assert review.db.execute("select count(*) from records").fetchone()[0] == 1  # data kept
    versions = [r[0] for r in review.db.execute("select version from migrations order by version")]
    assert versions == list(range(1, len(expected) + 1))
    review.close()
    # opening again applies nothing
    assert store.migrate(open_review(path).db) == []


def test_stage_wiring_that_does_not_resolve_fails_loudly(monkeypatch, tmp_path):
    """A misspelt stage module or hook is a bug: it fails naming itself, never skipped."""
    from toolkit import export, status

    monkeypatch.setattr(store, "STAGE_SCHEMAS", ("toolkit.no_such_stage.schema",))
    with pytest.raises(RuntimeError, match="toolkit.no_such_stage.schema"):
        store.all_migrations()
    path = tmp_path / "r.db"
    monkeypatch.undo()
    create_review(path).close()
    monkeypatch.setattr(status, "STATUS_HOOKS", ("toolkit.dedup.api:no_such_status",))
    with open_review(path) as r, pytest.raises(RuntimeError, match="no_such_status"):
        status.review_status(r)
    monkeypatch.setattr(export, "COLUMN_PROVIDERS", ("toolkit.dedup.exprot:columns",))
    with open_review(path) as r, pytest.raises(RuntimeError, match="toolkit.dedup.exprot"):
        export.export_rows(r)
    # a stage module that exists but fails on a missing dependency is not hidden either
    pkg = tmp_path / "brokenstage"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "schema.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(store, "STAGE_SCHEMAS", ("brokenstage.schema",))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        store.all_migrations()


def test_stage_migration_is_applied_once(monkeypatch, tmp_path):
    path = tmp_path / "r.db"
    create_review(path).close()
    pkg = tmp_path / "newstage"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "schema.py").write_text(
        "def _t(db):\n    db.execute('create table newstage_things (x integer)')\n"
        "MIGRATIONS = [('newstage_001', _t)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(store, "STAGE_SCHEMAS", store.STAGE_SCHEMAS + ("newstage.schema",))
    r = open_review(path)
    assert "newstage_things" in r.db.table_names()
    last = list(r.db.query("select name, version from migrations order by version desc limit 1"))
    assert last == [{"name": "newstage_001", "version": r.schema_version}]
    r.close()
    open_review(path).close()  # a second open does not run it again (it would fail)


def test_open_refuses_foreign_sqlite_and_leaves_it_untouched(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("create table notes (x)")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(ReviewError, match="not a review store"):
        open_review(path)
    assert path.read_bytes() == before
    text = tmp_path / "t.db"
    text.write_text("hello")
    with pytest.raises(ReviewError, match="not a review store"):
        open_review(text)


def test_create_refuses_existing(tmp_path):
    create_review(tmp_path / "r.db").close()
    with pytest.raises(ReviewError, match="already exists"):
        create_review(tmp_path / "r.db")


# -- audit log --------------------------------------------------------------------------------

def test_events_are_append_only(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIEW_REVIEWER", "alice")
    review = create_review(tmp_path / "r.db", title="T")
    with review.atomic():
        first = review.log("note", {"n": 1})
    second = review.log("note", {"n": 2}, command="custom")
    assert second == first + 1
    rows = list(review.db.query("select * from events order by id"))
    assert [r["action"] for r in rows] == ["init", "note", "note"]
    assert rows[-1]["actor"] == "alice" and rows[-1]["command"] == "custom"
    assert json.loads(rows[1]["details"]) == {"n": 1}
    for sql in ("update events set action = 'x'", "delete from events where id = 1"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            review.db.execute(sql)
    assert [r["action"] for r in review.db.query("select action from events order by id")] == \
        ["init", "note", "note"]


def test_atomic_rolls_back_everything(tmp_path):
    review = create_review(tmp_path / "r.db")
    with pytest.raises(RuntimeError):
        with review.atomic():
            review.log("will vanish")
            review.db["meta"].insert({"key": "k", "value": "1"})
            raise RuntimeError("boom")
    assert [r["action"] for r in review.db.query("select action from events")] == ["init"]
    assert review.get_meta("k") is None


# -- status, export ---------------------------------------------------------------------------

@pytest.fixture
def filled(tmp_path):
    db = tmp_path / "review.db"
    create_review(db, title="My review").close()
    assert review_cli(db, "import", str(EMBASE_RIS), "--source", "Embase").exit_code == 0
    assert review_cli(db, "import", str(PUBMED_XML), "--source", "PubMed").exit_code == 0
    return db


def test_status_json_per_source_and_search(filled):
    st = one_json_object(review_cli(filled, "status", "--json"))
    assert st["title"] == "My review" and st["records"] == 16
    assert st["by_source"] == {"Embase": 6, "PubMed": 10}
    assert [(s["kind"], s["database"], s["file_name"], s["format"], s["count_reported"],
             s["linked"], s["status"]) for s in st["searches"]] == [
        ("import", "Embase", "embase_asreview.ris", "ris", 6, 6, "complete"),
        ("import", "PubMed", "pubmed_efetch_asreview_10articles.xml", "pubmed-xml", 10, 10,
         "complete")]
    assert st["schema_version"] == len(store.all_migrations())
    human = review_cli(filled, "status")
    assert "Embase: 6" in human.stdout and "PubMed: 10" in human.stdout


def _titles_dois(db):
    con = sqlite3.connect(db)
    rows = sorted(con.execute("select source, source_id, title, doi, pmid, year from records"))
    con.close()
    return rows


def test_export_ris_reimports_the_same_records(filled, tmp_path):
    out = tmp_path / "all.ris"
    res = one_json_object(review_cli(filled, "export", "--format", "ris", "--out", str(out),
                                     "--json"))
    assert res["records"] == 16
    db2 = tmp_path / "again.db"
    create_review(db2).close()
    imp = one_json_object(review_cli(db2, "import", str(out), "--json"))
    assert imp["format"] == "ris" and imp["records_added"] == 16
    # source id (AN), title, DOI, PMID (note) and year survive the round trip; the import
    # names one database for the whole file (the first record's DB, Embase, here)
    strip_source = lambda rows: sorted(r[1:] for r in rows)  # noqa: E731
    assert strip_source(_titles_dois(db2)) == strip_source(_titles_dois(filled))
    assert {r[0] for r in _titles_dois(db2)} == {"Embase"}
    r1, r2 = open_review(filled), open_review(db2)
    authors = lambda r: sorted(json.loads(a[0]) for a in r.db.execute(  # noqa: E731
        "select authors from records"))
    assert authors(r1) == authors(r2)


def test_export_csv_reimports_the_same_records(filled, tmp_path):
    out = tmp_path / "all.csv"
    assert review_cli(filled, "export", "--out", str(out)).exit_code == 0
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 16 and {r["source"] for r in rows} == {"Embase", "PubMed"}
    db2 = tmp_path / "again.db"
    create_review(db2).close()
    imp = one_json_object(review_cli(db2, "import", str(out), "--source", "Mixed", "--json"))
    assert imp["format"] == "csv" and imp["records_added"] == 16
    strip_source = lambda rows: sorted(r[1:] for r in rows)  # noqa: E731
    assert strip_source(_titles_dois(db2)) == strip_source(_titles_dois(filled))


def test_export_is_byte_identical_across_runs(filled):
    a = review_cli(filled, "export", "--format", "csv").stdout
    b = review_cli(filled, "export", "--format", "csv").stdout
    assert a == b and a.count("\n") >= 17


# -- --json prints exactly one JSON object ------------------------------------------------------

def test_every_foundation_command_prints_one_json_object(tmp_path, fake_eutils):
    fake_eutils(30)
    db = tmp_path / "r.db"
    init = one_json_object(review_cli(db, "init", "--title", "T", "--json"))
    assert init["db"] == str(db) and init["schema_version"] >= 2
    imp = one_json_object(review_cli(db, "import", str(EMBASE_RIS), "--json"))
    assert imp["records_added"] == 6
    again = one_json_object(review_cli(db, "import", str(EMBASE_RIS), "--json"))
    assert again["records_added"] == 0 and again["already_imported"] is True
    st = one_json_object(review_cli(db, "status", "--json"))
    assert st["records"] == 6
    exp = one_json_object(review_cli(db, "export", "--format", "csv", "--json"))
    assert exp["records"] == 6 and exp["out"] is None
    assert len(list(csv.DictReader(io.StringIO(exp["content"])))) == 6
    exp2 = one_json_object(review_cli(db, "export", "--format", "ris", "--out",
                                      str(tmp_path / "x.ris"), "--json"))
    assert exp2["records"] == 6 and (tmp_path / "x.ris").read_text().count("ER  -") == 6
    srch = one_json_object(review_cli(db, "search", "pubmed", "q", "--api-key", "k", "--json"))
    assert {"query", "count", "retrieved", "added", "already_present", "requests"} <= set(srch)
    assert srch["count"] == srch["retrieved"] == srch["added"] == 30


def test_save_records_stores_a_record_given_twice_once(tmp_path):
    """An efetch batch may repeat a PMID: it is stored and linked once, not a unique-key crash."""
    from toolkit.importing import save_records
    from toolkit.records import make_record
    from toolkit.store import now_iso

    review = create_review(tmp_path / "r.db")
    rows = [make_record({"source_id": s, "pmid": s, "title": f"T{s}"}, source="PubMed")
            for s in ("1", "2", "1", "3")]
    with review.atomic():
        sid = review.db["searches"].insert({"kind": "search", "database": "PubMed",
                                            "run_at": now_iso(), "status": "running"}).last_pk
        assert save_records(review, sid, rows) == (3, 1)
        # a second batch: all present, ids of the first batch reused
        again = [make_record({"source_id": s, "pmid": s, "title": f"T{s}"}, source="PubMed")
                 for s in ("3", "4")]
        assert save_records(review, sid, again, start_position=4) == (1, 1)
    got = list(review.db.query("select r.id, r.source_id, rs.position from records r join "
                               "record_searches rs on rs.record_id = r.id order by r.id"))
    assert [(g["id"], g["source_id"]) for g in got] == [(1, "1"), (2, "2"), (3, "3"), (4, "4")]
    assert [g["position"] for g in got] == [1, 2, 4, 6]
