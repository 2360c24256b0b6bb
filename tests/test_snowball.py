"""`review snowball` against the fake OpenAlex API: backward and forward citation searching from
the included studies (or a file), with known answers, misbehaving servers and PRISMA's
other-methods arm."""

import csv
import json
import time
from pathlib import Path

import pytest

from openalex_fake import make_work
from toolkit.dedup.api import deduplicate
from toolkit.errors import ReviewError
from toolkit.flow import prisma_counts
from toolkit.fulltext import record_fulltext
from toolkit.importing import import_file
from toolkit.prisma import check_invariants, to_json
from toolkit.screening.decisions import final_decisions, record_decision
from toolkit.search.citations import snowball
from toolkit.search.http import PoliteClient
from toolkit.search.openalex import OpenAlex, abstract_text, work_fields
from toolkit.store import create_review

ROWS = list(csv.DictReader(open(Path(__file__).parent / "data" / "screening"
                                / "kitchenham_200.csv", encoding="utf-8")))
A, B, C = 7, 16, 3  # stored rows: A and B are included (the seeds), C was excluded
CITING_B = range(60, 180)  # 120 works cite seed B (and W21): two pages of 100
BACKWARD = {10, 11, 12, 13}
FORWARD = {20, 21} | {1000 + i for i in CITING_B}


def doi(i: int) -> str:
    return f"10.5555/fake.{i}"


def works() -> list[dict]:
    def w(n, row, **kw):
        return make_work(n, ROWS[row]["title"], abstract=ROWS[row]["abstract"], **kw)

    out = [
        w(1, A, doi=doi(A), refs=(10, 11, 12, 99)),  # W99: a reference OpenAlex lacks
        w(2, B, pmid="30000016", refs=(11, 13)),
        w(10, C, doi=doi(C)),  # the stored, excluded record C
        w(11, 40, doi="10.7777/oa.11"), w(12, 41, doi="10.7777/oa.12"),
        w(13, 42, doi="10.7777/oa.13"),
        w(20, 43, doi="10.7777/oa.20", refs=(1,)), w(21, 44, doi="10.7777/oa.21", refs=(1, 2)),
        w(30, 45, doi="10.7777/oa.30"),  # in OpenAlex, linked to nothing
    ]
    out += [w(1000 + i, i, doi=f"10.7777/oa.{1000 + i}", refs=(2,)) for i in CITING_B]
    return out


@pytest.fixture
def review(tmp_path):
    path = tmp_path / "export.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(["ID", "Title", "Abstract", "Year", "DOI", "PMID"])
        for i in range(11):  # rows 0-10 (A and C among them) with DOIs
            wr.writerow([f"L{i}", ROWS[i]["title"], ROWS[i]["abstract"], "2015", doi(i), ""])
        # B with a PMID and no DOI
        wr.writerow([f"L{B}", ROWS[B]["title"], ROWS[B]["abstract"], "2015", "", "30000016"])
    r = create_review(tmp_path / "review.db")
    import_file(r, path, source="Embase")
    deduplicate(r)
    ids = {row["source_id"]: row["id"] for row in r.db.query("select id, source_id from records")}
    with r.atomic():
        for sid, rid in ids.items():
            i = int(sid[1:])
            record_decision(r, rid, "include" if i in (A, B) else "exclude", "ann")
        for i in (A, B):
            record_fulltext(r, ids[f"L{i}"], "assessed", "include", reviewer="ann")
    r.ids = ids
    return r


