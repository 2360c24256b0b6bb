"""Extraction: a changed form against stored values, one conflict rule for export and compare,
values saved before their quote is asked, derivations that cannot be had, the import's unit
column, form validation and arm names."""

from __future__ import annotations

import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from toolkit import fulltext as ft
from toolkit.errors import ReviewError
from toolkit.extraction import derived
from toolkit.extraction.compare import disagreements, resolve
from toolkit.extraction.entries import final_values, import_values_csv
from toolkit.extraction.export import export_table, outcome_table
from toolkit.extraction.forms import find_form, load_form, parse_form, stored_form
from toolkit.extraction.prompts import run_entry
from toolkit.flow import studies_in_meta_analysis
from toolkit.store import open_review

try:
    from test_extraction_support import (REPO, build_full_text_review, build_review, put, run_cli,
                                         snapshot)
except ImportError:
    from tests.test_extraction_support import (REPO, build_full_text_review, build_review, put, run_cli,
                                               snapshot)

FORM_FILE = REPO / "extraction" / "forms" / "cryoablation.yaml"
FEMALE_INTEGER = """  - name: female
    label: Female patients
    type: integer
    unit: patients
    min: 0
"""
FEMALE_OUTCOME = "  female: {measure: proportion, events: female, total: patients}\n"
# female as an n of N (the reviewer's edit), its outcome adjusted to match
TO_N_OF_N = [(FEMALE_INTEGER, "  - name: female\n    label: Female patients\n    type: n of N\n"),
             (FEMALE_OUTCOME, "  female: {measure: proportion, events: female}\n")]


@pytest.fixture
def review(tmp_path):
    """Reports 1-4 included at full text, 2 linked to 1 (one study '1'); 5 excluded."""
    r = build_full_text_review(tmp_path)
    yield r
    r.close()


def edit_form(review, *edits: tuple[str, str]):
    """Edit extraction/forms/cryoablation.yaml beside the store (each (old, new) once);
    returns the new Form."""
    path = review.path.resolve().parent / "extraction" / "forms" / "cryoablation.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return find_form(review, "cryoablation")


# -- 1. a changed form is checked against the stored values -----------------------------------

def test_a_changed_form_that_stored_values_do_not_fit_is_refused(review):
    form = find_form(review, None)
    put(review, form, "1", "patients", "14")
    put(review, form, "1", "female", "9")
    put(review, form, "3", "female", "NR")
    put(review, form, "4", "female", "35", "bob")
    before = snapshot(review.path)
    new = edit_form(review, *TO_N_OF_N)
    with pytest.raises(ReviewError) as err:
        put(review, new, "3", "patients", "41")
    msg = str(err.value)
    assert "form cryoablation has changed, and 2 stored values do not fit" in msg
    assert "nothing was changed" in msg
    assert ("study 1, field female, value '9' (by ann): '9' is not 'n of N' (like '30/31' "
            "or '30 of 31')") in msg
    assert "study 4, field female, value '35' (by bob)" in msg
    assert "study 3" not in msg  # NR is an answer of every type
    assert snapshot(review.path) == before
    # Everything downstream still works with the stored form (this crashed with TypeError).
    assert stored_form(review, "cryoablation").sha256 == form.sha256
    fem = outcome_table(review, "female")
    assert fem[["study", "events", "total"]].values.tolist() == [["1", 9, 14]]
    assert export_table(review).loc[0, "female"] == 9
    assert studies_in_meta_analysis(review) == 0


def test_a_changed_form_is_refused_by_the_commands_too(review):
    form = find_form(review, None)
    put(review, form, "1", "patients", "14")
    put(review, form, "1", "female", "9")
    db = review.path
    edit_form(review, *TO_N_OF_N)
    review.close()
    before = snapshot(db)
    values = db.parent / "more.csv"
    values.write_text("study,field,value\n3,patients,41\n")
    code, out, err = run_cli(db, "extract", "import", values, "--extractor", "ann")
    assert code == 1 and "study 1, field female, value '9' (by ann)" in err, err
    # --export with --form reads the edited file: the same check, not a TypeError
    code, out, err = run_cli(db, "extract", "export", db.parent / "f.csv", "--outcome",
                             "female", "--form", "cryoablation")
    assert code == 1 and "study 1, field female, value '9' (by ann)" in err, err
    # the prompts and the adjudication loop say so before the first question
    for args in (["extract", "3", "--extractor", "ann"], ["extract", "resolve"]):
        code, out, err = run_cli(db, *args, input="14\n\nq\n")
        assert code == 1 and "study 1, field female, value '9' (by ann)" in err, (args, err)
        assert "Study design" not in out + err
    assert snapshot(db) == before
    # without --form the stored form is used
    code, out, err = run_cli(db, "extract", "export", db.parent / "f.csv", "--outcome",
                             "female")
    assert code == 0, err
    code, out, err = run_cli(db, "prisma", "--format", "json")
    assert "Traceback" not in err and "TypeError" not in err


