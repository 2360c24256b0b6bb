"""`review search pubmed` against the fake E-utilities server (no network)."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.errors import ReviewError
from toolkit.search.eutils import EutilsClient
from toolkit.search.pubmed import search_pubmed
from toolkit.store import create_review, open_review


def pubmed_ids(db_path):
    con = sqlite3.connect(db_path)
    ids = {r[0] for r in con.execute("select source_id from records where source = 'PubMed'")}
    con.close()
    return ids


def run_cli(db, *args):
    result = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    return result


def test_clean_search_retrieves_exactly_count(tmp_path, fake_eutils):
    fake = fake_eutils(1200)
    db = tmp_path / "r.db"
    create_review(db).close()
    res = run_cli(db, "search", "pubmed", "cryoablation spine", "--json", "--api-key", "k")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["count"] == 1200 and out["retrieved"] == 1200 and out["added"] == 1200
    assert out["already_present"] == 0 and out["missing_pmids"] == []
    assert pubmed_ids(db) == {p for p, _, _ in fake.corpus}
    # esearch with the history server, efetch through WebEnv/query_key in batches of 500
    fetches = [p for _, ep, p in fake.log if ep == "efetch"]
    assert len(fetches) == 3 and all(p["WebEnv"].startswith("MCID_FAKE") for p in fetches)
    assert [int(p["retstart"]) for p in fetches] == [0, 500, 1000]
    assert any(ep == "esearch" and p.get("usehistory") == "y" for _, ep, p in fake.log)
    review = open_review(db)
    row = review.db["searches"].get(out["search_id"])
    assert row["status"] == "complete" and row["count_retrieved"] == 1200
    assert row["query_translation"] == "cryoablation spine[All Fields]"
    # the same search again links the same records and adds none
    res2 = json.loads(run_cli(db, "search", "pubmed", "cryoablation spine", "--json",
                              "--api-key", "k").output)
    assert res2["added"] == 0 and res2["already_present"] == 1200 and res2["retrieved"] == 1200


def test_survives_every_fault(tmp_path, fake_eutils):
    fake = fake_eutils(1100)
    fake.faults = [("esearch", "500"), ("efetch", "429"), ("efetch", "500"), ("efetch", "503"),
                   ("efetch", "hang"), ("efetch", "truncate"), ("efetch", "reset"),
                   ("esearch", "hang")]
    db = tmp_path / "r.db"
    create_review(db).close()
    res = run_cli(db, "search", "pubmed", "q", "--json", "--api-key", "k", "--batch-size", "400")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["retrieved"] == out["count"] == 1100
    assert "review: warning: E-utilities efetch: HTTP 503; retrying in" in res.stderr
    assert pubmed_ids(db) == {p for p, _, _ in fake.corpus}
    assert fake.faults == []  # every injected fault was served
    assert out["requests"] > 3 + 2  # the failed attempts were retried


def test_truncated_batch_is_never_half_saved(tmp_path, fake_eutils):
    fake = fake_eutils(300)
    fake.faults = [("efetch", "truncate")] * 50  # every fetch truncated: give up cleanly
    review = create_review(tmp_path / "r.db")
    client = EutilsClient(api_key="k", max_retries=2, backoff=0.01)
    with pytest.raises(ReviewError, match=r"failed 3 times.*saved as interrupted: "
                                          r"`review search pubmed --resume` continues it"):
        search_pubmed(review, "q", client=client)
    assert review.db.execute("select count(*) from records").fetchone()[0] == 0
    row = list(review.db.query("select status from searches"))[0]
    assert row["status"] == "interrupted"


def test_count_above_10000_is_split_by_date(tmp_path, fake_eutils):
    fake = fake_eutils(10_450)
    db = tmp_path / "r.db"
    create_review(db).close()
    res = run_cli(db, "search", "pubmed", "big topic", "--json", "--api-key", "k",
                  "--batch-size", "2500")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["count"] == 10_450 and out["retrieved"] == 10_450 and out["parts"] >= 2
    assert len(pubmed_ids(db)) == 10_450
    # every history esearch stayed within PubMed's 10,000 limit
    hist = [p for _, ep, p in fake.log if ep == "esearch" and p.get("usehistory") == "y"]
    assert all(len(fake.search_ids(p)) <= 10_000 for p in hist)


def test_year_only_date_limits_over_10000_lose_nothing(tmp_path, fake_eutils):
    """--mindate 2008 --maxdate 2009 means 2008/01/01-2009/12/31 to PubMed (the fake reads it so
    too); split by date, the parts must still cover all of 2009, not stop at 2009/01/01."""
    import datetime as dt

    fake = fake_eutils(11_500, start=dt.date(2008, 1, 1), days=800)  # to 2010/03
    wanted = {p for p, d, _ in fake.corpus if 2008 <= d.year <= 2009}
    assert len(wanted) > 10_000 and len(wanted) < len(fake.corpus)
    db = tmp_path / "r.db"
    create_review(db).close()
    res = run_cli(db, "search", "pubmed", "big topic", "--json", "--api-key", "k",
                  "--batch-size", "5000", "--mindate", "2008", "--maxdate", "2009")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["count"] == len(wanted) and out["parts"] >= 2
    assert out["retrieved"] == out["count"] and out["warnings"] == [] and out["complete"]
    assert pubmed_ids(db) == wanted
    hist = [p for _, ep, p in fake.log if ep == "esearch" and p.get("usehistory") == "y"]
    assert all(len(fake.search_ids(p)) <= 10_000 for p in hist)
    assert max(p["maxdate"] for p in hist) == "2009/12/31"
    review = open_review(db)
    assert review.db["searches"].get(out["search_id"])["status"] == "complete"


@pytest.mark.parametrize("mindate, maxdate, months", [
    ("2009/03", "2009/06", (3, 6)),   # YYYY/MM: March 1 to June 30
    ("2009/02", "2009/02", (2, 2)),   # one month
    ("2009-03", "2009-04", (3, 4)),   # '-' as separator
])
def test_year_month_date_limits_cover_whole_months(tmp_path, fake_eutils, monkeypatch,
                                                    mindate, maxdate, months):
    """The same on a small scale (the 10,000 limit lowered to 50), for YYYY/MM limits."""
    import datetime as dt

    import toolkit.search.pubmed as pm

    monkeypatch.setattr(pm, "ESEARCH_MAX", 50)
    fake = fake_eutils(730, start=dt.date(2009, 1, 1), days=365)  # two a day
    wanted = {p for p, d, _ in fake.corpus if months[0] <= d.month <= months[1]}
    review = create_review(tmp_path / "r.db")
    out = search_pubmed(review, "q", mindate=mindate, maxdate=maxdate, batch_size=40,
                        client=EutilsClient(api_key="k", backoff=0.01))
    assert out["count"] == len(wanted) > 50 and out["parts"] >= 2
    assert out["retrieved"] == out["count"] and out["complete"] and out["warnings"] == []
    assert pubmed_ids(tmp_path / "r.db") == wanted


def test_partial_dates_read_as_pubmed_reads_them():
    import datetime as dt

    from toolkit.search.pubmed import _date

    assert _date("2009") == dt.date(2009, 1, 1)
    assert _date("2009", end=True) == dt.date(2009, 12, 31)
    assert _date("2008/02", end=True) == dt.date(2008, 2, 29)
    assert _date("2009/06") == dt.date(2009, 6, 1)
    assert _date("2009/06/15", end=True) == dt.date(2009, 6, 15)
    for bad in ("2009/13", "09/xx", "2009/02/30", "2009/1/1/1", ""):
        with pytest.raises(ReviewError, match="YYYY/MM/DD"):
            _date(bad)


def test_bad_date_limit_is_refused_before_anything_is_stored(tmp_path, fake_eutils):
    fake = fake_eutils(10)
    review = create_review(tmp_path / "r.db")
    with pytest.raises(ReviewError, match="bad date '2009/13'"):
        search_pubmed(review, "q", mindate="2000", maxdate="2009/13",
                      client=EutilsClient(api_key="k"))
    assert fake.log == [] and review.db.execute("select count(*) from searches").fetchone() == (0,)


def test_retrieved_not_count_is_incomplete_with_a_warning(tmp_path, fake_eutils):
    """No PMID is missing, yet 200 records for a Count of 205: incomplete, and said so."""
    fake = fake_eutils(200)
    fake.count_bonus = [5]  # the first esearch over-reports
    db = tmp_path / "r.db"
    create_review(db).close()
    res = run_cli(db, "search", "pubmed", "q", "--json", "--api-key", "k")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["count"], out["retrieved"], out["missing_pmids"]) == (205, 200, [])
    assert not out["complete"] and "retrieved 200 of 205" in out["warnings"][0]
    assert "review: warning: retrieved 200 of 205" in res.stderr
    review = open_review(db)
    assert review.db["searches"].get(out["search_id"])["status"] == "incomplete"


def test_date_parts_not_adding_up_to_count_is_incomplete(tmp_path, fake_eutils, monkeypatch):
    import toolkit.search.pubmed as pm

    monkeypatch.setattr(pm, "ESEARCH_MAX", 100)
    fake = fake_eutils(300)
    fake.count_bonus = [7]
    review = create_review(tmp_path / "r.db")
    out = search_pubmed(review, "q", batch_size=100, client=EutilsClient(api_key="k"))
    assert out["parts"] >= 3 and out["retrieved"] == 300 and out["count"] == 307
    assert not out["complete"]
    assert any("date part(s) hold 300 records" in w and "307" in w for w in out["warnings"])
    assert review.db["searches"].get(out["search_id"])["status"] == "incomplete"


def test_interrupted_search_resumes_to_the_clean_result(tmp_path, fake_eutils):
    fake = fake_eutils(1000)
    db = tmp_path / "r.db"
    review = create_review(db)
    # the 3rd efetch fails for good: the run stops after 2 batches were saved
    client = EutilsClient(api_key="k", max_retries=0, backoff=0.01)
    fake.faults = [("efetch", "pass1"), ("efetch", "pass2"), ("efetch", "500")]
    # "pass" faults are not kinds the server knows: those requests are served normally
    with pytest.raises(ReviewError):
        search_pubmed(review, "q", batch_size=300, client=client)
    saved = review.db.execute("select count(*) from records").fetchone()[0]
    assert saved == 600
    review.close()
    res = run_cli(db, "search", "pubmed", "--resume", "--json", "--api-key", "k",
                  "--batch-size", "300")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["retrieved"] == 1000 and out["added"] == 400
    assert pubmed_ids(db) == {p for p, _, _ in fake.corpus}
    con = sqlite3.connect(db)
    links = con.execute("select count(*), count(distinct record_id) from record_searches")
    assert links.fetchone() == (1000, 1000)  # no gaps, no doubles
    assert con.execute("select count(*) from searches").fetchone()[0] == 1


def test_missing_records_are_reported(tmp_path, fake_eutils):
    fake = fake_eutils(200)
    gone = fake.corpus[5][0]
    del fake.by_pmid[gone]  # esearch lists it, efetch cannot return it

    db = tmp_path / "r.db"
    create_review(db).close()
    res = CliRunner().invoke(cli, ["--db", str(db), "search", "pubmed", "q", "--json",
                                   "--api-key", "k"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["retrieved"] == 199 and out["missing_pmids"] == [gone]
    assert gone in res.stderr and "warning" in res.stderr


def test_rate_limit_without_api_key(tmp_path, fake_eutils):
    fake = fake_eutils(60)
    review = create_review(tmp_path / "r.db")
    search_pubmed(review, "q", batch_size=20)  # no key: at most 3 requests per second
    times = [t for t, _, _ in fake.log]
    assert len(times) >= 5
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 1 / 3 - 0.02


def test_base_url_defaults_to_ncbi(monkeypatch):
    monkeypatch.delenv("REVIEW_EUTILS_URL", raising=False)
    assert EutilsClient().base == "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
    monkeypatch.setenv("REVIEW_EUTILS_URL", "http://127.0.0.1:9/x/")
    assert EutilsClient().base == "http://127.0.0.1:9/x"


def test_cli_search_killed_mid_run_resumes_to_the_clean_set(tmp_path, fake_eutils):
    """`review search pubmed` killed with SIGKILL while batches are being saved; `--resume`
    then ends with exactly the records and links of a clean run."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    fake = fake_eutils(1000)
    fake.efetch_delay = 0.25
    db = tmp_path / "r.db"
    create_review(db).close()
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "toolkit.cli", "--db", str(db), "search", "pubmed"]
    proc = subprocess.Popen(cmd + ["q", "--api-key", "k", "--batch-size", "100", "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    saved = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                saved = len(pubmed_ids(db))
            except sqlite3.OperationalError:  # tables not there / locked for a moment
                saved = 0
            if saved >= 300:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the search finished before it could be interrupted"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    interrupted = len(pubmed_ids(db))
    assert 300 <= interrupted < 1000
    con = sqlite3.connect(db)
    assert con.execute("select status from searches").fetchall() == [("running",)]
    con.close()

    fake.efetch_delay = 0.0
    res = subprocess.run(cmd + ["--resume", "--json"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["count"] == out["retrieved"] == 1000 and out["missing_pmids"] == []
    assert out["added"] == 1000 - interrupted
    assert pubmed_ids(db) == {p for p, _, _ in fake.corpus}
    con = sqlite3.connect(db)
    assert con.execute("select count(*), count(distinct record_id) from record_searches"
                       ).fetchone() == (1000, 1000)
    assert con.execute("select count(*) from records").fetchone()[0] == 1000
    assert con.execute("select count(*), max(status) from searches").fetchone() == (1, "complete")
    con.close()


def test_retry_after_is_honoured(tmp_path, fake_eutils):
    """A 429 with Retry-After: 0.2 waits at least 0.2 s, though backoff (0.01 s) and the rate
    limit (0.1 s with a key) alone would retry sooner."""
    fake = fake_eutils(10)
    fake.faults = [("esearch", "429")]
    client = EutilsClient(api_key="k", backoff=0.01)
    review = create_review(tmp_path / "r.db")
    out = search_pubmed(review, "q", client=client)
    assert out["retrieved"] == 10
    first, second = [t for t, ep, _ in fake.log if ep == "esearch"][:2]
    assert second - first >= 0.2 - 0.01
    # with an API key: at most 10 requests per second
    times = [t for t, _, _ in fake.log]
    assert len(times) >= 4 and min(b - a for a, b in zip(times, times[1:])) >= 0.1 - 0.02
