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
from toolkit.dedup.api import deduplicate
from toolkit.extraction.entries import import_values_csv, with_unit
from toolkit.extraction.export import outcome_table
from toolkit.extraction.forms import load_form
from toolkit.extraction.values import parse_value
from toolkit.fulltext import import_fulltext_csv, load_criteria, resolve_record, resolve_study
from toolkit.importing import import_file
from toolkit.screening.decisions import record_decision
from toolkit.sources import pubmed_xml, ris
from toolkit.store import create_review

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "queries" / "results"
SNAPSHOT = RESULTS / "search_snapshot_sources.csv"
EVIDENCE = ROOT / "extraction" / "data" / "outcomes_evidence.csv"
EXTRACTED = ROOT / "extraction" / "data" / "cryoablation_extracted.csv"
SAMPLES = ROOT / "tests" / "data" / "formats"  # real efetch samples (SOURCES.md there)

FORM = ROOT / "extraction" / "forms" / "cryoablation.yaml"
# The extraction form's fields and types, read from the form file (not from the build script).
FORM_TYPES = {f["name"]: f["type"]
              for f in yaml.safe_load(FORM.read_text(encoding="utf-8"))["fields"]}


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


QUOTE_SEP, URL_SEP = " [...] ", " ; "


def test_extracted_values_parse_with_the_form():
    form = load_form(FORM)
    for line, r in enumerate(read_csv(EXTRACTED), start=2):
        assert r["field"] in form.by_name, (line, r["field"])
        field = form.by_name[r["field"]]
        # raises if not the form's syntax; a count takes its unit from the unit column
        parse_value(field, with_unit(field, r["value"], r["unit"]) if field.get("units")
                    else r["value"])


def test_every_extracted_value_is_sourced(snapshot):
    rows = read_csv(EXTRACTED)
    evidence = read_csv(EVIDENCE)
    urls, quotes = {}, {}
    for r in evidence:
        urls.setdefault(r["record_id"], set()).add(r["source_url"])
        quotes.setdefault(r["record_id"], set()).add(r["quote"])
    candidates = {k for k, s in snapshot.items() if s["likely_decision"] == "include-candidate"}
    assert rows
    seen = set()
    by_key = {(r["study"], r["field"]): r for r in rows}
    for r in rows:
        key = (r["study"], r["field"])
        assert key not in seen, key
        seen.add(key)
        assert r["study"] in candidates
        assert r["field"] in FORM_TYPES, r["field"]
        assert r["value"] != "" and r["quote"] != "" and r["source_url"] != ""
        snap_urls = set(snapshot[r["study"]]["source_url"].split(URL_SEP))
        for url in r["source_url"].split(URL_SEP):
            assert url in urls.get(r["study"], set()) | snap_urls, key
        for part in r["quote"].split(QUOTE_SEP):
            if part.startswith("[condensed"):
                assert part.split("] ", 1)[1] in snapshot[r["study"]]["abstract"], key
            else:
                assert part in quotes[r["study"]], key  # verbatim from the evidence file
        numbers = re.findall(r"\d+(?:\.\d+)?", r["value"])
        if FORM_TYPES[r["field"]] == "date":
            numbers = numbers[:1]  # the year (the quote names the month: "May 2008")
        for x in numbers:
            # a number not in its quote must be explained by the derivation
            assert x in numbers_in(r["quote"]) or (r["derived"] and x in r["derived"]), (key, x)
        # the denominator of an n of N is the study's own patient or tumour count
        if FORM_TYPES[r["field"]] == "n of N":
            assert r["unit"] in ("patients", "tumours"), key
            total = r["value"].split("/")[1]
            if (r["study"], r["unit"]) in by_key:
                assert total == by_key[(r["study"], r["unit"])]["value"] or \
                    r["field"] == "local_control", key
    # values made of two evidence rows keep both quotes
    assert by_key[("CRYO004", "local_control")]["quote"].count(QUOTE_SEP) == 1
    assert by_key[("CRYO002", "guidance_mri")]["quote"].count(QUOTE_SEP) == 1
    # a value that is not in its quote says how it was derived
    derived = {(r["study"], r["field"]) for r in rows if r["derived"]}
    assert ("CRYO001", "guidance_ct") in derived
    assert ("CRYO002", "major_complications") in derived
    assert ("CRYO004", "major_complications") not in derived  # "out of 105 SM" is quoted
    assert "tumour" in by_key[("CRYO004", "major_complications")]["note"]
    # the mixed-arm patient count is not passed off as the cryoablation arm
    assert ("CRYO007", "patients") not in seen
    # a median is not extracted as a mean
    assert ("CRYO004", "age") not in seen and ("CRYO004", "age_median") in seen
    # ungraded complications and an overall rate are not split into major/minor
    assert ("CRYO001", "major_complications") not in seen
    assert ("CRYO003", "minor_complications") not in seen


