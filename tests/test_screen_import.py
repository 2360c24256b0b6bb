"""`review screen import FILE.csv`: decisions from another tool, one transaction."""

from __future__ import annotations

import json

from click.testing import CliRunner

from screen_helpers import build_review, run_main
from toolkit.cli import cli
from toolkit.store import open_review


def run(db, *args, input=None):
    return CliRunner().invoke(cli, ["--db", str(db), "screen", *args, "--reviewer", "alice"],
                              input=input)


def run_err(db, *args):
    code, out, err = run_main(["--db", str(db), "screen", *args, "--reviewer", "alice"])
    return code, err


def counts(db):
    with open_review(db) as r:
        return (r.db["ta_decisions"].count,
                r.db.execute("select count(*) from events where action = 'screen.import'")
                .fetchone()[0])


def test_import_matches_by_each_id_kind(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    csv = tmp_path / "asreview.csv"
    csv.write_text(
        "Record_ID,source_id,PMID,doi,decision,reviewer,note\n"
        "1,,,,include,,\n"
        ",S2,,,exclude,bob,\n"
        ",,PMID: 1002,,1,,from pmid\n"
        ",,,https://doi.org/10.1000/X3,0,,\n"
        ",,,10.1000/x4,maybe,,\n", encoding="utf-8")
    res = run(db, "import", str(csv), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["rows"], out["decisions"], out["include"], out["exclude"], out["maybe"]) == (
        5, 5, 2, 2, 1)
    with open_review(db) as r:
        got = [(d["record_id"], d["reviewer"], d["decision"], d["origin"], d["note"])
               for d in r.db.query("select * from ta_decisions order by id")]
        ev = json.loads(next(r.db.query(
            "select details from events where action = 'screen.import'"))["details"])
    assert got == [(1, "alice", "include", "import", None), (2, "bob", "exclude", "import", None),
                   (3, "alice", "include", "import", "from pmid"),
                   (4, "alice", "exclude", "import", None), (5, "alice", "maybe", "import", None)]
    assert ev["decisions"] == 5 and len(ev["sha256"]) == 64
    # imported labels leave alice's queue (records 1, 3, 4, 5) but not bob's other records
    res = run(db, "--json", input="q\n")
    assert json.loads(res.stdout)["remaining"] == 26


def test_import_keeps_a_note_with_line_breaks(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    csv = tmp_path / "notes.csv"
    csv.write_text('record_id,decision,note\n1,exclude,"wrong population\nadults only"\n'
                   '2,include,"pain\u2028score"\n', encoding="utf-8", newline="")
    res = run(db, "import", str(csv), "--json")
    assert res.exit_code == 0, res.output
    with open_review(db) as r:
        notes = [d["note"] for d in r.db.query("select note from ta_decisions order by id")]
    assert notes == ["wrong population\nadults only", "pain\u2028score"]

def test_unknown_id_names_the_row_and_writes_nothing(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    csv = tmp_path / "d.csv"
    csv.write_text("pmid,decision\n1000,include\n999999,exclude\n", encoding="utf-8")
    before = counts(db)
    code, err = run_err(db, "import", str(csv))
    assert code == 1 and err.startswith("review: error: ") and err.count("\n") == 1
    assert "d.csv: row 3" in err and "999999" in err and "'pmid'" in err
    assert counts(db) == before


def test_bad_decision_and_missing_columns(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,decision\n1,include\n2,perhaps\n", encoding="utf-8")
    code, err = run_err(db, "import", str(bad))
    assert code == 1 and "row 3" in err and "'decision'" in err and "perhaps" in err
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("title,decision\nx,include\n", encoding="utf-8")
    code, err = run_err(db, "import", str(nocol))
    assert code == 1 and "record_id" in err
    assert counts(db) == (0, 0)


def test_foreign_record_ids_are_refused_clearly(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    csv = tmp_path / "d.csv"
    csv.write_text("record_id,decision\nCRYO001,include\n", encoding="utf-8")
    code, err = run_err(db, "import", str(csv))
    assert code == 1 and "row 2" in err and "'CRYO001' is not an id of this store" in err
    assert counts(db) == (0, 0)


def test_review_export_carries_the_screening_columns(tmp_path):
    import csv as csvmod
    import io

    db = tmp_path / "r.db"
    build_review(db).close()
    src = tmp_path / "d.csv"
    src.write_text("record_id,decision,reviewer\n1,include,alice\n1,exclude,bob\n"
                   "2,exclude,alice\n", encoding="utf-8")
    assert run(db, "import", str(src)).exit_code == 0
    res = CliRunner().invoke(cli, ["--db", str(db), "export"])
    rows = {r["id"]: r for r in csvmod.DictReader(io.StringIO(res.stdout))}
    assert rows["1"]["ta_decision"] == "conflict"
    assert rows["1"]["ta_reviewers"] == "alice:include; bob:exclude"
    assert rows["2"]["ta_decision"] == "exclude" and rows["2"]["ta_origin"] == "import"
    assert rows["3"]["ta_decision"] == ""


def test_identifiers_that_disagree_refuse_the_whole_import(tmp_path):
    # record 2 has PMID 1001; PMID 1000 is record 1. The row must not label record 2 (or 1).
    db = tmp_path / "r.db"
    build_review(db).close()
    csv = tmp_path / "d.csv"
    csv.write_text("record_id,pmid,decision\n1,1000,exclude\n2,1000,include\n", encoding="utf-8")
    before = counts(db)
    code, err = run_err(db, "import", str(csv))
    assert code == 1 and err.startswith("review: error: ") and err.count("\n") == 1
    assert "d.csv: row 3: the row's identifiers disagree" in err
    assert "record_id '2' is record 2" in err and "pmid '1000' is record 1" in err
    assert counts(db) == before == (0, 0)  # row 2 (consistent) is not written either


def test_an_identifier_that_matches_nothing_beside_one_that_matches_is_refused(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    csv = tmp_path / "d.csv"
    # the DOI belongs to no record, the PMID is record 4's
    csv.write_text("pmid,doi,decision\n1003,10.1000/x3,include\n1003,10.9999/nope,include\n",
                   encoding="utf-8")
    code, err = run_err(db, "import", str(csv))
    assert code == 1 and "d.csv: row 3" in err and "identifiers disagree" in err
    assert "pmid '1003' is record 4" in err and "doi '10.9999/nope' is no record" in err
    assert counts(db) == (0, 0)
    # a record without a PMID does not make a row's PMID agree with it
    with open_review(db) as r, r.atomic():
        r.db.execute("update records set pmid = null where id = 5")
    csv.write_text("record_id,pmid,decision\n5,1000,include\n", encoding="utf-8")
    code, err = run_err(db, "import", str(csv))
    assert code == 1 and "row 2" in err and "pmid '1000' is record 1" in err
    assert counts(db) == (0, 0)


def test_identifiers_that_agree_are_imported(tmp_path):
    from toolkit.records import make_record
    from toolkit.store import now_iso

    db = tmp_path / "r.db"
    build_review(db).close()
    with open_review(db) as r, r.atomic():
        # record 31: the Embase copy of record 2 (same PMID, no DOI); record 32: same PMID as
        # record 3 but another DOI
        r.db["records"].insert_all([
            dict(make_record({"source_id": "E1", "pmid": "1001", "title": "x"}, source="Embase"),
                 added_at=now_iso()),
            dict(make_record({"source_id": "E2", "pmid": "1002", "doi": "10.1000/other",
                              "title": "y"}, source="Embase"), added_at=now_iso())])
    csv = tmp_path / "d.csv"
    csv.write_text(
        "record_id,source_id,pmid,doi,decision\n"
        "1,S1,PMID: 1000,https://doi.org/10.1000/X0,include\n"  # all four agree (normalised)
        "2,,1001,,exclude\n"           # the PMID also matches record 31; record_id picks 2
        ",,1001,10.1000/x1,maybe\n"    # 2 and 31 (31 has no DOI, so it does not contradict)
        ",,1002,10.1000/x2,exclude\n"  # record 3; record 32 has another DOI
        ",S4,1003,,1\n", encoding="utf-8")
    res = run(db, "import", str(csv), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["rows"], out["decisions"]) == (5, 6)
    with open_review(db) as r:
        got = [(d["record_id"], d["decision"]) for d in r.db.query(
            "select * from ta_decisions order by id")]
    assert got == [(1, "include"), (2, "exclude"), (2, "maybe"), (31, "maybe"), (3, "exclude"),
                   (4, "include")]
