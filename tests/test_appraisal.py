"""Appraisal in a review: templates, import, two assessors, agreement, adjudication, overrides,
robvis's CSV and the plots."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from test_extraction_support import build_full_text_review, snapshot
from toolkit.appraisal import compare, export, plots
from toolkit.appraisal.assessments import final_assessments, save_entry
from toolkit.appraisal.entries_import import import_csv
from toolkit.appraisal.prompts import run_entry
from toolkit.appraisal.templates import find_tool, load_tool, package_tools, parse_tool
from toolkit.errors import ReviewError

JBI = load_tool(package_tools()["jbi_case_series"])
ROB2 = load_tool(package_tools()["rob2"])


def write_csv(path: Path, rows: list[dict]) -> Path:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return path


def jbi_rows(assessor: str, answers: dict[str, dict[str, str]]) -> list[dict]:
    return [{"study": s, "item": item, "value": v, "assessor": assessor,
             "support": f"quote for {item}", "source": "https://example.org/a"}
            for s, items in answers.items() for item, v in items.items()]


ALL_YES = {f"Q{i}": "Yes" for i in range(1, 11)}


@pytest.fixture
def review(tmp_path):
    r = build_full_text_review(tmp_path)   # included studies '1', '3', '4'
    yield r
    r.close()


# -- templates -------------------------------------------------------------------------------

def test_every_shipped_template_loads_with_its_domains():
    counts = {n: len(load_tool(p).domains) for n, p in package_tools().items()}
    assert counts == {"rob2": 5, "robins_i": 7, "jbi_case_series": 10, "minors": 12,
                      "nos_cohort": 8}
    assert len(ROB2.questions) == 22


@pytest.mark.parametrize("text, message", [
    ("name: x\njudgements: [A, B]\nclasses: {A: low, B: high}\ndomains:\n"
     "  - {id: D1, name: one, colour: red}\noverall: {rule: worst}\n", "unknown keys"),
    ("name: x\njudgements: [A, B]\nclasses: {A: low}\ndomains:\n"
     "  - {id: D1, name: one}\noverall: {rule: worst}\n", "'B' has no plot class"),
    ("name: x\njudgements: [A, B]\nclasses: {A: low, B: high}\ndomains:\n"
     "  - {id: D1, name: one, algorithm: magic, questions: [{id: q, text: t, answers: [Y]}]}\n",
     "unknown algorithm"),
    ("name: x\njudgements: [A, B]\nclasses: {A: low, B: high}\nanswers: [Y, N]\ndomains:\n"
     "  - id: D1\n    name: one\n    questions:\n"
     "      - {id: q1, text: t, ask_if: {all: {q2: [Y]}}}\n      - {id: q2, text: u}\n",
     "not an earlier question"),
    ("name: x\njudgements: [yes, no]\nclasses: {A: low}\ndomains:\n  - {id: D1, name: one}\n",
     "true/false"),
])
def test_a_bad_template_is_refused_with_the_reason(text, message):
    with pytest.raises(ReviewError, match=message):
        parse_tool(text, source="t.yaml")


def test_a_review_template_in_its_folder_wins_over_the_package(review, tmp_path):
    folder = tmp_path / "appraisal" / "tools"
    folder.mkdir(parents=True)
    (folder / "jbi_case_series.yaml").write_text(
        "name: jbi_case_series\njudgements: [Adequate, Inadequate]\n"
        "classes: {Adequate: low, Inadequate: high}\ndomains:\n"
        "  - {id: G1, name: Selection}\n  - {id: G2, name: Outcome}\n", encoding="utf-8")
    tool = find_tool(review, "jbi_case_series")
    assert [d["id"] for d in tool.domains] == ["G1", "G2"]
    assert [d["id"] for d in find_tool(review, "minors").domains][-1] == "M12"


# -- import -----------------------------------------------------------------------------------

def test_import_of_a_bad_csv_names_each_cell_and_writes_nothing(review, tmp_path):
    before = snapshot(review.path)
    rows = jbi_rows("ann", {"1": dict(ALL_YES)}) + [
        {"study": "99", "item": "Q1", "value": "Yes", "assessor": "ann"},
        {"study": "3", "item": "Q11", "value": "Yes", "assessor": "ann"},
        {"study": "3", "item": "Q2", "value": "Maybe", "assessor": "ann"},
        {"study": "3", "item": "Q3", "value": "No", "assessor": ""},
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ReviewError) as exc:
        import_csv(review, path, JBI)
    text = str(exc.value)
    assert "4 invalid cells, nothing was written" in text
    assert f"{path}: row 12: column 'study': '99' is not an included study" in text
    assert "row 13: column 'item': 'Q11' is not a question, domain or 'overall'" in text
    assert "row 14: column 'value': 'Maybe' is not one of Yes, No, Unclear, Not applicable" \
        in text
    assert "row 15: column 'assessor': empty" in text
    assert snapshot(review.path) == before


def test_an_override_without_reason_in_a_csv_is_refused(review, tmp_path):
    d1 = [{"study": "1", "item": q, "value": v, "assessor": "ann"}
          for q, v in (("1.1", "Y"), ("1.2", "Y"), ("1.3", "N"))]   # derives Low
    before = snapshot(review.path)
    path = write_csv(tmp_path / "o.csv", d1 + [{"study": "1", "item": "D1", "value": "High",
                                                "assessor": "ann"}])
    with pytest.raises(ReviewError, match=r"row 5: column 'reason': D1 = 'High' overrides a "
                                          r"derived judgement \(the answers derive 'Low'\)"):
        import_csv(review, path, ROB2)
    assert snapshot(review.path) == before
    # the derived value itself is not an override: accepted, not stored
    path = write_csv(tmp_path / "ok.csv", d1 + [{"study": "1", "item": "D1", "value": "low",
                                                 "assessor": "ann"}])
    out = import_csv(review, path, ROB2)
    assert (out["imported"], out["derived_equal"]) == (3, 1)
    assert review.db.execute("select count(*) from appraisal_entries where item = 'D1'"
                             ).fetchone()[0] == 0


# -- overrides -----------------------------------------------------------------------------------

def test_a_derived_judgement_is_overridden_only_with_a_reason(review):
    with review.atomic():
        for q, v in (("1.1", "Y"), ("1.2", "Y"), ("1.3", "N")):
            save_entry(review, ROB2, "1", q, v, "ann")
    with pytest.raises(ReviewError, match="derives 'Low'; an override to 'High' needs a reason"):
        with review.atomic():
            save_entry(review, ROB2, "1", "D1", "High", "ann")
    with review.atomic():
        save_entry(review, ROB2, "1", "D1", "High", "ann", reason="allocation by the surgeon")
    f = final_assessments(review, ROB2)["1"]["domains"]["D1"]
    assert f == {"value": "High", "state": "single"}
    long = export.long_table(review, ROB2)
    d1 = long[(long["item"] == "D1") & (long["origin"] == "derived")].iloc[0]
    assert (d1["value"], d1["derived"], d1["override_reason"]) == \
        ("High", "Low", "allocation by the surgeon")
    # typing the derived value again withdraws the override
    with review.atomic():
        assert save_entry(review, ROB2, "1", "D1", "Low", "ann") is None
    assert final_assessments(review, ROB2)["1"]["domains"]["D1"]["value"] == "Low"
    actions = [r["action"] for r in review.db.query("select action from events")]
    assert "appraisal_override_withdrawn" in actions


# -- two assessors -------------------------------------------------------------------------------

def test_two_assessors_compare_and_resolve_round_trip(review, tmp_path):
    ann = {"1": dict(ALL_YES), "3": dict(ALL_YES, Q4="Unclear"), "4": dict(ALL_YES, Q5="No")}
    bob = {"1": dict(ALL_YES), "3": dict(ALL_YES, Q4="No"), "4": dict(ALL_YES, Q5="Unclear")}
    import_csv(review, write_csv(tmp_path / "ann.csv", jbi_rows("ann", ann)), JBI)
    import_csv(review, write_csv(tmp_path / "bob.csv", jbi_rows("bob", bob)), JBI)

    agree = {a["item"]: a for a in compare.agreement(review, JBI)}
    assert agree["Q1"]["n"] == 3 and agree["Q1"]["agreement"] == 100.0
    assert agree["Q1"]["kappa"] is None              # one category only: undefined
    # Q4: ann Yes, Unclear, Yes; bob Yes, No, Yes -> 2/3 agree; kappa by hand:
    # po = 2/3; pe = P(Yes)ann*P(Yes)bob = (2/3)(2/3) = 4/9 -> (2/3 - 4/9) / (1 - 4/9) = 0.4
    assert agree["Q4"]["agreement"] == 66.7
    assert agree["Q4"]["kappa"] == pytest.approx(0.4)
    # overall: ann Low, Some concerns, High; bob Low, High, Some concerns -> 1/3
    assert agree["overall"]["agreement"] == 33.3

    open_ = compare.disagreements(review, JBI)
    assert [(d["study"], d["item"]) for d in open_] == [
        ("3", "Q4"), ("3", "overall"), ("4", "Q5"), ("4", "overall")]
    assert open_[0]["values"] == {"ann": "Unclear", "bob": "No"}
    with pytest.raises(ReviewError, match="not final"):
        export.robvis_table(review, JBI)

    # adjudicate the items; the overall then follows from them (derived)
    script = iter(["#2", "ann's quote was not about consecutive inclusion",
                   "unclear", "the abstract does not say"])
    said = []
    out = compare.run_resolve(review, JBI, "carol", ask=lambda p: next(script, None),
                              echo=said.append)
    assert out == {"resolved": 2}
    finals = final_assessments(review, JBI)
    assert finals["3"]["domains"]["Q4"] == {"value": "No", "state": "resolved"}
    assert finals["3"]["overall"] == {"value": "High", "state": "derived"}
    assert finals["4"]["domains"]["Q5"] == {"value": "Unclear", "state": "resolved"}
    assert finals["4"]["overall"] == {"value": "Some concerns", "state": "derived"}
    assert finals["1"]["overall"] == {"value": "Low", "state": "agreed"}
    assert compare.disagreements(review, JBI) == []
    settled = compare.disagreements(review, JBI, include_resolved=True)
    assert {(d["item"], d["settled_by"]) for d in settled} == {
        ("Q4", "resolution"), ("Q5", "resolution"), ("overall", "derived")}
    # audited: the assessors' answers stay, the resolution is logged with its note
    n = review.db.execute("select count(*) from appraisal_entries where study = '3' and "
                          "item = 'Q4'").fetchone()[0]
    assert n == 3
    row = review.db.execute("select assessor, value, note from appraisal_entries where "
                            "origin = 'resolution' and study = '3'").fetchone()
    assert tuple(row) == ("carol", "No", "ann's quote was not about consecutive inclusion")
    events = [r["action"] for r in review.db.query("select action from events")]
    assert events.count("appraisal_resolution") == 2

    table = export.robvis_table(review, JBI, weights={"1": 14, "3": 41, "4": 74})
    assert list(table.columns) == ["Study"] + [f"D{i}" for i in range(1, 11)] + \
        ["Overall", "Weight"]
    assert list(table["Overall"]) == ["Low", "High", "Some concerns"]
    assert list(table["D4"]) == ["Low", "High", "Low"]          # Yes, No, Yes as robvis words


def robvis_clean(value: str) -> str:
    """robvis's clean_data (R/helpers.R): first letters of words, lower case, 'na'/'n' ->
    'x', first character."""
    initials = "".join(w[0] for w in re.findall(r"[^\W\d_]+", value)).lower()
    initials = "x" if initials in ("na", "n") else initials
    return initials[:1]


def test_robvis_csv_follows_robvis_column_contract(review, tmp_path):
    answers = {"1": {"1.1": "Y", "1.2": "Y", "1.3": "N"}, "3": {"1.1": "NI", "1.2": "NI",
                                                               "1.3": "N"},
               "4": {"1.1": "Y", "1.2": "N", "1.3": "N"}}
    rest = {"2.1": "N", "2.2": "N", "2.6": "Y", "3.1": "Y", "4.1": "N", "4.2": "N",
            "4.3": "N", "5.1": "Y", "5.2": "N", "5.3": "N"}
    with review.atomic():
        for s, a in answers.items():
            for q, v in {**a, **rest}.items():
                save_entry(review, ROB2, s, q, v, "ann")
    table = export.robvis_table(review, ROB2, weights={"1": 2.5, "4": 7})
    path = tmp_path / "robvis.csv"
    table.to_csv(path, index=False, lineterminator="\n")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    # robvis ROB2 with overall and weights: Study, five domains, Overall, then the weight
    assert rows[0] == ["Study", "D1", "D2", "D3", "D4", "D5", "Overall", "Weight"]
    assert [r[1] for r in rows[1:]] == ["Low", "Some concerns", "High"]
    assert [r[6] for r in rows[1:]] == ["Low", "Some concerns", "High"]
    for r in rows[1:]:
        assert {robvis_clean(v) for v in r[1:7]} <= {"h", "s", "l", "n", "x"}  # ROB2 levels
        assert re.fullmatch(r"^[-]{0,1}[0-9]{0,}.{0,1}[0-9]{1,}$", r[7])  # robvis's weight test
    assert [float(r[7]) for r in rows[1:]] == [2.5, 1.0, 7.0]


def _has_colour(png: Path, hex_colour: str) -> bool:
    img = mpimg.imread(png)[..., :3]
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return bool((np.abs(img - rgb).max(axis=2) < 0.02).any())


def test_plots_render_in_robvis_colours(review, tmp_path):
    ann = {"1": dict(ALL_YES), "3": dict(ALL_YES, Q4="Unclear"),
           "4": dict(ALL_YES, Q5="No", Q10="Not applicable")}
    import_csv(review, write_csv(tmp_path / "ann.csv", jbi_rows("ann", ann)), JBI)
    table = export.robvis_table(review, JBI)
    tl = plots.traffic_light(table, JBI, tmp_path / "tl.png")
    sm = plots.summary_plot(table, JBI, tmp_path / "summary.png")
    for png in (tl, sm):
        assert _has_colour(png, "#02C100") and _has_colour(png, "#E2DF07")
        assert _has_colour(png, "#BF0000")
        assert not _has_colour(png, "#4EA1F7")        # no "no information" cell
    # same assessments, same SVG
    a = plots.traffic_light(table, JBI, tmp_path / "a.svg").read_bytes()
    b = plots.traffic_light(table, JBI, tmp_path / "b.svg").read_bytes()
    assert a == b and b"Unclear" in a and b"Not applicable" in a
    with pytest.raises(ReviewError, match=".png, .svg or .pdf"):
        plots.summary_plot(table, JBI, tmp_path / "x.jpg")


# -- prompts -------------------------------------------------------------------------------------

def test_prompts_walk_the_signalling_questions_and_skip_what_is_not_asked(review):
    typed = iter([
        "y", "py", "n", "",                     # D1 answers; Enter accepts the derived Low
        "n", "n", "y", "",                      # D2: 2.1 2.2 N -> 2.3-2.5 skipped; 2.6 Y
        "maybe", "y", "",                       # D3: an invalid answer is asked again
        "n", "n", "n", "high", "blinded assessors knew",   # D4 overridden, with a reason
        "q"])
    prompts, said = [], []

    def ask(p):
        prompts.append(p)
        return next(typed, None)

    out = run_entry(review, ROB2, "1", "ann", ask=ask, echo=said.append, ask_support=False)
    assert out == {"saved": 11, "quit": True}   # 3 + 3 + 1 + 3 answers, 1 override
    asked_ids = [p.split()[0] for p in prompts]
    assert "2.3" not in asked_ids and "2.4" not in asked_ids and "2.7" not in asked_ids
    assert any("'maybe' is not one of Y, PY, PN, N, NI" in s for s in said)
    v = final_assessments(review, ROB2)["1"]["domains"]
    assert v["D1"]["value"] == "Low" and v["D2"]["value"] == "Low"
    assert v["D4"]["value"] == "High"
    reason = review.db.execute("select reason from appraisal_entries where item = 'D4'"
                               ).fetchone()[0]
    assert reason == "blinded assessors knew"
