"""`review screen` on a real terminal (a pty): single keys via click.getchar, no Enter."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from screen_helpers import build_review
from toolkit.store import open_review

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")


class Screen:
    """What the terminal has shown; ``wait_for`` consumes it up to the text waited for."""

    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def wait_for(self, text, timeout=20.0):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} on the terminal:\n{self.buf.decode()}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    break
                self.buf += chunk
        self.buf = self.buf.split(text.encode(), 1)[1]


def test_single_keys_on_a_terminal(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    master, slave = os.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), REVIEW_REVIEWER="tty", COLUMNS="80")
    proc = subprocess.Popen([sys.executable, "-m", "toolkit.cli", "--db", str(db), "screen"],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    screen = Screen(master)
    try:
        for key, word in (("i", "include"), ("e", "exclude"), ("m", "maybe")):
            screen.wait_for("[q]uit > ")
            # click.getchar switches the terminal to raw mode with TCSAFLUSH, dropping keys
            # typed before it; a person never types that fast, the test waits a moment
            time.sleep(0.3)
            os.write(master, key.encode())  # one key, no Enter
            screen.wait_for(f"saved: {word}")
        screen.wait_for("[q]uit > ")
        time.sleep(0.3)
        os.write(master, b"q")
        screen.wait_for("quit: everything decided is saved")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    with open_review(db) as r:
        got = [row["decision"] for row in r.db.query(
            "select decision from ta_decisions where reviewer = 'tty' order by id")]
    assert got == ["include", "exclude", "maybe"]


def test_ctrl_c_on_a_terminal_exits_130_with_the_decisions_kept(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    master, slave = os.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), REVIEW_REVIEWER="tty", COLUMNS="80")
    proc = subprocess.Popen([sys.executable, "-m", "toolkit.cli", "--db", str(db), "screen"],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    screen = Screen(master)
    try:
        screen.wait_for("[q]uit > ")
        time.sleep(0.3)
        os.write(master, b"i")
        screen.wait_for("saved: include")
        screen.wait_for("[q]uit > ")
        time.sleep(0.3)
        os.write(master, b"\x03")  # Ctrl-C: in raw mode a character, which click turns into ^C
        screen.wait_for("interrupted; everything saved so far is kept")
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    with open_review(db) as r:
        assert [row["decision"] for row in r.db.query(
            "select decision from ta_decisions where reviewer = 'tty'")] == ["include"]


def _on_a_terminal(args, env_extra, keys_and_waits, tmp_path):
    """Run `review ARGS` on a pty; for each (text, key): wait for text, press key (no Enter).
    Returns the exit code."""
    master, slave = os.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100", **env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "toolkit.cli", *args], stdin=slave,
                            stdout=slave, stderr=slave, env=env, close_fds=True, cwd=tmp_path)
    os.close(slave)
    screen = Screen(master)
    try:
        for text, key in keys_and_waits:
            screen.wait_for(text)
            if key is not None:
                time.sleep(0.3)  # getchar's raw mode drops keys typed before it starts
                os.write(master, key.encode())
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_dedup_review_reads_single_keys(tmp_path):
    """The same one-key prompts as `review screen`: no Enter after d / n / s / q."""
    from toolkit.dedup import api
    from toolkit.records import make_record
    from toolkit.store import create_review, now_iso

    paper = dict(title="Intestinal lipoprotein overproduction in insulin-resistant states",
                 authors="Adeli K.Lewis G. F.", year="2008", journal="Curr Opin Lipidol")
    r = create_review(tmp_path / "r.db")
    for k, pages in enumerate(["221-8", "400-408"]):
        row = make_record({"source_id": str(k), **paper, "pages": pages}, source="PubMed")
        r.db["records"].insert(dict(row, added_at=now_iso()))
    env = {"REVIEW_DEDUP_MODEL": "none"}  # the hand rules leave this pair uncertain
    old = os.environ.get("REVIEW_DEDUP_MODEL")
    os.environ.update(env)
    try:
        api.deduplicate(r)
    finally:
        os.environ.pop("REVIEW_DEDUP_MODEL")
        if old is not None:
            os.environ["REVIEW_DEDUP_MODEL"] = old
    assert len(api.open_pairs(r)) == 1
    r.close()
    code = _on_a_terminal(["--db", str(tmp_path / "r.db"), "dedup", "review"], env,
                          [("q(uit) > ", "x"), ("press one of: d, n, s", None),
                           ("q(uit) > ", "n"), ("duplicate 0, not 1", None)], tmp_path)
    assert code == 0
    with open_review(tmp_path / "r.db") as r:
        assert api.open_pairs(r) == []
        assert r.db.execute("select decision from pair_decisions where origin = 'human'"
                            ).fetchone()[0] == "not"


def test_fulltext_reads_single_keys(tmp_path):
    try:
        from test_extraction_support import build_review as build_ft_review
    except ImportError:
        from tests.test_extraction_support import build_review as build_ft_review

    build_ft_review(tmp_path).close()
    code = _on_a_terminal(["--db", str(tmp_path / "review.db"), "fulltext"],
                          {"REVIEW_REVIEWER": "tty"},
                          [("[i/e/x/n/s/u/c/q/?] > ", "i"), ("saved: assessed include", None),
                           ("[i/e/x/n/s/u/c/q/?] > ", "q")], tmp_path)
    assert code == 0
    with open_review(tmp_path / "review.db") as r:
        assert [tuple(x) for x in r.db.execute(
            "select reviewer, decision from ft_decisions")] == [("tty", "include")]