def test_backward_and_forward_from_the_included_studies(review, fake_openalex):
    fake = fake_openalex(works())
    fake.faults = ["429", "500", "truncate", "reset", "503"]  # the first five requests fail
    out = snowball(review, email="me@example.org")
    assert fake.faults == []  # every fault was served, and retried
    assert (out["seeds"], out["resolved"], out["unresolved"]) == (2, 2, [])
    assert out["backward_works"] == len(BACKWARD) and out["forward_works"] == len(FORWARD)
    assert out["works"] == out["records_added"] == len(BACKWARD | FORWARD)
    assert not out["complete"] and "W99" in out["warnings"][0]  # a reference that is gone
    # the polite pool: every request carries mailto
    assert all(p.get("mailto") == "me@example.org" for _, _, p in fake.log)
    # seed A by DOI, seed B by PMID (it has no DOI)
    singles = [path for path, _, _ in ((p, 0, 0) for _, p, _ in fake.log) if path != "/works"]
    assert f"/works/doi:{doi(A)}" in singles and "/works/pmid:30000016" in singles
    # forward: cursor paging through the 120 works citing B
    pages = [p["cursor"] for _, path, p in fake.log if p.get("filter") == "cites:W2"]
    assert pages[0] == "*" and len(set(pages)) == 3  # *, page 2, the empty end
    stored = {r["source_id"] for r in review.db.query(
        "select source_id from records where source = 'Citation searching'")}
    assert stored == {f"W{n}" for n in BACKWARD | FORWARD}
    # W10 is the stored record C: a duplicate that inherits C's exclusion
    c = review.ids[f"L{C}"]
    ((dup),) = out["duplicates_of_stored"]
    assert dup["duplicate_of"] == c and dup["inherited"] == "exclude"
    assert len(out["queued"]) == len(BACKWARD | FORWARD) - 1
    search = review.db["searches"].get(out["search_id"])
    assert (search["kind"], search["database"], search["status"]) == (
        "citations", "Citation searching", "incomplete")
    # which seed led to each record, and which way
    raw = json.loads(review.db.execute(
        "select raw from records where source_id = 'W11'").fetchone()[0])
    assert sorted(map(tuple, raw["found_by"])) == sorted(
        [("record %d" % review.ids[f"L{A}"], "backward"),
         ("record %d" % review.ids[f"L{B}"], "backward")])
    assert "abstract_inverted_index" not in raw["openalex"]

    # PRISMA: citation searching is the other-methods arm
    final = final_decisions(review)
    w11 = review.db.execute("select id from records where source_id = 'W11'").fetchone()[0]
    with review.atomic():
        for q in out["queued"]:
            record_decision(review, q["record_id"],
                            "include" if q["record_id"] == w11 else "exclude", "ann")
        record_fulltext(review, w11, "assessed", "include", reviewer="ann")
    assert final[c] == "exclude"
    counts = prisma_counts(review)
    check_invariants(counts)
    assert counts["identified_by_database"] == {"Embase": 12}
    assert counts["identified_citations"] == len(BACKWARD | FORWARD)
    assert (counts["other_reports_sought"], counts["other_reports_assessed"]) == (1, 1)
    assert counts["records_screened"] == 12 and counts["reports_sought"] == 2
    assert (counts["new_studies_included"], counts["new_reports_included"]) == (3, 3)
    data = to_json(counts)
    assert data["citations_results"] == len(BACKWARD | FORWARD)
    assert data["website_results"] is None and data["other_sought_reports"] == 1

    # a second run finds the same works: nothing added, everything already present
    again = snowball(review, backward=True, forward=False)
    assert again["records_added"] == 0 and again["already_present"] == len(BACKWARD)


def test_seeds_from_a_file(review, fake_openalex, tmp_path):
    fake = fake_openalex(works())
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"# seeds\nW2\n{doi(A).upper()}\n10.9999/unknown.1\n")
    out = snowball(review, seeds=str(seeds), forward=False)
    assert out["unresolved"] == ["10.9999/unknown.1"]
    assert out["resolved"] == 2 and out["backward_works"] == len(BACKWARD)
    assert not any(p.get("filter", "").startswith("cites:") for _, _, p in fake.log)
    seeds.write_text("10.9999/unknown.1\n10.9999/unknown.2\n")
    with pytest.raises(ReviewError, match=r"none of the 2 seeds is in OpenAlex \(10.9999/un"):
        snowball(review, seeds=str(seeds))
    assert review.db.execute("select count(*) from searches where kind = 'citations'"
                             ).fetchone()[0] == 1


