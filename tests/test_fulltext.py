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
    # 4: skip; 5: exclude, bad reason then reason by name; undo it; quit. (Piped input: the
    # reason is a typed line, by number or text.)
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
    assert run_cli(db, "fulltext", "decide", "1", "--decision", "include")[0] == 0
    assert run_cli(db, "fulltext", "decide", "pmid:1002", "--decision", "include")[0] == 0
    assert run_cli(db, "fulltext", "decide", "3", "--decision", "exclude",
                   "--reason", "1")[0] == 0
    code, out, err = run_cli(db, "link", "2", "--study", "1", "--json")
    assert code == 0 and json.loads(out) == {"report": 2, "study": "1", "reports": [1, 2]}
    code, out, _ = run_cli(db, "fulltext", "summary", "--json")
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
        (["fulltext", "decide", "8", "--decision", "include"], "record 8"),
        (["fulltext", "decide", "1", "--decision", "exclude", "--reason", "aliens"],
         "reason 'aliens' is not in"),
        (["fulltext", "import", str(bad)], f"{bad}: row 2: column 'reason'"),
        (["fulltext", "--criteria", str(tmp_path / "none.yaml")], "criteria file not found"),
        (["link", "8", "--study", "X"], "report 8"),
    ]
    for args, where in cases:
        code, out, err = run_cli(db, *args)
        assert code == 1 and err.startswith("review: error:") and where in err, (args, err)
    assert snapshot(db) == before


# -- review fixes: link guard, conflicts, option checks, re-import, prompt counts -------------

FT_CSV = ("record_id,status,decision,reason,reviewer\n"
          "1,assessed,include,,ann\n2,assessed,include,,ann\n3,assessed,include,,ann\n"
          "4,assessed,include,,ann\n5,assessed,exclude,4,ann\n6,assessed,exclude,1,ann\n"
          "7,not_retrieved,,,ann\n")


def _ok(result):
    code, out, err = result
    assert code == 0, err
    return out


@pytest.fixture
def linked(review, tmp_path):
    """The reviewer's setup: full text by CSV (1-4 include, 5 excluded with reason 4, 6
    excluded, 7 not retrieved); 1+2 = Tomasian2016, 3 = StudyB; values extracted for both."""
    db = review.path
    review.close()
    (tmp_path / "ft.csv").write_text(FT_CSV)
    _ok(run_cli(db, "fulltext", "import", tmp_path / "ft.csv"))
    _ok(run_cli(db, "link", "2", "--study", "1"))
    _ok(run_cli(db, "link", "1", "--study", "Tomasian2016"))
    _ok(run_cli(db, "link", "3", "--study", "StudyB"))
    (tmp_path / "values.csv").write_text("study,field,value\nTomasian2016,patients,14\n"
                                         "Tomasian2016,local_control,30/31 tumours\n"
                                         "StudyB,patients,10\nStudyB,local_control,6/10 tumours\n")
    _ok(run_cli(db, "extract", "import", tmp_path / "values.csv", "--extractor", "ann"))
    return db


@pytest.mark.parametrize("other", ["5", "7"])  # excluded at full text; not retrieved
def test_link_guard_counts_only_included_reports(linked, tmp_path, other):
    db = linked
    # A report that is not included may be linked (for the record) ...
    _ok(run_cli(db, "link", other, "--study", "Tomasian2016"))
    # ... but it does not keep Tomasian2016 alive when its included reports move away.
    before = snapshot(db)
    code, out, err = run_cli(db, "link", "1", "--study", "StudyB")
    assert code == 1
    assert "study 'Tomasian2016' has extracted values" in err and "no included report" in err
    assert snapshot(db) == before
    _ok(run_cli(db, "extract", "export", tmp_path / "lc.csv", "--outcome",
                "local_control", "--json"))
    assert "Tomasian2016" in (tmp_path / "lc.csv").read_text()
    counts = json.loads(_ok(run_cli(db, "fulltext", "summary", "--json")))
    assert counts["studies_included"] == 3  # Tomasian2016, StudyB, 4


@pytest.mark.parametrize("other, state", [("5", "excluded"), ("7", "not retrieved")])
def test_linking_a_report_that_is_not_included_says_it_does_not_count(linked, other, state):
    code, out, err = run_cli(linked, "link", other, "--study", "Tomasian2016")
    assert code == 0, err
    assert f"report {other} is {state} at full text" in err
    assert "only included reports count" in err


