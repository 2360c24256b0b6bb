"""Cumulative meta-analysis across review updates: studies in order of review version, then
year, each step equal to R metafor's cumul (tests/data/living/make_cumulative_ref.R)."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from test_extraction_support import CRITERIA, REPO, put, run_cli
from toolkit.errors import ReviewError
from toolkit.extraction.forms import find_form
from toolkit.fulltext import record_fulltext
from toolkit.importing import import_file
from toolkit.living.cumulative import cumulative_by_version
from toolkit.living.updates import import_update
from toolkit.screening.decisions import record_decision
from toolkit.store import create_review

DATA = Path(__file__).parent / "data" / "living"
STUDIES = list(csv.DictReader(open(DATA / "cumulative_data.csv")))
# distinct real titles (so deduplication keeps the five apart), from the screening fixture
TITLES = [r["title"] for r in csv.DictReader(open(
    Path(__file__).parent / "data" / "screening" / "kitchenham_200.csv", encoding="utf-8"))][:5]
REF = list(csv.DictReader(open(DATA / "cumulative_ref.csv")))


def export(path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Title", "Year"])
        for s in rows:
            w.writerow([s["study"], TITLES[int(s["study"][1:]) - 1], s["year"]])
    return path


@pytest.fixture
def review(tmp_path):
    (tmp_path / "screening").mkdir()
    (tmp_path / "screening" / "criteria.yaml").write_text(CRITERIA, encoding="utf-8")
    forms = tmp_path / "extraction" / "forms"
    forms.mkdir(parents=True)
    shutil.copy(REPO / "extraction" / "forms" / "cryoablation.yaml", forms)
    r = create_review(tmp_path / "review.db")
    import_file(r, export(tmp_path / "v0.csv", [s for s in STUDIES if s["version"] == "0"]),
                source="Embase")
    import_update(r, export(tmp_path / "v1.csv", [s for s in STUDIES if s["version"] == "1"]),
                  source="Embase")
    ids = {row["source_id"]: row["id"] for row in r.db.query("select id, source_id from records")}
    with r.atomic():
        for rid in ids.values():
            record_decision(r, rid, "include", "ann")
            record_fulltext(r, rid, "assessed", "include", reviewer="ann")
    form = find_form(r, None)
    for s in STUDIES:
        put(r, form, str(ids[s["study"]]), "local_control", f"{s['xi']}/{s['ni']} tumours")
    r.label = {str(rid): sid for sid, rid in ids.items()}
    yield r
    r.close()


def test_order_is_version_then_year_and_numbers_are_metafor(review):
    out = cumulative_by_version(review, "local_control")
    rows = out["cumulative"]["rows"]
    assert [review.label[r["study"]] for r in rows] == [r["study"] for r in REF]
    assert [(r["version"], r["year"]) for r in rows] == [
        (0, 2015), (0, 2018), (0, 2020), (1, 2016), (1, 2023)]
    for got, ref in zip(rows, REF):
        assert got["k"] == int(ref["k"])
        for key in ("estimate", "ci_low", "ci_high", "tau2"):
            assert got[key] == pytest.approx(float(ref[key]), rel=1e-6, abs=1e-9), key
    assert out["cumulative"]["order"] == "review version, then year"


def test_cli_and_plot(review, tmp_path):
    db = review.path
    plot = tmp_path / "cumulative.png"
    code, out, err = run_cli(db, "cumulative", "local_control", "--plot", plot, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [r["version"] for r in data["cumulative"]["rows"]] == [0, 0, 0, 1, 1]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, text, err = run_cli(db, "cumulative", "local_control")
    assert code == 0 and "version 1, 2016: + " in text
    code, _, err = run_cli(db, "cumulative", "no_such_outcome")
    assert code == 1 and err.startswith("review: error:")


def test_a_study_without_a_year_is_named(review):
    review.db.execute("update records set year = null where source_id = 'S4'")
    with pytest.raises(ReviewError, match="the year is missing for"):
        cumulative_by_version(review, "local_control")
