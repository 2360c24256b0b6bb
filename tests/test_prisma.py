"""toolkit.prisma: the PRISMA2020 template CSV, its invariants, JSON and the diagram.

The template is read here independently (plain csv on the package-data file) and the expected
numbers are worked out by hand from the counts below, not taken from the code under test.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from toolkit import prisma
from toolkit.errors import ReviewError

TEMPLATE = Path(__file__).resolve().parents[1] / "toolkit" / "data" / "prisma2020_template.csv"

# A synthetic flow: 40 + 50 identified, 22 duplicates -> 68 screened, 43 excluded -> 25 sought,
# 2 not retrieved -> 23 assessed, 9 + 3 + 3 excluded -> 8 included.
COUNTS = {
    "identified_by_database": {"PubMed": 40, "Embase": 50},
    "duplicates_removed": 22,
    "automation_excluded": 0,
    "other_removed": 0,
    "records_screened": 68,
    "records_excluded": 43,
    "reports_sought": 25,
    "reports_not_retrieved": 2,
    "reports_assessed": 23,
    "reports_excluded_reasons": {"not spinal": 9, "wrong intervention": 3,
                                 "conference abstract": 3},
    "new_studies_included": 7,
    "new_reports_included": 8,
    "studies_in_meta_analysis": 6,
}

# The same flow plus registers (3, so 25 duplicates keep 68 screened) and other methods:
# 2 websites + 5 citations, 6 sought, 1 not retrieved, 5 assessed, 3 excluded -> 2 more reports.
COUNTS_OTHER = dict(
    COUNTS,
    identified_registers={"ClinicalTrials.gov": 3},
    duplicates_removed=25,
    identified_websites=2,
    identified_citations=5,
    other_reports_sought=6,
    other_reports_not_retrieved=1,
    other_reports_assessed=5,
    other_reports_excluded_reasons={"review or case report": 3},
    new_reports_included=10,
    new_studies_included=9,
)


def read_template_rows():
    with open(TEMPLATE, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def written_rows(tmp_path, counts):
    path = prisma.write_csv(counts, tmp_path / "prisma.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def by_key(rows):
    header = rows[0]
    return {r[0]: dict(zip(header, r)) for r in rows[1:] if r[0] != "NA"}


def test_csv_has_every_template_row_key_and_column_in_order(tmp_path):
    template = read_template_rows()
    out = written_rows(tmp_path, COUNTS)
    assert out[0] == template[0] == ["data", "node", "box", "description", "boxtext", "tooltips",
                                     "url", "n"]
    assert len(out) == len(template)
    assert [r[0] for r in out] == [r[0] for r in template]
    for got, want in zip(out[1:], template[1:]):
        assert got[:-1] == want[:-1], f"row {want[0]} changed outside n"


def test_csv_counts_and_text_fields(tmp_path):
    rows = by_key(written_rows(tmp_path, COUNTS))
    n = {k: v["n"] for k, v in rows.items()}
    assert n["database_results"] == "90"
    assert n["database_specific_results"] == "PubMed, 40; Embase, 50"
    assert n["duplicates"] == "22"
    assert n["excluded_automatic"] == "0"
    assert n["excluded_other"] == "0"
    assert n["records_screened"] == "68"
    assert n["records_excluded"] == "43"
    assert n["dbr_sought_reports"] == "25"
    assert n["dbr_notretrieved_reports"] == "2"
    assert n["dbr_assessed"] == "23"
    assert n["dbr_excluded"] == "not spinal, 9; wrong intervention, 3; conference abstract, 3"
    assert n["new_studies"] == "7"
    assert n["new_reports"] == "8"
    assert n["total_studies_ma"] == "6"
    # arms not used: empty n, which R reads as NA so PRISMA2020 hides the boxes
    for key in ("previous_studies", "previous_reports", "register_results",
                "register_specific_results", "website_results", "organisation_results",
                "citations_results", "other_sought_reports", "other_notretrieved_reports",
                "other_assessed", "other_excluded", "total_studies", "total_reports",
                "total_reports_ma"):
        assert n[key] == "", key


def parse_like_r(text):
    """What PRISMA2020::PRISMA_data makes of a names-and-numbers field: split on '; ', the name
    is the text before the first comma, the number the digits after the last comma."""
    out = {}
    for item in text.split("; "):
        name = re.sub(r",.*$", "", item)
        number = re.sub(r"[^0-9.]", "", re.sub(r".*,", "", item))
        out[name] = int(number)
    return out


def test_text_fields_parse_back_as_the_r_package_reads_them(tmp_path):
    rows = by_key(written_rows(tmp_path, COUNTS_OTHER))
    assert parse_like_r(rows["database_specific_results"]["n"]) == {"PubMed": 40, "Embase": 50}
    assert parse_like_r(rows["register_specific_results"]["n"]) == {"ClinicalTrials.gov": 3}
    assert parse_like_r(rows["dbr_excluded"]["n"]) == COUNTS["reports_excluded_reasons"]
    assert parse_like_r(rows["other_excluded"]["n"]) == {"review or case report": 3}


def test_other_methods_arm_filled_when_used(tmp_path):
    n = {k: v["n"] for k, v in by_key(written_rows(tmp_path, COUNTS_OTHER)).items()}
    assert (n["register_results"], n["website_results"], n["organisation_results"],
            n["citations_results"]) == ("3", "2", "", "5")
    assert (n["other_sought_reports"], n["other_notretrieved_reports"],
            n["other_assessed"]) == ("6", "1", "5")
    assert n["new_reports"] == "10"


def test_big_numbers_have_no_thousands_separator():
    counts = dict(COUNTS, identified_by_database={"PubMed": 1234, "Embase": 50},
                  duplicates_removed=1216)
    row = next(r for r in prisma.prisma_rows(counts) if r["data"] == "database_specific_results")
    assert row["n"] == "PubMed, 1234; Embase, 50"


@pytest.mark.parametrize("change, invariant", [
    ({"records_screened": 67}, "records screened = records identified - duplicates"),
    ({"duplicates_removed": 21}, "records screened = records identified - duplicates"),
    ({"reports_sought": 26}, "reports sought = records screened - records excluded"),
    ({"reports_assessed": 22}, "reports assessed = reports sought - reports not retrieved"),
    ({"new_reports_included": 9}, "included reports = reports assessed - reports excluded"),
    ({"reports_excluded_reasons": {"not spinal": 30}},
     "included reports = reports assessed - reports excluded"),
    ({"new_studies_included": 9, "new_reports_included": 8},
     "new studies included <= new reports included"),
    ({"studies_in_meta_analysis": 8}, "studies in meta-analysis <= studies included"),
])
def test_violated_invariant_is_named(change, invariant):
    with pytest.raises(ReviewError, match=re.escape(invariant)):
        prisma.check_invariants(dict(COUNTS, **change))


def test_other_arm_invariants():
    with pytest.raises(ReviewError, match="other-methods reports assessed"):
        prisma.check_invariants(dict(COUNTS_OTHER, other_reports_assessed=4))
    with pytest.raises(ReviewError, match="included reports"):
        prisma.check_invariants(dict(COUNTS_OTHER, new_reports_included=8))
    with pytest.raises(ReviewError, match="other_reports_sought"):
        bad = dict(COUNTS_OTHER)
        del bad["other_reports_sought"]
        prisma.check_invariants(bad)


def test_linked_reports_delta_allows_more_reports_than_records():
    counts = dict(COUNTS, linked_reports_delta=1, reports_sought=26, reports_assessed=24,
                  new_reports_included=9)
    prisma.check_invariants(counts)  # 68 - 43 + 1 = 26; 26 - 2 = 24; 24 - 15 = 9
    with pytest.raises(ReviewError, match="reports sought"):
        prisma.check_invariants(dict(counts, linked_reports_delta=0))


@pytest.mark.parametrize("change, message", [
    ({"records_excluded": -1}, "must not be negative"),
    ({"records_excluded": 4.0}, "whole number"),
    ({"identified_by_database": {"PubMed, NLM": 90}}, "must not contain"),
    ({"reports_excluded_reasons": {"wrong; intervention": 15}}, "must not contain"),
    ({"records_screend": 68}, "unknown PRISMA count key"),
    ({"reports_excluded_reasons": None}, "must be a mapping"),
    ({"new_studies_included": True}, "whole number"),
])
def test_bad_counts_are_rejected(change, message):
    with pytest.raises(ReviewError, match=message):
        prisma.check_invariants(dict(COUNTS, **change))


def test_missing_key_is_named():
    counts = dict(COUNTS)
    del counts["records_excluded"]
    with pytest.raises(ReviewError, match="missing PRISMA count key.*records_excluded"):
        prisma.prisma_rows(counts)


def test_package_template_is_the_upstream_file():
    """The CSV tests compare against the package's own copy of the template, so pin that copy
    to the upstream file (PRISMA2020 1.1.4, inst/extdata/PRISMA.csv @ 620aaf9; sha256 taken
    from the project's shared copy, ../shared/data/formats/prisma2020_template.csv)."""
    import hashlib
    digest = hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()
    assert digest == "1aa04581d117bc134ed1a59dbbc4d094ff97fb6bfe7c86bef282a4dad365f038"


def test_nothing_written_when_invariants_fail(tmp_path):
    with pytest.raises(ReviewError):
        prisma.write_csv(dict(COUNTS, records_screened=1), tmp_path / "p.csv")
    with pytest.raises(ReviewError):
        prisma.draw_svg(dict(COUNTS, records_screened=1), tmp_path / "p.svg")
    assert list(tmp_path.iterdir()) == []


def test_json_numbers_are_numbers_and_keys_match_csv(tmp_path):
    data = prisma.to_json(COUNTS)
    keys = [r[0] for r in read_template_rows()[1:] if r[0] != "NA"]
    assert list(data) == keys
    assert data["records_screened"] == 68 and type(data["records_screened"]) is int
    assert data["database_results"] == 90 and type(data["database_results"]) is int
    assert data["dbr_excluded"] == "not spinal, 9; wrong intervention, 3; conference abstract, 3"
    assert data["register_results"] is None
    # survives a JSON round trip with numbers still numbers
    assert json.loads(json.dumps(data))["new_reports"] == 8


def test_svg_is_deterministic_and_shows_the_counts(tmp_path):
    a = prisma.draw_svg(COUNTS, tmp_path / "a.svg").read_bytes()
    b = prisma.draw_svg(COUNTS, tmp_path / "b.svg").read_bytes()
    assert a == b
    text = a.decode("utf-8")
    for label in ("Records screened", "(n = 68)", "Reports assessed for eligibility",
                  "not spinal (n = 9)", "PubMed (n = 40)", "Identification"):
        assert label in text, label
    assert "other methods" not in text
    other = prisma.draw_svg(COUNTS_OTHER, tmp_path / "o.svg").read_text(encoding="utf-8")
    assert "Identification of new studies via other methods" in other
    assert "Citation searching (n = 5)" in other


def test_png_is_written(tmp_path):
    path = prisma.draw_png(COUNTS, tmp_path / "p.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diagram_keeps_counts_whole_and_dollars_literal(tmp_path):
    long_reason = "a very long exclusion reason that goes on and on so that it must wrap"
    counts = dict(COUNTS, reports_excluded_reasons={long_reason: 9, "cost in $ only": 6})
    text = prisma.draw_svg(counts, tmp_path / "w.svg").read_text(encoding="utf-8")
    lines = re.findall(r">([^<>]*)</text>", text) or re.findall(r"<!-- (.*?) -->", text)
    assert any(line.rstrip().endswith("(n = 9)") for line in lines)  # never "(n =" / "9)"
    assert "cost in $ only (n = 6)" in text


def test_updated_review_diagram_has_the_previous_studies_column(tmp_path):
    """PRISMA 2020's flow for updated reviews: the previous version's studies in their own
    column, joining the new ones in a total box (7 new + 12 previous = 19 studies)."""
    counts = dict(COUNTS, previous_studies=12, previous_reports=14)
    text = prisma.draw_svg(counts, tmp_path / "u.svg").read_text(encoding="utf-8")
    for label in ("Previous studies", "(n = 12)", "(n = 14)",
                  "Total studies included in review (n = 19)",
                  "Reports of total included studies (n = 22)",
                  "New studies included in review (n = 7)"):
        assert label in text, label
    plain = prisma.draw_svg(COUNTS, tmp_path / "p.svg").read_text(encoding="utf-8")
    assert "Previous studies" not in plain and "Total studies" not in plain
    data = prisma.to_json(counts)
    assert (data["previous_studies"], data["total_studies"], data["total_reports"]) == (
        12, 19, 22)
