"""Full-text eligibility: decisions with reasons, studies vs reports, CSV import, prompts."""

from __future__ import annotations

import json

import pytest

from toolkit import fulltext as ft
from toolkit.errors import ReviewError
from toolkit.extraction.export import record_columns
from toolkit.screening.decisions import record_decision
from toolkit.store import open_review

try:
    from test_extraction_support import REASONS, build_review, run_cli, snapshot
except ImportError:  # tests/ made a package
    from tests.test_extraction_support import REASONS, build_review, run_cli, snapshot


@pytest.fixture
def review(tmp_path):
    r = build_review(tmp_path)
    yield r
    r.close()


def decide(review, rid, status, decision=None, reason=None, reviewer="ann", **kw):
    with review.atomic():
        return ft.record_fulltext(review, rid, status, decision, reason, reviewer=reviewer,
                                  reasons=REASONS, **kw)


# -- criteria ------------------------------------------------------------------------------------

def test_criteria_file_gives_reasons(review):
    crit = ft.load_criteria(ft.default_criteria_path(review))
    assert crit["fulltext_reasons"] == REASONS
    assert crit["question"].startswith("In patients")
    assert ft.match_reason("Not  Spinal", REASONS) == "not spinal"
    assert ft.match_reason("2", REASONS) == "not spinal"
    assert ft.match_reason("7", REASONS) is None


@pytest.mark.parametrize("text, why", [
    ("question: x\n", "missing key fulltext_reasons"),
    ("fulltext_reasons: wrong intervention\n", "must be a list"),
    ("fulltext_reasons: []\n", "empty"),
    ("fulltext_reasons: [a, A]\n", "duplicate reasons"),
    ("fulltext_reasons: [a, '']\n", "non-empty"),
    ("[a, b]\n", "expected a mapping"),
    ("fulltext_reasons: [a\n", "not valid YAML"),
])
def test_bad_criteria_file_names_the_file(tmp_path, text, why):
    path = tmp_path / "criteria.yaml"
    path.write_text(text)
    with pytest.raises(ReviewError) as err:
        ft.load_criteria(path)
    assert why in str(err.value) and str(path) in str(err.value)


def test_missing_criteria_file(tmp_path):
    with pytest.raises(ReviewError, match="criteria file not found"):
        ft.load_criteria(tmp_path / "nope.yaml")


# -- reports and decisions -----------------------------------------------------------------------

def test_included_and_maybed_records_move_to_full_text(tmp_path):
    r = build_review(tmp_path, n_records=5,
                     ta={1: "include", 2: "maybe", 3: "exclude", 4: "include"})
    with r.atomic():  # record 4: reviewers disagree -> conflict, not at full text
        record_decision(r, 4, "exclude", "bob")
    assert ft.fulltext_reports(r) == [1, 2]  # 5 has no decision at all
    r.close()


def test_a_merged_duplicate_is_not_a_second_report(review):
    """Deduplication copies a decision to a new duplicate; full text counts the paper once and
    a reference to the duplicate names its primary record."""
    db = review.db
    if "clusters" not in db.table_names():  # the dedup stage's tables, as it defines them
        db.execute("create table clusters (id integer primary key, primary_id integer, "
                   "run_id integer, origin text, created_at text, undone_at text, undone_by text)")
        db.execute("create table cluster_members (cluster_id integer, record_id integer, "
                   "role text, rule text, added_at text, primary key (cluster_id, record_id))")
    with review.atomic():
        db["clusters"].insert({"id": 1, "primary_id": 1, "origin": "auto", "created_at": "x"})
        db["cluster_members"].insert_all([
            {"cluster_id": 1, "record_id": 1, "role": "primary", "added_at": "x"},
            {"cluster_id": 1, "record_id": 2, "role": "duplicate", "added_at": "x"}])
    assert ft.fulltext_reports(review) == [1, 3, 4, 5, 6, 7]
    assert ft.resolve_record(review, "pmid:1002") == 1
    assert ft.fulltext_counts(review)["reports_sought"] == 6


def test_counts_follow_decisions(review):
    decide(review, 1, "assessed", "include")
    decide(review, 2, "assessed", "include")
    decide(review, 3, "assessed", "exclude", "not spinal")
    decide(review, 4, "assessed", "exclude", "Not Spinal")
    decide(review, 5, "assessed", "exclude", "review or case report")
    decide(review, 6, "not_retrieved")
    counts = ft.fulltext_counts(review)
    # 7 reports (1-6 included, 7 maybed at TA); 7 still pending.
    assert counts == {"reports_sought": 7, "reports_not_retrieved": 1, "reports_assessed": 5,
                      "reports_excluded": 3,
                      "excluded_reasons": {"not spinal": 2, "review or case report": 1},
                      "reports_included": 2, "studies_included": 2, "reports_pending": 1,
                      "reports_conflict": 0}
    # PRISMA invariants
    assert counts["reports_assessed"] == (counts["reports_sought"] - counts["reports_not_retrieved"]
                                          - counts["reports_pending"])
    assert counts["reports_included"] == counts["reports_assessed"] - counts["reports_excluded"]


