"""Import throughput: PubMed XML and RIS records per second, and peak memory, on 100,000-record
files made by replicating the real samples in tests/data/formats/ with new ids.

    python benchmarks/bench_import.py [--n 100000]

Prints one line per format: records, seconds, records/s, peak RSS MB (of a fresh child process,
so each figure is the import alone).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "formats"


def make_pubmed_xml(path: Path, n: int) -> None:
    arts = []
    for name in ("pubmed_efetch_asreview_10articles.xml", "pubmed_efetch_biopython_pubmed1.xml",
                 "pubmed_efetch_biopython_pubmed4.xml"):
        text = (DATA / name).read_text(encoding="utf-8")
        arts += re.findall(r"<PubmedArticle>.*?</PubmedArticle>", text, flags=re.S)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0"?>\n<PubmedArticleSet>\n')
        for i in range(n):
            a = arts[i % len(arts)]
            fh.write(re.sub(r"<PMID Version=\"1\">\d+</PMID>",
                            f'<PMID Version="1">{50_000_000 + i}</PMID>', a, count=1))
            fh.write("\n")
        fh.write("</PubmedArticleSet>\n")


def make_ris(path: Path, n: int) -> None:
    text = (DATA / "embase_asreview.ris").read_text(encoding="utf-8-sig")
    recs = re.findall(r"TY  - .*?\nER  - ?\n?", text, flags=re.S)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            r = re.sub(r"U2  - L\d+", f"U2  - L9{i:09d}", recs[i % len(recs)])
            fh.write(r if r.endswith("\n") else r + "\n")
            fh.write("\n")


CHILD = r"""
import json, resource, sys, time
from toolkit.store import create_review
from toolkit.importing import import_file
r = create_review(sys.argv[1])
t = time.perf_counter()
out = import_file(r, sys.argv[2])
dt = time.perf_counter() - t
print(json.dumps({"records": out["records_added"], "seconds": dt,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {"pubmed-xml": tmp / "big.xml", "ris": tmp / "big.ris"}
        make_pubmed_xml(files["pubmed-xml"], args.n)
        make_ris(files["ris"], args.n)
        print(f"{'format':12} {'records':>8} {'seconds':>8} {'rec/s':>8} {'peak MB':>8}")
        for fmt, f in files.items():
            res = subprocess.run([sys.executable, "-c", CHILD, str(tmp / f"{fmt}.db"), str(f)],
                                 capture_output=True, text=True, cwd=ROOT, check=True)
            d = json.loads(res.stdout)
            print(f"{fmt:12} {d['records']:>8} {d['seconds']:>8.2f} "
                  f"{d['records'] / d['seconds']:>8.0f} {d['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