def test_an_import_in_the_new_forms_terms_changes_the_type(review, tmp_path):
    form = find_form(review, None)
    put(review, form, "1", "patients", "14")
    put(review, form, "1", "female", "9")
    put(review, form, "4", "female", "35", "bob")
    new = edit_form(review, *TO_N_OF_N)
    path = tmp_path / "female.csv"
    path.write_text("study,field,value,extractor\n1,female,9/14,ann\n")
    with pytest.raises(ReviewError, match=r"1 stored value does not fit(.|\n)*study 4, field "
                                          r"female, value '35' \(by bob\)"):
        import_values_csv(review, path, new)
    path.write_text("study,field,value,extractor\n1,female,9/14,ann\n4,female,35/74,bob\n")
    assert import_values_csv(review, path, new)["imported"] == 2
    assert stored_form(review, "cryoablation").sha256 == new.sha256
    fem = outcome_table(review, "female")
    assert fem[["study", "events", "total"]].values.tolist() == [["1", 9, 14], ["4", 35, 74]]
    old_rows = list(review.db.query("select raw from extraction_values where field = 'female' "
                                    "and superseded_at is not null order by id"))
    assert [r["raw"] for r in old_rows] == ["9", "35"]  # kept for the audit


def test_a_removed_field_or_a_new_level_must_fit_too(review):
    form = find_form(review, None)
    put(review, form, "1", "female", "9")
    before = snapshot(review.path)
    gone = edit_form(review, (FEMALE_INTEGER, ""), (FEMALE_OUTCOME, ""))
    with pytest.raises(ReviewError, match=r"study 1, field female, value '9' \(by ann\): the "
                                          r"field is no longer in the form"):
        put(review, gone, "3", "patients", "41")
    armed = edit_form(review, ("  - name: patients\n",
                               FEMALE_INTEGER + "    level: arm\n  - name: patients\n"))
    with pytest.raises(ReviewError, match="field female is arm-level: give the arm"):
        put(review, armed, "3", "patients", "41")
    assert snapshot(review.path) == before


def test_a_changed_form_that_fits_replaces_the_stored_one(review):
    form = find_form(review, None)
    put(review, form, "1", "pain_scale", "nrs")       # stored as the form spells it: NRS
    put(review, form, "1", "country", "usa")
    put(review, form, "1", "female", "9")
    new = edit_form(review, ("choices: [VAS, NRS]", "choices: [vas, nrs]"))
    new_text = edit_form(review, ("    type: text\n  - name: period_start",
                                  "    type: choice\n    choices: [USA, Italy]\n"
                                  "  - name: period_start"))
    assert new.sha256 != new_text.sha256
    put(review, new_text, "3", "patients", "41")
    assert stored_form(review, "cryoablation").sha256 == new_text.sha256
    final = {k[1]: v["value"] for k, v in final_values(review, new_text).items()
             if k[0] == "1"}
    assert final == {"pain_scale": "nrs", "country": "USA", "female": 9}
    rows = {r["field"]: (r["raw"], r["value"]) for r in review.db.query(
        "select field, raw, value from extraction_values where study = '1'")}
    assert rows["country"] == ("usa", '"USA"')  # what was typed stays; the value is re-stored
    event = json.loads(list(review.db.query(
        "select details from events where action = 'extraction_form' order by id"))[-1][
        "details"])
    assert event["replaced"] is True and len(event["revalued"]) == 2


# -- 2. one rule: a cell only some of a study's extractors filled is a conflict ---------------

