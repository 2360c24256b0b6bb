"""Write the worked example's screening decisions from the traced snapshot.

    python screening/build_decisions.py        # from the repository root

Reads ``queries/results/search_snapshot_sources.csv`` (columns ``likely_decision`` and
``exclusion_reason``) and ``screening/criteria.yaml`` (``fulltext_reasons``) and writes
``screening/ta_decisions.csv`` and ``screening/fulltext_decisions.csv``. The rules (which
reason, which stage) are below and in screening/README.md. Deterministic: snapshot order.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "queries" / "results" / "search_snapshot_sources.csv"
CRITERIA = ROOT / "screening" / "criteria.yaml"
REVIEWER = "reconstruction (search_snapshot_sources.csv)"

# Keyword in one ';'-separated clause of the snapshot's exclusion_reason -> the review's reason.
# Clauses are read left to right (the snapshot puts the main reason first); within a clause the
# first keyword in this list that occurs wins.
KEYWORDS = (
    ("conference abstract", "conference abstract"),
    ("animal", "animal study"),
    ("case report", "review or case report"),
    ("technical note", "review or case report"),
    ("review", "review or case report"),
    ("guideline", "review or case report"),
    ("not metastases", "not metastases"),
    ("wrong intervention", "wrong intervention"),
    ("mixed intervention", "wrong intervention"),
    ("mixed rfa/cryo", "wrong intervention"),
    ("not spine", "not spinal"),
    ("overlap", "overlapping cohort"),
)
# Reasons that need the full text: is there a separable spinal / cryoablation subgroup, a full
# report behind an abstract, an overlap of cohorts, an extractable number?
FULLTEXT_REASONS = {"not spinal", "conference abstract", "overlapping cohort",
                    "no extractable outcome"}
# Confidence that an include-candidate is one of the review's 11 (SNAPSHOT_NOTES.md).
CONFIDENCE = {"CRYO001": "high", "CRYO002": "high", "CRYO003": "high",
              "CRYO004": "high (overlaps CRYO003 and possibly CRYO001; EVIDENCE.md says medium)",
              "CRYO005": "high", "CRYO006": "medium (abstract not spine-specific)",
              "CRYO007": "uncertain (arm sizes not in abstract; may overlap Masala cohorts)",
              "CRYO008": "uncertain (China is not among the review's named countries)"}


def classify(text: str) -> tuple[str, str]:
    """(reason, matching clause) for a snapshot exclusion_reason."""
    for clause in (c.strip().lower() for c in text.split(";")):
        for keyword, reason in KEYWORDS:
            if keyword in clause:
                return reason, clause
    raise SystemExit(f"no reason matches exclusion_reason {text!r}")


def stage(reason: str, clause: str, text: str) -> str:
    """'ta' when the exclusion is clear from title/abstract, 'fulltext' when it needs the report."""
    if reason == "not spinal" and "not bone" in text.lower():
        return "ta"  # no bone/spine involvement at all (lymph-node series): clear from the abstract
    if reason == "wrong intervention" and "mixed" in clause:
        return "fulltext"  # cryoablation mixed with RFA: a separable cryo subgroup needs the report
    return "fulltext" if reason in FULLTEXT_REASONS else "ta"


def build(snapshot: Path = SNAPSHOT, criteria: Path = CRITERIA) -> tuple[str, str]:
    """The text of ta_decisions.csv and fulltext_decisions.csv."""
    reasons = yaml.safe_load(criteria.read_text(encoding="utf-8"))["fulltext_reasons"]
    with open(snapshot, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    ta, ft = io.StringIO(), io.StringIO()
    ta_w = csv.writer(ta, lineterminator="\n")
    ft_w = csv.writer(ft, lineterminator="\n")
    ta_w.writerow(["record_id", "decision", "reviewer", "reason", "source", "note"])
    ft_w.writerow(["record_id", "status", "decision", "reason", "reviewer", "note", "source"])
    for r in rows:
        rid, source = r["record_id"], r["source_url"]
        if r["likely_decision"] == "include-candidate":
            ta_w.writerow([rid, "include", REVIEWER, "", source,
                           "snapshot: include-candidate"])
            ft_w.writerow([rid, "assessed", "include", "", REVIEWER,
                           "reconstruction: snapshot include-candidate (from abstracts and citing "
                           "pages; full text not read); one of the review's 11 with confidence "
                           f"{CONFIDENCE[rid]}", source])
            continue
        if r["likely_decision"] != "exclude":
            raise SystemExit(f"{rid}: unexpected likely_decision {r['likely_decision']!r}")
        reason, clause = classify(r["exclusion_reason"])
        if reason not in reasons:
            raise SystemExit(f"{rid}: reason {reason!r} not in {criteria}")
        note = f"snapshot: {r['exclusion_reason']}"
        if stage(reason, clause, r["exclusion_reason"]) == "ta":
            ta_w.writerow([rid, "exclude", REVIEWER, reason, source, note])
        else:
            ta_w.writerow([rid, "include", REVIEWER, "", source,
                           f"passed to full text: {reason} needs the full report to decide"])
            ft_w.writerow([rid, "assessed", "exclude", reason, REVIEWER,
                           "reconstruction: decision from the snapshot (abstracts and citing "
                           f"pages; full text not read); {note}", source])
    return ta.getvalue(), ft.getvalue()


def main(out_dir: Path = ROOT / "screening") -> None:
    ta, ft = build()
    (out_dir / "ta_decisions.csv").write_text(ta, encoding="utf-8", newline="")
    (out_dir / "fulltext_decisions.csv").write_text(ft, encoding="utf-8", newline="")
    n_ta = ta.count("\n") - 1
    print(f"ta_decisions.csv: {n_ta} records; fulltext_decisions.csv: {ft.count(chr(10)) - 1}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "screening")
