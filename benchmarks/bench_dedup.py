"""Deduplication benchmark: pairwise recall/precision, time and memory per labelled set.

Reads the labelled sets in ``../shared/data/dedup/`` (relative to the repository root; see
SOURCES.md there): diabetes, neuroimaging, cardiac; and the labelled sets of the BibDedupe
0.7.2 wheel that ``benchmarks/dedup_sets.py`` converts (cytology_screening, haematology,
digital_work, respiratory, stroke, special_cases; it never touches the wheel's srsr and
depression sets). Each set is imported with ``toolkit.importing.import_file`` into a fresh
store and deduplicated with ``toolkit.dedup.api.deduplicate`` in automatic mode (uncertain
pairs stay unmerged), three ways, each in its own subprocess so "peak MB" (max RSS) is that
run's alone:

- ``rules``: the hand rules alone (no pair scorer);
- ``in-sample``: rules + the shipped pair scorer (fitted on every set, this one included);
- ``held-out``: rules + a pair scorer refitted on every *other* set (leave-one-set-out): the
  figure for a set the scorer has never seen.

Pairwise metrics: predicted pairs = pairs of records in one cluster; true pairs = pairs sharing
a ``group_id``; recall = |both| / |true|, precision = |both| / |predicted|. Also record-level
sensitivity and precision as BibDedupe's published evaluation counts them (``record_level``),
to compare with its figures in SOURCES.md.

"synthetic-100k": the three sets concatenated and replicated until 100,000 records. Replica
k >= 1 gets new record ids, DOIs with a suffix, and titles whose every word is replaced through
a seeded random word map of that replica (so replicas are different papers sharing authors,
years, journals and pages, which is the hard case for blocking). Seed 20261124.

Usage: python benchmarks/bench_dedup.py [SET ...]   (default: every set, then synthetic-100k)

A SET may also be the path of another labelled CSV in the same format (role "extra").
"""

from __future__ import annotations

import csv
import itertools
import json
import lzma
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".." / "shared" / "data" / "dedup"
SETS = {"diabetes": "diabetes.csv", "neuroimaging": "neuroimaging.csv",
        "cardiac": "cardiac.csv.xz"}
# What the hand rules were developed on (docs/dedup.md): "tuned" sets were read while writing
# them, "looked" sets' errors were read, "summary" sets' figures only.
ROLE = {"diabetes": "tuned", "neuroimaging": "tuned", "cardiac": "tuned", "cytology_screening":
        "looked", "haematology": "looked", "digital_work": "looked", "respiratory": "summary",
        "stroke": "summary", "special_cases": "unseen", "synthetic-100k": "speed"}
SEED = 20261124
csv.field_size_limit(1 << 30)


def wheel_sets() -> dict[str, Path]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from dedup_sets import build
    return build()


def all_sets() -> dict[str, Path]:
    return {**{n: DATA / f for n, f in SETS.items()}, **wheel_sets()}


def set_path(name: str) -> Path:
    """A labelled set's file, or ``name`` itself when it is the path of a labelled CSV in the
    same format (record_id, group_id, title, authors, ...)."""
    if name in SETS:
        return DATA / SETS[name]
    if Path(name).suffix:
        return Path(name)
    return wheel_sets()[name]


def set_name(name: str) -> str:
    return Path(name).name.split(".")[0] if Path(name).suffix else name


