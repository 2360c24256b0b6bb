"""How the status line's model-based recall estimate compares with the true recall.

Reads the labelled sets in ../shared/data/screening/ (relative to the repository root; not part
of the repository). For each set a scripted reviewer screens in the model's order, labelling by
`label_included`, up to 60 % of the records; at 12 checkpoints the estimate and its 95 %
interval are compared with the true recall so far.

Usage: python benchmarks/bench_screen_recall_estimate.py [SET ...]
Prints per set: checkpoints where the interval covers the true recall, where the estimate is
below it (conservative) and the mean of estimate − truth.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolkit.records import make_record  # noqa: E402
from toolkit.screening.queue import ScreeningSession  # noqa: E402
from toolkit.store import create_review, now_iso  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "screening"


def text(v):
    return v if isinstance(v, str) else None


def run(csv: Path) -> str:
    df = pd.read_csv(csv)
    with tempfile.TemporaryDirectory() as tmp:
        review = create_review(Path(tmp) / "r.db")
        rows = [dict(make_record({"source_id": str(i), "title": text(t), "abstract": text(a)},
                                 source="bench"), added_at=now_iso())
                for i, (t, a) in enumerate(zip(df["title"], df["abstract"]))]
        with review.atomic():
            review.db["records"].insert_all(rows)
        label = {i + 1: int(v) for i, v in enumerate(df["label_included"])}
        total = sum(label.values())
        session = ScreeningSession(review, "bench", seed=1)
        step, limit = max(len(df) // 12, 1), int(0.6 * len(df))
        cover = below = n = 0
        diffs = []
        for k in range(1, limit + 1):
            shown = session.next()
            if shown is None:
                break
            session.decide(shown, "include" if label[shown.record_id] else "exclude")
            if k % step:
                continue
            truth = sum(d == "include" for d in session.mine.values()) / total
            est = session.recall_estimate()
            if est["recall"] is None:
                continue
            n += 1
            cover += est["low"] <= truth <= est["high"]
            below += est["recall"] <= truth
            diffs.append(est["recall"] - truth)
        review.close()
    return (f"{csv.stem:40} checkpoints {n:2}  covered {cover:2}  estimate<=truth {below:2}  "
            f"mean(estimate-truth) {np.mean(diffs):+.3f}")


def main() -> None:
    names = sys.argv[1:] or [p.stem for p in sorted(DATA.glob("*.csv"))]
    for name in names:
        print(run(DATA / f"{name}.csv"), flush=True)


if __name__ == "__main__":
    main()