def test_latest_decision_counts_and_reviewer_disagreement_is_a_conflict(review):
    decide(review, 1, "assessed", "exclude", "not spinal")
    decide(review, 1, "assessed", "include")  # ann changes her mind
    assert ft.final_fulltext(review)[1]["decision"] == "include"
    decide(review, 1, "assessed", "exclude", "wrong intervention", reviewer="bob")
    assert ft.final_fulltext(review)[1]["status"] == "conflict"
    assert ft.fulltext_counts(review)["reports_conflict"] == 1
    decide(review, 1, "assessed", "include", reviewer="cat", origin="resolution")
    assert ft.final_fulltext(review)[1] == {"status": "assessed", "decision": "include",
                                            "reason": None}


def test_undo_keeps_the_row(review):
    decide(review, 1, "assessed", "include")
    with review.atomic():
        undone = ft.undo_last(review, "ann")
    assert undone["record_id"] == 1
    assert ft.final_fulltext(review)[1]["status"] == "sought"
    assert review.db["ft_decisions"].count == 1  # kept for the audit


@pytest.mark.parametrize("args, why", [
    (("assessed", "exclude", None), "needs a reason"),
    (("assessed", "exclude", "too small"), "not in the review's fulltext_reasons"),
    (("assessed", "include", "not spinal"), "takes no exclusion reason"),
    (("assessed", None, None), "not include or exclude"),
    (("not_retrieved", "include", None), "has no decision"),
    (("lost", None, None), "is not one of"),
])
def test_bad_decisions_are_refused_and_nothing_is_written(review, args, why):
    before = snapshot(review.path)
    with pytest.raises(ReviewError) as err:
        decide(review, 2, *args)
    assert why in str(err.value) and "record 2" in str(err.value)
    assert snapshot(review.path) == before


# -- studies vs reports --------------------------------------------------------------------------

def test_linked_reports_are_one_study(review):
    for rid in (1, 2, 3, 4):
        decide(review, rid, "assessed", "include")
    with review.atomic():
        assert ft.link_report(review, "2", "1") == "1"          # the paper and its abstract
        assert ft.link_report(review, "pmid:1004", "Smith2016") == "Smith2016"
        assert ft.link_report(review, "3", "doi:10.1000/cryo.4") == "Smith2016"
    assert ft.included_studies(review) == {"1": [1, 2], "Smith2016": [3, 4]}
    with review.atomic():  # relinking report 1 carries report 2 (linked to "report 1's study")
        ft.link_report(review, "1", "Jones2019")
    assert ft.included_studies(review) == {"Jones2019": [1, 2], "Smith2016": [3, 4]}
    counts = ft.fulltext_counts(review)
    assert (counts["reports_included"], counts["studies_included"]) == (4, 2)
    cols, values = record_columns(review)
    assert cols == ["fulltext_status", "fulltext_decision", "fulltext_reason", "study"]
    assert values[2]["study"] == "Jones2019" and values[4]["study"] == "Smith2016"
    assert values[7] == {"fulltext_status": "sought", "fulltext_decision": None,
                         "fulltext_reason": None, "study": "7"}
    assert 8 not in values  # excluded at title/abstract


def test_link_errors_name_the_report_and_change_nothing(review):
    before = snapshot(review.path)
    for report, study, why in [("8", "X", "not at the full-text stage"),
                               ("99", "X", "no record '99'"),
                               ("1", "42", "no record '42'"),
                               ("1", " ", "empty study label")]:
        with pytest.raises(ReviewError, match=why):
            with review.atomic():
                ft.link_report(review, report, study)
    assert snapshot(review.path) == before


# -- CSV import ----------------------------------------------------------------------------------

def test_import_csv(review, tmp_path):
    path = tmp_path / "ft.csv"
    path.write_text("pmid,status,decision,reason,reviewer,note\n"
                    "1001,assessed,include,,ann,\n"
                    "1002,,include,,ann,decision alone implies assessed\n"
                    "1003,assessed,exclude,Overlapping cohort,ann,same centre as 1001\n"
                    "1004,not_retrieved,,,ann,\n")
    out = ft.import_fulltext_csv(review, path, reasons=REASONS)
    assert out["imported"] == 4
    final = ft.final_fulltext(review)
    assert final[3] == {"status": "assessed", "decision": "exclude",
                        "reason": "overlapping cohort"}
    assert final[2]["decision"] == "include" and final[4]["status"] == "not_retrieved"
    rows = list(review.db.query("select origin, note from ft_decisions where record_id = 2"))
    assert rows == [{"origin": "import", "note": "decision alone implies assessed"}]


