"""`review pool`: bad input gives one clear error (row, study, column) and no output; forest
plots are written, sized for A4 and byte-identical for the same input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest

from toolkit.errors import ReviewError
from toolkit.pooling.api import pool_table
from toolkit.pooling.forest import forest_plot

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "metafor"


def review(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd)


PROPS = pd.DataFrame({"study": ["A", "B", "C"], "events": ["3", "4", "5"],
                      "total": ["10", "12", "20"]})


def props(changes):
    df = PROPS.copy()
    for (row, col), value in changes.items():
        df.loc[row, col] = value
    return df


@pytest.mark.parametrize("df,kwargs,parts", [
    (PROPS, dict(events="evts"), ["no column 'evts'"]),
    (props({(2, "events"): "five"}), {}, ["row 3", "study 'C'", "'events'", "not a number"]),
    (props({(2, "total"): "30,5"}), {}, ["row 3", "'total'", "decimals with a point"]),
    (props({(1, "total"): None}), {}, ["row 2", "study 'B'", "'total'", "empty"]),
    (props({(0, "events"): "11"}), {}, ["row 1", "study 'A'", "'events'", "exceed total"]),
    (props({(1, "total"): "-12"}), {}, ["row 2", "'total'", "negative"]),
    (props({(1, "events"): "-1"}), {}, ["row 2", "'events'", "negative"]),
])
def test_bad_proportion_input(df, kwargs, parts):
    args = dict(events="events", total="total", study="study")
    args.update(kwargs)
    with pytest.raises(ReviewError) as err:
        pool_table(df, "PLO", **args)
    for part in parts:
        assert part in str(err.value)


def test_negative_sd_and_n():
    df = pd.DataFrame({"s": ["X", "Y"], "m": [1, 2], "sd": [1.0, -2.0], "n": [10, 20]})
    with pytest.raises(ReviewError, match=r"row 2 \(study 'Y'\).*'sd'.*negative"):
        pool_table(df, "MN", mean="m", sd="sd", n="n", study="s")
    df = pd.DataFrame({"s": ["X", "Y"], "m": [1, 2], "sd": [1.0, 2.0], "n": [-10, 20]})
    with pytest.raises(ReviewError, match=r"row 1 \(study 'X'\).*'n'.*negative"):
        pool_table(df, "MN", mean="m", sd="sd", n="n", study="s")


def test_fewer_than_two_studies_for_random_effects():
    df = pd.DataFrame({"yi": [0.2], "vi": [0.1]})
    with pytest.raises(ReviewError, match="at least 2 studies"):
        pool_table(df, "GEN", yi="yi", vi="vi")
    assert pool_table(df, "GEN", yi="yi", vi="vi", method="FE")["estimate"] == 0.2


def test_all_variances_zero():
    df = pd.DataFrame({"yi": [0.2, 0.3], "vi": [0.0, 0.0]})
    with pytest.raises(ReviewError, match="all sampling variances are zero"):
        pool_table(df, "GEN", yi="yi", vi="vi")
    df = pd.DataFrame({"m": [1, 2], "sd": [0, 0], "n": [5, 5]})
    with pytest.raises(ReviewError, match="all sampling variances are zero"):
        pool_table(df, "MN", mean="m", sd="sd", n="n")


def test_mc_needs_valid_r():
    df = pd.read_csv(DATA / "pain_prepost_synthetic.csv")
    cols = dict(mean_pre="mean_pre", sd_pre="sd_pre", mean_post="mean_post", sd_post="sd_post",
                n="n")
    with pytest.raises(ReviewError, match="correlation"):
        pool_table(df, "MC", **cols)
    with pytest.raises(ReviewError, match="between -1 and 1"):
        pool_table(df, "MC", r=1.5, **cols)
    out = pool_table(df, "MC", r="0.5", **cols)
    assert out["r"] == 0.5 and {s["r"] for s in out["studies"]} == {0.5}
    per_study = pool_table(df, "MC", r="r", **cols)
    assert per_study["r"] == "r"
    assert [s["r"] for s in per_study["studies"]] == df["r"].tolist()


def test_cli_error_is_one_line_and_nothing_printed(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("study,events,total\nA,3,10\nB,x,12\n")
    plot = tmp_path / "f.png"
    res = review("pool", bad, "--measure", "PLO", "--events", "events", "--total", "total",
                 "--study", "study", "--forest", plot, "--json")
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr.strip().count("\n") == 0
    assert res.stderr.startswith("review: error: ")
    assert "row 2 (study 'B')" in res.stderr and "'events'" in res.stderr
    assert not plot.exists()


def test_cli_missing_column_and_bad_forest_suffix(tmp_path):
    res = review("pool", DATA / "bcg.csv", "--measure", "GEN", "--yi", "logrr", "--vi", "vi")
    assert res.returncode == 1 and res.stdout == "" and "no column 'logrr'" in res.stderr
    res = review("pool", DATA / "bcg.csv", "--measure", "GEN", "--yi", "yi", "--vi", "vi",
                 "--forest", tmp_path / "f.jpg")
    assert res.returncode == 1 and res.stdout == "" and ".png, .svg or .pdf" in res.stderr


def test_cli_human_output_and_forest(tmp_path):
    plot = tmp_path / "bcg.png"
    res = review("pool", DATA / "bcg.csv", "--measure", "GEN", "--yi", "yi", "--vi", "vi",
                 "--study", "study", "--by", "alloc", "--forest", plot)
    assert res.returncode == 0, res.stderr
    assert "GEN pooled with REML, k = 13" in res.stdout
    assert "test of subgroup differences" in res.stdout
    img = mpimg.imread(plot)
    height, width = img.shape[:2]
    assert width == pytest.approx((8.27 - 1.0) * 150, abs=2)   # A4 width less margins, 150 dpi
    plain = forest_plot(bcg_result(), tmp_path / "plain.png")
    assert height > mpimg.imread(plain).shape[0]    # subgroup headers and diamonds add rows


def bcg_result(**kw):
    df = pd.read_csv(DATA / "bcg.csv")
    return pool_table(df, "GEN", yi="yi", vi="vi", study="study", **kw)


@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf"])
def test_forest_is_deterministic(tmp_path, suffix):
    result = bcg_result(by="alloc")
    a = forest_plot(result, tmp_path / f"a{suffix}").read_bytes()
    b = forest_plot(result, tmp_path / f"b{suffix}").read_bytes()
    assert a == b and len(a) > 1000


def test_forest_proportions_and_fixed_effect(tmp_path):
    df = pd.read_csv(DATA / "pritz1997.csv")
    for method in ("REML", "FE"):
        res = pool_table(df, "PFT", events="events", total="total", study="study",
                         method=method)
        path = forest_plot(res, tmp_path / f"p_{method}.png")
        assert path.stat().st_size > 10_000
    with pytest.raises(ReviewError, match=".png, .svg or .pdf"):
        forest_plot(res, tmp_path / "p.gif")


def test_study_rows_have_weights_summing_to_100():
    res = bcg_result()
    assert sum(s["weight"] for s in res["studies"]) == pytest.approx(100)
    first = res["studies"][0]
    assert first["study"] == "Aronson 1948"
    assert first["ci_low"] < first["estimate"] < first["ci_high"]


def test_moderator_mixing_numbers_and_text_is_an_error():
    df = pd.read_csv(DATA / "bcg.csv", dtype=str)
    df.loc[4, "ablat"] = "n/a"
    with pytest.raises(ReviewError, match=r"row 5 \(study 'Frimodt-Moller et al 1973'\).*"
                                          r"'ablat'.*not a number"):
        pool_table(df, "GEN", yi="yi", vi="vi", study="study", moderators=["ablat"])
    df.loc[4, "ablat"] = None
    with pytest.raises(ReviewError, match=r"row 5 .*'ablat'.*empty"):
        pool_table(df, "GEN", yi="yi", vi="vi", study="study", moderators=["ablat"])


def test_fractional_counts_and_duplicate_study_labels_are_refused(tmp_path):
    from screen_helpers import run_main

    cases = [("study,events,total\nA,3.5,10\nB,5,12\n", "row 1 (study 'A')",
              "events is a count and must be a whole number (3.5)"),
             ("study,events,total\nA,3,10\nB,5,12.2\n", "row 2 (study 'B')",
              "total is a count and must be a whole number (12.2)"),
             ("study,events,total\nA,3,10\nB,5,12\nA ,4,11\n", "column 'study'",
              "study 'A' appears in rows 1, 3: each study is one row")]
    for text, where, why in cases:
        f = tmp_path / "t.csv"
        f.write_text(text)
        code, out, err = run_main(["pool", str(f), "--measure", "PLO", "--events", "events",
                                   "--total", "total", "--study", "study"])
        assert code == 1 and out == ""
        assert where in err and why in err, err
    # whole numbers written as 3.0 are whole numbers
    f.write_text("study,events,total\nA,3.0,10\nB,5,12\n")
    code, out, err = run_main(["pool", str(f), "--measure", "PLO", "--events", "events",
                               "--total", "total", "--study", "study"])
    assert code == 0, err
