"""Every number of metafor 3.8-1's reference results, reproduced to a relative 1e-6.

The references and the R script that made them are in tests/data/metafor/ (see its README).
Each case below restates the metafor call of make_metafor_refs.R as pool_table arguments.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from metafor_helpers import close
from toolkit.cli import cli
from toolkit.pooling.api import pool_table

DATA = Path(__file__).parent / "data" / "metafor"

PRITZ = dict(file="pritz1997.csv", events="events", total="total", study="study")
PAIN = dict(file="pain_prepost_synthetic.csv", measure="MC", mean_pre="mean_pre",
            sd_pre="sd_pre", mean_post="mean_post", sd_post="sd_post", n="n", r="r",
            study="study")
NORMAND = dict(file="normand1999_group1.csv", measure="MN", mean="mean", sd="sd", n="n",
               study="study")
BCG = dict(file="bcg.csv", measure="GEN", yi="yi", vi="vi", study="study")

# case name in pooled_ref.csv -> the same analysis as pool_table arguments
CASES = {
    "pritz1997_logit_REML": dict(PRITZ, measure="PLO", method="REML"),
    "pritz1997_ft_REML": dict(PRITZ, measure="PFT", method="REML"),
    "pritz1997_raw_REML": dict(PRITZ, measure="PR", method="REML"),
    "pritz1997_logit_DL": dict(PRITZ, measure="PLO", method="DL"),
    "pritz1997_ft_DL": dict(PRITZ, measure="PFT", method="DL"),
    "pritz1997_raw_DL": dict(PRITZ, measure="PR", method="DL"),
    "pritz1997_logit_REML_knha": dict(PRITZ, measure="PLO", method="REML", knha=True),
    "pritz1997_logit_PM": dict(PRITZ, measure="PLO", method="PM"),
    "pritz1997_logit_ML": dict(PRITZ, measure="PLO", method="ML"),
    "pritz1997_logit_FE": dict(PRITZ, measure="PLO", method="FE"),
    "pain_mc_REML": dict(PAIN, method="REML"),
    "pain_mc_DL": dict(PAIN, method="DL"),
    "normand1999_mean_REML": dict(NORMAND, method="REML"),
    "normand1999_mean_DL": dict(NORMAND, method="DL"),
    "bcg_generic_REML": dict(BCG, method="REML"),
    "bcg_generic_DL": dict(BCG, method="DL"),
}
FIELDS = ["k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "est_model_scale", "se",
          "tau2", "I2", "Q", "Q_p"]


def run(spec: dict) -> dict:
    spec = dict(spec)
    df = pd.read_csv(DATA / spec.pop("file"))
    return pool_table(df, spec.pop("measure"), **spec)


def pooled_rows():
    ref = pd.read_csv(DATA / "pooled_ref.csv")
    return [pytest.param(row, id=row["case"]) for row in ref.to_dict("records")]


def test_every_reference_case_is_covered():
    ref = pd.read_csv(DATA / "pooled_ref.csv")
    assert set(ref["case"]) == set(CASES)


@pytest.mark.parametrize("row", pooled_rows())
def test_pooled_matches_metafor(row):
    out = run(CASES[row["case"]])
    bad = {f: (out[f], row[f]) for f in FIELDS if not close(out[f], row[f])}
    assert not bad, bad


def test_metareg_ablat_matches_metafor():
    row = pd.read_csv(DATA / "bcg_metareg_ref.csv").iloc[0]
    m = run(dict(BCG, method="REML", moderators=["ablat"]))["metareg"]
    icpt, slope = m["coefficients"]
    assert (icpt["name"], slope["name"]) == ("intercept", "ablat")
    pairs = [(icpt["estimate"], row.intercept), (slope["estimate"], row.slope),
             (icpt["se"], row.se_intercept), (slope["se"], row.se_slope),
             (slope["p"], row.p_slope), (m["tau2"], row.tau2), (m["R2"], row.R2),
             (m["QM"], row.QM), (m["QM_p"], row.QM_p), (m["QE"], row.QE)]
    for got, want in pairs:
        assert close(got, want), (got, want)


MORE = {
    "bcg_metareg_ablat_REML_knha": dict(BCG, method="REML", knha=True, moderators=["ablat"]),
    "bcg_metareg_alloc_REML": dict(BCG, method="REML", moderators=["alloc"]),
    "bcg_metareg_ablat_year_REML": dict(BCG, method="REML", moderators=["ablat", "year"]),
}
# metafor's term names -> ours (R's model.matrix names a factor dummy "factor(alloc)random")
TERM = {"intrcpt": "intercept", "factor(alloc)random": "allocrandom",
        "factor(alloc)systematic": "allocsystematic"}


def more_rows():
    ref = pd.read_csv(DATA / "bcg_metareg_more_ref.csv")
    return [pytest.param(r, id=f"{r['case']}-{r['term']}") for r in ref.to_dict("records")]


@pytest.mark.parametrize("row", more_rows())
def test_metareg_more_matches_metafor(row):
    m = run(MORE[row["case"]])["metareg"]
    coef = {c["name"]: c for c in m["coefficients"]}[TERM.get(row["term"], row["term"])]
    checks = {"estimate": (coef["estimate"], row["estimate"]), "se": (coef["se"], row["se"]),
              "p": (coef["p"], row["pval"]), "ci_low": (coef["ci_low"], row["ci_low"]),
              "ci_high": (coef["ci_high"], row["ci_high"]), "tau2": (m["tau2"], row["tau2"]),
              "QM": (m["QM"], row["QM"]), "QM_p": (m["QM_p"], row["QM_p"]),
              "QE": (m["QE"], row["QE"]), "R2": (m["R2"], row["R2"])}
    bad = {k: v for k, v in checks.items() if not close(*v)}
    assert not bad, bad


def subgroup_rows():
    ref = pd.read_csv(DATA / "bcg_subgroup_alloc_ref.csv")
    return [pytest.param(r, id=r["subgroup"]) for r in ref.to_dict("records")]


@pytest.mark.parametrize("row", subgroup_rows())
def test_subgroups_match_metafor(row):
    out = run(dict(BCG, method="REML", by="alloc"))
    g = {s["group"]: s for s in out["subgroups"]}[row["subgroup"]]
    bad = {f: (g[f], row[f]) for f in ["k", "estimate", "se", "ci_low", "ci_high", "tau2", "I2"]
           if not close(g[f], row[f])}
    assert not bad, bad
    assert close(out["Q_between"], row["Q_between"])
    assert close(out["Q_between_p"], row["Q_between_p"])


# --- the command line on the reference inputs ---------------------------------------------

def cli_json(args):
    result = CliRunner().invoke(cli, ["pool", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)   # stdout only: warnings go to stderr


def ref_row(case):
    ref = pd.read_csv(DATA / "pooled_ref.csv")
    return ref[ref["case"] == case].iloc[0].to_dict()


@pytest.mark.parametrize("case,args", [
    ("pritz1997_ft_REML", ["pritz1997.csv", "--measure", "PFT", "--events", "events",
                           "--total", "total", "--study", "study"]),
    ("pritz1997_logit_REML_knha", ["pritz1997.csv", "--measure", "plo", "--events", "events",
                                   "--total", "total", "--knha"]),
    ("pritz1997_logit_PM", ["pritz1997.csv", "--measure", "PLO", "--events", "events",
                            "--total", "total", "--method", "PM"]),
    ("normand1999_mean_DL", ["normand1999_group1.csv", "--measure", "MN", "--mean", "mean",
                             "--sd", "sd", "--n", "n", "--method", "dl"]),
    ("pain_mc_REML", ["pain_prepost_synthetic.csv", "--measure", "MC", "--mean-pre", "mean_pre",
                      "--sd-pre", "sd_pre", "--mean-post", "mean_post", "--sd-post", "sd_post",
                      "--n", "n", "--r", "r"]),
    ("bcg_generic_REML", ["bcg.csv", "--measure", "GEN", "--yi", "yi", "--vi", "vi"]),
])
def test_cli_json_matches_metafor(case, args):
    out = cli_json([str(DATA / args[0]), *args[1:]])
    want = ref_row(case)
    bad = {f: (out[f], want[f]) for f in FIELDS if not close(out[f], want[f])}
    assert not bad, bad


def test_cli_subgroups_and_metareg_json():
    out = cli_json([str(DATA / "bcg.csv"), "--measure", "GEN", "--yi", "yi", "--vi", "vi",
                    "--study", "study", "--by", "alloc", "--moderator", "alloc"])
    sub = pd.read_csv(DATA / "bcg_subgroup_alloc_ref.csv")
    assert close(out["Q_between"], sub["Q_between"][0])
    assert [g["group"] for g in out["subgroups"]] == list(sub["subgroup"])
    more = pd.read_csv(DATA / "bcg_metareg_more_ref.csv")
    alloc = more[more["case"] == "bcg_metareg_alloc_REML"]
    got = [c["estimate"] for c in out["metareg"]["coefficients"]]
    assert [c["name"] for c in out["metareg"]["coefficients"]] == \
        ["intercept", "allocrandom", "allocsystematic"]
    assert all(close(g, w) for g, w in zip(got, alloc["estimate"]))
    assert close(out["metareg"]["QM"], alloc["QM"].iloc[0])
    # 13 studies for 2 moderator terms: below 10 per term, so the fit comes with a warning
    assert any("fewer than 10 studies per term" in w for w in out["warnings"])


def test_cli_required_json_keys():
    out = cli_json([str(DATA / "pritz1997.csv"), "--measure", "PLO", "--events", "events",
                    "--total", "total"])
    for key in ["k", "measure", "method", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                "est_model_scale", "se", "tau2", "I2", "Q", "Q_p"]:
        assert key in out
    assert (out["measure"], out["method"], out["k"]) == ("PLO", "REML", 14)


def test_pool_table_aliases_and_forest(tmp_path):
    # moderator= / test= spellings give the same metafor numbers; forest= draws the plot
    df = pd.read_csv(DATA / "bcg.csv")
    out = pool_table(df, "GEN", yi="yi", vi="vi", moderator="ablat", test="knha",
                     forest=tmp_path / "f.svg")
    ref = pd.read_csv(DATA / "bcg_metareg_more_ref.csv")
    ref = ref[ref["case"] == "bcg_metareg_ablat_REML_knha"]
    got = {c["name"]: c for c in out["metareg"]["coefficients"]}
    assert close(got["ablat"]["ci_low"], ref["ci_low"].iloc[1])
    assert close(out["metareg"]["QM"], ref["QM"].iloc[0])
    assert (tmp_path / "f.svg").stat().st_size > 1000 and out["forest"].endswith("f.svg")
