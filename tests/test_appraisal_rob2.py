"""RoB 2's algorithms on every combination of signalling answers a person can give, against
an independent implementation (CoRATES; tests/data/appraisal/README.md), and the overall
rules of the other tools on hand-worked cases."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from appraisal_helpers import answer_sets, answers_text
from toolkit.appraisal import algorithms
from toolkit.appraisal.assessments import derive_domain, derive_overall
from toolkit.appraisal.templates import load_tool, package_tools

DATA = Path(__file__).resolve().parent / "data" / "appraisal"


@pytest.fixture(scope="module")
def rob2():
    return load_tool(package_tools()["rob2"])


@pytest.fixture(scope="module")
def reference():
    with gzip.open(DATA / "rob2_corates.csv.gz", "rt", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_reference_covers_every_combination_of_answers(rob2, reference):
    # the table holds exactly the answer sets the template allows, each once
    wanted = {(d["id"], answers_text(a)) for d in rob2.domains for a in answer_sets(d)}
    have = [(r["domain"], r["answers"]) for r in reference]
    assert len(have) == len(set(have)) == len(wanted) == 14130
    assert set(have) == wanted


@pytest.mark.parametrize("domain", ["D1", "D2", "D3", "D4", "D5"])
def test_every_combination_gives_the_reference_judgement(rob2, reference, domain):
    rows = [r for r in reference if r["domain"] == domain]
    wrong = []
    for r in rows:
        answers = dict(pair.split("=") for pair in r["answers"].split())
        got = derive_domain(rob2.by_id[domain], answers)
        if got != r["judgement"]:
            wrong.append((r["answers"], r["judgement"], got))
    assert not wrong, wrong[:5]
    assert {r["judgement"] for r in rows} == {"Low", "Some concerns", "High"}


def test_guidance_statements(rob2):
    # RoB 2 guidance, D1: concealment not known and baseline imbalance -> High
    assert derive_domain(rob2.by_id["D1"], {"1.1": "NI", "1.2": "NI", "1.3": "Y"}) == "High"
    # D4: when measurement could have differed between groups is not known (4.2 NI), the
    # best a result can get is Some concerns
    d4 = rob2.by_id["D4"]
    assert {derive_domain(d4, a) for a in answer_sets(d4) if a["4.2"] == "NI"} == \
        {"Some concerns", "High"}
    # D5: both selection questions No and a pre-specified plan -> Low
    assert derive_domain(rob2.by_id["D5"], {"5.1": "Y", "5.2": "N", "5.3": "PN"}) == "Low"


def test_unanswered_questions_leave_the_domain_open(rob2):
    assert derive_domain(rob2.by_id["D1"], {"1.2": "Y"}) is None
    # the question the diagram does not reach is not needed: 1.2 No is High whatever else
    assert derive_domain(rob2.by_id["D1"], {"1.2": "N"}) == "High"
    # an answer to a question the earlier answers skip is set aside (2.3 is not asked when
    # nobody was aware)
    d2 = rob2.by_id["D2"]
    assert derive_domain(d2, {"2.1": "N", "2.2": "N", "2.3": "Y", "2.4": "Y", "2.5": "N",
                              "2.6": "Y"}) == "Low"


def test_overall_is_the_least_favourable_domain(rob2):
    five = {d["id"]: "Low" for d in rob2.domains}
    assert derive_overall(rob2, five) == "Low"
    assert derive_overall(rob2, {**five, "D3": "Some concerns"}) == "Some concerns"
    assert derive_overall(rob2, {**five, "D3": "Some concerns", "D5": "High"}) == "High"
    assert derive_overall(rob2, {**five, "D4": None}) is None


def test_robins_i_overall_rule():
    tool = load_tool(package_tools()["robins_i"])
    seven = {d["id"]: "Low" for d in tool.domains}
    assert derive_overall(tool, seven) == "Low"
    assert derive_overall(tool, {**seven, "D2": "Moderate"}) == "Moderate"
    # lack of information in a domain, nothing serious: No information
    assert derive_overall(tool, {**seven, "D2": "Moderate", "D5": "No information"}) == \
        "No information"
    assert derive_overall(tool, {**seven, "D5": "No information", "D1": "Serious"}) == \
        "Serious"
    assert derive_overall(tool, {**seven, "D1": "Serious", "D7": "Critical"}) == "Critical"


def test_jbi_overall_proposal():
    tool = load_tool(package_tools()["jbi_case_series"])
    ten = {d["id"]: "Yes" for d in tool.domains}
    assert derive_overall(tool, ten) == "Low"
    assert derive_overall(tool, {**ten, "Q10": "Not applicable"}) == "Low"
    assert derive_overall(tool, {**ten, "Q4": "Unclear"}) == "Some concerns"
    assert derive_overall(tool, {**ten, "Q4": "Unclear", "Q5": "No"}) == "High"


def test_minors_total_score():
    tool = load_tool(package_tools()["minors"])
    items = {f"M{i}": "2" for i in range(1, 9)} | {f"M{i}": "Not applicable"
                                                   for i in range(9, 13)}
    items["M3"], items["M8"] = "0", "1"
    assert derive_overall(tool, items) == "13/16"       # 2*6 + 0 + 1, of 8 items
    assert derive_overall(tool, items | {"M9": "2", "M10": "2", "M11": "1",
                                         "M12": "0"}) == "18/24"


@pytest.mark.parametrize("stars, rating", [
    ({"S1": 1, "S2": 1, "S3": 1, "S4": 0, "C1": 1, "O1": 1, "O2": 1, "O3": 0}, "Good"),
    ({"S1": 1, "S2": 1, "S3": 0, "S4": 0, "C1": 2, "O1": 1, "O2": 1, "O3": 1}, "Fair"),
    ({"S1": 1, "S2": 1, "S3": 1, "S4": 1, "C1": 0, "O1": 1, "O2": 1, "O3": 1}, "Poor"),
    ({"S1": 1, "S2": 0, "S3": 0, "S4": 0, "C1": 2, "O1": 1, "O2": 1, "O3": 1}, "Poor"),
    ({"S1": 1, "S2": 1, "S3": 1, "S4": 1, "C1": 2, "O1": 1, "O2": 0, "O3": 0}, "Poor"),
])
def test_newcastle_ottawa_ahrq_rating(stars, rating):
    tool = load_tool(package_tools()["nos_cohort"])
    assert derive_overall(tool, {k: str(v) for k, v in stars.items()}) == rating


def test_worst_class_ranks_no_information_with_some_concerns():
    assert algorithms.overall_worst(["low", "ni"]) == "some"
    assert algorithms.overall_worst(["na", "na"]) == "na"
    assert algorithms.overall_worst(["low", "na", "high"]) == "high"
