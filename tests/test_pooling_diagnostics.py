"""Sensitivity and bias diagnostics against R metafor 3.8-1, to a relative 1e-6:
leave1out, influence, regtest (Egger), trimfill, cumul and baujat. References:
diagnostics_ref_*.csv (shared; BCG, REML) and diagnostics_edge_ref.csv (Knapp-Hartung,
a meta-regression, other regtest predictors, trim and fill with REML, L0/R0 and the left
side; make_glmm_diag_edge_refs.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metafor_helpers import close
from toolkit.errors import ReviewError
from toolkit.pooling import diagnostics as dg
from toolkit.pooling.effects import escalc

DATA = Path(__file__).parent / "data" / "metafor"
BCG = pd.read_csv(DATA / "bcg.csv")
EDGE = pd.read_csv(DATA / "diagnostics_edge_ref.csv")


def edge(analysis: str) -> pd.DataFrame:
    """One analysis of the long edge-reference file, wide: one row per study."""
    d = EDGE[EDGE["analysis"] == analysis].fillna({"study": ""})
    assert len(d), analysis
    wide = d.pivot_table(index="study", columns="statistic", values="value", sort=False)
    return wide.reindex(list(dict.fromkeys(d["study"])))


def assert_rows(rows, ref: pd.DataFrame, mapping: dict):
    assert [r["study"] for r in rows] == list(ref.index)
    for r, (study, want) in zip(rows, ref.iterrows()):
        bad = {k: (r[ours], want[k]) for k, ours in mapping.items() if not close(r[ours], want[k])}
        assert not bad, (study, bad)


def test_leave1out_bcg():
    ref = pd.read_csv(DATA / "diagnostics_ref_leave1out.csv").set_index("study")
    rows = dg.leave_one_out(BCG["yi"], BCG["vi"], labels=BCG["study"])
    assert_rows(rows, ref, {c: c for c in ref.columns})


def test_influence_bcg():
    ref = pd.read_csv(DATA / "diagnostics_ref_influence.csv").set_index("study")
    rows = dg.influence(BCG["yi"], BCG["vi"], labels=BCG["study"]).rows()
    assert_rows(rows, ref, {c: c for c in ref.columns})


def test_cumulative_by_year_bcg():
    ref = pd.read_csv(DATA / "diagnostics_ref_cumul_by_year.csv").set_index("study")
    rows = dg.cumulative(BCG["yi"], BCG["vi"], BCG["year"], labels=BCG["study"])
    assert_rows(rows, ref, {c: c for c in ref.columns})
    assert [r["order"] for r in rows] == sorted(BCG["year"])
    assert [r["k"] for r in rows] == list(range(1, len(BCG) + 1))


def test_egger_and_trimfill_bcg():
    ref = pd.read_csv(DATA / "diagnostics_ref_bias.csv").set_index("case")
    eg = dg.egger_test(BCG["yi"], BCG["vi"])
    want = ref.loc["egger_regtest_rma_sei"]
    assert close(eg["zval"], want["stat"]) and close(eg["pval"], want["p"])
    assert close(eg["limit_estimate"], want["estimate"])
    assert close(eg["ci_low"], want["ci_low"]) and close(eg["ci_high"], want["ci_high"])
    tf = dg.trim_and_fill(BCG["yi"], BCG["vi"], method="FE")
    want = ref.loc["trimfill_FE"]
    assert tf["k0"] == want["stat"] and len(tf["filled"]) == tf["k0"]
    for key in ("estimate", "ci_low", "ci_high"):
        assert close(tf[key], want[key]), key


MR = pd.read_csv(DATA / "mr.csv")
MR_ES = escalc("PLO", events=MR["events"], total=MR["total"])
KH = dict(method="REML", test="knha")


def test_leave1out_knha_proportions():
    rows = dg.leave_one_out(MR_ES.yi, MR_ES.vi, labels=MR["study"], **KH)
    assert_rows(rows, edge("leave1out_mr_PLO_REML_knha"),
                {c: c for c in ("estimate", "se", "pval", "ci_low", "ci_high", "tau2", "I2", "Q")})


def test_cumulative_knha_by_age():
    rows = dg.cumulative(MR_ES.yi, MR_ES.vi, MR["age"], labels=MR["study"], **KH)
    assert_rows(rows, edge("cumul_mr_PLO_REML_knha_by_age"),
                {c: c for c in ("estimate", "se", "ci_low", "ci_high", "tau2", "I2", "Q")})
    assert rows[0]["tau2"] == 0 and rows[0]["k"] == 1     # one study: metafor's k = 1 fit


def test_influence_knha_proportions():
    rows = dg.influence(MR_ES.yi, MR_ES.vi, labels=MR["study"], **KH).rows()
    ref = edge("influence_mr_PLO_REML_knha")
    assert_rows(rows, ref, {c: c for c in ref.columns})


def test_influence_of_a_meta_regression():
    X = np.column_stack([np.ones(len(BCG)), BCG["ablat"]])
    inf = dg.influence(BCG["yi"], BCG["vi"], X, labels=BCG["study"], names=["intrcpt", "ablat"])
    rows = inf.rows()
    for r in rows:
        r["dfbs_intrcpt"], r["dfbs_ablat"] = r["dfbetas"]["intrcpt"], r["dfbetas"]["ablat"]
        r["influential"] = float(r["influential"])
    ref = edge("influence_bcg_ablat_REML")
    assert_rows(rows, ref, {c: c for c in ref.columns})


@pytest.mark.parametrize("case, model, predictor", [
    ("regtest_bcg_REML_knha_sei", dict(method="REML", test="knha"), "sei"),
    ("regtest_bcg_REML_vi", dict(method="REML"), "vi"),
    ("regtest_bcg_FE_sei", dict(method="FE"), "sei"),
])
def test_egger_variants(case, model, predictor):
    want = edge(case).iloc[0]
    eg = dg.egger_test(BCG["yi"], BCG["vi"], predictor=predictor, **model)
    got = {"zval": eg["zval"], "pval": eg["pval"], "estimate": eg["limit_estimate"],
           "ci_low": eg["ci_low"], "ci_high": eg["ci_high"]}
    bad = {k: (v, want[k]) for k, v in got.items() if not close(v, want[k])}
    assert not bad, bad
    assert eg["df"] == (11 if model.get("test") == "knha" else None)


@pytest.mark.parametrize("case, yi_sign, kw", [
    ("trimfill_bcg_REML_L0", 1, dict(method="REML", estimator="L0")),
    ("trimfill_bcg_REML_R0", 1, dict(method="REML", estimator="R0")),
    ("trimfill_bcg_flipped_FE_L0", -1, dict(method="FE")),
])
def test_trim_and_fill_variants(case, yi_sign, kw):
    want = edge(case).iloc[0]
    tf = dg.trim_and_fill(yi_sign * BCG["yi"], BCG["vi"], **kw)
    assert tf["k0"] == want["k0"]
    assert (tf["side"] == "right") == bool(want["side_right"])
    for key in ("estimate", "ci_low", "ci_high", "se", "tau2"):
        if key in want and not pd.isna(want[key]):
            assert close(tf[key], want[key]), key


def test_baujat_bcg():
    rows = dg.baujat(BCG["yi"], BCG["vi"], labels=BCG["study"])
    assert_rows(rows, edge("baujat_bcg_REML"), {"x": "x", "y": "y"})


def test_filled_studies_mirror_the_trimmed_ones():
    tf = dg.trim_and_fill(BCG["yi"], BCG["vi"], method="FE")
    # filled effects lie on the side opposite the asymmetry (right side missing: beyond the
    # estimate on the right), with variances of observed studies
    assert all(f["yi"] > tf["estimate"] for f in tf["filled"])
    assert {f["vi"] for f in tf["filled"]} <= set(BCG["vi"])


@pytest.mark.parametrize("call, words", [
    (lambda: dg.leave_one_out([0.1], [0.01]), "at least 2 studies"),
    (lambda: dg.egger_test([0.1, 0.2], [0.01, 0.02]), "at least 3 studies"),
    (lambda: dg.egger_test([0.1, 0.2, 0.3], [0.01, 0.01, 0.01]), "same sei"),
    (lambda: dg.trim_and_fill([0.1, 0.2], [0.01, 0.02]), "at least 3 studies"),
    (lambda: dg.trim_and_fill(BCG["yi"], BCG["vi"], estimator="Q9"), "unknown trim-and-fill"),
    (lambda: dg.cumulative([0.1, 0.2], [0.01, 0.02], [2001, None], labels=["A", "B"]),
     "missing for B"),
    (lambda: dg.influence([0.1], [0.01]), "at least 2 studies"),
])
def test_diagnostics_refusals(call, words):
    with pytest.raises(ReviewError, match=words):
        call()
