"""Extraction forms: the worked example's form, and validation at load."""

from __future__ import annotations

import pytest

from toolkit.errors import ReviewError
from toolkit.extraction.forms import load_form, parse_form

try:
    from test_extraction_support import REPO
except ImportError:
    from tests.test_extraction_support import REPO


def test_cryoablation_form_has_the_issue_fields():
    form = load_form(REPO / "extraction" / "forms" / "cryoablation.yaml")
    t = {f["name"]: f["type"] for f in form.fields}
    assert form.name == "cryoablation"
    assert t["design"] == "choice" and form.by_name["design"]["choices"] == ["retrospective",
                                                                              "prospective"]
    assert t["country"] == "text" and t["period_start"] == t["period_end"] == "date"
    assert t["patients"] == t["tumours"] == t["female"] == "integer"
    assert t["age"] == "mean_sd"
    for site in ("breast", "lung", "thyroid", "kidney", "other"):
        assert t[f"primary_{site}"] == "integer"
    assert t["anaesthesia_general"] == "n_of_N"
    for g in ("ct", "mri", "fluoroscopy"):
        assert t[f"guidance_{g}"] == "n_of_N"
    assert t["thermal_protection"] == "text"
    assert t["local_control"] == "n_of_N"
    # follow-up by what is followed: local control (imaging) apart from the clinical outcomes
    for what in ("ltc", "clinical"):
        assert t[f"followup_{what}_mean"] == "mean_sd"
        assert t[f"followup_{what}_median"] == "median_iqr"
    assert form.outcomes["followup"]["value"] == "followup_ltc_mean"
    # every count names what it counts
    for name, kind in t.items():
        if kind == "n_of_N":
            assert form.by_name[name]["units"] == ["patients", "tumours", "sessions"], name
    assert form.by_name["pain_scale"]["choices"] == ["VAS", "NRS"]
    assert t["pain_pre"] == t["pain_post"] == "mean_sd" and t["pain_timepoint"] == "text"
    assert t["major_complications"] == t["minor_complications"] == "n_of_N"
    assert t["complication_grading"] == "text"
    assert form.outcomes["local_control"]["measure"] == "proportion"
    assert form.outcomes["pain"]["measure"] == "mean_change"
    assert form.outcomes["age"] == {"measure": "mean", "value": "age", "n": "patients",
                                    "covariates": []}


GOOD = "fields:\n  - {name: patients, type: integer, min: 1}\n"


@pytest.mark.parametrize("text, where, why", [
    ("fields:\n  - {name: a, type: integr}\n", "field 1 (a)", "unknown type 'integr'"),
    ("fields:\n  - {name: a, type: text}\n  - {name: a, type: integer}\n", "field 2 (a)",
     "duplicate field name 'a'"),
    ("fields:\n  - {name: a, type: integer, min: 5, max: 1}\n", "field 1 (a)",
     "bad range: min 5 > max 1"),
    ("fields:\n  - {name: a, type: integer, min: low}\n", "field 1 (a)", "min must be a number"),
    ("fields:\n  - {name: a, type: text, max: 3}\n", "field 1 (a)",
     "max is not allowed for type text"),
    ("fields:\n  - {name: a, type: percent, max: 150}\n", "field 1 (a)", "within 0 to 100"),
    ("fields:\n  - {name: a, type: choice}\n", "field 1 (a)", "needs choices"),
    ("fields:\n  - {name: a, type: choice, choices: [x, X]}\n", "field 1 (a)",
     "duplicate choices"),
    ("fields:\n  - {name: a, type: text, choices: [x]}\n", "field 1 (a)",
     "choices are only for type choice"),
    ("fields:\n  - {name: a, type: text, colour: red}\n", "field 1 (a)", "unknown keys ['colour']"),
    ("fields:\n  - {name: a, type: text, level: arm_or_not}\n", "field 1 (a)", "level"),
    ("fields:\n  - {name: a, type: text, required: maybe}\n", "field 1 (a)",
     "required must be true or false"),
    ("fields:\n  - {name: 2a, type: text}\n", "field 1", "must be an identifier"),
    ("fields:\n  - {name: a, type: mean (SD), n_field: b}\n  - {name: b, type: text}\n",
     "field a", "n_field 'b' is not an integer field"),
    (GOOD + "outcomes:\n  lc: {measure: proportion, events: nope}\n", "outcome lc",
     "'nope' is not a field"),
    (GOOD + "outcomes:\n  lc: {measure: odds, events: patients}\n", "outcome lc",
     "measure must be one of"),
    (GOOD + "outcomes:\n  lc: {measure: proportion, events: patients}\n", "outcome lc",
     "total: is needed"),
    (GOOD + "outcomes:\n  age: {measure: mean, value: patients, n: patients}\n", "outcome age",
     "has type integer, needs mean (SD)"),
    ("fields: []\n", None, "no fields"),
    ("name: x\n", None, "a list 'fields:'"),
    ("fields:\n  - {name: a, type: text\n", None, "not valid YAML"),
    ("colour: red\nfields:\n  - {name: a, type: text}\n", None, "unknown top-level keys"),
])
def test_bad_forms_are_refused_at_load(tmp_path, text, where, why):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(ReviewError) as err:
        load_form(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and why in msg
    if where:
        assert where in msg


def test_compound_type_spellings():
    form = parse_form("fields:\n  - {name: a, type: n of N}\n  - {name: b, type: mean (SD)}\n"
                      "  - {name: c, type: median (IQR or range)}\n", default_name="f")
    assert [f["type"] for f in form.fields] == ["n_of_N", "mean_sd", "median_iqr"]
