"""Properties of the estimators and hand-computed values (independent of metafor's outputs)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.pooling.api import pool_table
from toolkit.pooling.effects import escalc, ilogit, ipft, ipft_hm, pft
from toolkit.pooling.metareg import design_matrix, metareg
from toolkit.pooling.models import rma, zeroin

SETTINGS = settings(max_examples=60, deadline=None, database=None)  # no .hypothesis dir

variances = st.lists(st.floats(0.01, 2.0), min_size=2, max_size=15)


def studies(min_size=3, max_size=15):
    return st.lists(st.tuples(st.floats(-3, 3), st.floats(0.01, 2.0)), min_size=min_size,
                    max_size=max_size).map(lambda rows: (np.array([r[0] for r in rows]),
                                                         np.array([r[1] for r in rows])))


@SETTINGS
@given(vi=variances, mu=st.floats(-5, 5))
def test_dl_equals_reml_when_homogeneous(vi, mu):
    # identical effects: Q = 0, so every estimator gives tau2 = 0 and the fixed-effect answer
    yi = np.full(len(vi), mu)
    dl, reml, fe = (rma(yi, vi, method=m) for m in ("DL", "REML", "FE"))
    assert dl.tau2 == 0 and reml.tau2 == 0
    assert reml.beta[0] == pytest.approx(dl.beta[0], rel=1e-12, abs=1e-12)
    assert reml.se[0] == pytest.approx(dl.se[0], rel=1e-12)
    assert fe.se[0] == pytest.approx(reml.se[0], rel=1e-12)


@SETTINGS
@given(data=studies())
def test_fe_equals_random_effects_with_tau2_zero(data):
    yi, vi = data
    fe = rma(yi, vi, method="FE")
    re0 = rma(yi, vi, method="REML", tau2=0.0)
    assert re0.beta[0] == pytest.approx(fe.beta[0], rel=1e-10, abs=1e-12)
    assert re0.se[0] == pytest.approx(fe.se[0], rel=1e-10)
    # and the fixed-effect estimate is the inverse-variance mean, computed here by hand
    w = 1 / vi
    assert fe.beta[0] == pytest.approx(np.sum(w * yi) / np.sum(w), rel=1e-10, abs=1e-12)
    assert fe.se[0] == pytest.approx(1 / math.sqrt(np.sum(w)), rel=1e-10)


@SETTINGS
@given(data=studies(), method=st.sampled_from(["REML", "DL", "PM", "ML"]))
def test_metareg_without_moderators_is_the_plain_model(data, method):
    yi, vi = data
    plain = rma(yi, vi, method=method)
    mr = metareg(yi, vi, pd.DataFrame(index=range(len(yi))), method=method)
    assert mr.fit.beta[0] == pytest.approx(plain.beta[0], rel=1e-9, abs=1e-12)
    assert mr.fit.tau2 == pytest.approx(plain.tau2, rel=1e-9, abs=1e-12)
    assert mr.fit.se[0] == pytest.approx(plain.se[0], rel=1e-9)


@SETTINGS
@given(data=studies(), method=st.sampled_from(["REML", "DL", "PM", "ML", "FE"]),
       seed=st.integers(0, 2 ** 32 - 1))
def test_permutation_invariance(data, method, seed):
    yi, vi = data
    perm = np.random.default_rng(seed).permutation(len(yi))
    a, b = rma(yi, vi, method=method), rma(yi[perm], vi[perm], method=method)
    assert b.beta[0] == pytest.approx(a.beta[0], rel=1e-7, abs=1e-9)
    assert b.tau2 == pytest.approx(a.tau2, rel=1e-7, abs=1e-9)
    assert b.QE == pytest.approx(a.QE, rel=1e-9, abs=1e-9)


@SETTINGS
@given(p=st.floats(0.02, 0.98), ns=st.lists(st.integers(200_000, 2_000_000), min_size=3,
                                             max_size=8))
def test_plo_and_pft_agree_for_large_n(p, ns):
    # one common proportion, large studies: both transformations recover p and each other
    df = pd.DataFrame({"events": [round(p * n) for n in ns], "total": ns})
    plo = pool_table(df, "PLO", events="events", total="total")
    ft = pool_table(df, "PFT", events="events", total="total")
    assert plo["estimate"] == pytest.approx(p, abs=1e-4)
    assert ft["estimate"] == pytest.approx(plo["estimate"], abs=1e-4)
    assert ft["ci_low"] == pytest.approx(plo["ci_low"], abs=1e-3)
    assert ft["ci_high"] == pytest.approx(plo["ci_high"], abs=1e-3)


@SETTINGS
@given(p=st.floats(0, 1), n=st.integers(1, 5000))
def test_ipft_inverts_pft(p, n):
    assert ipft(pft(p, n), n)[0] == pytest.approx(p, abs=1e-9)


def test_dl_by_hand():
    # DerSimonian-Laird from its textbook formula, on a small made-up example
    yi = np.array([0.1, 0.5, -0.2, 0.8])
    vi = np.array([0.04, 0.09, 0.05, 0.12])
    w = 1 / vi
    mu = np.sum(w * yi) / np.sum(w)
    Q = np.sum(w * (yi - mu) ** 2)
    tau2 = max(0, (Q - 3) / (np.sum(w) - np.sum(w ** 2) / np.sum(w)))
    ws = 1 / (vi + tau2)
    est = np.sum(ws * yi) / np.sum(ws)
    fit = rma(yi, vi, method="DL")
    assert fit.tau2 == pytest.approx(tau2, rel=1e-12)
    assert fit.beta[0] == pytest.approx(est, rel=1e-12)
    assert fit.se[0] == pytest.approx(1 / math.sqrt(np.sum(ws)), rel=1e-12)
    assert fit.QE == pytest.approx(Q, rel=1e-12)
    assert fit.I2 == pytest.approx(100 * (Q - 3) / Q, rel=1e-10)   # I2 of DL = (Q - df)/Q


def test_effect_size_formulas_by_hand():
    # PLO adds 1/2 only to studies with 0 or n events (metafor's to="only0")
    es = escalc("PLO", events=np.array([0, 3, 10]), total=np.array([14, 10, 10]))
    assert es.yi[0] == pytest.approx(math.log(0.5 / 14.5))
    assert es.vi[0] == pytest.approx(1 / 0.5 + 1 / 14.5)
    assert es.yi[1] == pytest.approx(math.log(3 / 7))
    assert es.vi[1] == pytest.approx(1 / 3 + 1 / 7)
    assert es.yi[2] == pytest.approx(math.log(10.5 / 0.5))
    # PR: same correction; vi = p(1-p)/n on the corrected counts
    pr = escalc("PR", events=np.array([0, 3]), total=np.array([14, 10]))
    assert pr.yi[0] == pytest.approx(0.5 / 15) and pr.vi[1] == pytest.approx(0.3 * 0.7 / 10)
    # PFT: no correction, vi = 1/(4n + 2)
    ft = escalc("PFT", events=np.array([0]), total=np.array([14]))
    assert ft.yi[0] == pytest.approx(0.5 * math.asin(math.sqrt(1 / 15)))
    assert ft.vi[0] == pytest.approx(1 / 58)
    # MC with one assumed r
    mc = escalc("MC", mean_pre=np.array([6.0]), sd_pre=np.array([2.0]),
                mean_post=np.array([4.0]), sd_post=np.array([1.0]), n=np.array([25]), r=0.5)
    assert mc.yi[0] == 2.0 and mc.vi[0] == pytest.approx((4 + 1 - 2 * 0.5 * 2 * 1) / 25)
    mn = escalc("MN", mean=np.array([3.0]), sd=np.array([2.0]), n=np.array([16]))
    assert mn.vi[0] == pytest.approx(0.25)


def test_back_transformations():
    assert ilogit(0.0) == 0.5
    # harmonic mean of n: 1 / mean(1/n)
    assert ipft_hm(pft(0.3, 15.0), [10, 30])[0] == pytest.approx(0.3, abs=1e-12)
    assert ipft(-1.0, 10)[0] == 0.0 and ipft(2.0, 10)[0] == 1.0


def test_zeroin_matches_brent_root():
    root, _ = zeroin(lambda x: x ** 3 - 2, 0, 3, tol=1e-12)
    assert root == pytest.approx(2 ** (1 / 3), abs=1e-11)


ZERO_HEAVY = pd.DataFrame({
    "study": list("ABCDEFGHIJ"),
    "events": [0, 1, 0, 2, 0, 1, 0, 3, 0, 0],
    "total": [14, 23, 41, 30, 12, 50, 8, 60, 19, 27],
    "year": [2001, 2003, 2004, 2008, 2010, 2011, 2014, 2016, 2018, 2020],
})


@pytest.mark.parametrize("measure", ["PLO", "PFT", "PR"])
@pytest.mark.parametrize("method", ["REML", "DL", "PM", "ML", "FE"])
@pytest.mark.parametrize("knha", [False, True])
def test_zero_event_heavy_proportions(measure, method, knha):
    out = pool_table(ZERO_HEAVY, measure, events="events", total="total", study="study",
                     method=method, knha=knha, by=None,
                     moderators=[] if method == "FE" else ["year"])
    assert 0 < out["estimate"] < 0.1
    if measure != "PR":     # PR intervals are not bounded (as in metafor)
        assert 0 <= out["ci_low"] <= out["estimate"] <= out["ci_high"] <= 1
    assert out["tau2"] >= 0 and 0 <= out["I2"] <= 100
    pooled_events = ZERO_HEAVY.events.sum() / ZERO_HEAVY.total.sum()
    assert abs(out["estimate"] - pooled_events) < 0.03
    if method != "FE":
        assert [c["name"] for c in out["metareg"]["coefficients"]] == ["intercept", "year"]


def test_subgroup_of_one_study_has_no_heterogeneity():
    df = pd.DataFrame({"yi": [0.1, 0.3, 0.2, 0.9], "vi": [0.1, 0.2, 0.1, 0.3],
                       "g": ["a", "a", "a", "b"]})
    out = pool_table(df, "GEN", yi="yi", vi="vi", by="g")
    b = out["subgroups"][1]
    assert (b["group"], b["k"], b["tau2"]) == ("b", 1, 0.0)
    assert b["estimate"] == pytest.approx(0.9, rel=1e-12)
    assert b["se"] == pytest.approx(math.sqrt(0.3))


def test_design_matrix_dummy_coding():
    mods = pd.DataFrame({"dose": [1, 2, 3, 4], "arm": ["b", "a", "c", "a"]})
    X, names = design_matrix(mods)
    assert names == ["intercept", "dose", "armb", "armc"]
    assert X[:, 2].tolist() == [1, 0, 0, 0] and X[:, 3].tolist() == [0, 0, 1, 0]


def test_factor_moderator_equals_text_moderator():
    df = pd.DataFrame({"yi": [0.1, 0.4, 0.3, 0.9, 0.7, 0.2], "vi": [0.1, 0.2, 0.1, 0.3, 0.2, 0.1],
                       "code": [1, 2, 10, 2, 10, 1]})
    as_factor = pool_table(df, "GEN", yi="yi", vi="vi", moderators=["factor(code)"])["metareg"]
    df["label"] = df["code"].map({1: "a", 2: "b", 10: "c"})
    as_text = pool_table(df, "GEN", yi="yi", vi="vi", moderators=["label"])["metareg"]
    # levels sorted numerically as R's factor: 1 (reference), 2, 10
    assert [c["name"] for c in as_factor["coefficients"]] == ["intercept", "code2", "code10"]
    for a, b in zip(as_factor["coefficients"], as_text["coefficients"]):
        assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-12)
    numeric = pool_table(df, "GEN", yi="yi", vi="vi", moderators=["code"])["metareg"]
    assert len(numeric["coefficients"]) == 2


def test_level_as_fraction_or_percent():
    df = pd.read_csv(Path(__file__).parent / "data" / "metafor" / "bcg.csv")
    a = pool_table(df, "GEN", yi="yi", vi="vi", level=0.9)
    b = pool_table(df, "GEN", yi="yi", vi="vi", level=90)
    assert a["ci_low"] == b["ci_low"] and a["level"] == 90
    c = pool_table(df, "GEN", yi="yi", vi="vi")
    assert c["ci_low"] < b["ci_low"]