def test_a_cell_one_of_two_extractors_left_out_is_a_conflict_everywhere(review):
    form = find_form(review, None)
    for who in ("ann", "bob"):
        put(review, form, "1", "patients", "14", who)
    put(review, form, "1", "female", "9", "ann")          # bob left it out
    put(review, form, "3", "patients", "41", "ann")       # study 3: ann alone
    put(review, form, "3", "female", "20", "ann")
    final = final_values(review, form)
    assert final[("1", "patients", "")]["state"] == "agreed"
    assert final[("1", "female", "")] == {"state": "conflict", "value": None, "by": ["ann"]}
    assert final[("3", "female", "")]["state"] == "single"
    assert [(d["study"], d["field"]) for d in disagreements(review, form)] == [("1", "female")]
    table = export_table(review)
    assert table.set_index("study").loc["1", "female"] == "CONFLICT"
    fem = outcome_table(review, "female")
    assert fem["study"].tolist() == ["3"]
    assert "study 1: left out: female unresolved disagreement" in fem.attrs["notes"]
    with review.atomic():
        resolve(review, form, "1", "female", "9", "cat")
    assert final_values(review, form)[("1", "female", "")]["state"] == "resolved"
    assert outcome_table(review, "female")["study"].tolist() == ["1", "3"]
    assert disagreements(review, form) == []


def test_an_adjudicator_is_not_an_extractor_of_the_study(review):
    form = find_form(review, None)
    put(review, form, "3", "patients", "41", "ann")
    with review.atomic():
        resolve(review, form, "3", "tumours", "46", "cat")
    final = final_values(review, form)
    assert final[("3", "patients", "")]["state"] == "single"
    assert disagreements(review, form) == []


# -- 3. a typed value is saved before its quote is asked ---------------------------------------

def test_the_value_is_stored_when_the_quote_is_asked(review):
    form = find_form(review, None)
    seen = {}

    def ask(prompt):
        if prompt.strip().startswith("source quote"):
            seen["rows"] = [(r["field"], r["raw"], r["quote"]) for r in review.db.query(
                "select field, raw, quote from extraction_values")]
            return "We retrospectively reviewed"
        if prompt.strip().startswith("page"):
            return "3"
        return "retrospective" if "design" in prompt.lower() else "q"

    out = run_entry(review, form, "1", "ann", ask=ask, echo=lambda _: None)
    assert out == {"saved": 1, "quit": True}
    assert seen["rows"] == [("design", "retrospective", None)]
    row = next(review.db.query("select raw, quote, page, superseded_at from extraction_values"))
    assert row == {"raw": "retrospective", "quote": "We retrospectively reviewed", "page": "3",
                   "superseded_at": None}
    actions = [e["action"] for e in review.db.query("select action from events order by id")]
    assert actions[-2:] == ["extraction_entry", "extraction_source"]


def _reader(proc):
    """A queue of the child's output as it comes (prompts end without a newline)."""
    chunks = queue.Queue()

    def pump():
        while True:
            data = os.read(proc.stdout.fileno(), 4096)
            if not data:
                break
            chunks.put(data.decode("utf-8", "replace"))
        chunks.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return chunks


def _read_until(chunks, text, seen, timeout=60.0):
    deadline = time.monotonic() + timeout
    while text not in seen[0]:
        try:
            chunk = chunks.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            chunk = None
        if chunk is None:
            raise AssertionError(f"no {text!r} in output:\n{seen[0]}")
        seen[0] += chunk


def test_kill_9_at_the_quote_question_keeps_the_value(review):
    db = review.path
    review.close()
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "toolkit.cli", "--db", str(db), "extract",
                             "1", "--extractor", "ann"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            cwd=db.parent)
    chunks, seen = _reader(proc), [""]
    try:
        _read_until(chunks, "Study design", seen)
        proc.stdin.write(b"retrospective\n")
        proc.stdin.flush()
        _read_until(chunks, "source quote", seen)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    r = open_review(db)
    rows = list(r.db.query("select field, raw, quote, superseded_at from extraction_values"))
    r.close()
    assert rows == [{"field": "design", "raw": "retrospective", "quote": None,
                     "superseded_at": None}]


# -- 4. derivations that cannot be had -------------------------------------------------------

