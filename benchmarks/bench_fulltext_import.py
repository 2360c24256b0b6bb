"""Full-text CSV import on a deduplicated review (synthetic; no files outside the repo).

    python benchmarks/bench_fulltext_import.py [--papers 3000]

Builds a review of PAPERS papers found twice (PubMed and Embase copies merged into one
cluster each), includes every primary record at title/abstract, then times
`review fulltext --import` of one decision per paper. Each row resolves its record reference
against the deduplication clusters, so this shows whether that work grows per row or per file.
Prints: rows, seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit.fulltext import import_fulltext_csv  # noqa: E402
from toolkit.records import make_record  # noqa: E402
from toolkit.screening.decisions import record_decision  # noqa: E402
from toolkit.store import create_review, now_iso  # noqa: E402


def build(db: Path, papers: int):
    review = create_review(db)
    at = now_iso()
    rows = []
    for i in range(2 * papers):
        rec = make_record({"source_id": str(i), "title": f"Paper {i // 2}"},
                          source="PubMed" if i % 2 == 0 else "Embase")
        rec.update(added_at=at, id=i + 1)
        rows.append(rec)
    with review.atomic():
        review.db["records"].insert_all(rows)
        review.db["clusters"].insert_all(
            {"id": k + 1, "primary_id": 2 * k + 1, "run_id": None, "origin": "manual",
             "created_at": at} for k in range(papers))
        review.db["cluster_members"].insert_all(
            {"cluster_id": k + 1, "record_id": 2 * k + 1 + d, "role": role, "added_at": at}
            for k in range(papers) for d, role in ((0, "primary"), (1, "duplicate")))
        for k in range(papers):
            record_decision(review, 2 * k + 1, "include", "ann")
    return review


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", type=int, default=3000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        review = build(Path(tmp) / "r.db", args.papers)
        csv = Path(tmp) / "ft.csv"
        csv.write_text("record_id,status,decision,reason,reviewer\n" + "".join(
            f"{2 * k + 1},assessed,include,,ann\n" for k in range(args.papers)),
            encoding="utf-8")
        t0 = time.perf_counter()
        out = import_fulltext_csv(review, csv, reasons=["wrong intervention"])
        print(f"fulltext --import: {out['imported']} rows, "
              f"{time.perf_counter() - t0:.2f} s ({args.papers} clusters)")
        review.close()


if __name__ == "__main__":
    main()
