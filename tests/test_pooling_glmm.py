"""The random-intercept logistic GLMM against R metafor 3.8-1's rma.glmm(measure="PLO",
method="ML") (lme4 1.1-31, nAGQ = 7): estimate and tau^2 to 1e-4 relative (1e-5 absolute for
values within 0.1 of 0, where a relative difference means nothing); SE, CI, I^2 and the
heterogeneity LRT likewise (CI bounds on the logit scale to 1e-4 of max(|bound|, 1)). lme4's optimiser stops within about 1e-5 of the optimum, which is
why the tolerance is not metafor's usual 1e-6. References: glmm_ref.csv (the
shared Pritz 1997 references) and glmm_edge_ref.csv / glmm_leave1out_ref.csv
(make_glmm_diag_edge_refs.R, tests/data/metafor/README.md)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit.errors import ReviewError
from toolkit.pooling.diagnostics import glmm_leave_one_out
from toolkit.pooling.glmm import fit_glmm, glmm_prediction

DATA = Path(__file__).parent / "data" / "metafor"
TOL = 1e-4
FILES = {"pritz": "pritz1997.csv", "comp": "comp.csv", "full": "full.csv", "k2": "k2.csv",
         "mr": "mr.csv", "sg": "sg.csv", "hom": "glmm_hom.csv"}


def near(got, want, tol=TOL, floor=0.1):
    return abs(got - want) <= tol * max(abs(want), floor)


# CI bounds on the logit scale combine the estimate's and 1.96 x the SE's differences, so they
# are held to 1e-4 of max(|bound|, 1)
FLOOR = {"ci_low_logit": 1.0, "ci_high_logit": 1.0}


def counts(name):
    d = pd.read_csv(DATA / FILES[name])
    return d["events"].to_numpy(), d["total"].to_numpy(), d["study"].tolist()


@pytest.mark.parametrize("row", pd.read_csv(DATA / "glmm_ref.csv").to_dict("records"),
                         ids=lambda r: r["case"])
def test_shared_glmm_reference(row):
    x, n, _ = counts("pritz")
    fit = fit_glmm(x, n, test=row["test"])
    pred = glmm_prediction(fit)
    got = {"estimate_logit": fit.beta, "se": fit.se, "ci_low_logit": fit.ci_lb,
           "ci_high_logit": fit.ci_ub, "estimate": pred["estimate"], "ci_low": pred["ci_low"],
           "ci_high": pred["ci_high"], "tau2": fit.tau2, "I2": fit.I2}
    bad = {k: (v, row[k]) for k, v in got.items() if not near(v, row[k], floor=FLOOR.get(k, 0.1))}
    assert not bad, bad


@pytest.mark.parametrize("row", pd.read_csv(DATA / "glmm_edge_ref.csv").to_dict("records"),
                         ids=lambda r: r["case"])
def test_edge_glmm_reference(row):
    x, n, _ = counts(row["data"])
    fit = fit_glmm(x, n, test=row["test"], nagq=int(row["nagq"]))
    pred = glmm_prediction(fit)
    got = {"k": fit.k, "estimate_logit": fit.beta, "se": fit.se, "ci_low_logit": fit.ci_lb,
           "ci_high_logit": fit.ci_ub, "tau2": fit.tau2, "I2": fit.I2, "H2": fit.H2,
           "QE_LRT": fit.QE_LRT, "QE_LRT_p": fit.QE_LRT_p, **pred}
    bad = {k: (v, row[k]) for k, v in got.items() if not near(v, row[k], floor=FLOOR.get(k, 0.1))}
    assert not bad, bad


def test_laplace_differs_from_seven_nodes():
    """nAGQ matters beyond the tolerance: the default must be metafor's 7 nodes."""
    x, n, _ = counts("pritz")
    assert abs(fit_glmm(x, n, nagq=1).tau2 - fit_glmm(x, n).tau2) > 10 * TOL


def test_tau2_exactly_zero_at_the_boundary():
    for name in ("comp", "hom"):
        x, n, _ = counts(name)
        assert fit_glmm(x, n).tau2 == 0.0


@pytest.mark.parametrize("data", ["pritz", "mr"])
def test_glmm_leave_one_out(data):
    ref = pd.read_csv(DATA / "glmm_leave1out_ref.csv")
    ref = ref[ref["data"] == data]
    x, n, labels = counts(data)
    rows = glmm_leave_one_out(x, n, labels=labels)
    assert [r["study"] for r in rows] == ref["study"].tolist()
    for got, want in zip(rows, ref.to_dict("records")):
        assert near(got["estimate"], want["estimate_logit"]), (got, want)
        assert near(got["tau2"], want["tau2"]), (got, want)
        assert near(got["se"], want["se"]), (got, want)


@pytest.mark.parametrize("x, n, words", [
    ([0, 0], [14, 23], "no study has any event"),
    ([14, 23, 16], [14, 23, 16], "every study has events in all its units"),
    ([3], [10], "at least 2 studies"),
    ([3, 11], [10, 10], "between 0 and the total"),
    ([2.5, 3], [10, 10], "whole-number"),
])
def test_glmm_refusals(x, n, words):
    with pytest.raises(ReviewError, match=words):
        fit_glmm(x, n)


def test_glmm_t_test_uses_k_minus_1_df():
    x, n, _ = counts("k2")
    fit = fit_glmm(x, n, test="t")
    assert fit.df == 1
    assert math.isclose(fit.crit, 12.706204736174707, rel_tol=1e-12)


def test_glmm_is_deterministic():
    x, n, _ = counts("mr")
    a, b = fit_glmm(x, n), fit_glmm(np.array(x), np.array(n))
    assert (a.beta, a.tau2, a.se) == (b.beta, b.tau2, b.se)


def test_warm_start_finds_the_same_optimum():
    x, n, _ = counts("mr")
    full = fit_glmm(x, n)
    cold = fit_glmm(x[1:], n[1:])
    warm = fit_glmm(x[1:], n[1:], near=(full.tau, full.beta))
    assert warm.beta == pytest.approx(cold.beta, abs=1e-7)
    assert warm.tau2 == pytest.approx(cold.tau2, abs=1e-7)


def test_glmm_cumulative_ends_at_the_full_fit():
    from toolkit.pooling.diagnostics import glmm_cumulative

    x, n, labels = counts("mr")
    d = pd.read_csv(DATA / "mr.csv")
    rows = glmm_cumulative(x, n, d["age"].tolist(), labels=labels)
    assert [r["study"] for r in rows] == d.sort_values("age", kind="stable")["study"].tolist()
    first = rows[0]          # one study (M7, 9/15): its own logit and binomial SE, tau^2 = 0
    assert first["estimate"] == pytest.approx(math.log(9 / 6))
    assert first["se"] == pytest.approx(math.sqrt(1 / 9 + 1 / 6)) and first["tau2"] == 0
    full = fit_glmm(x, n)
    assert rows[-1]["estimate"] == pytest.approx(full.beta, abs=1e-7)
    assert rows[-1]["k"] == 8