def test_sd_of_says_why_instead_of_raising():
    ci = {"mean": 5.0, "ci_low": 4.0, "ci_high": 6.0}
    sd, why = derived.sd_of(ci, 1)
    assert sd is None and "needs n >= 2" in why and "n=1" in why
    sd, why = derived.sd_of({"mean": 5.0, "se": 0.5}, 0)
    assert sd is None and "positive whole number" in why
    sd, how = derived.sd_of(ci, 2)
    assert sd == pytest.approx(math.sqrt(2) * 2 / (2 * 12.706205), rel=1e-6)  # t(0.975,1)


def test_n_of_1_with_a_ci_leaves_the_study_out_with_a_note(review):
    form = find_form(review, None)
    for study, n, age in (("1", "1", "61 (95% CI 55 to 67)"), ("3", "41", "59.7 (4.4)"),
                          ("4", "74", "60 (4)")):
        put(review, form, study, "patients", n)
        put(review, form, study, "age", age)
    age = outcome_table(review, "age")
    assert age["study"].tolist() == ["3", "4"]
    assert age.attrs["notes"] == [
        "study 1: left out: age: no SD from a 95% CI with n=1: a t-based CI needs n >= 2 "
        "(t has n - 1 degrees of freedom)"]
    table = export_table(review).set_index("study")
    assert table.loc["1", "age_mean"] == 61 and math.isnan(table.loc["1", "age_sd"])
    lc = outcome_table(review, "local_control")  # age is a covariate there: the mean only
    assert lc.empty
    assert studies_in_meta_analysis(review) == 2  # PRISMA: no crash, studies 3 and 4


def test_a_value_no_derivation_takes_names_study_and_field(review):
    form = find_form(review, None)
    row_id = put(review, form, "3", "local_control", "6/10 tumours")
    # A stored value the parser would refuse (N = 0), as a damaged store might hold.
    review.db.execute("update extraction_values set value = ? where id = ?",
                      ['{"N": 0, "n": 0}', row_id])
    with pytest.raises(ReviewError, match=r"study 3: column 'local_control': cannot derive"):
        export_table(review)
    lc = outcome_table(review, "local_control")
    assert "study 3: left out: total is 0" in lc.attrs["notes"]


# -- 5. the import's unit column ---------------------------------------------------------------

def test_import_unit_must_be_the_fields_unit(review, tmp_path):
    form = find_form(review, None)
    path = tmp_path / "values.csv"
    path.write_text("study,field,value,unit,extractor\n"
                    "1,patients,14, Patients ,ann\n"           # the form's unit, other case
                    "1,age,53,months,ann\n"                    # 3: years in the form
                    "1,tumours,thirty,patients,ann\n"          # 4: both cells invalid
                    "3,local_control,6/10,lesions,ann\n")      # 5: not one of the units
    before = snapshot(review.path)
    with pytest.raises(ReviewError) as err:
        import_values_csv(review, path, form)
    msg = str(err.value)
    assert msg.startswith("4 invalid cells, nothing was written")
    assert f"{path}: row 3: column 'unit': 'months' is not the unit of field age (years)" in msg
    assert (f"{path}: row 4: column 'unit': 'patients' is not the unit of field tumours "
            "(tumours)") in msg
    assert f"{path}: row 4: column 'value': 'thirty' is not a whole number" in msg
    assert (f"{path}: row 5: column 'unit': 'lesions': unit 'lesions' is not one of patients, "
            "tumours, sessions") in msg
    assert snapshot(review.path) == before
    path.write_text("study,field,value,unit,extractor\n"
                    "1,patients,14,PATIENTS,ann\n"
                    "1,age,53,,ann\n"
                    "3,local_control,6/10,Tumour,ann\n")         # singular, other case
    assert import_values_csv(review, path, form)["imported"] == 3
    rows = {r["field"]: (r["note"], r["raw"]) for r in review.db.query(
        "select field, note, raw from extraction_values")}
    assert rows == {"patients": (None, "14"), "age": (None, "53"),
                    "local_control": (None, "6/10 tumours")}   # the unit is in the value


# -- 6. form validation and arm names ---------------------------------------------------------

