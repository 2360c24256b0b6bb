"""`review prisma`: PRISMA 2020 counts derived from what the store recorded, end to end."""

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.dedup.api import deduplicate
from toolkit.fulltext import record_fulltext
from toolkit.importing import import_file
from toolkit.screening.decisions import record_decision
from toolkit.store import create_review, open_review

DATA = Path(__file__).parent / "data" / "formats"
TEMPLATE = Path(__file__).parent.parent / "toolkit" / "data" / "prisma2020_template.csv"

# Three Embase records: two are the PubMed sample's papers (same DOI, title, authors), one is new.
EMBASE = """TY  - JOUR
ID  - E1
T1  - A new decompression device for treating odontogenic cysts using a silicone tube
A1  - Kimura M.
A1  - Ishibashi K.
JF  - British Journal of Oral and Maxillofacial Surgery
Y1  - 2019
DO  - 10.1016/j.bjoms.2019.09.011
DB  - Embase
ER  - 

TY  - JOUR
ID  - E2
T1  - High IL-6 synthesis in cultured fibroblasts isolated from radicular cysts
A1  - Kusumi A.
A1  - Sakaki H.
JF  - Archives of Oral Biology
Y1  - 2004
VL  - 49
SP  - 643
EP  - 652
DO  - 10.1016/j.archoralbio.2004.02.006
DB  - Embase
ER  - 

TY  - JOUR
ID  - E3
T1  - Cryoablation of a vertebral metastasis: a case report
A1  - Doe J.
JF  - Journal of Imaginary Cases
Y1  - 2021
DB  - Embase
ER  - 
"""
REASONS = "fulltext_reasons:\n  - wrong intervention\n  - not spinal\n"


@pytest.fixture
def review_path(tmp_path):
    (tmp_path / "screening").mkdir()
    (tmp_path / "screening" / "criteria.yaml").write_text(
        "question: q\ninclusion: [a]\nexclusion: [b]\n" + REASONS)
    ris = tmp_path / "embase.ris"
    ris.write_text(EMBASE)
    db = tmp_path / "review.db"
    review = create_review(db)
    import_file(review, DATA / "pubmed_efetch_asreview_10articles.xml", source="PubMed")
    import_file(review, ris, source="Embase")
    out = deduplicate(review)
    assert out["duplicates_removed"] == 2  # the two Embase copies of PubMed papers
    review.close()
    return db


def screen_all(db, *, leave_undecided: int = 0):
    from toolkit.dedup.api import primary_record_ids

    review = open_review(db)
    ids = primary_record_ids(review)
    assert len(ids) == 11
    plan = ["include"] * 3 + ["maybe"] + ["exclude"] * 6 + ["automation"]
    with review.atomic():
        for rid, d in list(zip(ids, plan))[: len(ids) - leave_undecided]:
            if d == "automation":
                record_decision(review, rid, "exclude", "automation", origin="automation")
            else:
                record_decision(review, rid, d, "ann")
    passed = ids[:4]
    review.close()
    return passed


def decide_fulltext(db, passed):
    review = open_review(db)
    with review.atomic():
        record_fulltext(review, passed[0], "not_retrieved", reviewer="ann")
        record_fulltext(review, passed[1], "assessed", "include", reviewer="ann")
        record_fulltext(review, passed[2], "assessed", "include", reviewer="ann")
        record_fulltext(review, passed[3], "assessed", "exclude", "wrong intervention",
                        reviewer="ann", reasons=["wrong intervention", "not spinal"])
    review.close()


