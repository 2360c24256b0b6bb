"""The worked example's files (queries/, screening/, extraction/): provenance and consistency.

Every value in the recorded search results and the extracted data must trace back to the
evidence copies in the repository; the generated files must be what their build scripts make;
the screening flow must add up (checked with toolkit.prisma against hand-counted numbers).
"""

from __future__ import annotations

import csv
import importlib.util
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import yaml

from toolkit import prisma
from toolkit.sources import pubmed_xml, ris

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "queries" / "results"
SNAPSHOT = RESULTS / "search_snapshot_sources.csv"
EVIDENCE = ROOT / "extraction" / "data" / "outcomes_evidence.csv"
EXTRACTED = ROOT / "extraction" / "data" / "cryoablation_extracted.csv"
SAMPLES = ROOT / "tests" / "data" / "formats"  # real efetch samples (SOURCES.md there)

# The extraction form's field names as given in the brief (independent of the build script).
FORM_FIELDS = {
    "design", "country", "period", "n_patients", "n_tumours", "age_mean", "age_sd", "female_n",
    "primary_breast_n", "primary_lung_n", "primary_thyroid_n", "primary_kidney_n",
    "primary_other_n", "anaesthesia_general_n", "guidance_ct_n", "guidance_mri_n",
    "guidance_fluoro_n", "thermal_protection", "ltc_events", "ltc_total", "followup_mean_months",
    "followup_median_months", "pain_scale", "pain_pre_mean", "pain_pre_sd", "pain_post_mean",
    "pain_post_sd", "pain_timepoint", "complications_major_n", "complications_minor_n",
    "complication_grading"}


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def snapshot():
    return {r["record_id"]: r for r in read_csv(SNAPSHOT)}


# --- queries ---------------------------------------------------------------------------------

def test_strategies_are_marked_reconstructed_with_unknown_dates():
    for name, db in (("pubmed.yaml", "PubMed"), ("embase.yaml", "Embase")):
        data = yaml.safe_load((ROOT / "queries" / name).read_text(encoding="utf-8"))
        assert data["database"] == db
        assert data["reconstructed"] is True
        assert "not public" in data["reconstruction_note"]
        assert data["date_limits"]["mindate"] is None and data["date_limits"]["maxdate"] is None
        assert (ROOT / "queries" / data["recorded_results"]).exists()


def test_results_are_what_the_build_script_writes(tmp_path):
    build = load_module(RESULTS / "build_results.py")
    counts = build.build(tmp_path, SNAPSHOT)
    assert counts == {"PubMed": 14, "Embase": 68}
    for name in ("pubmed.xml", "embase.ris", "record_ids.csv"):
        assert (tmp_path / name).read_bytes() == (RESULTS / name).read_bytes(), name


def element_paths(path):
    paths = set()

    def walk(el, prefix):
        here = f"{prefix}/{el.tag}"
        paths.add(here)
        for child in el:
            walk(child, here)

    walk(ET.parse(path).getroot(), "")
    return paths


def test_pubmed_xml_uses_only_the_structure_of_real_efetch_output():
    real = set().union(*(element_paths(p) for p in SAMPLES.glob("pubmed_efetch_*.xml")))
    ours = element_paths(RESULTS / "pubmed.xml")
    assert ours - real == set()


def test_pubmed_records_carry_only_snapshot_values(snapshot):
    records = list(pubmed_xml.read(RESULTS / "pubmed.xml"))
    with_pmid = {r["pmid"]: r for r in snapshot.values() if r["pmid"]}
    assert sorted(rec.fields["pmid"] for rec in records) == sorted(with_pmid)
    notes = {n.text for n in ET.parse(RESULTS / "pubmed.xml").iter("GeneralNote")}
    assert notes == {f"record_id: {r['record_id']}" for r in with_pmid.values()}
    for rec in records:
        f, s = rec.fields, with_pmid[rec.fields["pmid"]]
        assert f["title"] == s["title"]
        assert (f["doi"] or "") == s["doi"]
        assert (f["journal"] or "") == s["journal"]
        assert (f["year"] or "") == s["year"]
        assert (f["volume"] or "") == s["volume"] and (f["issue"] or "") == s["issue"]
        assert (f["pages"] or "") == s["pages"]
        assert (f["abstract"] or "") == s["abstract"]
        named = [a for a in s["authors"].split("; ") if a and a != "et al."]
        assert [a.replace(",", "") for a in f["authors"]] == named


