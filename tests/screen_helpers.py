"""Shared builders for the screening tests: a small review made in the test itself."""

from __future__ import annotations

import queue
import re
import threading
import time

from toolkit.records import make_record
from toolkit.store import create_review, now_iso

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
