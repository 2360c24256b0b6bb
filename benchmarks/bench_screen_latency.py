"""Latency of the screening model on a 20,000-record review: decision -> next record.

Reads ../shared/data/screening/*.csv (relative to the repository root) and repeats their
records (title + abstract, with labels) until there are 20,000, a stand-in for a large review.
Then it plays a reviewer: one prior include and exclude (seed 1), and for each of the first
``--decisions`` records it times the step `review screen` does after a decision: refit if the
learner's ``retrain_due`` policy says so, then ``query`` for the next record. Prints the one-off
feature time and p50 / p95 / max of the per-decision step (target: p95 <= 150 ms).

Usage: python benchmarks/bench_screen_latency.py [--records 20000] [--decisions 3000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "screening"

from toolkit.screening.model import ActiveLearner  # noqa: E402
from toolkit.screening.simulate import draw_priors, read_labelled_csv  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--decisions", type=int, default=3000)
    ap.add_argument("--classifier", default="svm")
    a = ap.parse_args()
    texts, labels = [], []
    for path in sorted(DATA.glob("*.csv")):
        ds = read_labelled_csv(path)
        texts += ds.texts
        labels += ds.labels.tolist()
    reps = -(-a.records // len(texts))
    texts, y = (texts * reps)[: a.records], np.array((labels * reps)[: a.records])

    learner = ActiveLearner(classifier=a.classifier, random_state=1)
    t0 = time.perf_counter()
    learner.fit_features(texts)
    t_feat = time.perf_counter() - t0
    labelled = draw_priors(y, seed=1)
    unl = np.ones(len(y), dtype=bool)
    unl[labelled] = False
    last_fit, steps, fits = None, [], []
    for _ in range(a.decisions):
        t0 = time.perf_counter()
        if learner.retrain_due(len(labelled), last_fit):
            tf = time.perf_counter()
            learner.fit(labelled, y[labelled])
            fits.append(time.perf_counter() - tf)
            last_fit = len(labelled)
        nxt = learner.query(np.flatnonzero(unl))
        steps.append(time.perf_counter() - t0)
        unl[nxt] = False          # the reviewer decides (true label) ...
        labelled.append(nxt)      # ... and the clock starts again at the next decision
    ms = np.array(steps) * 1000
    print(f"records {len(y)}  features {learner.X_.shape[1]}  feature fit {t_feat:.1f} s "
          f"(once, when the queue is built)")
    print(f"decisions {len(steps)}  fits {len(fits)} (mean {np.mean(fits) * 1000:.0f} ms, "
          f"max {np.max(fits) * 1000:.0f} ms)")
    print(f"decision -> next record: p50 {np.percentile(ms, 50):.1f} ms  "
          f"p95 {np.percentile(ms, 95):.1f} ms  max {ms.max():.1f} ms  (target p95 <= 150 ms)")


if __name__ == "__main__":
    main()