def test_import_reports_every_bad_cell_and_writes_nothing(review, tmp_path):
    path = tmp_path / "ft.csv"
    path.write_text("record_id,status,decision,reason,reviewer\n"
                    "1,assessed,include,,ann\n"          # fine
                    "99,assessed,include,,ann\n"         # row 3: unknown record
                    "2,assessed,exclude,too old,ann\n"   # row 4: unknown reason
                    "8,assessed,include,,ann\n"          # row 5: excluded at TA
                    "3,lost,,,ann\n"                     # row 6: bad status
                    "1,assessed,exclude,not spinal,ann\n"  # row 7: duplicate of row 2
                    ",assessed,include,,ann\n")          # row 8: no id
    before = snapshot(review.path)
    with pytest.raises(ReviewError) as err:
        ft.import_fulltext_csv(review, path, reasons=REASONS)
    msg = str(err.value)
    assert msg.startswith("6 invalid cells, nothing was written")
    for expected in [f"{path}: row 3: column 'record_id': no record '99'",
                     f"{path}: row 4: column 'reason': reason 'too old' is not in",
                     f"{path}: row 5: column 'record_id': record 8 is not at the full-text",
                     f"{path}: row 6: column 'status': status 'lost'",
                     f"{path}: row 7: column 'record_id': record 1 by ann already on row 2",
                     f"{path}: row 8: column 'record_id': empty"]:
        assert expected in msg
    assert snapshot(review.path) == before


def test_import_bad_header(review, tmp_path):
    path = tmp_path / "ft.csv"
    path.write_text("paper,decision\n1,include\n")
    with pytest.raises(ReviewError, match="needs a column record_id"):
        ft.import_fulltext_csv(review, path, reasons=REASONS)
    path.write_text("record_id,decision,colour\n1,include,red\n")
    with pytest.raises(ReviewError, match="unknown columns"):
        ft.import_fulltext_csv(review, path, reasons=REASONS)


# -- command line --------------------------------------------------------------------------------

def test_prompts_decide_report_by_report(review):
    db = review.path
    review.close()
    # record 1: include; 2: note then exclude with reason number 2; 3: not retrieved;
    # 4: skip; 5: exclude, bad reason then reason by name; undo it; quit.
    keys = "i\nn\nconference abstract only\ne\n2\nx\ns\ne\nnope\nnot metastases\nu\nq\n"
    code, out, err = run_cli(db, "fulltext", "--reviewer", "ann", "--json", input=keys)
    assert code == 0, err
    assert "'nope' is not one of the reasons" in err  # prompts on stderr with --json
    result = json.loads(out)
    assert result["quit"] is True and result["decided"] == 3
    c = result["counts"]
    assert (c["reports_included"], c["reports_excluded"], c["reports_not_retrieved"]) == (1, 1, 1)
    assert c["excluded_reasons"] == {"not spinal": 1}
    r = open_review(db)
    note = r.db.execute("select note from ft_decisions where record_id = 2").fetchone()[0]
    assert note == "conference abstract only"
    r.close()


def test_cli_single_decision_link_and_summary(review):
    db = review.path
    review.close()
    assert run_cli(db, "fulltext", "--record", "1", "--decision", "include")[0] == 0
    assert run_cli(db, "fulltext", "--record", "pmid:1002", "--decision", "include")[0] == 0
    assert run_cli(db, "fulltext", "--record", "3", "--decision", "exclude",
                   "--reason", "1")[0] == 0
    code, out, err = run_cli(db, "link", "2", "--study", "1", "--json")
    assert code == 0 and json.loads(out) == {"report": 2, "study": "1", "reports": [1, 2]}
    code, out, _ = run_cli(db, "fulltext", "--summary", "--json")
    counts = json.loads(out)
    assert counts["reports_included"] == 2 and counts["studies_included"] == 1
    assert counts["excluded_reasons"] == {"wrong intervention": 1}


def test_cli_errors_name_the_place_and_change_nothing(review, tmp_path):
    db = review.path
    review.close()
    before = snapshot(db)
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,decision,reason\n1,exclude,aliens\n")
    cases = [
        (["fulltext", "--record", "8", "--decision", "include"], "record 8"),
        (["fulltext", "--record", "1", "--decision", "exclude", "--reason", "aliens"],
         "reason 'aliens' is not in"),
        (["fulltext", "--import", str(bad)], f"{bad}: row 2: column 'reason'"),
        (["fulltext", "--criteria", str(tmp_path / "none.yaml")], "criteria file not found"),
        (["link", "8", "--study", "X"], "report 8"),
    ]
    for args, where in cases:
        code, out, err = run_cli(db, *args)
        assert code == 1 and err.startswith("review: error:") and where in err, (args, err)
    assert snapshot(db) == before