def test_forward_only_and_a_lying_count(review, fake_openalex):
    fake = fake_openalex(works())
    fake.count_bonus = 5  # OpenAlex says 5 more works cite each seed than it returns
    out = snowball(review, backward=False)
    assert out["backward_works"] == 0 and out["forward_works"] == len(FORWARD)
    assert not out["complete"]
    assert any("counted 126 works citing W2 but 121 were retrieved" in w
               for w in out["warnings"])


def test_a_repeated_cursor_stops_paging(review, fake_openalex):
    fake = fake_openalex(works())
    api = OpenAlex()
    fake.faults = ["repeat_cursor"]
    found, count = api.citing("W2")
    assert count == 121 and len(found) == 100  # W21 and the 120
    assert any("repeated a cursor" in w for w in api.warnings)


def test_no_included_studies_is_a_clear_error(tmp_path, fake_openalex):
    fake_openalex(works())
    r = create_review(tmp_path / "r.db")
    with pytest.raises(ReviewError, match="no included studies yet"):
        snowball(r)
    with pytest.raises(ReviewError, match="--backward, --forward or both"):
        snowball(r, backward=False, forward=False)


def test_a_failed_run_saves_nothing(review, fake_openalex):
    fake = fake_openalex(works())
    fake.faults = ["500"] * 20
    api = OpenAlex(client=PoliteClient(fake_base(), "OpenAlex", "REVIEW_OPENALEX",
                                       max_retries=2, backoff=0.01))
    before = review.db.execute("select count(*) from records").fetchone()[0]
    with pytest.raises(ReviewError, match="OpenAlex works/doi:.* failed 3 times"):
        snowball(review, api=api)
    assert review.db.execute("select count(*) from records").fetchone()[0] == before
    assert review.db.execute("select count(*) from searches where kind = 'citations'"
                             ).fetchone()[0] == 0


def fake_base():
    import os

    return os.environ["REVIEW_OPENALEX_URL"]


def test_work_fields_and_abstract():
    w = make_work(5, "A title", abstract="one two one three", doi="10.1234/X.Y",
                  pmid="123", authors=("Douglas G. Adler", "Jean-Pierre van der Berg"))
    assert abstract_text(w["abstract_inverted_index"]) == "one two one three"
    f = work_fields(w)
    assert (f["source_id"], f["doi"], f["pmid"], f["pages"]) == (
        "W5", "https://doi.org/10.1234/X.Y", "https://pubmed.ncbi.nlm.nih.gov/123", "5-14")
    from toolkit.records import make_record

    rec = make_record(f, source="Citation searching")
    assert (rec["doi"], rec["pmid"], rec["year"]) == ("10.1234/x.y", "123", 2015)
    assert json.loads(rec["authors"]) == ["Adler, DG", "van der Berg, JP"]


def test_base_url_defaults_to_openalex(monkeypatch):
    monkeypatch.delenv("REVIEW_OPENALEX_URL", raising=False)
    assert OpenAlex().client.base == "https://api.openalex.org"
    monkeypatch.setenv("REVIEW_OPENALEX_URL", "http://127.0.0.1:9/x/")
    assert OpenAlex().client.base == "http://127.0.0.1:9/x"


def test_without_network_it_fails_at_once(review, monkeypatch):
    """Connection refused (nothing listens on the port): one clear error, no retries."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # a port nobody listens on
    monkeypatch.setenv("REVIEW_OPENALEX_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("REVIEW_OPENALEX_BACKOFF", "5")  # a retry would take seconds
    t0 = time.monotonic()
    api = OpenAlex()
    with pytest.raises(ReviewError) as err:
        snowball(review, api=api)
    assert time.monotonic() - t0 < 2 and api.client.requests_made == 1
    msg = str(err.value)
    assert msg == (f"cannot connect to 127.0.0.1:{port}; check the network connection (or "
                   "REVIEW_OPENALEX_URL)")
