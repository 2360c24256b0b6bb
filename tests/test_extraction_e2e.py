"""End to end by the command line: title/abstract -> full text (with reasons, a linked report)
-> extraction (two extractors, compare, resolve) -> export -> `review pool`.

Title/abstract decisions are made with the screening API (``record_decision``), as the
screening commands are another stage's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from toolkit.screening.decisions import record_decision
from toolkit.store import open_review

try:
    from test_extraction_support import CRITERIA, DATA, REPO, run_cli, snapshot
except ImportError:
    from tests.test_extraction_support import CRITERIA, DATA, REPO, run_cli, snapshot

# Synthetic values of three studies (A = records 1+2, B = 3, C = 4), as two extractors typed them.
ANN = """study,field,value,quote,page
StudyA,design,retrospective,"We retrospectively reviewed",2
StudyA,patients,14,14 patients,1
StudyA,age,53 (11.0),,
StudyA,local_control,30/31 tumours,local control 30/31,4
StudyA,pain_n,14,,
StudyA,pain_pre,6.2 (1.7),,
StudyA,pain_post,1.9 (1.8),,
StudyA,female,9,,
StudyB,design,prospective,,
StudyB,patients,10,,
StudyB,age,NR,,
StudyB,local_control,6/10 tumours,,
StudyB,pain_n,10,,
StudyB,pain_pre,6.8 (SE 0.7),,
StudyB,pain_post,2.4 (SE 0.8),,
StudyB,female,NR,,
9000004,design,retrospective,,
9000004,patients,74,,
9000004,local_control,23/28 tumours,,
9000004,female,35,,
9000004,age,61.5 (95% CI 58.0 to 65.0),,
"""
# The third study (record 4, not linked, so labelled "4") is named by its report's Embase
# accession number rather than its label.


def _ann_csv():
    return ANN


def _bob_csv():
    # Bob agrees except on StudyB's local control, and misses StudyA's female count.
    lines = [l for l in _ann_csv().splitlines() if not l.startswith("StudyA,female")]
    return "\n".join(l.replace("StudyB,local_control,6/10", "StudyB,local_control,7/10")
                     for l in lines) + "\n"


@pytest.fixture
def review_dir(tmp_path):
    (tmp_path / "screening").mkdir()
    (tmp_path / "screening" / "criteria.yaml").write_text(CRITERIA)
    (tmp_path / "extraction" / "forms").mkdir(parents=True)
    (tmp_path / "extraction" / "forms" / "cryoablation.yaml").write_bytes(
        (REPO / "extraction" / "forms" / "cryoablation.yaml").read_bytes())
    return tmp_path


def test_title_abstract_to_pooling_table(review_dir):
    db = review_dir / "review.db"
    ok = lambda *a, **k: _ok(run_cli(db, *a, **k))  # noqa: E731

    ok("init", "--title", "Synthetic cryoablation review")
    ok("import", DATA / "records.ris", "--source", "Embase")
    # Title/abstract: 1-7 in (7 as maybe), 8 out.
    r = open_review(db)
    with r.atomic():
        for rid in range(1, 8):
            record_decision(r, rid, "maybe" if rid == 7 else "include", "ann")
        record_decision(r, 8, "exclude", "ann")
    r.close()

    # Full text: a CSV for most, the prompt for the last one.
    ft_csv = review_dir / "fulltext.csv"
    ft_csv.write_text("source_id,status,decision,reason,reviewer,note\n"
                      "9000001,assessed,include,,ann,\n"
                      "9000002,assessed,include,,ann,conference abstract of 9000001\n"
                      "9000003,assessed,include,,ann,\n"
                      "9000004,assessed,include,,ann,\n"
                      "9000005,assessed,exclude,review or case report,ann,\n"
                      "9000007,not_retrieved,,,ann,library could not obtain it\n")
    ok("fulltext", "import", ft_csv)
    out = ok("fulltext", "--reviewer", "ann", "--json", input="e\n1\n")  # record 6: RFA
    counts = json.loads(out)["counts"]
    assert counts["reports_excluded"] == 2
    ok("link", "2", "--study", "1")
    ok("link", "1", "--study", "StudyA")
    ok("link", "3", "--study", "StudyB")
    counts = json.loads(ok("fulltext", "summary", "--json"))
    assert counts == {"reports_sought": 7, "reports_not_retrieved": 1, "reports_assessed": 6,
                      "reports_excluded": 2,
                      "excluded_reasons": {"review or case report": 1, "wrong intervention": 1},
                      "reports_included": 4, "studies_included": 3, "reports_pending": 0,
                      "reports_conflict": 0}

    # Extraction by two extractors.
    (review_dir / "ann.csv").write_text(_ann_csv())
    (review_dir / "bob.csv").write_text(_bob_csv())
    ok("extract", "import", review_dir / "ann.csv", "--extractor", "ann")
    ok("extract", "import", review_dir / "bob.csv", "--extractor", "bob")
    cmp = json.loads(ok("extract", "compare", "--json"))
    assert [(d["study"], d["field"], d["values"]) for d in cmp["disagreements"]] == [
        ("StudyA", "female", {"ann": "9", "bob": None}),
        ("StudyB", "local_control", {"ann": "6/10 tumours", "bob": "7/10 tumours"}),
    ]
    # Resolve one by the prompt (pick ann's value) and one by the command line.
    out = ok("extract", "resolve", "--extractor", "cat", "--json",
             input="#1\nann copied it from the text\nq\n")  # StudyA female -> 9; quit
    assert json.loads(out) == {"resolved": 1}
    ok("extract", "resolve", "StudyB", "--field", "local_control", "--value", "6/10 tumours",
       "--extractor", "cat", "--note", "table 3 says 6 of 10")
    assert json.loads(ok("extract", "compare", "--json"))["unresolved"] == 0

    # Export for pooling.
    lc_csv = review_dir / "local_control.csv"
    out = json.loads(ok("extract", "export", lc_csv, "--outcome", "local_control", "--json"))
    assert out["pool"].startswith(f"review pool {lc_csv} --measure PLO --events events "
                                  "--total total")
    lc = pd.read_csv(lc_csv)
    assert lc.astype({"study": str})[["study", "events", "total"]].values.tolist() == [
        ["4", 23, 28], ["StudyA", 30, 31], ["StudyB", 6, 10]]
    pain_csv = review_dir / "pain.csv"
    out = json.loads(ok("extract", "export", pain_csv, "--outcome", "pain", "--json"))
    pain = pd.read_csv(pain_csv)
    assert {"study", "mean_pre", "sd_pre", "mean_post", "sd_post", "n"} <= set(pain.columns)
    b = pain.set_index("study").loc["StudyB"]
    assert (b["sd_pre"], b["sd_post"]) == pytest.approx((0.7 * np.sqrt(10), 0.8 * np.sqrt(10)))
    out = json.loads(ok("extract", "export", review_dir / "age.csv", "--outcome", "age",
                        "--json"))
    assert out["left_out"] == ["study StudyB: left out: age not reported"]

    # `review status` reports both stages.
    status = json.loads(ok("status", "--json"))["stages"]
    assert status["full text"].startswith("7 reports: 4 included (3 studies), 2 excluded")
    assert status["extraction"] == ("form cryoablation: 3 studies, 2 extractors, "
                                    "0 unresolved disagreements")

    # The record export carries the full-text columns.
    rec_csv = review_dir / "records.csv"
    ok("export", "--out", rec_csv)
    recs = pd.read_csv(rec_csv, dtype=str)
    by_src = recs.set_index("source_id")
    assert by_src.loc["9000002", "study"] == "StudyA"
    assert by_src.loc["9000005", "fulltext_reason"] == "review or case report"
    assert pd.isna(by_src.loc["9000008", "fulltext_status"])  # excluded at title/abstract

    # `review pool --outcome` reads the same table from the store: same numbers as the CSV.
    from_store = json.loads(ok("pool", "--outcome", "local_control", "--json"))
    from_csv = json.loads(ok("pool", lc_csv, "--measure", "PLO", "--events", "events",
                             "--total", "total", "--study", "study", "--json"))
    assert from_store["measure"] == "PLO" and from_store["k"] == 3
    for key in ("estimate", "ci_low", "ci_high", "tau2", "Q"):
        assert from_store[key] == pytest.approx(from_csv[key], rel=1e-12)
    mc = json.loads(ok("pool", "--outcome", "pain", "--r", "0.5", "--json"))
    assert mc["measure"] == "MC" and mc["k"] == 2


def _ok(result):
    code, out, err = result
    assert code == 0, err
    return out


def test_export_pools_with_review_pool(review_dir):
    """The exported local-control table goes through `review pool` unchanged; the fixed-effect
    logit estimate is checked against the inverse-variance formula computed here."""
    test_title_abstract_to_pooling_table(review_dir)
    lc_csv = review_dir / "local_control.csv"
    code, out, err = run_cli(review_dir / "review.db", "pool", lc_csv, "--measure", "PLO",
                             "--events", "events", "--total", "total", "--study", "study",
                             "--unit", "unit", "--method", "FE", "--json")
    assert code == 0, err
    res = json.loads(out)
    x, n = np.array([23, 30, 6]), np.array([28, 31, 10])
    yi, vi = np.log(x / (n - x)), 1 / x + 1 / (n - x)
    est_lc = np.sum(yi / vi) / np.sum(1 / vi)
    assert res["k"] == 3 and res["unit"] == "tumours"   # the exported unit column
    assert res["estimate"] == pytest.approx(1 / (1 + np.exp(-est_lc)), rel=1e-6)

    # Pain: mean change with an assumed pre/post correlation of 0.5. StudyA reported SDs;
    # StudyB's SDs come from SEs (SD = SE*sqrt(n)).
    code, out, err = run_cli(review_dir / "review.db", "pool", review_dir / "pain.csv",
                             "--measure", "MC", "--mean-pre", "mean_pre", "--sd-pre", "sd_pre",
                             "--mean-post", "mean_post", "--sd-post", "sd_post", "--n", "n",
                             "--r", "0.5", "--study", "study", "--method", "FE", "--json")
    assert code == 0, err
    res = json.loads(out)
    n = np.array([14, 10])
    sd_pre, sd_post = np.array([1.7, 0.7 * np.sqrt(10)]), np.array([1.8, 0.8 * np.sqrt(10)])
    yi = np.array([6.2 - 1.9, 6.8 - 2.4])
    vi = (sd_pre**2 + sd_post**2 - 2 * 0.5 * sd_pre * sd_post) / n
    assert res["k"] == 2
    assert res["estimate"] == pytest.approx(np.sum(yi / vi) / np.sum(1 / vi), rel=1e-6)

    # The same from the store, as `review pool --outcome local_control` will do it.
    from toolkit.extraction.export import outcome_table
    from toolkit.pooling.api import pool_table

    r = open_review(review_dir / "review.db")
    table = outcome_table(r, "local_control")
    r.close()
    res2 = pool_table(table, table.attrs["default_measure"], method="FE",
                      **table.attrs["pool_kwargs"])
    assert res2["estimate"] == pytest.approx(1 / (1 + np.exp(-est_lc)), rel=1e-6)


def test_real_entry_point_and_errors_change_nothing(review_dir):
    """`python -m toolkit.cli` as a user runs it: a bad import is one error line, exit 1,
    and the store is unchanged."""
    test_title_abstract_to_pooling_table(review_dir)
    db = review_dir / "review.db"
    bad = review_dir / "bad.csv"
    bad.write_text("study,field,value,extractor\nStudyA,patients,fourteen,ann\n"
                   "StudyZ,patients,14,ann\n")
    before = snapshot(db)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "toolkit.cli", "--db", str(db), "extract",
                           "import", str(bad)], capture_output=True, text=True, env=env,
                          cwd=review_dir)
    assert proc.returncode == 1
    assert proc.stderr.startswith("review: error: 2 invalid cells, nothing was written")
    assert f"{bad}: row 2: column 'value': 'fourteen' is not a whole number" in proc.stderr
    assert f"{bad}: row 3: column 'study': 'StudyZ' is not an included study" in proc.stderr
    assert snapshot(db) == before
    for args, where in [(["extract", "export", "x.csv", "--outcome", "survival"],
                         "outcome 'survival'"),
                        (["extract", "compare", "--import", "x.csv"],
                         "No such option '--import'"),
                        (["extract", "--compare", "--import", "x.csv"], "choose one of"),
                        (["extract", "resolve", "StudyA", "--field", "age"],
                         "a resolved value needs STUDY --field F --value V"),
                        (["extract", "resolve", "StudyA", "--field", "age", "--value", "old"],
                         "column 'age'"),
                        (["extract", "--form", "nope", "StudyA"], "no form 'nope'"),
                        (["extract", "StudyA", "--compare"], "STUDY goes with"),
                        (["extract", "compare", "--value", "3"], "No such option '--value'"),
                        (["extract", "--compare", "--value", "3"],
                         "go with `review extract resolve`"),
                        (["extract", "--outcome", "age"],
                         "--outcome goes with `review extract export FILE.csv`"),
                        (["link", "1", "--study", "StudyB"], "has extracted values")]:
        code, out, err = run_cli(db, *args)
        assert code == 1 and where in err, (args, err)
    assert snapshot(db) == before
