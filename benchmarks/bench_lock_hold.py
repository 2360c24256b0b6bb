"""How long the long writers hold the store's write lock, and how long a screening decision
waits for it meanwhile.

Reads the labelled sets in ../shared/data/screening/ (relative to the repository root; not part
of the repository): their records (title, abstract, authors, year, PMID) are written to a CSV
of ``--records`` rows (the records with a title or abstract, then copies with new ids, which deduplication
merges). Then, in a fresh store:

1. ``review import`` of that CSV, and
2. ``review dedup`` of the imported records,

each in a child process while this process stands in for a screener: every 50 ms it saves a
small write transaction (as a decision does) and times it from its start to its commit. Printed per step: the step's wall time, the longest write
transaction the step held (``Review.lock_held_s``), and the screener's p95 and longest transaction.

Usage: python benchmarks/bench_lock_hold.py [--records 20000]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolkit.store import create_review, open_review  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "screening"

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from toolkit.store import open_review
review = open_review({db!r})
t0 = time.perf_counter()
if {step!r} == "import":
    from toolkit.importing import import_file
    out = import_file(review, {csv!r}, source="bench")
else:
    from toolkit.dedup.api import deduplicate
    out = deduplicate(review)
held = getattr(review, "lock_held_s", None) or [float("nan")]  # (older versions: unknown)
print(json.dumps({{"wall_s": time.perf_counter() - t0, "held_s": max(held),
                  "n_transactions": len(held)}}))
"""


def write_csv(path: Path, n: int) -> None:
    frames = [pd.read_csv(f) for f in sorted(DATA.glob("*.csv"))]
    df = pd.concat(frames, ignore_index=True)
    df = df[df["title"].notna() | df["abstract"].notna()].reset_index(drop=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title", "abstract", "authors", "year", "pmid"])
        for i in range(n):
            src = df.iloc[i % len(df)]

            def cell(col):
                v = src.get(col)
                return "" if v is None or (isinstance(v, float) and np.isnan(v)) else v
            year = cell("year")
            w.writerow([f"b{i}", cell("title"), cell("abstract"), cell("authors"),
                        int(year) if year != "" else "", cell("pmid") if i < len(df) else ""])


def screener(db: Path, stop: threading.Event, waits: list[float]) -> None:
    """A decision-sized write transaction every 50 ms; how long each took, from its start to
    its commit (almost all of it waiting for the lock)."""
    review = open_review(db)
    review.on_wait = None
    while not stop.is_set():
        t = time.perf_counter()
        with review.atomic():
            review.db.execute("insert into meta (key, value) values ('bench', '1') "
                              "on conflict(key) do update set value = excluded.value")
        waits.append(time.perf_counter() - t)
        time.sleep(0.05)
    review.close()


def step(db: Path, csv_path: Path, name: str) -> None:
    waits: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=screener, args=(db, stop, waits))
    thread.start()
    code = CHILD.format(root=str(ROOT), db=str(db), step=name, csv=str(csv_path))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    stop.set()
    thread.join()
    if res.returncode:
        raise SystemExit(res.stderr)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    w = np.array(waits) * 1000
    print(f"{name}: wall {out['wall_s']:.1f} s, longest write transaction "
          f"{out['held_s'] * 1000:.0f} ms ({out['n_transactions']} transactions); "
          f"a decision meanwhile took p95 {np.percentile(w, 95):.0f} ms, "
          f"max {w.max():.0f} ms ({len(w)} decisions)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, csv_path = Path(tmp) / "bench.db", Path(tmp) / "records.csv"
        write_csv(csv_path, args.records)
        create_review(db).close()
        print(f"records {args.records}")
        step(db, csv_path, "import")
        step(db, csv_path, "dedup")


if __name__ == "__main__":
    main()