@pytest.mark.parametrize("text, why", [
    ("fields:\n  - {name: a, type: choice, choices: [yes, no]}\n",
     "YAML read [True, False] as true/false"),
    ("fields:\n  - {name: a, type: choice, choices: [1, b]}\n", "quote them"),
    ("fields:\n  - {name: a, type: number, min: .nan}\n", "min must be a finite number"),
    ("fields:\n  - {name: a, type: number, max: .inf}\n", "max must be a finite number"),
    ("fields:\n  - {name: a, type: integer, min: 0.5}\n",
     "min of an integer field must be a whole number, got 0.5"),
    ("fields:\n  - {name: a, type: n of N, max: 9.5}\n",
     "max of a n of N field must be a whole number"),
    ("fields:\n  - {name: a, type: text, label: 2016}\n", "label must be text, got 2016"),
    ("fields:\n  - {name: a, type: integer, unit: 10}\n", "unit must be text, got 10"),
    ("fields:\n  - {name: a, type: text, help: [x]}\n", "help must be text"),
    ("fields:\n  - {name: a, type: mean_sd_x}\n",
     "one of integer, number, percent, text, choice, boolean, date, n of N, mean (SD), "
     "median (IQR or range)"),
    ("fields:\n  - {name: a, type: text, min: 1}\n", "min is not allowed for type text"),
    ("fields:\n  - {name: a, type: n of N}\noutcomes:\n  x: {measure: mean, value: a, n: a}\n",
     "has type n of N, needs mean (SD)"),
])
def test_form_validation_messages(tmp_path, text, why):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(ReviewError) as err:
        load_form(path)
    assert why in str(err.value)
    assert "n_of_N" not in str(err.value) and "mean_sd," not in str(err.value)


def test_quoted_choices_and_whole_float_bounds_are_fine():
    form = parse_form('fields:\n  - {name: a, type: choice, choices: ["yes", "no"]}\n'
                      "  - {name: b, type: integer, min: 1.0, max: 10}\n", default_name="f")
    assert form.by_name["a"]["choices"] == ["yes", "no"]
    assert form.by_name["b"]["min"] == 1 and isinstance(form.by_name["b"]["min"], int)


def test_the_worked_example_form_still_loads():
    assert load_form(FORM_FILE).name == "cryoablation"


ARMS = ("fields:\n"
        "  - {name: design, type: text}\n"
        "  - {name: n, type: integer, level: arm}\n"
        "  - {name: pain, type: mean (SD), level: arm, n_field: n}\n"
        "  - {name: when, type: text, level: timepoint}\n")


def test_arm_names_match_ignoring_case_and_the_first_spelling_is_kept(tmp_path):
    r = build_review(tmp_path)
    (tmp_path / "extraction" / "forms" / "arms.yaml").write_text(ARMS)
    with r.atomic():
        ft.record_fulltext(r, 1, "assessed", "include", reviewer="ann")
    form = find_form(r, "arms")
    put(r, form, "1", "n", "20", instance="Cryo")
    put(r, form, "1", "pain", "3.1 (1.2)", instance="cryo")
    put(r, form, "1", "n", "21", instance=" CRYO ")          # ann's new value supersedes
    put(r, form, "1", "n", "21", "bob", instance="cryo")     # bob: the same arm
    put(r, form, "1", "when", "x", instance="CRYO")          # one name for every level
    rows = [(x["field"], x["instance"], x["superseded_at"] is None) for x in r.db.query(
        "select field, instance, superseded_at from extraction_values order by id")]
    assert rows == [("n", "Cryo", False), ("pain", "Cryo", True), ("n", "Cryo", True),
                    ("n", "Cryo", True), ("when", "Cryo", True)]
    final = final_values(r, form)
    assert final[("1", "n", "Cryo")] == {"state": "agreed", "value": 21, "by": ["ann", "bob"]}
    path = tmp_path / "v.csv"
    path.write_text("study,field,value,instance,extractor\n"
                    "1,n,22,rfa,cat\n1,pain,3.6 (0.3),RFA,cat\n1,n,23,Rfa,cat\n")
    with pytest.raises(ReviewError, match="n of study 1 by cat is already on row 2"):
        import_values_csv(r, path, form)
    path.write_text("study,field,value,instance,extractor\n"
                    "1,n,22,rfa,cat\n1,pain,3.6 (0.3),RFA,cat\n")
    import_values_csv(r, path, form)
    assert export_table(r, form="arms")["instance"].tolist() == ["Cryo", "rfa"]
    r.close()
