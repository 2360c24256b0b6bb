"""Deduplication benchmark: pairwise recall/precision, time and memory per labelled set.

Reads the labelled sets in ``../shared/data/dedup/`` (relative to the repository root; see
SOURCES.md there): diabetes, neuroimaging, cardiac. Each set is imported with
``toolkit.importing.import_file`` into a fresh store and deduplicated with
``toolkit.dedup.api.deduplicate`` in automatic mode (uncertain pairs stay unmerged). Each set
runs in its own subprocess so "peak MB" (max RSS) is that set's alone.

Pairwise metrics: predicted pairs = pairs of records in one cluster; true pairs = pairs sharing
a ``group_id``; recall = |both| / |true|, precision = |both| / |predicted|. Also record-level
sensitivity and precision as BibDedupe's published evaluation counts them (``record_level``),
to compare with its figures in SOURCES.md.

"synthetic-100k": the three sets concatenated and replicated until 100,000 records. Replica
k >= 1 gets new record ids, DOIs with a suffix, and titles whose every word is replaced through
a seeded random word map of that replica (so replicas are different papers sharing authors,
years, journals and pages, which is the hard case for blocking). Seed 20261124.

Usage: python benchmarks/bench_dedup.py [SET ...]   (default: all four)

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
ROLE = {"diabetes": "tuned", "neuroimaging": "tuned", "cardiac": "tuned r2",
        "synthetic-100k": "speed"}
SEED = 20261124
csv.field_size_limit(1 << 30)


def set_path(name: str) -> Path:
    """A shared set's file, or ``name`` itself when it is the path of a labelled CSV in the
    same format (record_id, group_id, title, authors, ...; e.g. another set converted by the
    script in ../shared/data/dedup/SOURCES.md)."""
    return DATA / SETS[name] if name in SETS else Path(name)


def set_name(name: str) -> str:
    return name if name in SETS or name == "synthetic-100k" else Path(name).name.split(".")[0]


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


def run_one(name: str) -> dict:
    """Import + dedup one set in this process; returns the table row."""
    sys.path.insert(0, str(ROOT))
    from toolkit.dedup.api import deduplicate
    from toolkit.importing import import_file
    from toolkit.store import create_review

    rows = synthetic() if name == "synthetic-100k" else read_set(name)
    # `review import` refuses a row with neither title, abstract, DOI nor PMID (nothing to
    # identify it by); such rows (2 in the SRA-DM haematology set, none in the shared sets)
    # are left out of both the import and the truth.
    rows = [r for r in rows if any(r.get(k) for k in ("title", "abstract", "doi", "pmid"))]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{set_name(name)}.csv"
        write_csv(rows, src)  # plain CSV, as a user would import it
        review = create_review(Path(tmp) / "r.db")
        t0 = time.perf_counter()
        imp = import_file(review, src)
        t1 = time.perf_counter()
        out = deduplicate(review)
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
            "uncertain": out["uncertain_pairs"], "import_s": t1 - t0, "dedup_s": t2 - t1,
            "seconds": t2 - t0, "rec_sensitivity": tp / (tp + fn) if tp + fn else 1.0,
            "rec_precision": tp / (tp + fp) if tp + fp else 1.0,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(run_one(argv[1])))
        return
    names = argv or [*SETS, "synthetic-100k"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    print(f"{'set':16} {'role':9} {'records':>8} {'true pairs':>10} {'pred pairs':>10} "
          f"{'recall':>7} {'precision':>9} {'uncertain':>9} {'import s':>8} {'dedup s':>7} "
          f"{'seconds':>7} {'peak MB':>7} {'rec sens':>8} {'rec prec':>8}")
    for name in names:
        res = subprocess.run([sys.executable, __file__, "--one", name], env=env, check=True,
                             capture_output=True, text=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"{r['set']:16} {r['role']:9} {r['records']:8d} {r['true_pairs']:10d} "
              f"{r['predicted_pairs']:10d} {r['recall']:7.4f} {r['precision']:9.4f} "
              f"{r['uncertain']:9d} {r['import_s']:8.1f} {r['dedup_s']:7.1f} {r['seconds']:7.1f} "
              f"{r['peak_mb']:7.0f} {r['rec_sensitivity']:8.4f} {r['rec_precision']:8.4f}",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
