"""Shared builders for the full-text and extraction tests (no tests here).

A small review is built in a temporary folder laid out like a real one: ``review.db``,
``screening/criteria.yaml`` and ``extraction/forms/*.yaml`` beside it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from toolkit import fulltext as ft
from toolkit.cli import main
from toolkit.extraction.entries import save_value
from toolkit.records import make_record
from toolkit.screening.decisions import record_decision
from toolkit.store import create_review, now_iso

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "extraction"
REASONS = ["wrong intervention", "not spinal", "not metastases", "review or case report",
           "overlapping cohort", "no extractable outcome"]
CRITERIA = """\
question: In patients with spinal metastases, what are the outcomes of percutaneous cryoablation?
inclusion:
  - percutaneous cryoablation of spinal metastases
  - reports local control, pain or complications
exclusion:
  - case reports and reviews
fulltext_reasons:
""" + "".join(f"  - {r}\n" for r in REASONS)


def build_review(tmp_path: Path, n_records: int = 8, ta: dict | None = None):
    """A review with ``n_records`` PubMed records (pmid 1000+i, doi 10.1000/cryo.i) and
    title/abstract decisions ``ta`` {record_id: decision} (default: 1-6 include, 7 maybe,
    8 exclude). Returns the open Review."""
    (tmp_path / "screening").mkdir(exist_ok=True)
    (tmp_path / "screening" / "criteria.yaml").write_text(CRITERIA, encoding="utf-8")
    forms = tmp_path / "extraction" / "forms"
    forms.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "extraction" / "forms" / "cryoablation.yaml", forms)
    review = create_review(tmp_path / "review.db")
    ta = ta or {**{i: "include" for i in range(1, 7)}, 7: "maybe", 8: "exclude"}
    with review.atomic():
        for i in range(1, n_records + 1):
            row = make_record({"title": f"Cryoablation of spinal metastases, series {i}",
                               "abstract": f"We treated patients (series {i}).",
                               "pmid": str(1000 + i), "doi": f"10.1000/cryo.{i}",
                               "journal": "J Test", "year": "2020"}, source="PubMed")
            review.db["records"].insert(dict(row, added_at=now_iso()))
        for rid, decision in ta.items():
            record_decision(review, rid, decision, "ann")
    return review


def snapshot(db_path) -> dict:
    """Every table's rows, to show a failed command changed nothing."""
    con = sqlite3.connect(db_path)
    try:
        tables = [r[0] for r in con.execute(
            "select name from sqlite_master where type = 'table' order by name")]
        return {t: con.execute(f"select * from [{t}] order by rowid").fetchall()
                for t in tables}
    finally:
        con.close()


def run_cli(db_path, *args, input: str | None = None):
    """Run ``review --db DB ARGS`` through the real entry point in-process.
    Returns (exit code, stdout, stderr)."""
    runner = CliRunner()
    code = 0
    with runner.isolation(input=input) as (out, err, _):
        try:
            main(["--db", str(db_path), *map(str, args)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return code, stdout, stderr


def build_full_text_review(tmp_path: Path):
    """``build_review`` with reports 1-4 included at full text, 2 linked to 1 (one study '1'),
    and 5 excluded. Returns the open review."""
    r = build_review(tmp_path)
    with r.atomic():
        for rid in (1, 2, 3, 4):
            ft.record_fulltext(r, rid, "assessed", "include", reviewer="ann")
        ft.record_fulltext(r, 5, "assessed", "exclude", "not spinal", reviewer="ann",
                           reasons=REASONS)
        ft.link_report(r, "2", "1")
    return r


def put(review, form, study, field, text, who="ann", **kw):
    """Save one extracted value in its own transaction; returns what ``save_value`` returns."""
    with review.atomic():
        return save_value(review, form, study, field, text, who, **kw)
