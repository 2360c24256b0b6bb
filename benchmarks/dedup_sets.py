"""Labelled deduplication sets beyond the three in ../shared/data/dedup/: the ones the
BibDedupe 0.7.2 wheel on PyPI ships (cytology_screening, haematology, digital_work,
respiratory, stroke, special_cases), converted to the shared sets' CSV layout.

The wheel also ships the srsr and depression sets. They are the project's independent
evaluation sets: this script never extracts, opens or reads them (it takes only the members
under the directories named in WHEEL_SETS).

Usage: python benchmarks/dedup_sets.py [DIR]   (default: ~/.cache/review-dedup-sets)
Downloads the wheel with ``pip download bib-dedupe==0.7.2 --no-deps`` (checking its sha256)
unless DIR already holds it, and writes DIR/<set>.csv. The conversion is the one in
../shared/data/dedup/SOURCES.md; digital_work's ``booktitle`` stands in for an empty
``journal`` (conference papers).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

WHEEL = "bib_dedupe-0.7.2-py3-none-any.whl"
WHEEL_SHA256 = "f252cabceee70f2084d91a99434d038d531480a0f11ced57eaf418f26eb5f8cc"
WHEEL_SETS = ("cytology_screening", "haematology", "digital_work", "respiratory", "stroke",
              "special_cases")
DEFAULT_DIR = Path(os.environ.get("REVIEW_DEDUP_SETS",
                                  Path.home() / ".cache" / "review-dedup-sets"))
COLUMNS = [("ID", "record_id"), (None, "group_id"), ("title", "title"), ("author", "authors"),
           ("year", "year"), ("journal", "journal"), ("volume", "volume"), ("number", "issue"),
           ("pages", "pages"), ("doi", "doi"), ("abstract", "abstract"), ("isbn", "isbn"),
           ("url", "url"), ("ENTRYTYPE", "entrytype")]
csv.field_size_limit(1 << 30)


def wheel_path(out: Path) -> Path:
    path = out / WHEEL
    if not path.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "bib-dedupe==0.7.2",
                        "--no-deps", "-d", str(out)], check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {WHEEL_SHA256}")
    return path


def _read(zf: zipfile.ZipFile, member: str) -> list[dict]:
    with zf.open(member) as fh:
        return list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8", newline="")))


def convert(zf: zipfile.ZipFile, name: str) -> list[dict]:
    assert name in WHEEL_SETS
    base = f"bib_dedupe/data/{name}/"
    records = _read(zf, base + "records_pre_merged.csv")
    group = {}
    for row in _read(zf, base + "merged_record_ids.csv"):
        members = [x.strip() for x in row["merged_ids"].split(";") if x.strip()]
        if len(members) < 2:
            continue
        for m in members:
            group[m] = min(members)
    out = []
    for r in records:
        row = {}
        for src, dst in COLUMNS:
            row[dst] = group.get(r["ID"], r["ID"]) if src is None else r.get(src, "")
        if not row["journal"] and r.get("booktitle"):
            row["journal"] = r["booktitle"]
        out.append(row)
    return out


def build(out: Path = DEFAULT_DIR) -> dict[str, Path]:
    """Write every wheel set's CSV into ``out`` (once); returns {set name: path}."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in WHEEL_SETS}
    if all(p.exists() for p in paths.values()):
        return paths
    with zipfile.ZipFile(wheel_path(out)) as zf:
        for name, path in paths.items():
            rows = convert(zf, name)
            with open(path, "w", encoding="utf-8", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=[d for _, d in COLUMNS])
                w.writeheader()
                w.writerows(rows)
    return paths


if __name__ == "__main__":
    for name, path in build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR).items():
        print(name, path)
