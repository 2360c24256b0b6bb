"""The worked example's appraisal (appraisal/jbi_case_series.csv): sourced from the evidence
files only, Unclear where they do not say, and importable into the replayed review."""

from __future__ import annotations

import csv
from pathlib import Path

from test_worked_example import replayed  # noqa: F401  (the replayed review fixture)
from toolkit.appraisal import export, plots
from toolkit.appraisal.assessments import final_assessments
from toolkit.appraisal.entries_import import import_csv
from toolkit.appraisal.templates import load_tool, package_tools

ROOT = Path(__file__).resolve().parents[1]
APPRAISAL = ROOT / "appraisal" / "jbi_case_series.csv"
NOT_READ = "[not reported in the sources read: abstract-level evidence only; full text not read]"
CONDENSED = "[condensed from abstract as read, not verbatim] "
JBI = load_tool(package_tools()["jbi_case_series"])


def rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_judgement_is_sourced_and_nothing_is_guessed():
    evidence = rows(ROOT / "extraction" / "data" / "outcomes_evidence.csv")
    snap = {r["record_id"]: r for r in
            rows(ROOT / "queries" / "results" / "search_snapshot_sources.csv")}
    table = rows(APPRAISAL)
    assert len(table) == 80
    assert {(r["study"], r["item"]) for r in table} == {
        (f"CRYO{s:03d}", f"Q{i}") for s in range(1, 9) for i in range(1, 11)}
    assert {r["value"] for r in table} == {"Yes", "Unclear"}   # no source shows a failed item
    for r in table:
        support, source = r["support"], r["source"]
        assert source, r
        study_sources = snap[r["study"]]["source_url"].split(" ; ")
        if support == NOT_READ:
            assert r["value"] == "Unclear" and source in study_sources
        elif support.startswith("[title] "):
            assert support[8:] == snap[r["study"]]["title"] and source in study_sources
        elif support.startswith(CONDENSED):
            assert support[len(CONDENSED):] in snap[r["study"]]["abstract"]
        else:  # a verbatim quote of the study's evidence, with its URL
            assert any(support in e["quote"] and e["source_url"] == source
                       for e in evidence if e["record_id"] == r["study"]), r
        if r["value"] == "Yes":
            assert support != NOT_READ


def test_worked_example_appraisal_imports_and_plots(replayed, tmp_path):  # noqa: F811
    review, _, _, label = replayed
    out = import_csv(review, APPRAISAL, JBI)
    assert (out["imported"], out["studies"]) == (80, 8)
    finals = final_assessments(review, JBI)
    overall = {label[s]: f["overall"]["value"] for s, f in finals.items()}
    # every study has at least one Unclear item and none a No: Some concerns throughout
    assert overall == {f"CRYO{i:03d}": "Some concerns" for i in range(1, 9)}
    table = export.robvis_table(review, JBI)
    assert len(table) == 8 and set(table["Overall"]) == {"Some concerns"}
    png = plots.traffic_light(table, JBI, tmp_path / "tl.png")
    assert png.stat().st_size > 10_000
