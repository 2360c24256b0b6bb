"""A living review end to end against the fake E-utilities server: search, screen some, the
database gains records, `review update` imports only what is new, duplicates of screened
records inherit their decisions, the new records come first in the queue, and the PRISMA flow
of the update counts the previous version's studies and the update's records."""

import csv
import datetime as dt
from pathlib import Path

import pytest

from eutils_fake import article_xml
from toolkit.dedup.api import deduplicate
from toolkit.errors import ReviewError
from toolkit.flow import prisma_counts, studies_in_meta_analysis
from toolkit.fulltext import final_fulltext, record_fulltext
from toolkit.importing import import_file
from toolkit.living.updates import import_update, run_update, saved_searches, update_term
from toolkit.prisma import check_invariants, to_json
from toolkit.screening.decisions import final_decisions
from toolkit.screening.queue import ScreeningSession
from toolkit.search.eutils import EutilsClient
from toolkit.search.pubmed import search_pubmed
from toolkit.store import create_review

ROWS = list(csv.DictReader(open(Path(__file__).parent / "data" / "screening"
                                / "kitchenham_200.csv", encoding="utf-8")))
REASONS = ["wrong design", "not software engineering"]
FIRST_RUN = "2023-06-01T12:00:00+00:00"
UPDATE_RUN = "2023-09-01T12:00:00+00:00"


def pmid(i: int) -> str:
    return str(30_000_000 + i)


def doi(i: int) -> str:
    return f"10.5555/fake.{i}"


def article(i: int, pdat: dt.date, edat: dt.date, *, as_pmid: str | None = None):
    """Row ``i`` of the labelled set as a PubMed article (made-up PMID and DOI)."""
    p = as_pmid or pmid(i)
    return (p, pdat, edat, article_xml(p, ROWS[i]["title"], abstract=ROWS[i]["abstract"],
                                       doi=doi(i), date=pdat))


def label(review, record_id: int) -> str:
    """The labelled set's decision for a stored record (found by its DOI)."""
    d = review.db.execute("select doi from records where id = ?", [record_id]).fetchone()[0]
    return "include" if ROWS[int(d.rsplit(".", 1)[1])]["label_included"] == "1" else "exclude"


def screen(review, n: int) -> list[int]:
    """ann screens ``n`` records in the queue's order, deciding as the labelled set did."""
    session = ScreeningSession(review, "ann", background=False)
    shown = []
    for _ in range(n):
        s = session.next()
        assert s is not None
        session.decide(s, label(review, s.record_id))
        shown.append(s.record_id)
    return shown