# --- the extracted file imports into a review replayed from the repository's files ------------

@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """A fresh store: recorded search results imported, deduplicated, title/abstract and
    full-text decisions replayed, then the extracted values imported with the form."""
    review = create_review(tmp_path_factory.mktemp("worked") / "review.db")
    for name in ("pubmed.xml", "embase.ris"):
        import_file(review, RESULTS / name)
    deduplicate(review)
    with review.atomic():
        for r in read_csv(ROOT / "screening" / "ta_decisions.csv"):
            rid = resolve_record(review, r["record_id"])
            record_decision(review, rid, r["decision"], r["reviewer"])
    reasons = load_criteria(ROOT / "screening" / "criteria.yaml")["fulltext_reasons"]
    import_fulltext_csv(review, ROOT / "screening" / "fulltext_decisions.csv", reasons=reasons)
    form = load_form(FORM)
    summary = import_values_csv(review, EXTRACTED, form)
    label = {resolve_study(review, f"CRYO{i:03d}"): f"CRYO{i:03d}" for i in range(1, 9)}
    return review, form, summary, label


def _table(review, form, label, outcome, columns):
    df = outcome_table(review, outcome, form=form)
    return {label[s]: tuple(row[c] for c in columns)
            for s, row in zip(df["study"], df.to_dict("records"))}


def test_extracted_file_imports_into_the_replayed_review(replayed):
    review, form, summary, label = replayed
    assert None not in label and len(label) == 8  # every CRYO### names an included study
    assert summary["imported"] == len(read_csv(EXTRACTED))
    assert summary["studies"] == 8
    stored = review.db.execute(
        "select count(*) from extraction_values where quote is null or source is null"
    ).fetchone()[0]
    assert stored == 0  # every value keeps its quote and source


def test_outcome_tables_give_the_sourced_counts(replayed):
    review, form, _, label = replayed
    # numbers read off the quotes in outcomes_evidence.csv: 30/31 tumours (Tomasian),
    # 5/7 patients (Moses), 6/10 metastases (Autrusseau), 23/28 SM (Cazzato)
    assert _table(review, form, label, "local_control", ("events", "total")) == {
        "CRYO001": (30, 31), "CRYO002": (5, 7), "CRYO003": (6, 10), "CRYO004": (23, 28)}
    # "no complications" in 14 and 23 patients; 2 major and 7 minor out of 105 SM
    assert _table(review, form, label, "major_complications", ("events", "total")) == {
        "CRYO002": (0, 14), "CRYO004": (2, 105), "CRYO005": (0, 23)}
    assert _table(review, form, label, "minor_complications", ("events", "total")) == {
        "CRYO002": (0, 14), "CRYO004": (7, 105), "CRYO005": (0, 23)}
    # guidance described for the whole series: all patients (derived), CT or MRI in 4 studies
    assert _table(review, form, label, "guidance_ct_mri", ("events", "total")) == {
        "CRYO001": (14, 14), "CRYO002": (14, 14), "CRYO005": (23, 23), "CRYO008": (16, 16)}
    assert _table(review, form, label, "guidance_mri", ("events", "total")) == {
        "CRYO002": (14, 14)}
    # 9 women of 14; 35 women of 74
    assert _table(review, form, label, "female", ("events", "total")) == {
        "CRYO001": (9, 14), "CRYO004": (35, 74)}
    # NRS 6.2 ± 1.7 -> 1.9 ± 1.8 in 31 patients; 6.8 ± 2.2 -> 2.4 ± 2.5 in 64 patients
    pain = _table(review, form, label, "pain", ("mean_pre", "sd_pre", "mean_post", "sd_post",
                                                 "n", "timepoint"))
    assert pain == {"CRYO003": (6.2, 1.7, 1.9, 1.8, 31, "last available follow-up"),
                    "CRYO004": (6.8, 2.2, 2.4, 2.5, 64, "last available follow-up")}
    # a mean without its SD cannot be pooled: left out with a note, not given an invented SD
    age = outcome_table(review, "age", form=form)
    assert [label[s] for s in age["study"]] == ["CRYO003"]
    assert any("age" in n for n in age.attrs["notes"])
