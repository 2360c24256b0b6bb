"""`review search check` against the fake E-utilities server: which known studies a query
retrieves and misses, with recall and its exact confidence interval (R's binom.test)."""

import csv
import datetime as dt
import re
from pathlib import Path

import pytest

from eutils_fake import article_xml
from toolkit.errors import ReviewError
from toolkit.search.check import check_search, recall_interval
from toolkit.search.eutils import EutilsClient
from toolkit.search.identifiers import read_identifiers

DATA = Path(__file__).parent / "data"
ROWS = list(csv.DictReader(open(DATA / "screening" / "kitchenham_200.csv", encoding="utf-8")))
N = 60


def pmid(i):
    return str(30_000_000 + i)


def doi(i):
    return f"10.5555/fake.{i}"


def has_word(i, word):
    return word in re.findall(r"\w+", ROWS[i]["title"].lower())


@pytest.fixture
def fake(fake_eutils):
    f = fake_eutils(0)
    f.add([(pmid(i), dt.date(2010, 1, 1) + dt.timedelta(days=30 * i), dt.date(2020, 1, 1),
            article_xml(pmid(i), ROWS[i]["title"], doi=doi(i).upper(),
                        date=dt.date(2010, 1, 1) + dt.timedelta(days=30 * i)))
           for i in range(N)])
    return f


def test_known_studies_retrieved_and_missed(fake, tmp_path):
    hits = [i for i in range(N) if has_word(i, "software")]
    misses = [i for i in range(N) if not has_word(i, "software")]
    assert len(hits) >= 5 and len(misses) >= 4
    by_pmid, by_doi = hits[:3] + misses[:2], [hits[3], misses[2]]
    known = tmp_path / "known.txt"
    known.write_text("\n".join([*(pmid(i) for i in by_pmid), *(doi(i) for i in by_doi),
                                "99999999", "10.9999/not.in.pubmed", ""]))
    out = check_search("software[ti]", known, client=EutilsClient(api_key="k"))
    assert out["count"] == len(hits)  # the query's own Count
    assert out["known"] == 9 and out["in_pubmed"] == 7
    assert sorted(r["pmid"] for r in out["retrieved"]) == sorted(
        pmid(i) for i in hits[:4])
    assert sorted(m["pmid"] for m in out["missed"]) == sorted(pmid(i) for i in misses[:3])
    assert {a["id"] for a in out["not_in_pubmed"]} == {"99999999", "10.9999/not.in.pubmed"}
    assert out["recall"] == round(4 / 7, 6)
    # a missed study shows its title and the line of the file that named it
    m = next(m for m in out["missed"] if m["pmid"] == pmid(misses[2]))
    assert m["title"] == ROWS[misses[2]]["title"] and m["id"] == doi(misses[2])
    assert m["line"] == 7
    # the DOI was matched through PubMed's record, whatever its case there
    r = next(r for r in out["retrieved"] if r["id"] == doi(hits[3]))
    assert r["pmid"] == pmid(hits[3])
    # the query was sent with the known PMIDs, not paged through
    terms = [p["term"] for _, ep, p in fake.log if ep == "esearch"]
    assert any(t.startswith("(software[ti]) AND (") and "[uid]" in t for t in terms)
    assert any("[aid]" in t for t in terms)


def test_date_limits_apply_as_in_the_search(fake, tmp_path):
    hits = [i for i in range(N) if has_word(i, "software")]
    known = tmp_path / "known.txt"
    known.write_text("\n".join(pmid(i) for i in hits))
    cut = dt.date(2010, 1, 1) + dt.timedelta(days=30 * hits[2])  # hits[2] and later pass
    out = check_search("software[ti]", known, mindate=cut.strftime("%Y/%m/%d"),
                       client=EutilsClient(api_key="k"))
    assert out["n_retrieved"] == len(hits) - 2 and out["n_missed"] == 2


def test_interval_is_clopper_pearson_as_r_computes_it():
    rows = list(csv.DictReader(open(DATA / "search" / "clopper_pearson_ref.csv")))
    assert len(rows) == 8
    for r in rows:
        low, high = recall_interval(int(r["k"]), int(r["n"]))
        assert low == pytest.approx(float(r["low"]), abs=1e-9)
        assert high == pytest.approx(float(r["high"]), abs=1e-9)


def test_survives_a_misbehaving_server(fake, tmp_path):
    known = tmp_path / "known.csv"
    known.write_text("Title;PMID;DOI\nx;%s;\ny;;%s\n" % (pmid(1), doi(2)))
    fake.faults = [("esearch", "429"), ("esearch", "500"), ("efetch", "truncate"),
                   ("esearch", "reset")]
    out = check_search("anything", known, client=EutilsClient(api_key="k", backoff=0.01))
    assert fake.faults == []
    assert out["count"] == N and out["n_retrieved"] == 2 and out["recall"] == 1.0
    low, high = out["recall_ci"]
    assert (round(low, 6), high) == (0.158114, 1.0)  # binom.test(2, 2): 0.1581139, 1


def test_nothing_known_in_pubmed(fake, tmp_path):
    known = tmp_path / "k.txt"
    known.write_text("10.9999/a.1\n")
    out = check_search("software[ti]", known, client=EutilsClient(api_key="k"))
    assert out["recall"] is None and out["recall_ci"] is None and out["in_pubmed"] == 0


def test_identifier_lists(tmp_path):
    f = tmp_path / "ids.txt"
    f.write_text("# known\n12345\nPMID: 678\n\n10.1000/ABC.1\nhttps://doi.org/10.2000/x.y\n"
                 "W42\nhttps://openalex.org/W43\n")
    items = read_identifiers(f)
    assert [(i.pmid, i.doi, i.openalex, i.line) for i in items] == [
        ("12345", None, None, 2), ("678", None, None, 3), (None, "10.1000/abc.1", None, 5),
        (None, "10.2000/x.y", None, 6), (None, None, "W42", 7), (None, None, "W43", 8)]
    f.write_text("12345\nnot an id\n")
    with pytest.raises(ReviewError, match=r"ids.txt: line 2: 'not an id' is not a PMID"):
        read_identifiers(f)
    f.write_text("12345\n10.1000/2\n0012345\n")
    with pytest.raises(ReviewError, match=r"line 3: pmid 12345 is given twice \(also line 1\)"):
        read_identifiers(f)
    c = tmp_path / "ids.csv"
    c.write_text("Study,PMID,DOI\nSmith,111,10.1000/a.b\nJones,,10.1000/c.d\n")
    items = read_identifiers(c)
    assert [(i.pmid, i.doi, i.label) for i in items] == [
        ("111", "10.1000/a.b", "111"), (None, "10.1000/c.d", "10.1000/c.d")]
    c.write_text("Study,PMID\nSmith,10.1000/a.b\n")
    with pytest.raises(ReviewError, match=r"line 2: column 'pmid': '10.1000/a.b' is not a PMID"):
        read_identifiers(c)
    c.write_text("Study,Year\nSmith,2001\n")
    with pytest.raises(ReviewError, match="no pmid, doi or openalex column"):
        read_identifiers(c)
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ReviewError, match="no identifiers"):
        read_identifiers(tmp_path / "empty.txt")