def read_set(name: str) -> list[dict]:
    path = set_path(name)
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def synthetic(n: int = 100_000) -> list[dict]:
    base = [dict(r, record_id=f"{name[:3]}{r['record_id']}", group_id=f"{name[:3]}{r['group_id']}")
            for name in SETS for r in read_set(name)]  # the sets' ids overlap
    rng = random.Random(SEED)
    out = list(base)
    k = 0
    while len(out) < n:
        k += 1
        words: dict[str, str] = {}

        def sub(m, words=words):
            w = m.group(0)
            low = w.lower()
            if low not in words:
                words[low] = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                                     for _ in range(max(2, len(w))))
            new = words[low]
            return new.capitalize() if w[:1].isupper() else new

        for r in base:
            r2 = dict(r)
            r2["record_id"] = f"{r['record_id']}_r{k}"
            r2["group_id"] = f"{r['group_id']}_r{k}"
            r2["title"] = re.sub(r"[A-Za-z]+", sub, r["title"])
            r2["doi"] = f"{r['doi']}.r{k}" if r["doi"] else ""
            out.append(r2)
    return out[:n]


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def pairs_of(groups) -> set[tuple[str, str]]:
    out = set()
    for members in groups:
        out.update(itertools.combinations(sorted(members), 2))
    return out


def record_level(truth, clusters) -> tuple[int, int, int]:
    """(TP, FN, FP) counted per record as BibDedupe's evaluation does (SOURCES.md): each
    cluster keeps one record and removes the rest; a removed record is a true positive while
    its true group still keeps one, a false positive once the whole group is removed (or it had
    no duplicate); a duplicate left in is a false negative."""
    removed = {r for c in clusters for r in sorted(c)[1:]}  # which one is kept does not matter
    tp = fn = fp = 0
    for group in truth:
        r = sum(1 for x in group if x in removed)
        tp += min(r, len(group) - 1)
        fn += len(group) - 1 - min(r, len(group) - 1)
        fp += max(0, r - (len(group) - 1))
    return tp, fn, fp


