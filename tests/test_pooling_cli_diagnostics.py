"""`review pool --model glmm` and the diagnostics flags, end to end through the CLI: the
numbers are metafor's (the reference files), the plots are drawn and byte-identical across
runs, and bad requests are one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from metafor_helpers import close
from toolkit.cli import cli
from toolkit.errors import ReviewError
from toolkit.pooling.sensitivity import diagnose_table

DATA = Path(__file__).parent / "data" / "metafor"
BCG = ["pool", str(DATA / "bcg.csv"), "--measure", "GEN", "--yi", "yi", "--vi", "vi",
       "--study", "study", "--year", "year"]
PRITZ = ["pool", str(DATA / "pritz1997.csv"), "--measure", "PLO", "--events", "events",
         "--total", "total", "--study", "study"]


def invoke(args):
    res = CliRunner().invoke(cli, args)
    return res.exit_code, res.stdout, res.stderr


def test_glmm_through_the_cli_equals_rma_glmm():
    ref = pd.read_csv(DATA / "glmm_ref.csv").set_index("case")
    for flags, case in (([], "pritz_glmm_z"), (["--knha"], "pritz_glmm_t")):
        code, out, err = invoke(PRITZ + ["--model", "glmm", "--json"] + flags)
        assert code == 0, err
        d = json.loads(out)
        want = ref.loc[case]
        assert (d["model"], d["method"], d["test"]) == ("glmm", "ML", case[-1])
        for ours, theirs in (("estimate", "estimate"), ("ci_low", "ci_low"),
                             ("ci_high", "ci_high"), ("tau2", "tau2"), ("I2", "I2"),
                             ("est_model_scale", "estimate_logit"), ("se", "se")):
            assert abs(d[ours] - want[theirs]) <= 1e-4 * abs(want[theirs]), ours
        assert all(s["weight"] is None for s in d["studies"])


def test_every_diagnostic_with_plots(tmp_path):
    code, out, err = invoke(BCG + ["--diagnostics", "--plots", str(tmp_path / "p"), "--json"])
    assert code == 0, err
    d = json.loads(out)["diagnostics"]
    l1o = pd.read_csv(DATA / "diagnostics_ref_leave1out.csv")
    assert [r["study"] for r in d["leave1out"]["rows"]] == list(l1o["study"])
    assert all(close(r["estimate"], w) for r, w in zip(d["leave1out"]["rows"], l1o["estimate"]))
    inf = pd.read_csv(DATA / "diagnostics_ref_influence.csv")
    assert all(close(r["cook_d"], w) for r, w in zip(d["influence"]["rows"], inf["cook_d"]))
    bias = pd.read_csv(DATA / "diagnostics_ref_bias.csv").set_index("case")
    assert close(d["egger"]["zval"], bias.loc["egger_regtest_rma_sei", "stat"])
    cum = pd.read_csv(DATA / "diagnostics_ref_cumul_by_year.csv")
    assert [r["study"] for r in d["cumulative"]["rows"]] == list(cum["study"])
    assert d["cumulative"]["order"] == "year"
    assert d["trimfill"]["k0"] == 1 and len(d["funnel"]["points"]) == 13
    plots = d["plots"]
    assert sorted(plots) == ["baujat", "cumulative", "funnel", "leave1out"]
    for path in plots.values():
        assert Path(path).stat().st_size > 5000
    # the same command again writes the same files
    first = {k: Path(v).read_bytes() for k, v in plots.items()}
    invoke(BCG + ["--diagnostics", "--plots", str(tmp_path / "p")])
    assert {k: Path(v).read_bytes() for k, v in plots.items()} == first


def test_human_output_names_each_diagnostic():
    code, out, _ = invoke(BCG + ["--leave1out", "--egger"])
    assert code == 0
    assert "leave-one-out (rma (REML)):" in out and "without TPT Madras 1980" in out
    assert "Egger's test (rma (REML)): z = -0.8033, p = 0.422" in out


def test_glmm_leave_one_out_on_the_proportion_scale():
    code, out, err = invoke(PRITZ + ["--model", "glmm", "--leave1out", "--influence", "--json"])
    assert code == 0, err
    d = json.loads(out)["diagnostics"]
    ref = pd.read_csv(DATA / "glmm_leave1out_ref.csv")
    ref = ref[ref["data"] == "pritz"]
    for r, want in zip(d["leave1out"]["rows"], ref.to_dict("records")):
        assert abs(r["est_model_scale"] - want["estimate_logit"]) <= 1e-4 * abs(
            want["estimate_logit"])
        assert 0 < r["ci_low"] < r["estimate"] < r["ci_high"] < 1      # back-transformed
    assert d["leave1out"]["model"] == "glmm (ML)"
    assert d["influence"]["model"] == "rma (REML)"   # influence is defined for rma only


@pytest.mark.parametrize("extra, words", [
    (["--plots", "somewhere"], "draws the plots of diagnostics"),
    (["--cumulative", "--order", "nope"], "no column 'nope'"),
    (["--model", "glmm"], "measure PR or PLO, not GEN"),
    (["--overlapping", "Aronson 1948"], "two study labels"),
])
def test_bad_requests_are_one_line_errors(extra, words):
    res = CliRunner().invoke(cli, BCG + extra)
    assert res.exit_code != 0
    text = res.stderr + str(res.exception or "") + res.output
    assert words in text


def test_diagnose_table_refuses_unknown_names():
    df = pd.read_csv(DATA / "bcg.csv")
    with pytest.raises(ReviewError, match="unknown diagnostics"):
        diagnose_table(df, "GEN", ["jackknife"], yi="yi", vi="vi")
    with pytest.raises(ReviewError, match="no plot for egger"):
        diagnose_table(df, "GEN", ["egger"], yi="yi", vi="vi", plots={"egger": "e.png"})


def test_egger_with_few_studies_says_so():
    df = pd.read_csv(DATA / "pritz1997.csv").head(6)
    d = diagnose_table(df, "PLO", ["egger"], events="events", total="total")
    assert "fewer than 10 studies" in d["egger"]["note"]


def test_knapp_hartung_reaches_every_diagnostic():
    df = pd.read_csv(DATA / "bcg.csv")
    kw = dict(yi="yi", vi="vi", study="study", year="year")
    z = diagnose_table(df, "GEN", "all", **kw)
    t = diagnose_table(df, "GEN", "all", knha=True, **kw)
    assert t["trimfill"]["estimate"] == pytest.approx(z["trimfill"]["estimate"], rel=1e-12)
    assert t["trimfill"]["ci_low"] < z["trimfill"]["ci_low"]     # t quantile and s^2 scaling
    assert t["egger"]["df"] == 11 and z["egger"]["df"] is None
    assert t["leave1out"]["rows"][0]["ci_low"] != z["leave1out"]["rows"][0]["ci_low"]
    assert t["cumulative"]["rows"][0]["ci_low"] == z["cumulative"]["rows"][0]["ci_low"]  # k = 1: z
