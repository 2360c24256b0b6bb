"""Full-text and extraction throughput on a synthetic review (no files outside the repo).

    python benchmarks/bench_extraction.py [--studies 300]

Builds a review with STUDIES included reports, then times: full-text CSV import, two
extractors' long-CSV imports (every field of the cryoablation form for every study), compare,
the full export and one outcome table. Prints one line per step: rows and seconds.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toolkit import fulltext as ft  # noqa: E402
from toolkit.extraction.compare import disagreements  # noqa: E402
from toolkit.extraction.entries import import_values_csv  # noqa: E402
from toolkit.extraction.export import export_table, outcome_table  # noqa: E402
from toolkit.extraction.forms import load_form  # noqa: E402
from toolkit.records import make_record  # noqa: E402
from toolkit.screening.decisions import record_decision  # noqa: E402
from toolkit.store import create_review, now_iso  # noqa: E402

SAMPLE = {"integer": "14", "number": "12.5", "percent": "40", "text": "France",
          "boolean": "yes", "date": "2016-03", "n_of_N": "30/31", "mean_sd": "6.2 (1.7)",
          "median_iqr": "10 (IQR 6-14)"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=300)
    n = ap.parse_args().studies
    rng = random.Random(20261124)
    form = load_form(ROOT / "extraction" / "forms" / "cryoablation.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        review = create_review(tmp / "review.db")
        with review.atomic():
            for i in range(1, n + 1):
                review.db["records"].insert(dict(make_record(
                    {"title": f"Synthetic study {i}", "pmid": str(10**6 + i)},
                    source="PubMed"), added_at=now_iso()))
                record_decision(review, i, "include", "ann")
        crit = ["wrong intervention", "not spinal"]
        ft_csv = tmp / "ft.csv"
        ft_csv.write_text("record_id,decision,reviewer\n"
                          + "".join(f"{i},include,ann\n" for i in range(1, n + 1)))
        t = time.perf_counter()
        ft.import_fulltext_csv(review, ft_csv, reasons=crit)
        print(f"fulltext import: {n} rows, {time.perf_counter() - t:.2f} s")
        for who in ("ann", "bob"):
            path = tmp / f"{who}.csv"
            lines = ["study,field,value,extractor"]
            for i in range(1, n + 1):
                for f in form.fields:
                    v = f["choices"][0] if f["type"] == "choice" else SAMPLE[f["type"]]
                    if who == "bob" and rng.random() < 0.05:
                        v = "NR"
                    lines.append(f'{i},{f["name"]},"{v}",{who}')
            path.write_text("\n".join(lines) + "\n")
            t = time.perf_counter()
            out = import_values_csv(review, path, form)
            print(f"extract import ({who}): {out['imported']} values, "
                  f"{time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        d = disagreements(review, form)
        print(f"compare: {len(d)} disagreements, {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        table = export_table(review)
        print(f"export: {len(table)} rows x {len(table.columns)} columns, "
              f"{time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        lc = outcome_table(review, "local_control")
        print(f"outcome table local_control: {len(lc)} rows, {time.perf_counter() - t:.2f} s")
        review.close()


if __name__ == "__main__":
    main()
