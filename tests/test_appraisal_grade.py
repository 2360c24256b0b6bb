"""GRADE proposals from the store, the reviewer's rating, the summary of findings, and pooling
with the studies' risk of bias."""

from __future__ import annotations

import numpy as np
import pytest

from test_extraction_support import build_full_text_review, put
from toolkit.appraisal import grade
from toolkit.appraisal.assessments import save_entry
from toolkit.appraisal.pooling import exclude_high_risk, with_risk_of_bias
from toolkit.appraisal.templates import load_tool, package_tools
from toolkit.errors import ReviewError
from toolkit.extraction.export import outcome_table
from toolkit.extraction.forms import find_form
from toolkit.pooling.api import pool_table

JBI = load_tool(package_tools()["jbi_case_series"])
ROB2 = load_tool(package_tools()["rob2"])


@pytest.fixture
def review(tmp_path):
    r = build_full_text_review(tmp_path)   # studies '1', '3', '4'
    form = find_form(r, "cryoablation")
    for study, ltc in (("1", "30/31 tumours"), ("3", "6/10 tumours"), ("4", "23/28 tumours")):
        put(r, form, study, "local_control", ltc)
    yield r
    r.close()


def appraise(review, overall: dict[str, str]):
    """JBI items all Yes except: 'Some concerns' -> Q4 Unclear, 'High' -> Q5 No."""
    with review.atomic():
        for study, level in overall.items():
            for i in range(1, 11):
                value = "Yes"
                if level == "Some concerns" and i == 4:
                    value = "Unclear"
                if level == "High" and i == 5:
                    value = "No"
                save_entry(review, JBI, study, f"Q{i}", value, "ann")


def test_risk_of_bias_rule_on_weight_shares():
    w = {"a": 60.0, "b": 30.0, "c": 10.0}
    assert grade.risk_of_bias_proposal(w, {"a": "high", "b": "low", "c": "low"})["levels"] == -2
    assert grade.risk_of_bias_proposal(w, {"a": "low", "b": "high", "c": "low"})["levels"] == -1
    assert grade.risk_of_bias_proposal(w, {"a": "some", "b": "low", "c": "low"})["levels"] == -1
    assert grade.risk_of_bias_proposal(w, {"a": "low", "b": "some", "c": "high"})["levels"] == 0
    out = grade.risk_of_bias_proposal(w, {"a": "low", "b": "low"})   # c not appraised
    assert out["levels"] == 0 and "no final judgement: c" in out["reason"]


def test_inconsistency_imprecision_and_funnel_rules():
    assert grade.inconsistency_proposal(5, 40.0, (0.1, 0.9), None)["levels"] == 0
    assert grade.inconsistency_proposal(5, 60.0, (0.1, 0.9), None)["levels"] == -1
    assert grade.inconsistency_proposal(5, 80.0, (0.1, 0.9), None)["levels"] == -1
    assert grade.inconsistency_proposal(5, 80.0, (-1.0, 3.0), 0.0)["levels"] == -2
    assert grade.inconsistency_proposal(1, None, None, None)["levels"] == 0
    assert grade.imprecision_proposal(1000, (1.0, 2.0), 0.0)["levels"] == 0
    assert grade.imprecision_proposal(120, (1.0, 2.0), 0.0)["levels"] == -1
    assert grade.imprecision_proposal(120, (-1.0, 2.0), 0.0)["levels"] == -2
    assert grade.publication_bias_proposal(9, 0.001)["levels"] == 0
    assert grade.publication_bias_proposal(12, 0.04)["levels"] == -1
    assert grade.publication_bias_proposal(12, 0.30)["levels"] == 0


def test_proposal_from_the_store_for_case_series(review):
    appraise(review, {"1": "Low", "3": "Some concerns", "4": "High"})
    p = grade.propose(review, "local_control", JBI)
    assert p["start"] == "low"                       # observational evidence starts low
    assert p["k"] == 3 and p["participants"] == 31 + 10 + 28
    rob = p["domains"]["risk_of_bias"]
    pooled = pool_table(outcome_table(review, "local_control"), "PLO", events="events",
                        total="total", study="study")
    weights = {s["study"]: s["weight"] for s in pooled["studies"]}
    assert rob["share_high"] == pytest.approx(weights["4"] / sum(weights.values()), abs=1e-4)
    assert p["domains"]["imprecision"]["levels"] == -1          # 69 < 400 participants
    assert p["domains"]["publication_bias"]["levels"] == 0
    levels = sum(d["levels"] for d in p["domains"].values())
    assert p["certainty"] == grade.LEVELS[max(1, 2 + levels)]
    # randomized evidence (RoB 2) would start high
    assert grade.starting_level(ROB2) == "high" and grade.starting_level(JBI) == "low"