def test_counts_come_from_the_store(review_path):
    passed = screen_all(review_path)
    decide_fulltext(review_path, passed)
    res = CliRunner().invoke(cli, ["--db", str(review_path), "prisma", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    # identified 10 + 3; 2 duplicates; 1 automation; 10 screened, 6 excluded; 4 sought,
    # 1 not retrieved, 3 assessed, 1 excluded (wrong intervention); 2 studies/reports
    assert data["database_results"] == 13
    assert data["database_specific_results"] == "PubMed, 10; Embase, 3"
    assert (data["duplicates"], data["excluded_automatic"], data["excluded_other"]) == (2, 1, 0)
    assert (data["records_screened"], data["records_excluded"]) == (10, 6)
    assert (data["dbr_sought_reports"], data["dbr_notretrieved_reports"],
            data["dbr_assessed"]) == (4, 1, 3)
    assert data["dbr_excluded"] == "wrong intervention, 1"
    assert (data["new_studies"], data["new_reports"]) == (2, 2)


def test_json_without_out_carries_the_output(review_path):
    """--json puts the one JSON object on stdout, so the CSV or data it would print goes
    inside it (as `review export --json` does)."""
    decide_fulltext(review_path, screen_all(review_path))
    runner = CliRunner()
    res = runner.invoke(cli, ["--db", str(review_path), "prisma", "--format", "csv", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    rows = {r["data"]: r["n"] for r in csv.DictReader(io.StringIO(out["content"]))}
    assert rows["records_screened"] == "10" and rows["database_results"] == "13"
    res = runner.invoke(cli, ["--db", str(review_path), "prisma", "--format", "json", "--json"])
    out = json.loads(res.stdout)
    assert out["content"]["records_screened"] == 10 and out["content"]["duplicates"] == 2


def test_csv_has_every_template_row_in_order(review_path, tmp_path):
    decide_fulltext(review_path, screen_all(review_path))
    out = tmp_path / "prisma.csv"
    res = CliRunner().invoke(cli, ["--db", str(review_path), "prisma", "--format", "csv",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    with open(TEMPLATE, newline="", encoding="utf-8") as fh:
        template = list(csv.DictReader(fh))
    with open(out, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["data", "node", "box", "description", "boxtext",
                                     "tooltips", "url", "n"]
        rows = list(reader)
    assert [r["data"] for r in rows] == [r["data"] for r in template]
    for got, want in zip(rows, template):
        assert {k: got[k] for k in ("node", "box", "description", "boxtext")} == \
            {k: want[k] for k in ("node", "box", "description", "boxtext")}
    n = {r["data"]: r["n"] for r in rows}
    assert n["records_screened"] == "10" and n["duplicates"] == "2"
    svg = tmp_path / "prisma.svg"
    res = CliRunner().invoke(cli, ["--db", str(review_path), "prisma", "--format", "svg",
                                   "--out", str(svg)])
    assert res.exit_code == 0 and svg.read_text().lstrip().startswith("<?xml")


def test_unfinished_screening_is_a_clear_error(review_path):
    screen_all(review_path, leave_undecided=2)
    res = CliRunner().invoke(cli, ["--db", str(review_path), "prisma"])
    assert res.exit_code == 1
    assert "2 records have no decision" in str(res.exception)
    assert "review screen" in str(res.exception)


def test_unfinished_fulltext_is_a_clear_error(review_path):
    screen_all(review_path)  # 4 records passed, no full-text decisions yet
    res = CliRunner().invoke(cli, ["--db", str(review_path), "prisma"])
    assert res.exit_code == 1 and "review fulltext" in str(res.exception)


@pytest.fixture
def dedup_dependency_missing(monkeypatch):
    """The deduplication stage is installed but one of its dependencies (rapidfuzz) is not."""
    import sys
    for name in [m for m in sys.modules if m.startswith("toolkit.dedup")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rapidfuzz", None)  # `import rapidfuzz` now fails


def test_a_broken_dedup_install_is_not_taken_for_no_dedup_stage(review_path,
                                                               dedup_dependency_missing):
    """Counting without deduplication would report 0 duplicates removed and screen the
    duplicates too; a missing dependency must surface instead (as for `review dedup`)."""
    from toolkit.flow import prisma_counts
    from toolkit.screening.queue import records_to_screen

    review = open_review(review_path)
    try:
        with pytest.raises(ModuleNotFoundError, match="rapidfuzz"):
            prisma_counts(review)
        with pytest.raises(ModuleNotFoundError, match="rapidfuzz"):
            records_to_screen(review)
    finally:
        review.close()


def test_stages_that_disagree_break_the_invariant(review_path, monkeypatch):
    """Reports sought (full-text stage) must equal records passed on by title/abstract
    screening; a disagreement between the two stages is an error, not a 'linked' delta."""
    import toolkit.fulltext
    decide_fulltext(review_path, screen_all(review_path))
    real = toolkit.fulltext.fulltext_counts

    def one_report_too_many(review, *args, **kw):
        c = dict(real(review, *args, **kw))
        c.update(reports_sought=c["reports_sought"] + 1,
                 reports_not_retrieved=c["reports_not_retrieved"] + 1)
        return c
    monkeypatch.setattr(toolkit.fulltext, "fulltext_counts", one_report_too_many)
    res = CliRunner().invoke(cli, ["--db", str(review_path), "prisma", "--format", "json"])
    assert res.exit_code == 1
    assert "reports sought = records screened - records excluded" in str(res.exception)