def write_csv(path, rows: list[int], year: str = "2015") -> Path:
    """An Embase-like CSV export of rows of the labelled set (made-up accession numbers)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Title", "Abstract", "Year", "DOI"])
        for i in rows:
            w.writerow([f"L{9000 + i}", ROWS[i]["title"], ROWS[i]["abstract"], year, doi(i)])
    return path


# Rows of the Embase export of the original review: 76 (an include) and 60 are not in PubMed
# yet (the update's PubMed search finds them), 7 is a PubMed record's Embase copy.
EMBASE_V0 = [76, 60, 7]


@pytest.fixture
def living(tmp_path, fake_eutils, monkeypatch):
    fake = fake_eutils(0)
    day = dt.date(2023, 1, 10)
    # the original database: rows 0-39 (3 includes), entered 2023-01-10; one of them entered
    # on 2023-05-31, the day before the first search (an update window overlaps it)
    fake.add([article(i, dt.date(2015, 1, 1) + dt.timedelta(days=i),
                      dt.date(2023, 5, 31) if i == 5 else day) for i in range(40)])
    monkeypatch.setenv("REVIEW_NOW", FIRST_RUN)
    review = create_review(tmp_path / "review.db")
    first = search_pubmed(review, "software engineering", mindate="2000",
                          client=EutilsClient(api_key="k"))
    assert first["retrieved"] == 40 and first["complete"]
    import_file(review, write_csv(tmp_path / "embase_v0.csv", EMBASE_V0), source="Embase")
    assert deduplicate(review)["duplicates_removed"] == 1
    return fake, review, monkeypatch


def record_of_row(review, i: int, source: str) -> int:
    return review.db.execute("select id from records where doi = ? and source = ?",
                             [doi(i), source]).fetchone()[0]


def test_update_end_to_end(living):
    fake, review, monkeypatch = living
    # ann has screened the two Embase-only records and 28 more in the queue's order; 12 of
    # the 42 deduplicated records are left unscreened
    from toolkit.screening.decisions import save_decision

    dup_inc, dup_exc = (record_of_row(review, i, "Embase") for i in (76, 60))
    save_decision(review, dup_inc, "include", "ann", seen=None)
    save_decision(review, dup_exc, "exclude", "ann", seen=None)
    screen(review, 28)

    # The database gains records after the first search (entrez dates in August 2023):
    new_day = dt.date(2023, 8, 15)
    fake.add([article(i, dt.date(2023, 7, 1), new_day) for i in range(40, 48)]  # 8 new
             # 2 new that were published years ago but indexed only now (late indexing)
             + [article(i, dt.date(2010, 3, 1), new_day) for i in (64, 68)]
             # the 2 Embase-only records, now in PubMed: duplicates of screened records
             + [article(i, dt.date(2015, 6, 1), new_day) for i in (76, 60)]
             # published before the saved search's lower limit (2000): not for this review
             + [article(50, dt.date(1998, 5, 1), new_day)])
    monkeypatch.setenv("REVIEW_NOW", UPDATE_RUN)
    out = run_update(review, client=EutilsClient(api_key="k"))

    # one saved search re-run over entrez dates from the day before its run to today
    (s,) = out["searches"]
    assert out["update_id"] == 1 and out["complete"] and out["warnings"] == []
    hist = [p for _, ep, p in fake.log if ep == "esearch" and p.get("datetype") == "edat"]
    assert hist and all((p["mindate"], p["maxdate"]) == ("2023/05/31", "2023/09/01")
                        for p in hist)
    assert all('("2000/01/01"[dp] : "3000/12/31"[dp])' in p["term"] for p in hist)
    # found: 8 + 2 late + 2 duplicates + the record entered on 2023-05-31 (already stored)
    assert (s["count"], s["retrieved"], s["added"], s["already_present"]) == (13, 13, 12, 1)
    assert out["new_records"] == 12 and out["records_added"] == 12
    # the duplicates of screened records inherit their decisions, and are reported
    dups = {d["duplicate_of"]: d for d in out["duplicates_of_stored"]}
    assert set(dups) == {dup_inc, dup_exc}
    assert dups[dup_inc]["inherited"] == "include" and dups[dup_exc]["inherited"] == "exclude"
    assert {h["from_record_id"] for h in out["inherited_decisions"]} == {dup_inc, dup_exc}
    final = final_decisions(review)
    for d in out["duplicates_of_stored"]:
        assert final[d["record_id"]] == final[d["duplicate_of"]]
    # only the 10 genuinely new records are queued, ranked by the model fitted on all labels
    new_ids = {record_of_row(review, i, "PubMed") for i in [*range(40, 48), 64, 68]}
    assert {q["record_id"] for q in out["queued"]} == new_ids
    assert [q["rank"] for q in out["queued"]] == list(range(1, 11))
    assert out["model"]["labels"] == 30 and out["model"]["fitted"]
    scores = [q["score"] for q in out["queued"]]
    assert scores == sorted(scores, reverse=True)

    # the queue shows the new records first, though 10 older ones are still to screen
    first_ten = screen(review, 10)
    assert set(first_ten) == new_ids
    rest = screen(review, 12)
    assert not set(rest) & new_ids
    assert ScreeningSession(review, "ann", background=False).next() is None

    # full text: every report of the original review included; of the update's, one excluded
    reports = final_fulltext(review)
    update_reports = sorted(r for r in reports if r in new_ids)
    assert len(update_reports) == 3  # rows 45, 64, 68 are the labelled set's includes
    with review.atomic():
        for r in reports:
            if r == update_reports[0]:
                record_fulltext(review, r, "assessed", "exclude", "wrong design",
                                reviewer="ann", reasons=REASONS)
            else:
                record_fulltext(review, r, "assessed", "include", reviewer="ann")

    # PRISMA 2020 for the updated review: previous studies, then what the update found
    counts = prisma_counts(review, version=1)
    check_invariants(counts)
    assert counts["identified_by_database"] == {"PubMed": 13}
    assert counts["duplicates_removed"] == 3  # the 2 duplicates + the record already stored
    assert (counts["records_screened"], counts["records_excluded"]) == (10, 7)
    assert (counts["reports_sought"], counts["reports_assessed"]) == (3, 3)
    assert counts["reports_excluded_reasons"] == {"wrong design": 1}
    assert (counts["new_studies_included"], counts["new_reports_included"]) == (2, 2)
    # rows 7, 16, 27 (PubMed) and 76 (Embase) were included in the original review
    assert (counts["previous_studies"], counts["previous_reports"]) == (4, 4)
    data = to_json(counts)
    assert (data["total_studies"], data["total_reports"]) == (6, 6)
    assert data["database_specific_results"] == "PubMed, 13"

    # the usual flow, beside it: the whole review as one
    whole = prisma_counts(review)
    assert whole["identified_by_database"] == {"PubMed": 52, "Embase": 3}
    assert whole["duplicates_removed"] == 3 and whole["records_screened"] == 52
    assert whole["new_studies_included"] == 6 and whole.get("previous_studies") is None
    # and the original review's own flow (version 0)
    v0 = prisma_counts(review, version=0)
    assert v0["identified_by_database"] == {"PubMed": 40, "Embase": 3}
    assert v0["duplicates_removed"] == 1
    assert (v0["records_screened"], v0["new_studies_included"]) == (42, 4)
    assert "previous_studies" not in v0
    assert studies_in_meta_analysis(review, version=1) is None  # nothing extracted


def test_update_without_new_records_queues_nothing(living):
    fake, review, monkeypatch = living
    monkeypatch.setenv("REVIEW_NOW", UPDATE_RUN)
    out = run_update(review, client=EutilsClient(api_key="k"))
    assert out["new_records"] == 0 and out["queued"] == [] and out["already_present"] == 1
    # a second update starts from the first update's run, and is update 2
    monkeypatch.setenv("REVIEW_NOW", "2023-10-01T12:00:00+00:00")
    fake.log.clear()
    out2 = run_update(review, client=EutilsClient(api_key="k"))
    assert out2["update_id"] == 2
    edat = [p for _, ep, p in fake.log if p.get("datetype") == "edat"]
    assert edat and edat[0]["mindate"] == "2023/08/31" and edat[0]["maxdate"] == "2023/10/01"
    (s,) = saved_searches(review)
    assert s["runs"] == 3 and s["last_run"] == "2023-10-01T12:00:00+00:00"


def test_since_overrides_the_window(living):
    fake, review, monkeypatch = living
    monkeypatch.setenv("REVIEW_NOW", UPDATE_RUN)
    out = run_update(review, since="2023/01/01", client=EutilsClient(api_key="k"))
    assert out["searches"][0]["retrieved"] == 40 and out["new_records"] == 0
    with pytest.raises(ReviewError, match="bad date"):
        run_update(review, since="2023/13/01", client=EutilsClient(api_key="k"))


def test_interrupted_update_is_continued(living):
    fake, review, monkeypatch = living
    fake.add([article(i, dt.date(2023, 7, 1), dt.date(2023, 8, 1)) for i in range(40, 60)])
    monkeypatch.setenv("REVIEW_NOW", UPDATE_RUN)
    fake.faults = [("efetch", "500")] * 5
    with pytest.raises(ReviewError, match="failed 2 times .* update 1 is saved as interrupted: "
                                          "`review update` continues it"):
        run_update(review, batch_size=10,
                   client=EutilsClient(api_key="k", max_retries=1, backoff=0.01))
    assert review.db["updates"].get(1)["status"] == "interrupted"
    assert review.db.execute("select status from searches where update_id = 1").fetchone() == (
        "interrupted",)
    # nothing fetched yet: no flow to report (not "PubMed, n = 0")
    with pytest.raises(ReviewError, match="no records were found in update 1"):
        prisma_counts(review, version=1)
    fake.faults = []
    out = run_update(review, batch_size=10, client=EutilsClient(api_key="k"))
    assert out["update_id"] == 1 and out["continued"] and out["complete"]
    assert out["new_records"] == 20
    assert review.db.execute("select count(*) from updates").fetchone()[0] == 1
    assert review.db.execute("select count(*) from searches where update_id = 1"
                             ).fetchone()[0] == 1


def test_an_update_whose_first_request_fails_is_interrupted_not_left_running(living):
    """Offline, or a server failing at the first esearch: nothing was fetched, yet the update
    was started; it must say so and be continued, not stay `running` for later imports."""
    fake, review, monkeypatch = living
    fake.add([article(i, dt.date(2023, 7, 1), dt.date(2023, 8, 1)) for i in range(40, 45)])
    monkeypatch.setenv("REVIEW_NOW", UPDATE_RUN)
    fake.faults = [("esearch", "500")] * 5
    with pytest.raises(ReviewError, match="update 1 is saved as interrupted"):
        run_update(review, client=EutilsClient(api_key="k", max_retries=1, backoff=0.01))
    assert review.db["updates"].get(1)["status"] == "interrupted"
    assert review.db.execute("select count(*) from searches where update_id = 1"
                             ).fetchone()[0] == 0
    fake.faults = []
    out = run_update(review, client=EutilsClient(api_key="k"))
    assert out["update_id"] == 1 and out["continued"] and out["complete"]
    assert out["new_records"] == 5


def test_prisma_of_an_update_that_found_nothing_new(living):
    """An update whose searches found no new record is still a version to report: PubMed,
    n = 0, nothing screened, no new study."""
    fake, review, monkeypatch = living
    monkeypatch.setenv("REVIEW_NOW", UPDATE_RUN)
    out = run_update(review, since="2023/08/01", client=EutilsClient(api_key="k"))
    assert out["complete"] and out["records_found"] == 0
    counts = prisma_counts(review, version=out["update_id"])
    check_invariants(counts)
    assert counts["identified_by_database"] == {"PubMed": 0}
    assert (counts["records_screened"], counts["new_studies_included"]) == (0, 0)
    assert to_json(counts)["database_specific_results"] == "PubMed, 0"


def test_update_term_keeps_the_publication_date_floor():
    assert update_term("a OR b", None) == "a OR b"
    assert update_term("a OR b", "2000") == '(a OR b) AND ("2000/01/01"[dp] : "3000/12/31"[dp])'
    assert update_term("x", "2009/06") == '(x) AND ("2009/06/01"[dp] : "3000/12/31"[dp])'


def test_import_update_adds_only_unseen_records(living, tmp_path):
    """An Embase-like export of the update window: records already stored are counted, not
    added; the new ones are deduplicated against everything and queued."""
    fake, review, monkeypatch = living
    screened = screen(review, 42)
    assert len(screened) == 42
    k = 16  # an include of the labelled set, in PubMed only
    inc = record_of_row(review, k, "PubMed")
    assert final_decisions(review)[inc] == "include"
    # rows 40-43 are new; row k is an Embase copy of a screened include (another source: a
    # duplicate for deduplication, not for the import)
    first = write_csv(tmp_path / "embase_v1.csv", [40, 41, 42, 43, k])
    out = import_update(review, first, source="Embase")
    assert out["update_id"] == 1 and out["update_started"]
    assert (out["records_read"], out["records_added"], out["already_present"]) == (5, 5, 0)
    assert out["new_records"] == 5
    assert [(d["duplicate_of"], d["inherited"]) for d in out["duplicates_of_stored"]] == [
        (inc, "include")]
    assert len(out["queued"]) == 4
    # the next export overlaps the first: 2 already there, 2 new
    second = write_csv(tmp_path / "embase_v1b.csv", [42, 43, 44, 45])
    out2 = import_update(review, second, source="Embase")
    assert out2["update_id"] == 1 and not out2["update_started"]  # joins the latest update
    assert (out2["records_added"], out2["already_present"]) == (2, 2)
    assert out2["new_records"] == 7  # everything update 1 found first so far
    assert len(out2["queued"]) == 6
    # the copy of the include inherited its decision in the first import: still reported so
    assert [(d["duplicate_of"], d["inherited"]) for d in out2["duplicates_of_stored"]] == [
        (inc, "include")]
    # the same bytes again add nothing
    again = import_update(review, second, source="Embase")
    assert again["already_imported"] and again["records_added"] == 0
    assert [d["inherited"] for d in again["duplicates_of_stored"]] == ["include"]


def test_import_update_reads_its_file_without_holding_the_store(tmp_path, monkeypatch):
    """While `import --update` reads a file another process can write (a screening decision
    is never kept waiting for a large export); the update's tag is published with the records."""
    import sqlite3

    from toolkit import importing

    review = create_review(tmp_path / "review.db")
    writable_during_read = []
    make_record = importing.make_record

    def reading(*args, **kw):  # another process tries to write while a row is read
        other = sqlite3.connect(tmp_path / "review.db", timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            writable_during_read.append(True)
        except sqlite3.OperationalError:
            writable_during_read.append(False)
        finally:
            other.close()
        return make_record(*args, **kw)

    monkeypatch.setattr(importing, "make_record", reading)
    out = import_update(review, write_csv(tmp_path / "e.csv", [1, 2, 3]), source="Embase")
    assert writable_during_read == [True, True, True]
    assert out["update_started"] and out["records_added"] == 3
    assert review.db["searches"].get(out["search_id"])["update_id"] == out["update_id"]
    assert review.db["updates"].get(out["update_id"])["status"] == "complete"


def test_searches_after_an_update_began_belong_to_it(living, tmp_path):
    fake, review, monkeypatch = living
    monkeypatch.setenv("REVIEW_NOW", UPDATE_RUN)
    run_update(review, client=EutilsClient(api_key="k"))
    out = import_file(review, write_csv(tmp_path / "late.csv", [90, 91]), source="Embase")
    assert review.db["searches"].get(out["search_id"])["update_id"] == 1
    originals = review.db.execute("select count(*) from searches where update_id is null")
    assert originals.fetchone()[0] == 2  # the first PubMed search and the first Embase import
