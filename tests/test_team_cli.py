"""`review reviewer ...` and `review serve` through the command line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import requests

from screen_helpers import build_review, run_main
from toolkit.screening import accounts
from toolkit.store import open_review


def test_reviewer_add_list_passwd_role_remove(tmp_path):
    db = str(tmp_path / "r.db")
    build_review(db, n=3).close()
    code, out, err = run_main(["--db", db, "reviewer", "add", "ann", "--password-stdin",
                               "--json"], input="ann-password\n")
    assert code == 0, err
    assert json.loads(out)["name"] == "ann" and json.loads(out)["role"] == "screener"
    code, out, _ = run_main(["--db", db, "reviewer", "add", "rita", "--role", "resolver",
                             "--password-stdin"], input="rita-password\n")
    assert code == 0 and out.strip() == "reviewer rita added (resolver)"
    code, out, _ = run_main(["--db", db, "reviewer", "list", "--json"])
    assert [(r["name"], r["role"]) for r in json.loads(out)["reviewers"]] == [
        ("ann", "screener"), ("rita", "resolver")]
    assert "hash" not in out and "password" not in out
    code, _, _ = run_main(["--db", db, "reviewer", "passwd", "ann", "--password-stdin"],
                          input="new-ann-password\n")
    assert code == 0
    with open_review(db) as r:
        assert accounts.verify(r, "ann", "new-ann-password") is not None
        assert accounts.verify(r, "ann", "ann-password") is None
    assert run_main(["--db", db, "reviewer", "role", "ann", "resolver"])[0] == 0
    assert run_main(["--db", db, "reviewer", "remove", "rita"])[0] == 0
    code, out, _ = run_main(["--db", db, "reviewer", "list", "--json"])
    assert [(r["name"], r["role"]) for r in json.loads(out)["reviewers"]] == [("ann", "resolver")]


def test_reviewer_errors_are_one_line(tmp_path):
    db = str(tmp_path / "r.db")
    build_review(db, n=3).close()
    for args, stdin, message in [
        (["reviewer", "add", "ann", "--password-stdin"], "short\n", "at least 8 characters"),
        (["reviewer", "add", "ann", "--password-stdin"], "", "no password on standard input"),
        (["reviewer", "add", "ann"], "long enough\n", "pipe it with --password-stdin"),
        (["reviewer", "passwd", "nobody", "--password-stdin"], "long enough\n",
         "no reviewer account 'nobody'"),
        (["reviewer", "remove", "nobody"], None, "no reviewer account 'nobody'"),
    ]:
        code, out, err = run_main(["--db", db, *args], input=stdin)
        assert code == 1 and out == ""
        assert err.startswith("review: error: ") and message in err and err.count("\n") == 1


def test_review_serve_listens_on_loopback_only(tmp_path):
    db = tmp_path / "r.db"
    review = build_review(db, n=5)
    accounts.add_reviewer(review, "ann", "ann-password")
    review.close()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "toolkit.cli", "--db", str(db), "serve",
                             "--port", "0", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["host"] == "127.0.0.1" and info["reviewers"] == ["ann"]
        assert info["records"] == 5
        assert isinstance(info["port"], int) and info["url"].endswith(f":{info['port']}/")
        page = requests.get(info["url"] + "login", timeout=10)
        assert page.status_code == 200 and "Sign in" in page.text
        # the Host header must name this machine (a DNS-rebinding page cannot talk to it)
        bad = requests.get(info["url"] + "login", headers={"Host": "attacker.example"},
                           timeout=10)
        assert bad.status_code == 400
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 130)
    assert "WARNING" not in err and re.search(r"review serve: http://127\.0\.0\.1:\d+/", err)
    assert out == ""  # only the one JSON object, read above



def test_review_serve_elsewhere_than_loopback_warns_first(tmp_path, monkeypatch):
    """Checked without listening on the network: the server refuses to start (as if the port
    were taken) after the warning."""
    from toolkit.web import server

    db = tmp_path / "r.db"
    build_review(db, n=3).close()

    def taken(*args, **kw):
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(server, "make_server", taken)
    code, out, err = run_main(["--db", str(db), "serve", "--host", "0.0.0.0", "--port", "9"])
    assert code == 1 and out == ""
    warning = err.index("WARNING: serving on 0.0.0.0, not 127.0.0.1")
    assert "no TLS" in err
    assert err.index("review: error: cannot listen on 0.0.0.0:9 (Address already in use)") \
        > warning


def test_review_serve_with_a_stopping_rule_needs_yes(tmp_path):
    """The browser cannot ask before a stopping rule excludes records by automation (the
    terminal does): the person starting the server confirms with --yes instead."""
    db = tmp_path / "r.db"
    build_review(db, n=3).close()
    code, out, err = run_main(["--db", str(db), "serve", "--port", "0", "--stop", "heuristic"])
    assert code == 1 and "add --yes to allow that" in err and out == ""
