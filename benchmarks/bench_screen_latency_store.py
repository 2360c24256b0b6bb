"""Latency of `review screen` after a decision on a 20,000-record review.

Reads the labelled sets in ../shared/data/screening/ (relative to the repository root; not part
of the repository). All six sets (10,713 records) are stored, then copies of the first records
(source "copy") until there are 20,000 records. A scripted reviewer labels records by their
`label_included` column. For every decision the time is measured from the keypress (the
decision is committed) until the next record is ready to print: the decision's transaction and
audit event, retraining (or scheduling it), choosing the next record, reading it from the store,
formatting it and computing the status line with the recall estimate.

Usage: python benchmarks/bench_screen_latency_store.py [--records 20000] [--decisions 300]
       [--extra-fit-ms MS] [--reviewers N] [--think-ms MS]
Prints the session start-up time and the p50/p95/max latency in milliseconds.
``--extra-fit-ms`` adds a delay to every fit, standing in for a slower model, to show the
background retraining path.

``--reviewers N`` (N > 1) runs N reviewers at once on the one store, each in its own process
with its own session (as N people in N terminals), started together once every session is
ready; each makes ``--decisions`` decisions, waiting ``--think-ms`` between the next record
being ready and the next keypress (0, the default, is the worst case: every reviewer
decides as fast as the machine allows, so their transactions and retraining compete all the
time). The latency figures are over all reviewers' decisions; per-reviewer p95 and how many
decisions were refused (none are expected: different reviewers are independent) follow.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolkit.records import make_record  # noqa: E402
from toolkit.screening.model import ActiveLearner  # noqa: E402
from toolkit.screening.prompts import format_record, status_line  # noqa: E402
from toolkit.screening.queue import ScreeningSession  # noqa: E402
from toolkit.store import create_review, now_iso  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "screening"


def build(path: Path, n_records: int) -> dict[int, int]:
    frames = [pd.read_csv(f) for f in sorted(DATA.glob("*.csv"))]
    df = pd.concat(frames, ignore_index=True)[["title", "abstract", "label_included"]]
    rows, labels = [], {}
    for i in range(n_records):
        src = df.iloc[i % len(df)]
        source = "bench" if i < len(df) else "copy"
        fields = {"source_id": f"b{i}", "title": src["title"] if isinstance(src["title"], str)
                  else None, "abstract": src["abstract"] if isinstance(src["abstract"], str)
                  else None}
        rows.append(dict(make_record(fields, source=source), added_at=now_iso()))
        labels[i + 1] = int(src["label_included"])
    review = create_review(path)
    with review.atomic():
        review.db["records"].insert_all(rows, batch_size=2000)
    review.close()
    return labels


def decide_and_show(session, shown, labels: dict[int, int]):
    """The timed path: the keypress's decision (committed), then the next record ready to
    print. Returns (the next record or None, whether the decision was saved)."""
    from toolkit.screening.decisions import DecisionRefused

    ok = True
    try:
        session.decide(shown, "include" if labels[shown.record_id] else "exclude")
    except DecisionRefused:  # counted; the session moves on
        ok = False
    shown = session.next()
    if shown is not None:
        format_record(session.review.db["records"].get(shown.record_id), 78)
        status_line(session)
    return shown, ok


def reviewer_run(db: str, name: str, labels: dict[int, int], decisions: int, think_s: float,
                 ready, results) -> None:
    """One reviewer in its own process: a session, then ``decisions`` timed decisions."""
    from toolkit.store import open_review

    review = open_review(db, command="screen")
    session = ScreeningSession(review, name, seed=1, learner=ActiveLearner(random_state=1))
    shown = session.next()
    ready.wait()
    lat, refused = [], 0
    for _ in range(decisions):
        if think_s:
            time.sleep(think_s)
        t = time.perf_counter()
        shown, ok = decide_and_show(session, shown, labels)
        refused += not ok
        if shown is None:
            break
        lat.append(time.perf_counter() - t)
    session.ranker.wait()
    session.release_claims()
    review.close()
    results.put((name, lat, refused))


def concurrent(db: Path, labels: dict[int, int], args) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    ready, results = ctx.Barrier(args.reviewers), ctx.Queue()
    t0 = time.perf_counter()
    procs = [ctx.Process(target=reviewer_run, args=(str(db), f"reviewer{k + 1}", labels,
                                                     args.decisions, args.think_ms / 1000,
                                                     ready, results))
             for k in range(args.reviewers)]
    for p in procs:
        p.start()
    got = [results.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    ms = np.concatenate([np.array(lat) * 1000 for _, lat, _ in got])
    print(f"records {args.records}, {args.reviewers} reviewers at once, {len(ms)} decisions, "
          f"think time {args.think_ms:.0f} ms, wall {wall:.1f} s (start-up included)")
    print(f"latency after a decision: p50 {np.percentile(ms, 50):.0f} ms, "
          f"p95 {np.percentile(ms, 95):.0f} ms, max {ms.max():.0f} ms")
    for name, lat, refused in sorted(got):
        m = np.array(lat) * 1000
        print(f"  {name}: {len(m)} decisions, p95 {np.percentile(m, 95):.0f} ms, "
              f"refused {refused}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--decisions", type=int, default=300)
    ap.add_argument("--extra-fit-ms", type=float, default=0.0)
    ap.add_argument("--reviewers", type=int, default=1)
    ap.add_argument("--think-ms", type=float, default=0.0)
    args = ap.parse_args()
    from toolkit.store import open_review

    if args.reviewers > 1:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.db"
            labels = build(db, args.records)
            concurrent(db, labels, args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        labels = build(db, args.records)
        review = open_review(db, command="screen")
        t0 = time.perf_counter()
        learner = ActiveLearner(random_state=1)
        if args.extra_fit_ms:
            plain_fit = learner.fit

            def slow_fit(idx, labels):
                time.sleep(args.extra_fit_ms / 1000)
                return plain_fit(idx, labels)

            learner.fit = slow_fit
        session = ScreeningSession(review, "bench", seed=1, learner=learner)
        startup = time.perf_counter() - t0
        shown = session.next()
        lat = []
        for _ in range(args.decisions):
            t = time.perf_counter()
            shown, _ = decide_and_show(session, shown, labels)
            if shown is None:
                break
            lat.append(time.perf_counter() - t)
        session.ranker.wait()
        ms = np.array(lat) * 1000
        found = sum(1 for d in session.mine.values() if d == "include")
        print(f"records {args.records}, decisions {len(lat)}, includes found {found}")
        print(f"session start-up (features + first fit): {startup:.2f} s")
        print(f"last fit: {session.ranker.last_fit_s * 1000:.0f} ms "
              f"(background retraining: {session.ranker.last_fit_s > session.ranker.sync_budget_s})")
        print(f"latency after a decision: p50 {np.percentile(ms, 50):.0f} ms, "
              f"p95 {np.percentile(ms, 95):.0f} ms, max {ms.max():.0f} ms")


if __name__ == "__main__":
    main()
