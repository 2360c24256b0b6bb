"""kill -9 in the middle of `review screen` loses no decision that was shown as saved."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from screen_helpers import build_review, pump_lines, read_until
from toolkit.store import open_review

ROOT = Path(__file__).resolve().parents[1]


def start(db):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", REVIEW_REVIEWER="kim")
    return subprocess.Popen([sys.executable, "-m", "toolkit.cli", "--db", str(db), "screen"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, text=True, bufsize=1)


def reader(proc):
    """A queue of the child's output lines."""
    return pump_lines(proc.stdout)


def saved_rows(db):
    with open_review(db) as r:
        return list(r.db.query(
            "select record_id, decision from ta_decisions where undone_at is null order by id"))


def test_kill_9_keeps_saved_decisions_and_resume_continues(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    proc = start(db)
    out = reader(proc)
    try:
        shown, saved = [], []
        for key in ["i", "e", "m"]:
            lines = read_until(out, r"^record \d+")
            shown.append(int(re.search(r"^record (\d+)", lines[-1]).group(1)))
            proc.stdin.write(key + "\n")
            proc.stdin.flush()
            lines = read_until(out, r"saved: ")
            saved.append(int(re.search(r"record (\d+)", lines[-1]).group(1)))
        # the next record is on screen, waiting for a key: kill the process there
        read_until(out, r"^record \d+")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert saved == shown
    rows = saved_rows(db)
    assert [(r["record_id"], r["decision"]) for r in rows] == list(
        zip(saved, ["include", "exclude", "maybe"]))

    # resume: the next session starts with records not decided, and adds to the saved ones
    proc = start(db)
    text, _ = proc.communicate("e\nq\n", timeout=60)
    assert proc.returncode == 0, text
    first_shown = int(re.search(r"^record (\d+)", text, re.M).group(1))
    assert first_shown not in saved
    assert re.search(r"screened 3 \| included 1 \| maybe 1", text)
    rows = saved_rows(db)
    assert len(rows) == 4 and rows[3]["record_id"] == first_shown
