"""Screening-model benchmark: `review simulate` on the six labelled sets, seeds 1, 2, 3.

Reads ../shared/data/screening/*.csv (relative to the repository root; outside the repo, not
shipped). Each run is the real command in a fresh process (`python -m toolkit.cli simulate
DATA --seed S --json`), timed from outside, one at a time. Prints one row per set with the mean
over the seeds of WSS@95, recall@10%, n95 and wall seconds, beside ASReview LAB 3.0.8's figures
(elas_u4 default model, seed 42, one prior include and exclude; from issue 5), then the means.

Usage: python benchmarks/bench_screening.py [--seeds 1 2 3] [--sets NAME ...] [-- EXTRA ARGS]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "screening"

# set: (WSS@95, recall@10%, wall s) for ASReview LAB 3.0.8 (issue 5)
ASREVIEW = {
    "cohen2006_ace_inhibitors": (0.752, 0.825, 54.8),
    "cohen2006_proton_pump_inhibitors": (0.465, 0.720, 11.1),
    "cohen2006_atypical_antipsychotics": (0.259, 0.365, 15.4),
    "bannach_brown2019_depression_animal": (0.412, 0.563, 38.3),
    "nagtegaal2019_nudging": (0.726, 0.650, 24.4),
    "kitchenham2010_se_tertiary": (0.674, 0.750, 17.3),
}


def run_once(path: Path, seed: int, extra: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "toolkit.cli", "simulate", str(path), "--seed",
                        str(seed), "--json", *extra], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(p.stderr)
    d = json.loads(p.stdout)
    d["process_wall_s"] = wall
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--sets", nargs="+", default=list(ASREVIEW))
    ap.add_argument("extra", nargs="*", help="extra arguments for review simulate (after --)")
    a = ap.parse_args()
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    print(f"data: {DATA}  seeds: {a.seeds}  extra: {a.extra}")
    head = (f"{'set':38s} {'WSS@95':>7s} {'ASR':>6s} {'rec@10':>7s} {'ASR':>6s} {'n95':>7s} "
            f"{'wall s':>7s} {'ASR/2':>6s}  ok")
    print(head)
    print("-" * len(head))
    rows = []
    for name in a.sets:
        runs = [run_once(DATA / f"{name}.csv", s, a.extra) for s in a.seeds]
        wss = mean([r["wss95"] for r in runs])
        rec = mean([r["recall_at_10pct"] for r in runs])
        n95 = mean([r["n95"] for r in runs])
        wall = mean([r["process_wall_s"] for r in runs])
        aw, ar, at = ASREVIEW.get(name, (float("nan"),) * 3)
        ok = "yes" if wss >= aw and wall <= at / 2 else "NO"
        rows.append((wss, rec, n95, wall, aw, ar, at))
        print(f"{name:38s} {wss:7.3f} {aw:6.3f} {rec:7.3f} {ar:6.3f} {n95:7.1f} {wall:7.1f} "
              f"{at / 2:6.1f}  {ok}", flush=True)
    cols = list(zip(*rows))
    print("-" * len(head))
    print(f"{'mean':38s} {mean(cols[0]):7.3f} {mean(cols[4]):6.3f} {mean(cols[1]):7.3f} "
          f"{mean(cols[5]):6.3f} {mean(cols[2]):7.1f} {mean(cols[3]):7.1f} "
          f"{mean(cols[6]) / 2:6.1f}  (target mean WSS@95 >= 0.578)")


if __name__ == "__main__":
    main()
