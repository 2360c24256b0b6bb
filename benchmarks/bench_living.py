"""Living-review bookkeeping on a large synthetic store (no network, no files outside the repo).

    python benchmarks/bench_living.py [--records 100000] [--update-share 0.1]

Builds a store whose original review has RECORDS records and whose update 1 adds a share more
(a tenth of them records the original had, found again), every record decided at
title/abstract, 1 % included at full text. Times: the PRISMA counts of the whole review and of
update 1 (`review prisma`, `review prisma --update 1`), the update's new records
(`toolkit.living.updates.new_records`) and the records a screening queue shows first
(`queued_first`). Prints one line per step: seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.flow import prisma_counts  # noqa: E402
from toolkit.fulltext import record_fulltext  # noqa: E402
from toolkit.importing import save_records  # noqa: E402
from toolkit.living.updates import new_records  # noqa: E402
from toolkit.records import make_record  # noqa: E402
from toolkit.screening.queue import queued_first  # noqa: E402
from toolkit.store import create_review, now_iso  # noqa: E402


def search_row(review, name: str) -> int:
    return review.db["searches"].insert({
        "kind": "import", "database": "Embase", "query": None, "query_translation": None,
        "run_at": now_iso(), "mindate": None, "maxdate": None, "count_reported": None,
        "count_retrieved": None, "file_name": name, "file_sha256": name, "format": "csv",
        "status": "complete", "state": None}).last_pk


def records(ids) -> list[dict]:
    return [make_record({"source_id": f"E{i}", "title": f"Synthetic record {i}",
                         "year": str(2000 + i % 25)}, source="Embase") for i in ids]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--update-share", type=float, default=0.1)
    args = ap.parse_args()
    n, m = args.records, int(args.records * args.update_share)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        review = create_review(Path(tmp) / "review.db")
        with review.atomic():
            save_records(review, search_row(review, "v0"), records(range(n)))
            review.db["updates"].insert({"started_at": now_iso(), "status": "complete",
                                         "started_by": "import"})
            again = range(n - m // 10, n)  # found again by the update
            save_records(review, search_row(review, "v1"),
                         records([*again, *range(n, n + m - len(again))]))
            ids = [r[0] for r in review.db.execute("select id from records order by id")]
            review.db["ta_decisions"].insert_all(
                ({"record_id": rid, "reviewer": "ann",
                  "decision": "include" if rid % 100 == 0 else "exclude", "origin": "human",
                  "decided_at": now_iso(), "undone_at": None} for rid in ids),
                batch_size=5000)
            for rid in ids[99::100]:
                record_fulltext(review, rid, "assessed", "include", reviewer="ann")
        print(f"built: {len(ids)} records ({m} in update 1) in "
              f"{time.perf_counter() - t0:.1f} s")
        for label, fn in (
                ("prisma counts, whole review", lambda: prisma_counts(review)),
                ("prisma counts, update 1", lambda: prisma_counts(review, version=1)),
                ("new records of update 1", lambda: new_records(review, 1)),
                ("queued first", lambda: queued_first(review))):
            t = time.perf_counter()
            out = fn()
            size = len(out) if not isinstance(out, dict) else sum(
                out["identified_by_database"].values())
            print(f"{label}: {time.perf_counter() - t:.2f} s ({size})")
        review.close()


if __name__ == "__main__":
    main()
