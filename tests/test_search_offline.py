"""`review search pubmed` without network: one attempt and one clear line, not a minute of
silent retries; a search that stops half-way is `interrupted` and `--resume` finishes it."""

from __future__ import annotations

import json
import socket
import time

from screen_helpers import run_main
from toolkit.store import create_review, open_review


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


def _searches(db):
    with open_review(db) as r:
        return [dict(row) for row in r.db.query("select id, status from searches")]


def test_connection_refused_fails_at_once_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIEW_EUTILS_URL", f"http://127.0.0.1:{_closed_port()}/eutils")
    monkeypatch.setenv("REVIEW_EUTILS_BACKOFF", "5")  # a retry would take seconds: none is made
    db = tmp_path / "r.db"
    create_review(db).close()
    t0 = time.monotonic()
    code, out, err = run_main(["--db", str(db), "search", "pubmed", "cryoablation"])
    assert time.monotonic() - t0 < 3
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("review: error: cannot connect to 127.0.0.1:")
    assert "check the network connection" in lines[0] and len(lines[0]) < 200
    assert "--resume" not in lines[0]  # nothing was saved, so there is nothing to resume
    assert _searches(db) == []


def test_a_name_that_does_not_resolve_is_not_retried(tmp_path, monkeypatch):
    calls = []

    def no_dns(*args, **kw):
        calls.append(args[0])
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.delenv("REVIEW_EUTILS_URL", raising=False)  # NCBI's real address, never reached
    db = tmp_path / "r.db"
    create_review(db).close()
    code, out, err = run_main(["--db", str(db), "search", "pubmed", "cryoablation", "--json"])
    assert code == 1 and out == ""
    assert err.strip() == ("review: error: cannot resolve the name 'eutils.ncbi.nlm.nih.gov'; "
                           "check the network connection (or REVIEW_EUTILS_URL)")
    assert calls == ["eutils.ncbi.nlm.nih.gov"]  # one attempt


def test_a_search_that_stops_half_way_is_interrupted_and_resumes(tmp_path, fake_eutils,
                                                                 monkeypatch):
    fake = fake_eutils(900)
    monkeypatch.setenv("REVIEW_EUTILS_RETRIES", "1")
    db = tmp_path / "r.db"
    create_review(db).close()
    # the first batch arrives; every later efetch fails on the server's side
    fake.faults = [("efetch", "ok")] + [("efetch", "503")] * 4
    code, out, err = run_main(["--db", str(db), "search", "pubmed", "q", "--api-key", "k",
                               "--batch-size", "300"])
    assert code == 1
    assert "retrying in" in err  # each retry is announced, not silent
    assert err.strip().splitlines()[-1].endswith(
        "is saved as interrupted: `review search pubmed --resume` continues it")
    [search] = _searches(db)
    assert search["status"] == "interrupted"
    code, out, err = run_main(["--db", str(db), "status", "--json"])
    assert json.loads(out)["searches"][0]["status"] == "interrupted"
    fake.faults = []
    code, out, err = run_main(["--db", str(db), "search", "pubmed", "--resume", "--json",
                               "--api-key", "k"])
    assert code == 0, err
    res = json.loads(out)
    assert res["complete"] and res["retrieved"] == res["count"] == 900
    assert _searches(db) == [{"id": search["id"], "status": "complete"}]
