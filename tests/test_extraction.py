"""Extraction: saving values, double extraction (compare, resolve), CSV import, prompts, export."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from toolkit import fulltext as ft
from toolkit.errors import ReviewError
from toolkit.extraction.compare import disagreements, resolve
from toolkit.extraction.entries import final_values, import_values_csv, save_value
from toolkit.extraction.export import export_table, outcome_table
from toolkit.extraction.forms import find_form
from toolkit.extraction.values import NOT_REPORTED
from toolkit.store import open_review

try:
    from test_extraction_support import (build_full_text_review, build_review, put, run_cli,
                                         snapshot)
except ImportError:
    from tests.test_extraction_support import (build_full_text_review, build_review, put, run_cli,
                                               snapshot)


@pytest.fixture
def review(tmp_path):
    """Reports 1-4 included at full text, 2 linked to 1 (one study '1'); 5 excluded."""
    r = build_full_text_review(tmp_path)
    yield r
    r.close()


def test_find_form_in_the_review_folder(review):
    form = find_form(review, None)
    assert form.name == "cryoablation"
    assert find_form(review, "cryoablation").sha256 == form.sha256
    with pytest.raises(ReviewError, match="no form 'other'"):
        find_form(review, "other")


def test_values_are_saved_with_extractor_quote_and_page(review):
    form = find_form(review, None)
    put(review, form, "1", "patients", "14", quote="14 patients were treated", page="189")
    row = next(review.db.query("select * from extraction_values"))
    assert (row["study"], row["field"], row["extractor"], row["value"], row["quote"],
            row["page"], row["origin"]) == ("1", "patients", "ann", "14",
                                            "14 patients were treated", "189", "entry")
    assert row["entered_at"]
    assert review.db["extraction_forms"].count == 1  # the form text is kept in the store
    events = [e["action"] for e in review.db.query("select action from events")]
    assert "extraction_entry" in events


def test_not_reported_is_stored_apart_from_zero(review):
    form = find_form(review, None)
    put(review, form, "1", "female", "NR")
    put(review, form, "3", "female", "0")
    final = final_values(review, form)
    assert final[("1", "female", "")]["value"] is NOT_REPORTED
    assert final[("3", "female", "")]["value"] == 0
    rows = {r["study"]: (r["status"], r["value"]) for r in
            review.db.query("select study, status, value from extraction_values")}
    assert rows == {"1": ("not_reported", None), "3": ("reported", "0")}


def test_reentry_supersedes_but_keeps_the_old_value(review):
    form = find_form(review, None)
    put(review, form, "1", "patients", "41")
    put(review, form, "1", "patients", "14")
    assert final_values(review, form)[("1", "patients", "")]["value"] == 14
    rows = list(review.db.query("select value, superseded_at from extraction_values "
                                "order by id"))
    assert rows[0]["value"] == "41" and rows[0]["superseded_at"] is not None
    assert rows[1]["superseded_at"] is None


def test_bad_value_names_study_and_field_and_writes_nothing(review):
    form = find_form(review, None)
    before = snapshot(review.path)
    for field, text, why in [("patients", "0", "below the allowed minimum 1"),
                             ("local_control", "31/30", "exceeds N"),
                             ("pain_scale", "VRS", "not one of VAS, NRS"),
                             ("age", "61 (SD -1)", "negative SD")]:
        with pytest.raises(ReviewError) as err:
            put(review, form, "1", field, text)
        assert why in str(err.value) and "study 1" in str(err.value)
        assert f"column {field!r}" in str(err.value)
    with pytest.raises(ReviewError, match="no field 'colour'"):
        put(review, form, "1", "colour", "red")
    assert snapshot(review.path) == before


def test_compare_lists_every_disagreement_and_resolve_keeps_the_audit(review):
    form = find_form(review, None)
    for who, lc, age in (("ann", "30/31 tumours", "53"), ("bob", "29/31 tumours", "53")):
        put(review, form, "1", "local_control", lc, who)
        put(review, form, "1", "age", age, who)
    put(review, form, "1", "pain_scale", "nrs", "ann")
    put(review, form, "1", "pain_scale", "NRS", "bob")     # same answer, other case
    put(review, form, "1", "country", "USA", "ann")          # bob left it out
    put(review, form, "3", "patients", "41", "ann")          # single extraction: no compare
    got = disagreements(review, form)
    assert got == [
        {"study": "1", "field": "country", "instance": "",
         "values": {"ann": "USA", "bob": None}, "resolved": None},
        {"study": "1", "field": "local_control", "instance": "",
         "values": {"ann": "30/31 tumours", "bob": "29/31 tumours"}, "resolved": None},
    ]
    final = final_values(review, form)
    assert final[("1", "local_control", "")]["state"] == "conflict"
    assert final[("1", "age", "")]["state"] == "agreed"
    assert final[("3", "patients", "")]["state"] == "single"
    with review.atomic():
        resolve(review, form, "1", "local_control", "30/31 tumours", "cat", note="table 2")
        resolve(review, form, "pmid:1002", "country", "USA", "cat")  # a report of study 1
    assert disagreements(review, form) == []
    assert [d["resolved"] for d in disagreements(review, form, include_resolved=True)] == [
        "USA", "30/31 tumours"]
    assert final_values(review, form)[("1", "local_control", "")] == {
        "state": "resolved", "value": {"n": 30, "N": 31, "unit": "tumours"}, "by": ["cat"]}
    # The extractors' values are still there.
    assert review.db.execute("select count(*) from extraction_values where field = "
                             "'local_control' and superseded_at is null").fetchone()[0] == 3
    with pytest.raises(ReviewError, match="not an included study"):
        with review.atomic():
            resolve(review, form, "5", "country", "USA", "cat")


def test_import_long_csv(review, tmp_path):
    form = find_form(review, None)
    path = tmp_path / "values.csv"
    path.write_text("study,field,value,extractor,quote,page\n"
                    "1,patients,14,ann,Thirty-one tumors were ablated in 14 patients,189\n"
                    "pmid:1003,patients,41,ann,,\n"
                    "doi:10.1000/cryo.4,local_control,23/28 tumours,ann,,\n"
                    "1,pain_pre,6.8 ± 2.2,ann,,\n")
    out = import_values_csv(review, path, form)
    assert out == {"imported": 4, "studies": 3, "file": str(path)}
    final = final_values(review, form)
    assert final[("3", "patients", "")]["value"] == 41
    assert final[("4", "local_control", "")]["value"] == {"n": 23, "N": 28, "unit": "tumours"}
    assert final[("1", "pain_pre", "")]["value"] == {"mean": 6.8, "sd": 2.2}


def test_import_keeps_source_and_derivation(review, tmp_path):
    form = find_form(review, None)
    path = tmp_path / "values.csv"
    path.write_text("study,field,value,unit,source_url,quote,derived,note\n"
                    "3,major_complications,0/14,patients,https://example.org/a,"
                    "There were no complications.,0 from 'no complications',abstract\n")
    import_values_csv(review, path, form, extractor="ann")
    row = next(review.db.query("select source, quote, note, extractor from extraction_values"))
    assert row == {"source": "https://example.org/a", "quote": "There were no complications.",
                   "note": "abstract; derived: 0 from 'no complications'",
                   "extractor": "ann"}
    # the unit column names what was counted: it is part of the value (the field lists units)
    value = next(review.db.query("select value, raw from extraction_values"))
    assert value == {"value": '{"N": 14, "n": 0, "unit": "patients"}', "raw": "0/14 patients"}


def test_import_reports_every_invalid_cell_and_writes_nothing(review, tmp_path):
    form = find_form(review, None)
    path = tmp_path / "values.csv"
    path.write_text("study,field,value,extractor\n"
                    "1,patients,14,ann\n"            # fine
                    "5,patients,14,ann\n"            # 3: excluded report
                    "1,colour,red,ann\n"             # 4: unknown field
                    "1,local_control,31/30,ann\n"    # 5: n > N
                    "1,patients,,ann\n"              # 6: empty value
                    "1,patients,15,ann\n"            # 7: duplicate of row 2
                    "1,age,61,\n"                    # 8: no extractor
                    ",design,prospective,ann\n")     # 9: no study
    before = snapshot(review.path)
    with pytest.raises(ReviewError) as err:
        import_values_csv(review, path, form)
    msg = str(err.value)
    assert msg.startswith("7 invalid cells, nothing was written")
    for expected in [
        f"{path}: row 3: column 'study': '5' is not an included study",
        f"{path}: row 4: column 'field': 'colour' is not a field of form cryoablation",
        f"{path}: row 5: column 'value': '31/30': n (31) exceeds N (30)",
        f"{path}: row 6: column 'value': empty (type NR for 'not reported')",
        f"{path}: row 7: column 'field': patients of study 1 by ann is already on row 2",
        f"{path}: row 8: column 'extractor': empty, and no --extractor given",
        f"{path}: row 9: column 'study': empty",
    ]:
        assert expected in msg
    assert snapshot(review.path) == before


def test_import_header_errors(review, tmp_path):
    form = find_form(review, None)
    path = tmp_path / "values.csv"
    path.write_text("study,value\n1,14\n")
    with pytest.raises(ReviewError, match=r"missing columns \['field'\]"):
        import_values_csv(review, path, form)
    path.write_text("study,field,value,colour\n1,patients,14,red\n")
    with pytest.raises(ReviewError, match="unknown columns"):
        import_values_csv(review, path, form)
    with pytest.raises(ReviewError, match="file not found"):
        import_values_csv(review, tmp_path / "none.csv", form)


def test_prompts_validate_each_value_and_save_it_at_once(review):
    db = review.path
    review.close()
    # design: invalid then valid; country: skipped; period_start: a quote and page;
    # then quit at period_end. Only valid values are saved, each at once.
    keys = "\n".join(["?", "cohort", "retrospective", "",  # design (+ no quote)
                      "",                                       # country skipped
                      "2008", "between 2008 and 2014", "2",     # period_start + quote + page
                      "q"]) + "\n"
    code, out, err = run_cli(db, "extract", "pmid:1002", "--extractor", "ann", "--json",
                             input=keys)
    assert code == 0, err
    # With --json the prompts go to stderr and stdout is one JSON object.
    assert "invalid: 'cohort' is not one of retrospective, prospective" in err
    assert "saved design = retrospective" in err
    res = json.loads(out)
    assert res == {"saved": 2, "quit": True, "study": "1", "form": "cryoablation",
                   "extractor": "ann"}
    r = open_review(db)
    rows = list(r.db.query("select field, raw, quote, page from extraction_values order by id"))
    assert rows == [
        {"field": "design", "raw": "retrospective", "quote": None, "page": None},
        {"field": "period_start", "raw": "2008", "quote": "between 2008 and 2014", "page": "2"},
    ]
    r.close()


def test_prompts_refuse_an_unknown_study(review):
    db = review.path
    review.close()
    before = snapshot(db)
    code, out, err = run_cli(db, "extract", "5", input="q\n")
    assert code == 1 and "'5' is not an included study" in err
    assert snapshot(db) == before


def fill_three_studies(review, form):
    """Study 1 (reports 1+2), 3 and 4 with the numbers used by the export tests."""
    data = {
        "1": {"patients": "14", "age": "53", "local_control": "30/31 tumours", "female": "9",
              "pain_n": "14", "pain_pre": "6.2 (SE 0.4)", "pain_post": "1.9 (95% CI 1.0 to 2.8)",
              "pain_scale": "NRS", "design": "retrospective"},
        "3": {"patients": "41", "age": "59.7 (4.4)", "local_control": "6/10 tumours", "female": "NR",
              "pain_n": "41", "pain_pre": "6.2 (1.7)", "pain_post": "1.9 (1.8)",
              "pain_timepoint": "last follow-up", "design": "prospective"},
        "4": {"patients": "74", "age": "NR", "local_control": "NR", "female": "35",
              "pain_n": "64", "pain_pre": "6.8 ± 2.2", "pain_post": "2.4 ± 2.5",
              "design": "retrospective"},
    }
    with review.atomic():
        for study, values in data.items():
            for field, text in values.items():
                save_value(review, form, study, field, text, "ann")


def test_outcome_tables_have_the_columns_review_pool_takes(review):
    form = find_form(review, None)
    fill_three_studies(review, form)
    lc = outcome_table(review, "local_control")
    assert list(lc.columns) == ["study", "events", "total", "percent", "unit", "age", "design",
                                "followup_ltc_mean"]
    assert lc["unit"].tolist() == ["tumours", "tumours"]
    assert lc[["study", "events", "total"]].values.tolist() == [["1", 30, 31], ["3", 6, 10]]
    assert lc["percent"].tolist() == pytest.approx([100 * 30 / 31, 60.0])
    assert lc["age"].tolist() == pytest.approx([53, 59.7])
    assert lc.attrs["notes"] == ["study 4: left out: local_control not reported"]
    assert lc.attrs["pool_args"].startswith("--measure PLO --events events --total total")

    fem = outcome_table(review, "female")
    assert fem[["study", "events", "total"]].values.tolist() == [["1", 9, 14], ["4", 35, 74]]
    assert fem.attrs["notes"] == ["study 3: left out: female not reported"]

    age = outcome_table(review, "age")
    assert list(age.columns) == ["study", "mean", "sd", "n", "sd_derivation"]
    assert age[["study", "mean", "sd", "n"]].values.tolist() == [["3", 59.7, 4.4, 41]]
    assert age.attrs["notes"] == ["study 1: left out: age: SD not reported",
                                  "study 4: left out: age not reported"]

    pain = outcome_table(review, "pain")
    assert list(pain.columns) == ["study", "mean_pre", "sd_pre", "mean_post", "sd_post", "n",
                                  "timepoint", "sd_derivation", "pain_scale"]
    assert pain["study"].tolist() == ["1", "3", "4"]
    row1 = pain.iloc[0]
    # SD from SE: 0.4*sqrt(14); SD from a 95% CI with n = 14: sqrt(14)*1.8/(2*t(0.975,13)),
    # t(0.975,13) = 2.1604 (t table).
    assert row1["sd_pre"] == pytest.approx(0.4 * math.sqrt(14))
    assert row1["sd_post"] == pytest.approx(math.sqrt(14) * 1.8 / (2 * 2.1604), rel=1e-4)
    assert "SE*sqrt(n)" in row1["sd_derivation"] and "t(0.975,13)" in row1["sd_derivation"]
    assert pd.isna(pain.iloc[1]["sd_derivation"])  # reported SDs: nothing derived
    assert pain.iloc[2][["mean_pre", "sd_pre", "mean_post", "sd_post", "n"]].tolist() == [
        6.8, 2.2, 2.4, 2.5, 64]
    assert pain.iloc[1]["timepoint"] == "last follow-up"


def test_unresolved_disagreement_is_left_out_of_pooling(review):
    form = find_form(review, None)
    put(review, form, "1", "local_control", "30/31 tumours", "ann")
    put(review, form, "1", "local_control", "29/31 tumours", "bob")
    lc = outcome_table(review, "local_control")
    assert lc.empty
    assert "study 1: left out: local_control unresolved disagreement" in lc.attrs["notes"]
    table = export_table(review)
    assert table.loc[table["study"] == "1", "local_control_events"].item() == "CONFLICT"


def test_full_export_one_row_per_study_and_reproducible(review, tmp_path):
    form = find_form(review, None)
    fill_three_studies(review, form)
    table = export_table(review)
    assert table["study"].tolist() == ["1", "3", "4"]
    assert table["reports"].tolist() == ["1;2", "3", "4"]
    assert table.loc[0, "local_control_percent"] == pytest.approx(100 * 30 / 31)
    assert table.loc[1, "female"] == "NR" and table.loc[0, "female"] == 9
    assert pd.isna(table.loc[0, "country"])  # not extracted: empty, not NR
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for p in (a, b):
        run_cli(review.path, "extract", "export", p)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().splitlines()[1].startswith("1,1;2,retrospective,,,,14,")


def test_unknown_outcome_is_an_error(review):
    form = find_form(review, None)
    put(review, form, "1", "patients", "14")
    with pytest.raises(ReviewError, match="defines outcome 'survival'"):
        outcome_table(review, "survival")


def test_arm_level_fields_give_one_row_per_arm(tmp_path):
    r = build_review(tmp_path)
    (tmp_path / "extraction" / "forms" / "arms.yaml").write_text(
        "fields:\n"
        "  - {name: design, type: text}\n"
        "  - {name: n, type: integer, level: arm}\n"
        "  - {name: pain, type: mean (SD), level: arm, n_field: n}\n"
        "outcomes:\n"
        "  pain_by_arm: {measure: mean, value: pain, n: n}\n")
    with r.atomic():
        ft.record_fulltext(r, 1, "assessed", "include", reviewer="ann")
    form = find_form(r, "arms")
    put(r, form, "1", "design", "RCT")
    put(r, form, "1", "n", "20", instance="cryo")
    put(r, form, "1", "n", "22", instance="rfa")
    put(r, form, "1", "pain", "3.1 (1.2)", instance="cryo")
    put(r, form, "1", "pain", "3.6 (SE 0.3)", instance="rfa")
    with pytest.raises(ReviewError, match="arm-level: give the arm"):
        put(r, form, "1", "n", "20")
    t = outcome_table(r, "pain_by_arm", form="arms")
    assert t[["study", "arm", "mean", "n"]].values.tolist() == [["1", "cryo", 3.1, 20],
                                                                ["1", "rfa", 3.6, 22]]
    assert t["sd"].tolist() == pytest.approx([1.2, 0.3 * math.sqrt(22)])
    full = export_table(r, form="arms")
    assert full[["study", "instance", "design", "n"]].values.tolist() == [
        ["1", "cryo", "RCT", 20], ["1", "rfa", "RCT", 22]]
    r.close()


def test_link_after_extraction_may_not_orphan_values(review):
    form = find_form(review, None)
    put(review, form, "3", "patients", "41")
    before = snapshot(review.path)
    with pytest.raises(ReviewError, match="has extracted values"):
        with review.atomic():
            ft.link_report(review, "3", "1")
    assert snapshot(review.path) == before


def test_prompts_ask_arms_once_and_each_arm_value(tmp_path):
    r = build_review(tmp_path)
    (tmp_path / "extraction" / "forms" / "arms.yaml").write_text(
        "fields:\n"
        "  - {name: design, type: text}\n"
        "  - {name: n, type: integer, level: arm}\n"
        "  - {name: pain, type: mean (SD), level: arm, n_field: n}\n")
    with r.atomic():
        ft.record_fulltext(r, 1, "assessed", "include", reviewer="ann")
    db = r.path
    r.close()
    keys = "RCT\ncryo, rfa\n20\n22\n3.1 (1.2)\nNR\n"  # end of input after the last field
    code, out, err = run_cli(db, "extract", "1", "--form", "arms", "--no-source",
                             "--extractor", "ann", input=keys)
    assert code == 0, err
    assert "saved: 5" in out and "quit: False" in out
    r = open_review(db)
    form = find_form(r, "arms")
    final = {k: v["value"] for k, v in final_values(r, form).items()}
    assert final == {("1", "design", ""): "RCT", ("1", "n", "cryo"): 20,
                     ("1", "n", "rfa"): 22, ("1", "pain", "cryo"): {"mean": 3.1, "sd": 1.2},
                     ("1", "pain", "rfa"): NOT_REPORTED}
    r.close()


def test_interactive_resolve_takes_a_typed_value(review):
    form = find_form(review, None)
    put(review, form, "3", "tumours", "46", "ann")
    put(review, form, "3", "tumours", "41", "bob")
    db = review.path
    review.close()
    # #3 names no extractor; 0 is a typed value refused by the range; 45 is taken.
    code, out, err = run_cli(db, "extract", "resolve", "--extractor", "cat",
                             input="#3\n0\n45\nrecounted from table 1\n")
    assert code == 0, err
    assert "#1 ann: 46" in out and "#2 bob: 41" in out
    assert "no extractor #3" in out
    assert "invalid: '0': value 0 is below the allowed minimum 1" in out
    assert "resolved: 1" in out
    r = open_review(db)
    row = next(r.db.query("select raw, extractor, origin, note from extraction_values "
                          "where origin = 'resolution'"))
    assert row == {"raw": "45", "extractor": "cat", "origin": "resolution",
                   "note": "recounted from table 1"}
    r.close()
