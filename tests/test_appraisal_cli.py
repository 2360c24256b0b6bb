"""`review appraise`, `review grade` and the appraisal options of `review pool`, through the
real entry point (toolkit.cli.main)."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest

from test_extraction_support import build_full_text_review, put, run_cli, snapshot
from toolkit.extraction.forms import find_form

JBI = "jbi_case_series"
# two assessors' JBI answers (studies '1', '3', '4'; items Q1..Q10 Yes unless listed here)
ANN = {("3", "Q4"): "Unclear"}
BOB = {("3", "Q4"): "Unclear", ("4", "Q4"): "No", ("1", "Q7"): "Unclear"}


def answers_csv(path, who: str, changes: dict, studies=("1", "3", "4")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["study", "item", "value", "assessor"])
        for s in studies:
            for i in range(1, 11):
                w.writerow([s, f"Q{i}", changes.get((s, f"Q{i}"), "Yes"), who])
    return path


@pytest.fixture
def db(tmp_path):
    """A review with studies '1', '3', '4' included and their local-control counts."""
    review = build_full_text_review(tmp_path)
    form = find_form(review, "cryoablation")
    for study, ltc in (("1", "30/31 tumours"), ("3", "6/10 tumours"), ("4", "23/28 tumours")):
        put(review, form, study, "local_control", ltc)
    review.close()
    return tmp_path / "review.db"


def ok(db, *args, input=None):
    code, out, err = run_cli(db, *args, input=input)
    assert code == 0, (out, err)
    return out, err


def js(db, *args, input=None) -> dict:
    out, _ = ok(db, *args, "--json", input=input)
    return json.loads(out)


def two_assessors(db, tmp_path):
    js(db, "appraise", "import", answers_csv(tmp_path / "ann.csv", "ann", ANN), "--tool", JBI)
    js(db, "appraise", "import", answers_csv(tmp_path / "bob.csv", "bob", BOB))


def overall_of(db, tmp_path) -> dict:
    js(db, "appraise", "export", tmp_path / "rob.csv", "--robvis")
    with open(tmp_path / "rob.csv", newline="", encoding="utf-8") as fh:
        return {r["Study"]: r["Overall"] for r in csv.DictReader(fh)}


# -- appraise ---------------------------------------------------------------------------------

def test_two_assessors_compare_resolve_round_trip(db, tmp_path):
    two_assessors(db, tmp_path)
    out = js(db, "appraise", "compare")
    agree = {a["item"]: a for a in out["agreement"]}
    # Q4: ann Yes/Unclear/Yes, bob Yes/Unclear/No -> 2 of 3 alike; kappa by hand:
    # p_o = 2/3, p_e = P(Yes) 2/3*1/3 + P(Unclear) 1/3*1/3 = 1/3, kappa = (2/3-1/3)/(1-1/3)
    assert agree["Q4"]["n"] == 3 and agree["Q4"]["agreement"] == 66.7
    assert agree["Q4"]["kappa"] == pytest.approx(0.5)
    assert agree["Q1"]["agreement"] == 100.0 and agree["Q1"]["kappa"] is None  # one category
    # overall: ann Low/Some concerns/Low, bob Some concerns/Some concerns/High
    assert agree["overall"]["agreement"] == 33.3
    open_ = {(d["study"], d["item"]): d["values"] for d in out["disagreements"]}
    assert open_ == {("1", "Q7"): {"ann": "Yes", "bob": "Unclear"},
                     ("1", "overall"): {"ann": "Low", "bob": "Some concerns"},
                     ("4", "Q4"): {"ann": "Yes", "bob": "No"},
                     ("4", "overall"): {"ann": "Low", "bob": "High"}}
    assert out["unresolved"] == 4
    # open conflicts: no robvis table, no plot, and nothing written
    code, _, err = run_cli(db, "appraise", "export", tmp_path / "x.csv", "--robvis")
    assert code == 1 and "not final" in err and "4: Q4 conflict" in err
    assert not (tmp_path / "x.csv").exists()

    # prompted: study 1 Q7 typed, study 4 Q4 taken from the second assessor (#2); the
    # overall judgements follow from the final items and are not asked
    out = js(db, "appraise", "resolve", "--assessor", "carol",
             input="Yes\nthe full text says so\n#2\nthe scans show it\n")
    assert out["resolved"] == 2
    out = js(db, "appraise", "compare")
    assert out["unresolved"] == 0
    settled = {(d["study"], d["item"]): (d["settled_by"], d["final"])
               for d in out["disagreements"]}
    assert settled[("1", "overall")] == ("derived", "Low")
    assert settled[("4", "overall")] == ("derived", "High")
    assert overall_of(db, tmp_path) == {"1": "Low", "3": "Some concerns", "4": "High"}

    # one judgement on the command line: the overall of study 1, with the note as reason
    out = js(db, "appraise", "resolve", "1", "--domain", "overall", "--judgement",
             "some concerns", "--note", "small series", "--assessor", "carol")
    assert out["item"] == "overall"
    assert overall_of(db, tmp_path)["1"] == "Some concerns"
    con = sqlite3.connect(db)
    logged = [json.loads(p) for a, p in con.execute(
        "select actor, details from events where action = 'appraisal_resolution' order by id")
        if a == "carol"]
    con.close()
    assert [(p["study"], p["item"], p["value"]) for p in logged] == [
        ("1", "Q7", "Yes"), ("4", "Q4", "No"), ("1", "overall", "Some concerns")]


def test_resolve_needs_study_domain_and_judgement(db, tmp_path):
    two_assessors(db, tmp_path)
    code, out, err = run_cli(db, "appraise", "resolve", "1", "--domain", "Q7")
    assert code == 1 and out == "" and err.startswith("review: error: an adjudicated")
    code, _, err = run_cli(db, "appraise", "resolve", "1", "--domain", "Q7", "--judgement",
                           "Perhaps")
    assert code == 1 and "'Perhaps' is not one of Yes, No, Unclear, Not applicable" in err


def test_bad_csv_names_the_cell_and_writes_nothing(db, tmp_path):
    js(db, "appraise", "import", answers_csv(tmp_path / "ann.csv", "ann", ANN), "--tool", JBI)
    before = snapshot(db)
    bad = answers_csv(tmp_path / "bad.csv", "bob", {("3", "Q2"): "Maybe"})
    text = bad.read_text(encoding="utf-8").replace("\n4,Q1,Yes,bob\n", "\n99,Q1,Yes,bob\n")
    bad.write_text(text, encoding="utf-8")
    code, out, err = run_cli(db, "appraise", "import", bad)
    assert code == 1 and out == ""
    assert err.startswith("review: error: 2 invalid cells, nothing was written:")
    # rows counted from the header (row 1): study 3 Q2 is row 13, study '99' row 22
    assert f"{bad}: row 13: column 'value': 'Maybe' is not one of" in err
    assert f"{bad}: row 22: column 'study': '99' is not an included study" in err
    assert snapshot(db) == before


def test_enter_prompts_and_json_on_stdout_only(db):
    # ten JBI items (Q7 Unclear), each followed by "no supporting quote"; then the derived
    # overall is accepted with Enter
    typed = "".join(("unclear" if i == 7 else "yes") + "\n\n" for i in range(1, 11)) + "\n"
    code, out, err = run_cli(db, "appraise", "3", "--tool", JBI, "--assessor", "ann",
                             "--json", input=typed)
    assert code == 0, err
    got = json.loads(out)       # exactly one JSON object; the prompts went to stderr
    assert got == {"saved": 10, "quit": False, "study": "3", "tool": JBI, "assessor": "ann"}
    assert "derived: Some concerns; Enter accepts it" in err
    rows = js(db, "appraise", "export", "--traffic-light", db.parent / "tl.png")
    assert rows["studies"] == 1
    code, _, err = run_cli(db, "appraise", "7", "--tool", JBI)
    assert code == 1 and "'7' is not an included study" in err


def test_export_long_table_robvis_plots_and_weights(db, tmp_path):
    js(db, "appraise", "import", answers_csv(tmp_path / "ann.csv", "ann", ANN), "--tool", JBI)
    out = js(db, "appraise", "export", tmp_path / "all.csv")
    # 30 answers as imported, and each study's overall as the tool derives it
    assert (out["layout"], out["rows"]) == ("long", 33)
    with open(tmp_path / "all.csv", newline="", encoding="utf-8") as fh:
        long = list(csv.DictReader(fh))
    assert {(r["study"], r["item"], r["value"]) for r in long if r["origin"] == "import"} == {
        (s, f"Q{i}", ANN.get((s, f"Q{i}"), "Yes")) for s in ("1", "3", "4")
        for i in range(1, 11)}
    assert [(r["study"], r["item"], r["derived"]) for r in long if r["origin"] == "derived"] \
        == [("1", "overall", "Low"), ("3", "overall", "Some concerns"), ("4", "overall", "Low")]
    # robvis's column contract, weighted by the studies' random-effects weights of an outcome
    out = js(db, "appraise", "export", tmp_path / "rob.csv", "--robvis", "--outcome",
             "local_control", "--traffic-light", tmp_path / "tl.png", "--summary-plot",
             tmp_path / "sum.svg")
    with open(tmp_path / "rob.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        table = list(reader)
    assert reader.fieldnames == ["Study"] + [f"D{i}" for i in range(1, 11)] + ["Overall",
                                                                              "Weight"]
    pooled = js(db, "pool", "--outcome", "local_control")
    weights = {s["study"]: s["weight"] for s in pooled["studies"]}
    assert {r["Study"]: float(r["Weight"]) for r in table} == pytest.approx(weights)
    assert [r["Overall"] for r in table] == ["Low", "Some concerns", "Low"]
    # the GLMM has no study weights: its studies are weighed as the inverse-variance model's
    js(db, "appraise", "export", tmp_path / "rob_glmm.csv", "--robvis", "--outcome",
       "local_control", "--model", "glmm")
    assert (tmp_path / "rob_glmm.csv").read_bytes() == (tmp_path / "rob.csv").read_bytes()
    assert (tmp_path / "tl.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "sum.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    for args, msg in ((["--robvis"], "--robvis goes with FILE.csv"),
                      ([], "name FILE.csv, --traffic-light PLOT or --summary-plot PLOT"),
                      (["--traffic-light", tmp_path / "tl.gif"], "must end in .png, .svg")):
        code, _, err = run_cli(db, "appraise", "export", *args)
        assert code == 1 and msg in err, err


# -- pool with the appraisal ---------------------------------------------------------------------

def test_pool_exclude_high_risk_and_subgroups_by_judgement(db, tmp_path):
    # study 4 at high risk (Q5 No), study 3 some concerns, study 1 low
    js(db, "appraise", "import", answers_csv(tmp_path / "a.csv", "ann",
                                             {("3", "Q4"): "Unclear", ("4", "Q5"): "No"}),
       "--tool", JBI)
    code, out, err = run_cli(db, "pool", "--outcome", "local_control", "--exclude-high-risk",
                             "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["k"] == 2 and got["appraisal"]["excluded_high_risk"] == ["4"]
    assert "left out 4" in err
    # the same as pooling the exported outcome table with study 4's row deleted by hand
    js(db, "extract", "export", tmp_path / "lc.csv", "--outcome", "local_control")
    lines = (tmp_path / "lc.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "lc3.csv").write_text("\n".join(l for l in lines if not l.startswith("4,"))
                                      + "\n", encoding="utf-8")
    by_hand = js(db, "pool", tmp_path / "lc3.csv", "--measure", "PLO", "--events", "events",
                 "--total", "total", "--study", "study")
    for key in ("estimate", "ci_low", "ci_high", "tau2"):
        assert got[key] == pytest.approx(by_hand[key], rel=1e-12), key
    # subgroups by the overall judgement
    sub = js(db, "pool", "--outcome", "local_control", "--by", "risk_of_bias")
    assert {g["group"]: g["k"] for g in sub["subgroups"]} == {"Low": 1, "Some concerns": 1,
                                                              "High": 1}
    # FILE.csv: the study column must hold the review's study labels
    full = js(db, "pool", tmp_path / "lc.csv", "--measure", "PLO", "--events", "events",
              "--total", "total", "--study", "study", "--exclude-high-risk")
    assert full["k"] == 2 and full["estimate"] == pytest.approx(got["estimate"], rel=1e-12)
    code, _, err = run_cli(db, "pool", tmp_path / "lc.csv", "--measure", "PLO", "--events",
                           "events", "--total", "total", "--exclude-high-risk")
    assert code == 1 and "needs --study COL" in err


def test_pool_names_studies_not_appraised(db, tmp_path):
    js(db, "appraise", "import", answers_csv(tmp_path / "a.csv", "ann", {}, studies=("1",)),
       "--tool", JBI)
    code, out, err = run_cli(db, "pool", "--outcome", "local_control", "--exclude-high-risk",
                             "--json")
    assert code == 0 and json.loads(out)["k"] == 3
    assert "no study is at high risk of bias" in err
    assert "not appraised with jbi_case_series (kept): 3, 4" in err


# -- grade -------------------------------------------------------------------------------------

def test_grade_propose_rate_and_sof(db, tmp_path):
    js(db, "appraise", "import", answers_csv(tmp_path / "a.csv", "ann", ANN), "--tool", JBI)
    out = js(db, "grade", "propose", "--outcome", "local_control")
    p = out["proposals"][0]
    pooled = js(db, "pool", "--outcome", "local_control")
    assert (p["k"], p["participants"]) == (3, 31 + 10 + 28)
    assert p["estimate"] == pooled["estimate"] and p["I2"] == pooled["I2"]
    assert p["start"] == "low"
    assert p["domains"]["imprecision"]["levels"] == -1          # 69 < 400 participants
    assert p["domains"]["inconsistency"]["levels"] == (-1 if pooled["I2"] >= 50 else 0)
    # unrated: the table says so
    md, _ = ok(db, "grade", "sof", "--outcome", "local_control")
    assert "| local_control | 3 | 69 |" in md and "(proposed, not rated)" in md

    before = snapshot(db)
    for args, msg in (
            (["--level", "indirectness=-1"], "indirectness: -1 differs from the proposal"),
            (["--level", "indirectness=-1", "--reason", "indirectness=mixed sites",
              "--certainty", "low"], "these levels give very low, not low; nothing saved"),
            (["--level", "indirect=-1"], "--level 'indirect=-1': give DOMAIN=..."),
            (["--level", "indirectness=minus"], "is not a number of levels")):
        code, _, err = run_cli(db, "grade", "rate", "local_control", *args)
        assert code == 1 and msg in err, err
    assert snapshot(db) == before
    out = js(db, "grade", "rate", "local_control", "--level", "indirectness=-1", "--reason",
             "indirectness=spinal and other bone sites", "--rater", "ann")
    assert out["certainty"] == "very low" and out["levels"]["indirectness"] == -1
    code, text, _ = run_cli(db, "grade", "sof", "--format", "csv", "--out", tmp_path / "s.csv")
    assert code == 0 and text.startswith("wrote 1 outcome")
    rows = list(csv.DictReader(open(tmp_path / "s.csv", encoding="utf-8")))
    assert [(r["outcome"], r["k"], r["participants"], r["certainty"], r["rated_by"])
            for r in rows] == [("local_control", "3", "69", "very low", "ann")]
    assert "indirectness -1: spinal and other bone sites" in rows[0]["reasons"]
    assert float(rows[0]["estimate"]) == pytest.approx(pooled["estimate"])

    # a changed extracted value: the rating is named as made on other numbers
    from toolkit.store import open_review
    review = open_review(db)
    put(review, find_form(review, "cryoablation"), "3", "local_control", "9/10 tumours")
    review.close()
    code, _, err = run_cli(db, "grade", "sof", "--outcome", "local_control")
    assert code == 0 and "outcome local_control: estimate, ci_low, ci_high" in err


def test_grade_rate_in_the_terminal(db, tmp_path):
    js(db, "appraise", "import", answers_csv(tmp_path / "a.csv", "ann", {}), "--tool", JBI)
    p = js(db, "grade", "propose", "--outcome", "local_control")["proposals"][0]["domains"]
    assert p["risk_of_bias"]["levels"] == 0 and p["imprecision"]["levels"] == -1
    assert p["inconsistency"]["levels"] == -1                    # I2 = 74%
    # risk of bias: Enter; inconsistency 0 + reason; indirectness: Enter; imprecision 0 +
    # reason; publication bias: Enter; upgrades (the evidence starts low): Enter x3; confirm
    typed = "\n0\none outlying series\n\n0\nthe interval is narrow enough\n\n\n\n\ny\n"
    code, out, err = run_cli(db, "grade", "rate", "local_control", "--rater", "bo", "--json",
                             input=typed)
    assert code == 0, err
    got = json.loads(out)
    assert got["levels"]["inconsistency"] == 0 and got["levels"]["imprecision"] == 0
    assert got["reasons"] == {"inconsistency": "one outlying series",
                              "imprecision": "the interval is narrow enough"}
    assert got["certainty"] == "low"        # starts low, no level down or up
    assert "certainty low: save this rating?" in err
    # quitting part-way saves nothing
    before = snapshot(db)
    code, out, _ = run_cli(db, "grade", "rate", "local_control", "--json", input="\nq\n")
    assert code == 0 and json.loads(out) == {"outcome": "local_control", "saved": False}
    assert snapshot(db) == before


def test_grade_without_outcome_lists_what_has_no_data(db):
    code, out, err = run_cli(db, "grade", "propose", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert [p["outcome"] for p in got["proposals"]] == ["local_control"]
    assert "pain" in got["no_data"] and "outcomes without data, left out:" in err
    # no appraisal yet: every study counts as not appraised
    assert "no appraisal in the review" in err
    # the table is of rated outcomes, or of the outcomes named
    code, out, err = run_cli(db, "grade", "sof")
    assert code == 1 and out == "" and "no outcome is rated yet" in err
    code, out, err = run_cli(db, "grade", "propose", "--outcome", "pain")
    assert code == 1 and "review: error: outcome pain: no study with data to pool" in err
    md, _ = ok(db, "grade", "sof", "--outcome", "local_control")
    assert md.count("\n| local_control |") == 1


def test_a_rating_keeps_its_pooling(db, tmp_path):
    """Rated on the GLMM: the table shows the GLMM's numbers and re-checks the rating with
    the GLMM, whatever options `grade sof` is given."""
    js(db, "appraise", "import", answers_csv(tmp_path / "a.csv", "ann", ANN), "--tool", JBI)
    glmm = js(db, "pool", "--outcome", "local_control", "--model", "glmm")
    rma = js(db, "pool", "--outcome", "local_control")
    assert abs(glmm["estimate"] - rma["estimate"]) > 1e-3       # two different pools
    out = js(db, "grade", "rate", "local_control", "--accept", "--model", "glmm")
    assert out["certainty"] == "very low"
    code, text, err = run_cli(db, "grade", "sof", "--format", "csv")
    assert code == 0 and "changed since" not in err, err
    row = next(csv.DictReader(text.splitlines()))
    assert float(row["estimate"]) == pytest.approx(glmm["estimate"], rel=1e-9)
