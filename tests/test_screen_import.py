"""`review screen --import FILE.csv`: decisions from another tool, one transaction."""

from __future__ import annotations

import json

from click.testing import CliRunner

from screen_helpers import build_review, run_main
from toolkit.cli import cli
from toolkit.store import open_review


def run(db, *args, input=None):
    return CliRunner().invoke(cli, ["--db", str(db), "screen", "--reviewer", "alice", *args],
                              input=input)


def run_err(db, *args):
    code, out, err = run_main(["--db", str(db), "screen", "--reviewer", "alice", *args])
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
    res = run(db, "--import", str(csv), "--json")
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
    res = run(db, "--import", str(csv), "--json")
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
    code, err = run_err(db, "--import", str(csv))
    assert code == 1 and err.startswith("review: error: ") and err.count("\n") == 1
    assert "d.csv: row 3" in err and "999999" in err and "'pmid'" in err
    assert counts(db) == before


def test_bad_decision_and_missing_columns(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,decision\n1,include\n2,perhaps\n", encoding="utf-8")
    code, err = run_err(db, "--import", str(bad))
    assert code == 1 and "row 3" in err and "'decision'" in err and "perhaps" in err
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("title,decision\nx,include\n", encoding="utf-8")
    code, err = run_err(db, "--import", str(nocol))
    assert code == 1 and "record_id" in err
    assert counts(db) == (0, 0)


def test_foreign_record_ids_are_refused_clearly(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    csv = tmp_path / "d.csv"
    csv.write_text("record_id,decision\nCRYO001,include\n", encoding="utf-8")
    code, err = run_err(db, "--import", str(csv))
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
    assert run(db, "--import", str(src)).exit_code == 0
    res = CliRunner().invoke(cli, ["--db", str(db), "export"])
    rows = {r["id"]: r for r in csvmod.DictReader(io.StringIO(res.stdout))}
    assert rows["1"]["ta_decision"] == "conflict"
    assert rows["1"]["ta_reviewers"] == "alice:include; bob:exclude"
    assert rows["2"]["ta_decision"] == "exclude" and rows["2"]["ta_origin"] == "import"
    assert rows["3"]["ta_decision"] == ""