def test_link_away_from_a_label_with_no_included_report_is_not_refused(linked):
    """Only a link that *removes* a study's last included report is refused."""
    db = linked
    _ok(run_cli(db, "link", "5", "--study", "Tomasian2016"))
    _ok(run_cli(db, "fulltext", "decide", "1", "--decision", "exclude", "--reason", "5"))
    _ok(run_cli(db, "fulltext", "decide", "2", "--decision", "exclude", "--reason", "5"))
    # Tomasian2016 has no included report left (its values already count for nothing)
    code, out, err = run_cli(db, "link", "5", "--study", "StudyB")
    assert code == 0, err


def _two_reviewers_disagree(db):
    _ok(run_cli(db, "fulltext", "decide", "1", "--decision", "include", "--reviewer", "ann"))
    out = _ok(run_cli(db, "fulltext", "decide", "1", "--decision", "exclude", "--reason", "2",
                      "--reviewer", "bob"))
    assert "now in conflict" in out


def test_fulltext_conflicts_are_listed_and_resolved(review):
    db = review.path
    review.close()
    _two_reviewers_disagree(db)
    listing = json.loads(_ok(run_cli(db, "fulltext", "conflicts", "--json")))
    assert listing["n_unresolved"] == 1
    [item] = listing["conflicts"]
    assert item["record_id"] == 1 and item["resolution"] is None
    assert {who: (d["decision"], d["reason"]) for who, d in item["decisions"].items()} == {
        "ann": ("include", None), "bob": ("exclude", "not spinal")}
    for args in (["conflicts"], ["summary"]):
        out = _ok(run_cli(db, "fulltext", *args))
        assert "record 1:" in out and "ann: include; bob: exclude (not spinal)" in out, args
        assert "review fulltext resolve REF" in out
    # `review fulltext` (what `review prisma` says to run) shows them even when the reviewer
    # has nothing left to assess
    code, out, err = run_cli(db, "fulltext", "--reviewer", "bob", "--json", input="q\n")
    assert code == 0 and "record 1: ann: include; bob: exclude (not spinal)" in err
    assert "review fulltext conflicts" in json.loads(
        _ok(run_cli(db, "status", "--json")))["stages"]["full text"]

    out = _ok(run_cli(db, "fulltext", "resolve", "1", "--decision", "include",
                      "--reviewer", "cat", "--note", "table 2 is spinal"))
    assert "resolved include by cat" in out
    listing = json.loads(_ok(run_cli(db, "fulltext", "conflicts", "--json")))
    assert listing["n_unresolved"] == 0
    assert listing["conflicts"][0]["resolution"] == {
        "status": "assessed", "decision": "include", "reason": None, "reviewer": "cat",
        "note": "table 2 is spinal"}
    r = open_review(db)
    assert ft.final_fulltext(r)[1]["decision"] == "include"
    [event] = [json.loads(e["details"]) for e in r.db.query(
        "select details from events where action = 'fulltext_resolve'")]
    assert event["record_id"] == 1 and set(event["reviewers"]) == {"ann", "bob"}
    r.close()


@pytest.mark.parametrize("args, why", [
    (["summary", "--import", "FT"], "No such option '--import'"),
    (["decide", "3", "--decision", "include", "--import", "FT"], "No such option '--import'"),
    (["conflicts", "--reviewer", "bob"], "No such option '--reviewer'"),
    (["decide", "3"], "Missing option '--decision'"),
    (["decide", "1", "--decision", "include", "--reason", "2"],
     "--reason goes with --decision exclude"),
    (["resolve", "1", "--decision", "include", "--reason", "2"],
     "--reason goes with --decision exclude"),
    # the old mode flags (kept for one release) still refuse what does not go together
    (["--summary", "--import", "FT"], "choose one of --summary, --import"),
    (["--record", "3", "--decision", "include", "--import", "FT"],
     "choose one of --import, --record"),
    (["--note", "hello"], "--note goes with `review fulltext decide REF`"),
    (["--import", "FT", "--decision", "include"], "--decision goes with"),
    (["--resolve"], "--resolve goes with"),
])
def test_fulltext_refuses_options_that_do_not_go_together(review, tmp_path, args, why):
    db = review.path
    review.close()
    (tmp_path / "ft.csv").write_text(FT_CSV)
    before = snapshot(db)
    code, out, err = run_cli(db, "fulltext",
                             *[str(tmp_path / "ft.csv") if a == "FT" else a for a in args])
    assert code == 1 and why in err, err
    assert snapshot(db) == before


