"""Screening-model benchmark: `review simulate` on the six labelled sets, seeds 1, 2, 3.

Reads ../shared/data/screening/*.csv (relative to the repository root; outside the repo, not
shipped). Each run is the real command in a fresh process (`python -m toolkit.cli simulate
DATA --seed S --json`), timed from outside, one at a time. Prints one row per set with the mean
over the seeds of WSS@95, recall@10%, n95 and wall seconds, beside ASReview LAB 3.0.8's figures
(elas_u4 default model, seed 42, one prior include and exclude; measured with ASReview's
`asreview simulate` when the target was set, see docs/screening_model.md), then the means.

Usage: python benchmarks/bench_screening.py [--seeds 1 2 3] [--sets NAME ...] [-- EXTRA ARGS]

Wall time depends on the machine, so ``--asreview BIN`` (an ``asreview`` executable of ASReview
LAB 3.0.8, e.g. from ``python -m venv /tmp/asrenv && /tmp/asrenv/bin/pip install
asreview==3.0.8``) runs ASReview's own simulation of each set just before ours, on the same
machine (``BIN simulate DATA --n-prior-included 1 --n-prior-excluded 1 --prior-seed 42 --seed
42 -o TMP.asreview``, timed from outside like ours), and judges our wall time against half of
that instead of the issue's figures.

Model comparison: ``--grid GRID.json`` (``{"name": {ActiveLearner keyword options}, ...}``) runs
every configuration in-process instead (features fitted once per set and shared by the
configurations; ``--jobs`` sets in parallel), prints WSS@95 per set and configuration, and a
leave-one-set-out table: for each set, the configuration with the best mean WSS@95 on the
*other* sets, and what it gets on the held-out set. The mean of those held-out figures is an
honest estimate of the selection procedure on a new set (the in-sample best mean is not).
Each configuration's per-seed WSS@95 on each set is also printed to stderr as it finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "screening"

# set: (WSS@95, recall@10%, wall s) for ASReview LAB 3.0.8 (docs/screening_model.md)
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


def run_asreview(binary: str, path: Path) -> float:
    """Seconds ASReview LAB's own simulation of ``path`` takes here (its defaults, seed 42)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        p = subprocess.run([binary, "simulate", str(path), "--n-prior-included", "1",
                            "--n-prior-excluded", "1", "--prior-seed", "42", "--seed", "42",
                            "-o", str(Path(tmp) / "run.asreview")], capture_output=True,
                           text=True)
        wall = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"asreview failed on {path.name}:\n{p.stderr[-2000:]}")
    return wall


# ActiveLearner options that change the feature matrix (configurations sharing them share it)
FEATURE_OPTIONS = ("char_weight",)


def grid_set(args: tuple) -> tuple[str, dict]:
    """Run every configuration on one set and seed list; {config: [(wss95, rec10, n95), ...]}."""
    name, grid, seeds = args
    sys.path.insert(0, str(ROOT))
    from toolkit.screening.model import ActiveLearner
    from toolkit.screening.simulate import read_labelled_csv, simulate

    ds = read_labelled_csv(DATA / f"{name}.csv")
    feats: dict = {}
    out = {}
    for cfg, opts in grid.items():
        fopts = {k: v for k, v in opts.items() if k in FEATURE_OPTIONS}
        fkey = json.dumps(fopts, sort_keys=True)
        if fkey not in feats:
            feats[fkey] = ActiveLearner(**fopts).fit_features(ds.texts).X_
        runs = []
        lopts = {k: v for k, v in opts.items() if k != "classifier"}
        for seed in seeds:
            m = simulate(ds.texts, ds.labels, seed=seed, learner_options=lopts,
                         classifier=opts.get("classifier", "svm"), features=feats[fkey]).metrics
            runs.append((m["wss95"], m["recall_at_10pct"], m["n95"]))
        print(f"  {name[:20]:20s} {cfg:28s} " + " ".join(f"{r[0]:.3f}" for r in runs),
              file=sys.stderr, flush=True)
        out[cfg] = runs
    return name, out


