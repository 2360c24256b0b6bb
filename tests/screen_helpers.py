"""Shared builders for the screening tests: a small review made in the test itself."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from toolkit.records import make_record
from toolkit.store import create_review, now_iso

ROOT = Path(__file__).resolve().parents[1]

RELEVANT = "cryoablation atrial fibrillation randomised trial pulmonary vein isolation"
IRRELEVANT = "software engineering survey of agile teams and code review practice"


def build_review(path, n: int = 30, every: int = 5, blank: bool = True):
    """A review of ``n`` records; every ``every``-th one is about cryoablation (the includes).
    With ``blank`` the last record has neither title nor abstract. Returns the open review."""
    review = create_review(path)
    rows = []
    for i in range(n):
        topic = RELEVANT if i % every == 0 else IRRELEVANT
        fields = {"source_id": f"S{i + 1}", "pmid": str(1000 + i), "doi": f"10.1000/x{i}",
                  "title": f"{topic.split()[0].title()} study number {i}",
                  "abstract": f"We report {topic}. Record {i}.", "authors": "Smith J; Doe A",
                  "journal": "J Test", "year": str(2000 + i % 20)}
        if blank and i == n - 1:
            fields = {"source_id": f"S{i + 1}", "pmid": str(1000 + i)}
        rows.append(dict(make_record(fields, source="PubMed"), added_at=now_iso()))
    with review.atomic():
        review.db["records"].insert_all(rows)
    return review


def is_relevant(review, record_id: int) -> bool:
    row = review.db["records"].get(record_id)
    return "cryoablation" in (row["abstract"] or "").lower()


def run_main(args, input=None):
    """Run the console entry point (which turns ReviewError into one line and exit 1) in
    click's isolation; returns (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from toolkit.cli import main

    with CliRunner().isolation(input=input) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        return code, out.getvalue().decode(), err.getvalue().decode()


def pump_lines(stream) -> queue.Queue:
    """A queue of a child process's output lines, read by a thread (so waits can time out);
    None after the last line."""
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def read_until(lines, pattern, timeout=60.0, seen=None):
    """Lines of the child's output up to one matching ``pattern`` (appended to ``seen`` if
    given, which is returned)."""
    seen = [] if seen is None else seen
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError(f"no {pattern!r} in output:\n{''.join(seen)}")
        seen.append(line)
        if re.search(pattern, line):
            return seen


class Screen:
    """One `review screen` child process with its stdout and stderr read by threads; it runs in
    the store's folder (so no criteria file of the working directory is read)."""

    def __init__(self, db, reviewer, **env):
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
                   REVIEW_REVIEWER=reviewer, **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from toolkit.cli import main; main()", "--db", str(db),
             "screen"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, text=True, bufsize=1, cwd=Path(db).parent)
        self.out, self.err = pump_lines(self.proc.stdout), pump_lines(self.proc.stderr)
        self.out_lines: list[str] = []
        self.err_lines: list[str] = []

    def until(self, pattern, stream="out", timeout=60.0):
        """Read the stream up to a line matching ``pattern``; returns that line."""
        lines, kept = (self.out, self.out_lines) if stream == "out" else (self.err,
                                                                         self.err_lines)
        return read_until(lines, pattern, timeout, kept)[-1]

    def send(self, keys: str) -> None:
        self.proc.stdin.write(keys)
        self.proc.stdin.flush()

    def finish(self, timeout=120.0) -> tuple[str, str]:
        """Close stdin (end of input quits), wait, and return all of stdout and stderr."""
        self.proc.stdin.close()
        self.proc.wait(timeout=timeout)
        for lines, kept in ((self.out, self.out_lines), (self.err, self.err_lines)):
            while (line := lines.get(timeout=10)) is not None:
                kept.append(line)
        return "".join(self.out_lines), "".join(self.err_lines)