def test_the_final_rating_is_the_reviewers_with_reasons(review):
    appraise(review, {"1": "Low", "3": "Low", "4": "Low"})
    p = grade.propose(review, "local_control", JBI)
    with pytest.raises(ReviewError, match="indirectness: -1 differs from the proposal"):
        with review.atomic():
            grade.rate(review, "local_control", p, "ann", levels={"indirectness": -1})
    with pytest.raises(ReviewError, match="rating up is for evidence that starts low"):
        with review.atomic():
            grade.rate(review, "local_control", p, "ann", start="high",
                       levels={"large_effect": 1}, reasons={"large_effect": "x"})
    with review.atomic():
        out = grade.rate(review, "local_control", p, "ann",
                         levels={"indirectness": -1, "imprecision": 0},
                         reasons={"indirectness": "mixed bone sites in one series",
                                  "imprecision": "the interval is narrow for decisions"})
    assert out["levels"]["indirectness"] == -1 and out["levels"]["imprecision"] == 0
    assert out["certainty"] == "very low"            # low - 1 (indirectness)
    rows = grade.sof_rows(review, labels={"local_control": "Local tumour control"})
    assert rows[0]["outcome"] == "Local tumour control" and rows[0]["certainty"] == "very low"
    assert "indirectness -1: mixed bone sites in one series" in rows[0]["reasons"]
    md = grade.sof_markdown(rows)
    assert md.splitlines()[0].startswith("| outcome | studies (k) | participants |")
    assert "| Local tumour control | 3 | 69 |" in md
    # a new rating supersedes the old one; both stay for the audit
    with review.atomic():
        grade.rate(review, "local_control", p, "bob")
    assert grade.ratings(review)["local_control"]["rater"] == "bob"
    assert review.db.execute("select count(*) from grade_ratings").fetchone()[0] == 2


def test_funnel_test_is_used_from_ten_studies(review):
    p = grade.propose_from_result(
        {"measure": "PLO", "k": 12, "estimate": 0.7, "ci_low": 0.6, "ci_high": 0.8,
         "pi_low": 0.5, "pi_high": 0.9, "I2": 10.0,
         "studies": [{"study": str(i), "weight": 1.0} for i in range(12)]},
        participants=900, classes={str(i): "low" for i in range(12)}, start="low",
        funnel_p=0.02)
    assert p["domains"]["publication_bias"] == {"levels": -1, "reason": "Egger's test p = 0.02",
                                                "egger_p": 0.02}
    assert p["certainty"] == "very low"


def test_sensitivity_without_high_risk_studies(review):
    appraise(review, {"1": "Low", "3": "High"})      # study 4 not appraised
    df = with_risk_of_bias(review, outcome_table(review, "local_control"), JBI)
    assert list(df["risk_of_bias"]) == ["Low", "High", "not appraised"]
    kept, dropped = exclude_high_risk(df, JBI)
    assert dropped == ["3"] and list(kept["study"]) == ["1", "4"]
    assert np.isfinite(kept["events"].astype(float)).all()


def test_publication_bias_proposal_uses_eggers_test_from_ten_studies(tmp_path):
    """Twelve studies: `review grade propose` proposes -1 for publication bias from Egger's
    test, whose p-value is R metafor's regtest on the same counts (tests/data/appraisal/
    egger_ref.R)."""
    import csv
    import json
    from pathlib import Path

    from test_extraction_support import build_review, run_cli
    from toolkit import fulltext as ft

    ref = list(csv.DictReader(open(Path(__file__).parent / "data" / "appraisal" /
                                   "egger_ref.csv", encoding="utf-8")))
    review = build_review(tmp_path, n_records=12, ta={i: "include" for i in range(1, 13)})
    with review.atomic():
        for rid in range(1, 13):
            ft.record_fulltext(review, rid, "assessed", "include", reviewer="ann")
    form = find_form(review, "cryoablation")
    for row in ref:
        put(review, form, row["study"], "local_control", f"{row['xi']}/{row['ni']} tumours")
    review.close()
    code, out, err = run_cli(tmp_path / "review.db", "grade", "propose", "--outcome",
                             "local_control", "--json")
    assert code == 0, err
    pb = json.loads(out)["proposals"][0]["domains"]["publication_bias"]
    assert pb["egger_p"] == pytest.approx(float(ref[0]["regtest_p"]), rel=1e-6)
    assert pb["levels"] == -1               # p = 0.095 < 0.10