def test_the_same_fulltext_csv_is_not_imported_twice(review, tmp_path):
    db = review.path
    review.close()
    (tmp_path / "ft.csv").write_text(FT_CSV)
    (tmp_path / "copy.csv").write_text(FT_CSV)
    first = json.loads(_ok(run_cli(db, "fulltext", "import", tmp_path / "ft.csv", "--json")))
    assert (first["imported"], first["already_imported"]) == (7, False)
    for name in ("ft.csv", "copy.csv"):  # the same bytes under another name too
        again = json.loads(_ok(run_cli(db, "fulltext", "import", tmp_path / name, "--json")))
        assert again["imported"] == 0 and again["already_imported"] is True
        assert "already imported" in again["message"] and "nothing added" in again["message"]
        out = _ok(run_cli(db, "fulltext", "import", tmp_path / name))
        assert "nothing added" in out
    r = open_review(db)
    assert r.db["ft_decisions"].count == 7
    r.close()


def test_header_only_fulltext_csv_says_no_data_rows(review, tmp_path):
    path = tmp_path / "ft.csv"
    path.write_text("record_id,status,decision,reason,reviewer\n")
    with pytest.raises(ReviewError, match="no data rows"):
        ft.import_fulltext_csv(review, path, reasons=REASONS)


def test_undo_of_an_earlier_sessions_decision_counts_separately(review):
    db = review.path
    review.close()
    first = json.loads(_ok(run_cli(db, "fulltext", "--reviewer", "ann", "--json",
                                   input="i\nq\n")))
    assert (first["decided"], first["undone"]) == (1, 0)
    code, out, err = run_cli(db, "fulltext", "--reviewer", "ann", "--json", input="u\nq\n")
    assert code == 0, err
    second = json.loads(out)
    assert second["decided"] == 0  # was -1
    assert second["undone"] == 1
    assert "undid your decision on record 1 (include, made in an earlier session)" in err
    assert second["counts"]["reports_included"] == 0  # undo across sessions still works
    # this session's decision, then undone twice: that one and an earlier one
    _ok(run_cli(db, "fulltext", "--reviewer", "ann", input="i\nq\n"))
    third = json.loads(_ok(run_cli(db, "fulltext", "--reviewer", "ann", "--json",
                                   input="i\nu\nu\nq\n")))
    assert (third["decided"], third["undone"]) == (0, 2)


def test_fulltext_help_lists_every_key(review):
    import re

    db = review.path
    review.close()
    out = _ok(run_cli(db, "fulltext", "--help"))
    keys = re.findall(r"(\S) = ", ft.FT_KEYS)
    assert set(keys) == set("iexnsucq?")
    for key in keys:
        assert re.search(rf"(^|\s){re.escape(key)} [a-z]", out), key


def test_fulltext_human_output_is_readable_not_python_dicts(review, tmp_path):
    db = review.path
    review.close()
    (tmp_path / "ft.csv").write_text(FT_CSV.replace("7,not_retrieved,,,ann\n", ""))
    outs = [_ok(run_cli(db, "fulltext", "import", tmp_path / "ft.csv")),
            _ok(run_cli(db, "fulltext", "decide", "7", "--decision", "not_retrieved")),
            _ok(run_cli(db, "fulltext", "summary")),
            _ok(run_cli(db, "fulltext", "--reviewer", "bob", input="q\n")),
            _ok(run_cli(db, "link", "2", "--study", "1"))]
    for out in outs:
        assert "{" not in out and "[" not in out and "'" not in out, out
    assert "7 reports at full text: 4 included (4 studies), 2 excluded, 1 not retrieved" in outs[2]
    assert "excluded, review or case report: 1" in outs[2]


def test_at_a_terminal_the_reason_is_one_key_or_r_to_type_it(review):
    """As in `review screen`: 1-9 pick a reason with one key; r asks for it as text; another
    key says what to press."""
    keys = iter(["e", "z", "3", "e", "r", "q"])
    lines = iter(["overlapping cohort"])
    said = []
    out = ft.run_fulltext(review, "ann", REASONS, ask=lambda p: next(lines),
                          echo=said.append, key=lambda p: next(keys), one_key_reasons=True)
    assert out["decided"] == 2 and out["quit"]
    assert "  press 1-6, or r to type the reason" in said
    got = [r[0] for r in review.db.execute(
        "select reason from ft_decisions where reviewer = 'ann' order by id")]
    assert got == ["not metastases", "overlapping cohort"]
