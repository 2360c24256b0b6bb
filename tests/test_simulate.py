"""Screening simulation: metrics on hand-made rankings, determinism, CLI contract, bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from toolkit.errors import ReviewError
from toolkit.screening.metrics import screening_metrics
from toolkit.screening.simulate import draw_priors, read_labelled_csv, simulate

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "screening" / "kitchenham_200.csv"


# -- metrics, answers worked out by hand ---------------------------------------------------------

def test_metrics_small_ranking_by_hand():
    # N = 10, R = 3; ceil(0.95*3) = 3 -> the 3rd include is at position 6.
    m = screening_metrics([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
    assert (m["N"], m["R"], m["n95"], m["n100"]) == (10, 3, 6, 6)
    assert m["wss95"] == pytest.approx((10 - 6) / 10 - 0.05)  # 0.35
    assert m["recall_at_10pct"] == pytest.approx(1 / 3)        # floor(1.0) = 1 record, 1 include


def test_metrics_n95_uses_exact_ceiling():
    # R = 20: ceil(0.95*20) = 19 exactly (a float product could round up to 20 includes).
    y = np.zeros(100, dtype=int)
    y[:18] = 1
    y[49] = 1   # 19th include at position 50
    y[99] = 1   # 20th include at position 100
    m = screening_metrics(y)
    assert (m["n95"], m["n100"]) == (50, 100)
    assert m["wss95"] == pytest.approx(0.45)
    assert m["recall_at_10pct"] == pytest.approx(10 / 20)  # first floor(10.0) = 10 records


def test_metrics_budget_is_floored():
    # N = 19 -> floor(1.9) = 1 record in the 10 % budget; R = 2, n95 = ceil(1.9) = 2 includes.
    y = [0, 1] + [0] * 16 + [1]
    m = screening_metrics(y)
    assert m["recall_at_10pct"] == 0.0
    assert (m["n95"], m["n100"]) == (19, 19)
    assert m["wss95"] == pytest.approx(0 / 19 - 0.05)


def test_metrics_without_includes_are_none():
    m = screening_metrics([0, 0, 0])
    assert m["R"] == 0 and m["wss95"] is None and m["n95"] is None


# -- simulation -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data():
    return read_labelled_csv(FIXTURE)


def test_fixture_reads_all_rows(data):
    assert len(data.texts) == 200 and int(data.labels.sum()) == 20
    assert data.record_ids is not None


def test_priors_respect_counts_and_seed():
    y = np.array([0] * 50 + [1] * 10)
    p = draw_priors(y, seed=3, n_included=2, n_excluded=3)
    assert len(p) == 5 and y[p[:2]].tolist() == [1, 1] and y[p[2:]].tolist() == [0, 0, 0]
    assert p == draw_priors(y, seed=3, n_included=2, n_excluded=3)
    with pytest.raises(ReviewError, match="prior includes"):
        draw_priors(y, seed=3, n_included=11)


def test_same_seed_same_ranking_different_seed_different_priors(data):
    a = simulate(data.texts, data.labels, seed=1)
    b = simulate(data.texts, data.labels, seed=1)
    c = simulate(data.texts, data.labels, seed=2)
    assert a.order == b.order
    assert a.prior_rows != c.prior_rows
    # every record is screened exactly once, priors first
    assert sorted(a.order) == list(range(200))
    assert a.order[:2] == a.prior_rows
    assert data.labels[a.prior_rows].tolist() == [1, 0]


def test_model_beats_random_order_on_fixture(data):
    # A random order finds includes at the base rate: expected WSS@95 is about -0.05 + small.
    wss = [simulate(data.texts, data.labels, seed=s).metrics["wss95"] for s in (1, 2)]
    assert min(wss) > 0.2


def test_records_without_text_are_kept_and_ranked(data):
    texts = list(data.texts)
    empty = [0, 5, 17] + [int(np.flatnonzero(data.labels == 1)[3])]
    for i in empty:
        texts[i] = ""
    for q in ("max", "uncertainty", "mixed"):
        res = simulate(texts, data.labels, seed=1, query=q)
        assert sorted(res.order) == list(range(200))
        assert set(empty) <= set(res.order)


@pytest.mark.parametrize("classifier", ["svm", "logistic", "nb"])
def test_every_classifier_runs(data, classifier):
    res = simulate(data.texts, data.labels, seed=1, classifier=classifier)
    assert sorted(res.order) == list(range(200))
    assert res.metrics["n100"] is not None


# -- CLI ------------------------------------------------------------------------------------------

def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd)


def test_cli_json_and_byte_identical_ranking(tmp_path):
    outs = []
    for k in range(2):
        out = tmp_path / f"rank{k}.csv"
        p = run_cli("simulate", FIXTURE, "--seed", 4, "--out", out, "--json")
        assert p.returncode == 0, p.stderr
        d = json.loads(p.stdout)
        for key in ("n_records", "n_included", "n95", "n100", "wss95", "recall_at_10pct",
                    "wall_s"):
            assert key in d
        assert (d["n_records"], d["n_included"]) == (200, 20)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    rows = list(csv.DictReader(outs[0].decode().splitlines()))
    assert len(rows) == 200 and sum(int(r["prior"]) for r in rows) == 2
    # the metrics in the JSON agree with the ranking written to --out
    later = [int(r["label_included"]) for r in rows if r["prior"] == "0"]
    assert d["n95"] == screening_metrics(later)["n95"]


def test_cli_priors_option(tmp_path):
    out = tmp_path / "r.csv"
    p = run_cli("simulate", FIXTURE, "--seed", 1, "--prior-included", 3, "--prior-excluded", 4,
                "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert (d["N"], d["R"]) == (193, 17)
    rows = list(csv.DictReader(out.open()))
    assert [r["label_included"] for r in rows[:7]] == ["1"] * 3 + ["0"] * 4


def write_csv(path, rows, header=("title", "abstract", "label_included")):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize("rows,header,expect", [
    ([("a", "b", "1"), ("c", "d", "yes")], ("title", "abstract", "label_included"),
     "row 2 (line 3): column 'label_included': label must be 0 or 1, got 'yes'"),
    ([("a", "1")], ("title", "label_included"), "missing required column(s) abstract"),
    ([("a", "b", "1", "extra")], ("title", "abstract", "label_included"),
     "row 1 (line 2) has more fields than the header"),
])
def test_cli_bad_input_names_place_and_writes_nothing(tmp_path, rows, header, expect):
    bad = write_csv(tmp_path / "bad.csv", rows, header)
    out = tmp_path / "rank.csv"
    p = run_cli("simulate", bad, "--out", out)
    assert p.returncode == 1
    assert p.stderr.startswith("review: error: ") and str(bad) in p.stderr
    assert expect in p.stderr
    assert not out.exists()


def test_cli_missing_file_and_too_many_priors(tmp_path):
    p = run_cli("simulate", tmp_path / "nope.csv")
    assert p.returncode == 1 and "nope.csv: no such file" in p.stderr
    ok = write_csv(tmp_path / "ok.csv", [("a", "b", "1"), ("c", "d", "0")])
    p = run_cli("simulate", ok, "--prior-included", 2)
    assert p.returncode == 1
    assert "ok.csv: asked for 2 prior includes but the data has 1" in p.stderr


def test_pool_without_any_text_is_still_ranked_in_full():
    # no vocabulary at all: the learner cannot train, every record is still screened once
    res = simulate(["", "", "", "", ""], [1, 0, 1, 0, 0], seed=1)
    assert sorted(res.order) == [0, 1, 2, 3, 4]
    assert res.metrics["R"] == 1 and res.metrics["n100"] is not None


def test_tiny_pool_where_no_character_gram_repeats():
    res = simulate(["ab", "cd", "ef"], [1, 0, 1], seed=0)
    assert sorted(res.order) == [0, 1, 2]


@pytest.mark.parametrize("query", ["max", "mixed"])
def test_refitting_stops_after_the_last_include_without_changing_the_metrics(data, query):
    short = simulate(data.texts, data.labels, seed=3, query=query)
    full = simulate(data.texts, data.labels, seed=3, query=query, refit_to_end=True)
    assert short.metrics == full.metrics
    last = max(k for k, row in enumerate(full.order) if data.labels[row] == 1)
    assert short.order[:last + 1] == full.order[:last + 1]
    # every record is still screened once, and the shortcut really skips fits
    assert sorted(short.order) == list(range(200))
    assert short.n_fits < full.n_fits


def test_cli_refit_to_end_flag(tmp_path):
    d = [json.loads(run_cli("simulate", FIXTURE, "--seed", 2, "--json", *flag).stdout)
         for flag in ([], ["--refit-to-end"])]
    assert d[0]["n95"] == d[1]["n95"] and d[0]["n_fits"] < d[1]["n_fits"]
