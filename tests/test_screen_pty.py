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