def test_embase_records_carry_only_snapshot_values(snapshot):
    raw = (RESULTS / "embase.ris").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    records = list(ris.read(RESULTS / "embase.ris"))
    assert [r.fields["source_id"] for r in records] == list(snapshot)
    assert {r.source for r in records} == {"Embase"}
    for rec in records:
        f, s = rec.fields, snapshot[rec.fields["source_id"]]
        assert f["title"] == s["title"]
        assert (f["doi"] or "") == s["doi"]
        assert f["pmid"] is None  # Embase RIS carries no PMID
        assert (f["journal"] or "") == s["journal"]
        assert str(f["year"] or "") == s["year"]
        assert (f["pages"] or "") == s["pages"]
        assert (f["abstract"] or "") == s["abstract"]
        assert f["authors"] == [a for a in s["authors"].split("; ") if a and a != "et al."]


# --- screening -------------------------------------------------------------------------------

def test_decisions_are_what_the_build_script_writes():
    build = load_module(ROOT / "screening" / "build_decisions.py")
    ta, ft = build.build()
    assert ta == (ROOT / "screening" / "ta_decisions.csv").read_text(encoding="utf-8")
    assert ft == (ROOT / "screening" / "fulltext_decisions.csv").read_text(encoding="utf-8")


def test_decisions_follow_the_snapshot_and_criteria(snapshot):
    criteria = yaml.safe_load((ROOT / "screening" / "criteria.yaml").read_text(encoding="utf-8"))
    assert set(criteria["pico"]) == {"population", "intervention", "comparator", "outcomes"}
    reasons = set(criteria["fulltext_reasons"])
    assert all("," not in r and ";" not in r for r in reasons)
    ta = read_csv(ROOT / "screening" / "ta_decisions.csv")
    ft = read_csv(ROOT / "screening" / "fulltext_decisions.csv")
    assert [r["record_id"] for r in ta] == list(snapshot)
    assert [r["record_id"] for r in ft] == [r["record_id"] for r in ta
                                            if r["decision"] == "include"]
    for r in ta + ft:
        s = snapshot[r["record_id"]]
        assert r["source"] == s["source_url"]
        assert r["reviewer"] == "reconstruction (search_snapshot_sources.csv)"
    for r in ta:
        assert (r["decision"] == "exclude") == bool(r["reason"])
        assert r["reason"] in reasons | {""}
    for r in ft:
        assert r["status"] == "assessed"
        include = snapshot[r["record_id"]]["likely_decision"] == "include-candidate"
        assert r["decision"] == ("include" if include else "exclude")
        assert (r["reason"] in reasons) != include
        assert "full text not read" in r["note"]
    # reviews / animal / wrong single intervention are title-abstract exclusions
    ta_reason = {r["record_id"]: r["reason"] for r in ta}
    assert ta_reason["CRYO028"] == "animal study"
    assert ta_reason["CRYO029"] == "review or case report"
    assert ta_reason["CRYO058"] == "wrong intervention"
    # mixed cohorts and conference abstracts need the full text
    ft_reason = {r["record_id"]: r["reason"] for r in ft}
    assert ft_reason["CRYO016"] == "not spinal"
    assert ft_reason["CRYO014"] == "conference abstract"


