"""Units of analysis and overlapping cohorts: counts carry their unit, mixed units are refused
unless one is chosen, overlapping studies are recorded and one per overlapping set is pooled
(the larger, then the more recent), or all of them as a sensitivity analysis; and the guards
of meta-regression, subgroups and means."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from test_extraction_support import build_full_text_review, put, run_cli, snapshot
from toolkit.cli import cli
from toolkit.errors import ReviewError
from toolkit.extraction.forms import find_form, parse_form
from toolkit.extraction.values import format_value, parse_value
from toolkit.overlaps import overlapping_pairs, record_overlap, remove_overlap
from toolkit.pooling.api import pool_table
from toolkit.pooling.glmm import fit_glmm
from toolkit.pooling.inclusion import connected_sets, one_unit, without_overlaps
from toolkit.pooling.review_outcomes import outcome_data, pool_outcome

UNITS = {"name": "lc", "type": "n_of_N", "units": ["patients", "tumours", "sessions"]}


# -- a count's unit is part of its value ---------------------------------------------------------

@pytest.mark.parametrize("text, unit", [("30/31 tumours", "tumours"), ("30 of 31 Tumour", "tumours"),
                                        ("5/7 patients", "patients"), ("20 / 42 sessions", "sessions")])
def test_count_with_its_unit(text, unit):
    v = parse_value(UNITS, text)
    assert v["unit"] == unit and parse_value(UNITS, format_value(v)) == v


@pytest.mark.parametrize("text, words", [("30/31", "say what was counted"),
                                         ("30/31 lesions", "'lesions' is not one of"),
                                         ("31/30 tumours", "exceeds N")])
def test_count_without_a_listed_unit_is_refused(text, words):
    with pytest.raises(ValueError, match=words):
        parse_value(UNITS, text)


def test_a_field_without_units_refuses_a_trailing_word():
    with pytest.raises(ValueError, match="is not 'n of N'"):
        parse_value({"name": "x", "type": "n_of_N"}, "30/31 tumours")


@pytest.mark.parametrize("body, words", [
    ("  - {name: a, type: integer, units: [patients]}\n", "only for n of N"),
    ("  - {name: a, type: n of N, units: []}\n", "non-empty list"),
    ("  - {name: a, type: n of N, units: [patients, Patients]}\n", "duplicate units"),
    ("  - {name: a, type: n of N, unit: patients, units: [tumours]}\n", "not both"),
    ("  - {name: e, type: integer, unit: tumours}\n  - {name: t, type: integer, unit: patients}\n"
     "outcomes:\n  o: {measure: proportion, events: e, total: t}\n", "one unit of analysis"),
])
def test_form_units_are_checked(body, words):
    with pytest.raises(ReviewError, match=words):
        parse_form("fields:\n" + body, source="f.yaml", default_name="f")


# -- choosing one unit ---------------------------------------------------------------------------

LC = pd.DataFrame({"study": ["Tomasian", "Moses", "Autrusseau", "Cazzato"],
                   "events": [30, 5, 6, 23], "total": [31, 7, 10, 28],
                   "unit": ["tumours", "patients", "tumours", "tumours"],
                   "year": [2016, 2020, 2021, 2022]})
KW = dict(events="events", total="total", study="study", unit="unit")


def test_mixed_units_are_refused_naming_the_studies():
    with pytest.raises(ReviewError) as err:
        pool_table(LC, "PLO", **KW)
    msg = err.value.bare_message
    assert "different units of analysis (patients: Moses; tumours: Tomasian, Autrusseau, " \
           "Cazzato)" in msg
    assert "--unit-of-analysis patients" in msg


def test_a_chosen_unit_pools_its_studies_and_lists_the_others():
    out = pool_table(LC, "PLO", use_unit="tumours", **KW)
    assert out["k"] == 3 and out["unit"] == "tumours"
    assert [s["study"] for s in out["studies"]] == ["Tomasian", "Autrusseau", "Cazzato"]
    assert out["left_out"] == [{"study": "Moses", "unit": "patients",
                                "reason": "counts patients, not tumours"}]
    same = pool_table(LC[LC["unit"] == "tumours"], "PLO", events="events", total="total",
                      study="study")
    assert out["estimate"] == same["estimate"]
    with pytest.raises(ReviewError, match="no study counts 'sessions'"):
        pool_table(LC, "PLO", use_unit="sessions", **KW)


def test_one_unit_accepts_a_singular_and_treats_empty_as_unrecorded():
    df = LC.assign(unit=["tumours", None, "tumours", "tumours"])
    kept, info = one_unit(df, "unit", "tumour", "study")
    assert info["unit"] == "tumours" and info["left_out"] == [{"study": "Moses", "unit": None}]
    with pytest.raises(ReviewError, match="not recorded: Moses"):
        one_unit(df, "unit", None, "study")
    same, info = one_unit(LC[LC["unit"] == "tumours"], "unit", None, "study")
    assert info == {"unit": "tumours", "left_out": []}


# -- overlapping cohorts ------------------------------------------------------------------------

def test_the_larger_then_more_recent_study_is_kept():
    sizes = {"T": 31, "A": 10, "C": 28}
    sel = without_overlaps(["T", "A", "C"], [("A", "C"), ("T", "C")], sizes,
                           {"T": 2016, "A": 2021, "C": 2022})
    # C overlaps both; T (larger) is taken first, so C goes and A (no overlap with T) stays
    assert sel["keep"] == ["T", "A"] and sel["sets"] == [["A", "C", "T"]]
    assert sel["left_out"] == [{"study": "C", "overlaps": ["A", "T"], "kept_instead": ["T"]}]
    tie = without_overlaps(["old", "new"], [("old", "new")], {"old": 20, "new": 20},
                           {"old": 2010, "new": 2015})
    assert tie["keep"] == ["new"]
    assert without_overlaps(["T", "C"], [("T", "C")], sizes, policy="all")["keep"] == ["T", "C"]
    with pytest.raises(ReviewError, match="unknown overlap policy"):
        without_overlaps(["T"], [], sizes, policy="newest")


def test_connected_sets():
    assert connected_sets([("b", "c"), ("a", "b"), ("x", "y")]) == [["a", "b", "c"], ["x", "y"]]


def test_pool_table_with_overlaps():
    df = LC[LC["unit"] == "tumours"]
    out = pool_table(df, "PLO", events="events", total="total", study="study", year="year",
                     overlaps=[("Autrusseau", "Cazzato")], model="glmm")
    assert [s["study"] for s in out["studies"]] == ["Tomasian", "Cazzato"]
    assert out["overlap"] == {"policy": "largest", "sets": [["Autrusseau", "Cazzato"]],
                              "left_out": ["Autrusseau"]}
    assert out["left_out"][0]["reason"].startswith("overlaps Cazzato, kept instead")
    ref = fit_glmm([30, 23], [31, 28])
    assert out["est_model_scale"] == pytest.approx(ref.beta, rel=1e-12)
    everything = pool_table(df, "PLO", events="events", total="total", study="study",
                            overlaps=[("Autrusseau", "Cazzato")], overlap_policy="all")
    assert everything["k"] == 3 and everything["overlap"]["left_out"] == []
    with pytest.raises(ReviewError, match="named by study"):
        pool_table(df, "PLO", events="events", total="total", overlaps=[("a", "b")])


@pytest.fixture
def review(tmp_path):
    r = build_full_text_review(tmp_path)
    yield r
    r.close()


def test_overlaps_are_stored_by_report_and_follow_relabelling(review):
    from toolkit.fulltext import link_report

    with review.atomic():
        pair = record_overlap(review, "3", "pmid:1004", note="same centre", source="p. 2")
    assert pair["studies"] == ["3", "4"]
    with review.atomic():
        link_report(review, "3", "Autrusseau2021")
        record_overlap(review, "4", "Autrusseau2021", note="same centre and years")
    pairs = overlapping_pairs(review)
    assert [(p["studies"], p["note"]) for p in pairs] == [
        (["4", "Autrusseau2021"], "same centre and years")]
    with pytest.raises(ReviewError, match="same study"):
        record_overlap(review, "1", "2")           # reports 1 and 2 are one study
    with pytest.raises(ReviewError, match="not an included study"):
        record_overlap(review, "1", "5")           # report 5 is excluded
    with review.atomic():
        remove_overlap(review, "Autrusseau2021", "4")
    assert overlapping_pairs(review) == []
    with pytest.raises(ReviewError, match="no overlap recorded"):
        remove_overlap(review, "1", "4")
    actions = [r["action"] for r in review.db.query("select action from events")]
    assert actions.count("overlap") == 2 and "overlap_removed" in actions


def test_pool_outcome_applies_units_and_recorded_overlaps(review):
    form = find_form(review, None)
    for study, lc, n in (("1", "30/31 tumours", "14"), ("3", "6/10 tumours", "41"),
                         ("4", "23/28 tumours", "74")):
        put(review, form, study, "local_control", lc)
        put(review, form, study, "patients", n)
    with review.atomic():
        record_overlap(review, "3", "4")
    df = outcome_data(review, "local_control")
    assert df.attrs["overlaps"][0]["studies"] == ["3", "4"]
    out = pool_outcome(review, "local_control", model="glmm")
    assert out["unit"] == "tumours" and [s["study"] for s in out["studies"]] == ["1", "4"]
    out = pool_outcome(review, "local_control", model="glmm", overlap_policy="all")
    assert out["k"] == 3
    put(review, form, "4", "local_control", "5/7 patients")
    with pytest.raises(ReviewError, match="patients: 4; tumours: 1, 3"):
        pool_outcome(review, "local_control")


def test_cli_overlap_commands_and_pool_with_units(review, tmp_path):
    form = find_form(review, None)
    for study, lc in (("1", "30/31 tumours"), ("3", "6/10 tumours"), ("4", "5/7 patients")):
        put(review, form, study, "local_control", lc)
    db = review.path
    review.close()
    code, out, err = run_cli(db, "overlap", "add", "3", "4", "--note", "same centre", "--json")
    assert code == 0, err
    assert json.loads(out)["studies"] == ["3", "4"]
    code, out, _ = run_cli(db, "overlap", "list", "--json")
    assert json.loads(out)["sets"] == [["3", "4"]]
    before = snapshot(db)
    code, out, err = run_cli(db, "pool", "--outcome", "local_control")
    assert code == 1 and out == "" and snapshot(db) == before
    assert "review: error: " in err and len(err.strip().splitlines()) == 1
    assert "different units of analysis (patients: 4; tumours: 1, 3)" in err
    code, out, err = run_cli(db, "pool", "--outcome", "local_control", "--unit-of-analysis",
                             "tumours", "--model", "glmm", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["model"] == "glmm" and res["k"] == 2
    assert res["left_out"] == [{"study": "4", "unit": "patients",
                                "reason": "counts patients, not tumours"}]
    code, out, _ = run_cli(db, "overlap", "remove", "3", "4")
    assert code == 0 and "removed" in out


# -- guards -------------------------------------------------------------------------------------

MR = pd.DataFrame({"study": list("ABCDE"), "yi": [0.1, 0.4, 0.3, 0.9, 0.7],
                   "vi": [0.1, 0.2, 0.1, 0.3, 0.2], "x": [1, 2, 3, 4, 5],
                   "g": ["a", "b", "c", "a", "b"]})


def test_meta_regression_needs_two_more_studies_than_coefficients():
    with pytest.raises(ReviewError, match="needs at least 4 studies.*got 3"):
        pool_table(MR.head(3), "GEN", yi="yi", vi="vi", moderators=["x"])
    with pytest.raises(ReviewError, match=r"3 coefficients .* needs at least 5 studies.*got 4"):
        pool_table(MR.head(4), "GEN", yi="yi", vi="vi", moderators=["g"])
    out = pool_table(MR.head(4), "GEN", yi="yi", vi="vi", moderators=["x"])
    assert out["metareg"]["coefficients"][1]["name"] == "x"
    assert any("fewer than 10 studies per term" in w for w in out["warnings"])


def test_no_warning_with_ten_studies_per_moderator():
    df = pd.concat([MR] * 2, ignore_index=True).assign(x=range(10))
    assert pool_table(df, "GEN", yi="yi", vi="vi", moderators=["x"])["warnings"] == []


def test_meta_regression_warning_reaches_the_cli(tmp_path):
    path = tmp_path / "mr.csv"
    MR.head(4).to_csv(path, index=False)
    res = CliRunner().invoke(cli, ["pool", str(path), "--measure", "GEN", "--yi", "yi",
                                   "--vi", "vi", "--moderator", "x", "--json"])
    assert res.exit_code == 0
    assert "review: warning: meta-regression with 4 studies" in res.stderr
    assert json.loads(res.stdout)["warnings"]


def test_glmm_refuses_meta_regression_and_other_measures():
    with pytest.raises(ReviewError, match="meta-regression uses the inverse-variance model"):
        pool_table(LC, "PLO", events="events", total="total", model="glmm", moderators=["year"])
    with pytest.raises(ReviewError, match="measure PR or PLO, not PFT"):
        pool_table(LC, "PFT", events="events", total="total", model="glmm")


def test_glmm_subgroups_leave_single_study_groups_out_of_the_test():
    df = LC.assign(design=["retro", "pro", "retro", "retro"])
    out = pool_table(df, "PLO", events="events", total="total", study="study", model="glmm",
                     by="design")
    pro, retro = out["subgroups"]
    assert (pro["k"], pro["in_test"], retro["k"], retro["in_test"]) == (1, False, 3, True)
    assert pro["estimate"] == pytest.approx(5 / 7)
    ref = fit_glmm([30, 6, 23], [31, 10, 28])
    assert retro["est_model_scale"] == pytest.approx(ref.beta, rel=1e-12)
    assert out["Q_between"] is None
    assert "test of subgroup differences not done" in out["warnings"][-1]


def test_a_pooled_mean_needs_every_sd():
    df = pd.DataFrame({"study": ["a", "b"], "mean": [53, 54.5], "sd": ["", "4.4"], "n": [14, 41]})
    with pytest.raises(ReviewError, match=r"row 1 \(study 'a'\).*sd is empty: a pooled mean "
                                          r"needs each study's SD"):
        pool_table(df, "MN", mean="mean", sd="sd", n="n", study="study")