def labelled_norms(name: str) -> tuple[list, list[str]]:
    """The match keys of a set's records as a deduplication run sees them (imported into a
    fresh store) and each record's true group."""
    sys.path.insert(0, str(ROOT))
    from toolkit.dedup.api import _NORM_COLUMNS
    from toolkit.dedup.normalise import normalise_record
    from toolkit.importing import import_file
    from toolkit.store import create_review
    rows = read_set(name)
    group = {r["record_id"]: r["group_id"] for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{set_name(name)}.csv"
        write_csv(rows, src)
        review = create_review(Path(tmp) / "r.db")
        import_file(review, src)
        recs = list(review.db.query(
            f"select source_id, {', '.join(_NORM_COLUMNS)} from records order by id"))
        review.close()
    return [normalise_record(r) for r in recs], [group[r["source_id"]] for r in recs]


def training_data(names) -> dict[str, tuple]:
    """{set: (level matrix, labels)} of each set's candidate pairs (scorer.training_pairs)."""
    from toolkit.dedup.scorer import training_pairs
    return {set_name(n): training_pairs(*labelled_norms(n)) for n in names}


def fit_without(data: dict[str, tuple], held_out: str | None):
    """The pair scorer fitted on every set in ``data`` but ``held_out``."""
    import numpy as np
    from toolkit.dedup.scorer import fit
    names = sorted(n for n in data if n != held_out)
    x = np.vstack([data[n][0] for n in names])
    y = np.concatenate([data[n][1] for n in names])
    return fit(x, y, trained_on=names)


def run_one(name: str, model: str = "shipped") -> dict:
    """Import + dedup one set in this process; returns the table row. ``model``: "shipped",
    "none" (rules alone) or the path of a pair-scorer JSON file."""
    sys.path.insert(0, str(ROOT))
    from toolkit.dedup import scorer
    from toolkit.dedup.api import deduplicate
    from toolkit.importing import import_file
    from toolkit.store import create_review

    pair_model = ("shipped" if model == "shipped" else None if model == "none"
                  else scorer.load(model))
    rows = synthetic() if name == "synthetic-100k" else read_set(name)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{set_name(name)}.csv"
        write_csv(rows, src)  # plain CSV, as a user would import it
        review = create_review(Path(tmp) / "r.db")
        t0 = time.perf_counter()
        imp = import_file(review, src)
        t1 = time.perf_counter()
        out = deduplicate(review, model=pair_model)
        t2 = time.perf_counter()
        sid = {r["id"]: r["source_id"] for r in review.db.query("select id, source_id from records")}
        clusters = defaultdict(list)
        for r in review.db.query("select m.cluster_id, m.record_id from cluster_members m "
                                 "join clusters c on c.id = m.cluster_id where c.undone_at is null"):
            clusters[r["cluster_id"]].append(sid[r["record_id"]])
        review.close()
    truth = defaultdict(list)
    for r in rows:
        truth[r["group_id"]].append(r["record_id"])
    t, p = pairs_of(truth.values()), pairs_of(clusters.values())
    both = len(t & p)
    tp, fn, fp = record_level(truth.values(), clusters.values())
    return {"set": set_name(name), "role": ROLE.get(name, "extra"),
            "records": imp["records_added"],
            "true_pairs": len(t), "predicted_pairs": len(p),
            "recall": both / len(t) if t else 1.0, "precision": both / len(p) if p else 1.0,
            "incomplete": imp.get("incomplete", 0),
            "uncertain": out["uncertain_pairs"], "import_s": t1 - t0, "dedup_s": t2 - t1,
            "seconds": t2 - t0, "rec_sensitivity": tp / (tp + fn) if tp + fn else 1.0,
            "rec_precision": tp / (tp + fp) if tp + fp else 1.0,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run(name: str, model: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, __file__, "--one", name, model], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _cells(r: dict) -> str:
    share = 100 * r["uncertain"] / r["records"] if r["records"] else 0.0
    return f"{r['recall']:7.4f} {r['precision']:9.4f} {r['uncertain']:5d} {share:5.2f}%"


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(run_one(argv[1], argv[2] if len(argv) > 2 else "shipped")))
        return
    names = argv or [*all_sets(), "synthetic-100k"]
    labelled = [n for n in names if n != "synthetic-100k"]
    sys.path.insert(0, str(ROOT))
    from toolkit.dedup import scorer
    shipped = scorer.shipped()
    print(f"shipped pair scorer trained on: {', '.join(shipped.trained_on)} "
          f"({shipped.pairs} pairs)", flush=True)
    # leave-one-set-out refits need every set's pairs, not only the ones reported
    data = training_data(list(all_sets())) if labelled else {}
    head = f"{'recall':>7} {'precision':>9} {'uncrt':>5} {'%recs':>6}"
    print(f"{'set':18} {'role':7} {'records':>7} {'true pairs':>10} {'incompl':>7} | rules: "
          f"{head} | in-sample: {head} | held-out: {head} | {'import s':>8} {'dedup s':>7} "
          f"{'peak MB':>7} {'rec sens':>8} {'rec prec':>8}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if name == "synthetic-100k":
                h = _run(name, "shipped")
                print(f"{h['set']:18} {h['role']:7} {h['records']:7d} {h['true_pairs']:10d} "
                      f"{h['incomplete']:7d} | {'':>39} | in-sample: {_cells(h)} | {'':>40} | "
                      f"{h['import_s']:8.1f} {h['dedup_s']:7.1f} {h['peak_mb']:7.0f} "
                      f"{h['rec_sensitivity']:8.4f} {h['rec_precision']:8.4f}", flush=True)
                continue
            path = Path(tmp) / f"without-{set_name(name)}.json"
            scorer.save(fit_without(data, set_name(name)), path)
            r, i, h = _run(name, "none"), _run(name, "shipped"), _run(name, str(path))
            print(f"{h['set']:18} {h['role']:7} {h['records']:7d} {h['true_pairs']:10d} "
                  f"{h['incomplete']:7d} | rules: {_cells(r)} | in-sample: {_cells(i)} | "
                  f"held-out: {_cells(h)} | {h['import_s']:8.1f} {h['dedup_s']:7.1f} "
                  f"{h['peak_mb']:7.0f} {h['rec_sensitivity']:8.4f} {h['rec_precision']:8.4f}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