def leave_one_set_out(wss: dict[str, dict[str, float]]) -> list[tuple[str, str, float]]:
    """For each set: (set, the configuration best on the other sets, its WSS@95 on this set).

    ``wss[config][set]`` is the mean WSS@95 over seeds; ties go to the first configuration."""
    configs = list(wss)
    sets = list(next(iter(wss.values())))
    rows = []
    for held in sets:
        others = [s for s in sets if s != held]
        best = max(configs, key=lambda c: (sum(wss[c][s] for s in others), -configs.index(c)))
        rows.append((held, best, wss[best][held]))
    return rows


def run_grid(path: str, sets: list[str], seeds: list[int], jobs: int,
             save: str | None = None) -> None:
    from multiprocessing import Pool

    grid = json.loads(Path(path).read_text())
    with Pool(jobs) as pool:
        res = dict(pool.map(grid_set, [(s, grid, seeds) for s in sets], chunksize=1))
    wss = {c: {s: sum(r[0] for r in res[s][c]) / len(seeds) for s in sets} for c in grid}
    if save:
        Path(save).write_text(json.dumps(wss, indent=1))
    short = [s.split("_", 1)[-1][:13] for s in sets]
    print(f"{'configuration':28s} " + " ".join(f"{h:>13s}" for h in short) + "    mean")
    for c in grid:
        vals = [wss[c][s] for s in sets]
        print(f"{c:28s} " + " ".join(f"{v:13.3f}" for v in vals) +
              f"  {sum(vals) / len(vals):6.3f}")
    print_loso(wss)


def print_loso(wss: dict[str, dict[str, float]]) -> None:
    print("\nleave-one-set-out (choose on the other sets, score on the held-out set):")
    rows = leave_one_set_out(wss)
    for held, best, v in rows:
        print(f"  {held:38s} {best:28s} {v:6.3f}")
    print(f"  {'mean (honest estimate)':38s} {'':28s} {sum(r[2] for r in rows) / len(rows):6.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--sets", nargs="+", default=list(ASREVIEW))
    ap.add_argument("--grid", help="JSON file of named ActiveLearner options: compare them")
    ap.add_argument("--jobs", type=int, default=2, help="parallel processes for --grid")
    ap.add_argument("--save", help="with --grid: write {config: {set: mean WSS@95}} as JSON")
    ap.add_argument("extra", nargs="*", help="extra arguments for review simulate (after --)")
    ap.add_argument("--asreview", metavar="BIN",
                    help="time ASReview LAB's simulate (this executable) on each set here")
    ap.add_argument("--loso", nargs="+", metavar="SAVED",
                    help="print the leave-one-set-out table over --save files merged")
    a = ap.parse_args()
    if a.loso:
        wss: dict = {}
        for f in a.loso:
            wss.update(json.loads(Path(f).read_text()))
        print_loso(wss)
        return
    if a.grid:
        run_grid(a.grid, a.sets, a.seeds, a.jobs, a.save)
        return
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    print(f"data: {DATA}  seeds: {a.seeds}  extra: {a.extra}")
    if a.asreview:
        print(f"ASR/2: half of ASReview's wall time measured here ({a.asreview}), "
              "not the issue's")
    head = (f"{'set':38s} {'WSS@95':>7s} {'ASR':>6s} {'rec@10':>7s} {'ASR':>6s} {'n95':>7s} "
            f"{'wall s':>7s} {'ASR/2':>6s}  ok")
    print(head)
    print("-" * len(head))
    rows = []
    for name in a.sets:
        asr_wall = run_asreview(a.asreview, DATA / f"{name}.csv") if a.asreview else None
        runs = [run_once(DATA / f"{name}.csv", s, a.extra) for s in a.seeds]
        wss = mean([r["wss95"] for r in runs])
        rec = mean([r["recall_at_10pct"] for r in runs])
        n95 = mean([r["n95"] for r in runs])
        wall = mean([r["process_wall_s"] for r in runs])
        aw, ar, at = ASREVIEW.get(name, (float("nan"),) * 3)
        if asr_wall is not None:
            at = asr_wall
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
