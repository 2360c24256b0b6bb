"""Dual screening: `review conflicts`, Cohen's kappa and resolutions."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from screen_helpers import build_review, run_main
from toolkit.cli import cli
from toolkit.screening.agreement import kappa
from toolkit.screening.decisions import final_decisions, record_decision
from toolkit.store import open_review

# alice and bob on records 1..10:
#   both include: 1, 2, 3; both exclude: 4, 5, 6, 7; alice include / bob exclude: 8, 9;
#   alice exclude / bob include: 10.
ALICE = ["include"] * 3 + ["exclude"] * 4 + ["include", "include", "exclude"]
BOB = ["include"] * 3 + ["exclude"] * 4 + ["exclude", "exclude", "include"]


@pytest.fixture
def db(tmp_path):
    review = build_review(tmp_path / "r.db", n=12)
    with review.atomic():
        for rid, (a, b) in enumerate(zip(ALICE, BOB), start=1):
            record_decision(review, rid, a, "alice")
            record_decision(review, rid, b, "bob")
        record_decision(review, 11, "maybe", "alice")
    review.close()
    return tmp_path / "r.db"


def test_kappa_by_hand():
    # observed agreement 7/10; alice includes 5/10, bob 4/10:
    # chance agreement 0.5 * 0.4 + 0.5 * 0.6 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    assert kappa(ALICE, BOB) == pytest.approx(0.4)
    assert kappa(["include"] * 3, ["include"] * 3) is None  # undefined, not 1 or nan
    assert kappa([], []) is None


def test_conflicts_lists_disagreements_maybes_and_kappa(db):
    res = CliRunner().invoke(cli, ["--db", str(db), "conflicts", "--json"])
    out = json.loads(res.stdout)
    assert [c["record_id"] for c in out["conflicts"]] == [8, 9, 10]
    assert out["conflicts"][0]["decisions"] == {"alice": "include", "bob": "exclude"}
    assert [m["record_id"] for m in out["maybes"]] == [11]
    assert out["kappa"] == [{"reviewers": ["alice", "bob"], "n": 10, "agreement": 0.7,
                             "kappa": pytest.approx(0.4)}]
    assert out["n_unresolved"] == 4
    text = CliRunner().invoke(cli, ["--db", str(db), "conflicts"]).output
    assert "kappa alice vs bob: 0.400 (agreement 70.0% on 10 records)" in text


def test_resolve_records_a_resolution(db):
    with open_review(db) as r:
        assert final_decisions(r)[8] == "conflict"
    res = CliRunner().invoke(cli, ["--db", str(db), "conflicts", "resolve", "8", "--decision",
                                   "include", "--note", "meets criteria", "--reviewer", "carol"])
    assert res.exit_code == 0 and "resolved as include by carol" in res.output
    with open_review(db) as r:
        assert final_decisions(r)[8] == "include"
        row = next(r.db.query("select * from ta_decisions where origin = 'resolution'"))
        assert (row["record_id"], row["reviewer"], row["note"]) == (8, "carol", "meets criteria")
        ev = json.loads(next(r.db.query(
            "select details from events where action = 'screen.resolve'"))["details"])
        assert ev["reviewers"] == {"alice": "include", "bob": "exclude"}
    out = json.loads(CliRunner().invoke(cli, ["--db", str(db), "conflicts", "--json"]).stdout)
    assert out["n_unresolved"] == 3 and out["conflicts"][0]["resolution"] == "include"
    # kappa is about the reviewers' own judgements: a resolution does not change it
    assert out["kappa"][0]["kappa"] == pytest.approx(0.4)


def test_resolve_errors(db):
    code, _, err = run_main(["--db", str(db), "conflicts", "resolve", "99", "--decision",
                             "exclude"])
    assert code == 1 and "record 99" in err
    code, _, err = run_main(["--db", str(db), "conflicts", "resolve", "8"])
    assert code == 1 and "--decision" in err


def test_automation_exclusion_against_a_human_include_is_a_conflict(db):
    from toolkit.screening.decisions import automation_exclude

    with open_review(db) as r, r.atomic():
        automation_exclude(r, [11, 12], rule="heuristic", details={})
    with open_review(db) as r:
        record_decision(r, 12, "include", "bob")
        r.db.conn.commit()
        assert final_decisions(r)[12] == "conflict"
    out = json.loads(CliRunner().invoke(cli, ["--db", str(db), "conflicts", "--json"]).stdout)
    listed = {c["record_id"]: c["decisions"] for c in out["conflicts"]}
    assert listed[12] == {"automation": "exclude", "bob": "include"}
    assert listed[11] == {"alice": "maybe", "automation": "exclude"}
    assert out["kappa"][0]["reviewers"] == ["alice", "bob"] and len(out["kappa"]) == 1


def test_status_names_every_reviewer_whose_decisions_count_in_kappa(tmp_path):
    """ann screens, bob's decisions come from a CSV: both are in kappa, so both are listed."""
    db = tmp_path / "r.db"
    build_review(db, n=6).close()
    (tmp_path / "bob.csv").write_text("record_id,decision\n1,include\n2,exclude\n3,exclude\n")
    runner = CliRunner()
    res = runner.invoke(cli, ["--db", str(db), "screen", "import", str(tmp_path / "bob.csv"),
                              "--reviewer", "bob"])
    assert res.exit_code == 0, res.output
    with open_review(db) as r, r.atomic():
        for rid, d in ((1, "include"), (2, "include"), (3, "exclude")):
            record_decision(r, rid, d, "ann")
    out = json.loads(runner.invoke(cli, ["--db", str(db), "conflicts", "--json"]).stdout)
    assert out["kappa"][0]["reviewers"] == ["ann", "bob"]
    status = json.loads(runner.invoke(cli, ["--db", str(db), "status", "--json"]).stdout)
    assert status["stages"]["screening"].endswith("(reviewers: ann, bob)")