def test_worked_example_flow_adds_up():
    ids = read_csv(RESULTS / "record_ids.csv")
    per_db = Counter(r["database"] for r in ids)
    ta = read_csv(ROOT / "screening" / "ta_decisions.csv")
    ft = read_csv(ROOT / "screening" / "fulltext_decisions.csv")
    excluded = Counter(r["reason"] for r in ft if r["decision"] == "exclude")
    counts = {
        "identified_by_database": {"PubMed": per_db["PubMed"], "Embase": per_db["Embase"]},
        "duplicates_removed": len(ids) - len({r["record_id"] for r in ids}),
        "records_screened": len(ta),
        "records_excluded": sum(r["decision"] == "exclude" for r in ta),
        "reports_sought": len(ft),
        "reports_not_retrieved": sum(r["status"] == "not_retrieved" for r in ft),
        "reports_assessed": sum(r["status"] == "assessed" for r in ft),
        "reports_excluded_reasons": dict(sorted(excluded.items())),
        "new_studies_included": sum(r["decision"] == "include" for r in ft),
        "new_reports_included": sum(r["decision"] == "include" for r in ft),
    }
    prisma.check_invariants(counts)
    # hand count (screening/README.md): 14 + 68 identified, 14 duplicates, 68 screened,
    # 45 excluded, 23 assessed, 15 excluded (9 not spinal, 4 abstracts, 2 intervention), 8 in
    assert counts["identified_by_database"] == {"PubMed": 14, "Embase": 68}
    assert counts["duplicates_removed"] == 14
    assert (counts["records_screened"], counts["records_excluded"]) == (68, 45)
    assert counts["reports_excluded_reasons"] == {"conference abstract": 4, "not spinal": 9,
                                                  "wrong intervention": 2}
    assert counts["new_studies_included"] == 8


# --- extraction ------------------------------------------------------------------------------

NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}


def numbers_in(text: str) -> set[str]:
    found = set(re.findall(r"\d+(?:\.\d+)?", text))
    for m in re.finditer(r"\b(twenty|thirty|forty|fifty)(?:-(\w+))?\b", text.lower()):
        found.add(str(TENS[m.group(1)] + NUMBER_WORDS.get(m.group(2) or "zero", 0)))
    for word, n in NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", text.lower()):
            found.add(str(n))
    return found


def test_extracted_file_is_what_the_build_script_writes():
    build = load_module(ROOT / "extraction" / "data" / "build_extracted.py")
    assert build.build() == EXTRACTED.read_text(encoding="utf-8")


def test_every_extracted_value_is_sourced(snapshot):
    rows = read_csv(EXTRACTED)
    evidence = read_csv(EVIDENCE)
    urls = {}
    for r in evidence:
        urls.setdefault(r["record_id"], set()).add(r["source_url"])
    candidates = {k for k, s in snapshot.items() if s["likely_decision"] == "include-candidate"}
    assert rows
    seen = set()
    for r in rows:
        key = (r["study"], r["field"])
        assert key not in seen, key
        seen.add(key)
        assert r["study"] in candidates
        assert r["field"] in FORM_FIELDS, r["field"]
        assert r["value"] != "" and r["quote"] != ""
        assert r["source_url"] in urls.get(r["study"], set()) | {snapshot[r["study"]]["source_url"]}
        if r["quote"].startswith("[condensed"):
            assert r["quote"].split("] ", 1)[1] in snapshot[r["study"]]["abstract"]
        else:
            quotes = {e["quote"] for e in evidence if e["record_id"] == r["study"]}
            assert r["quote"] in quotes  # verbatim from the evidence file
        if re.fullmatch(r"\d+(\.\d+)?", r["value"]) and not r["derived"]:
            assert r["value"] in numbers_in(r["quote"]), key
    # a value that is not in its quote must say how it was derived
    derived = {(r["study"], r["field"]) for r in rows if r["derived"]}
    assert ("CRYO001", "guidance_ct_n") in derived
    assert ("CRYO002", "complications_major_n") in derived
    # the mixed-arm patient count is not passed off as the cryoablation arm
    assert ("CRYO007", "n_patients") not in seen
    # a median is not extracted as a mean
    assert ("CRYO004", "age_mean") not in seen
