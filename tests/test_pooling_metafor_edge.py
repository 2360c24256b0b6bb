"""metafor 3.8-1 on constructed edge cases, reproduced to a relative 1e-6.

Zero-event-heavy and all-event proportions (continuity correction), k = 2, the tau2 = 0
boundary, a 90% level, meta-regression of a proportion and subgroups with k = 1 groups, each
with z and Knapp-Hartung inference. The inputs, the references and the R script that made them
(make_metafor_edge_refs.R) are in tests/data/metafor/ (see its README); each case below restates
that script's metafor call as pool_table arguments.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from metafor_helpers import close
from toolkit.pooling.api import pool_table

DATA = Path(__file__).parent / "data" / "metafor"

PROP = dict(events="events", total="total", study="study")
INPUTS = {"comp": dict(PROP, file="comp.csv"), "full": dict(PROP, file="full.csv"),
          "k2": dict(PROP, file="k2.csv"),
          "hom": dict(file="hom.csv", yi="yi", vi="vi", study="study")}


def case(data: str, measure: str, method: str, knha: bool = False, **kw) -> tuple[str, dict]:
    """(the case name in edge_ref.csv, the same analysis as pool_table arguments)."""
    name = f"{data}_{measure}_{method}" + ("_knha" if knha else "")
    if kw.get("level") == 90:
        name += "_l90"
    return name, dict(INPUTS[data], measure=measure, method=method, knha=knha, **kw)


# the loops of make_metafor_edge_refs.R
CASES = dict(
    [case("comp", meas, m) for m in ("REML", "DL", "PM", "ML", "FE")
     for meas in ("PLO", "PR", "PFT")]
    + [case("comp", meas, m, knha=True) for meas in ("PLO", "PR", "PFT") for m in ("REML", "DL")]
    + [case("comp", "PLO", "REML", level=90)]
    + [case("full", meas, m) for m in ("REML", "DL") for meas in ("PLO", "PFT", "PR")]
    + [case("k2", "PLO", m, knha=kn) for m in ("REML", "DL", "PM", "ML", "FE")
       for kn in (False, True)]
    + [case("hom", "GEN", m, knha=kn) for m in ("REML", "DL", "PM", "ML") for kn in (False, True)]
)
FIELDS = ["k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "est_model_scale", "se",
          "tau2", "I2", "H2", "Q", "Q_p"]


def run(spec: dict) -> dict:
    spec = dict(spec)
    df = pd.read_csv(DATA / spec.pop("file"))
    return pool_table(df, spec.pop("measure"), **spec)


def edge_rows():
    ref = pd.read_csv(DATA / "edge_ref.csv")
    return [pytest.param(row, id=row["case"]) for row in ref.to_dict("records")]


def test_every_edge_case_is_covered():
    ref = pd.read_csv(DATA / "edge_ref.csv")
    assert len(ref) == len(CASES) == 46
    assert set(ref["case"]) == set(CASES)


@pytest.mark.parametrize("row", edge_rows())
def test_edge_pooled_matches_metafor(row):
    out = run(CASES[row["case"]])
    bad = {f: (out[f], row[f]) for f in FIELDS if not close(out[f], row[f])}
    assert not bad, bad


def test_edge_inputs_are_the_edge_cases():
    # the references test what they claim: zero and all-event studies, k = 2, tau2 = 0
    comp, full = pd.read_csv(DATA / "comp.csv"), pd.read_csv(DATA / "full.csv")
    assert (comp["events"] == 0).sum() == 4
    assert (full["events"] == full["total"]).sum() == 3
    assert len(pd.read_csv(DATA / "k2.csv")) == 2
    ref = pd.read_csv(DATA / "edge_ref.csv").set_index("case")
    assert (ref.loc[[c for c in ref.index if c.startswith("hom_")], "tau2"] == 0).all()


# --- meta-regression of a proportion --------------------------------------------------------

MR = dict(file="mr.csv", events="events", total="total", study="study")
MR_CASES = {
    "mr_PLO_age_REML": dict(MR, measure="PLO", method="REML", moderators=["age"]),
    "mr_PLO_age_REML_knha": dict(MR, measure="PLO", method="REML", knha=True,
                                 moderators=["age"]),
    "mr_PLO_age_DL": dict(MR, measure="PLO", method="DL", moderators=["age"]),
    "mr_PLO_grp_REML": dict(MR, measure="PLO", method="REML", moderators=["grp"]),
    "mr_PFT_age_REML": dict(MR, measure="PFT", method="REML", moderators=["age"]),
    "mr_PLO_age_grp_ML": dict(MR, measure="PLO", method="ML", moderators=["age", "grp"]),
    "mr_PLO_age_PM": dict(MR, measure="PLO", method="PM", moderators=["age"]),
}
# metafor's term names -> ours (R's model.matrix names a factor dummy "factor(grp)b")
TERM = {"intrcpt": "intercept", "factor(grp)b": "grpb", "factor(grp)c": "grpc"}


def mr_rows():
    ref = pd.read_csv(DATA / "mr_ref.csv")
    return [pytest.param(r, id=f"{r['case']}-{r['term']}") for r in ref.to_dict("records")]


def test_every_metareg_case_is_covered():
    assert set(pd.read_csv(DATA / "mr_ref.csv")["case"]) == set(MR_CASES)


@pytest.mark.parametrize("row", mr_rows())
def test_edge_metareg_matches_metafor(row):
    m = run(MR_CASES[row["case"]])["metareg"]
    coef = {c["name"]: c for c in m["coefficients"]}[TERM.get(row["term"], row["term"])]
    checks = {"estimate": (coef["estimate"], row["estimate"]), "se": (coef["se"], row["se"]),
              "p": (coef["p"], row["pval"]), "ci_low": (coef["ci_low"], row["ci_low"]),
              "ci_high": (coef["ci_high"], row["ci_high"]), "tau2": (m["tau2"], row["tau2"]),
              "I2": (m["I2"], row["I2"]), "QM": (m["QM"], row["QM"]),
              "QM_p": (m["QM_p"], row["QM_p"]), "QE": (m["QE"], row["QE"]),
              "QE_p": (m["QE_p"], row["QE_p"]), "R2": (m["R2"], row["R2"])}
    bad = {k: v for k, v in checks.items() if not close(*v)}
    assert not bad, bad


# --- subgroups with k = 1 groups ------------------------------------------------------------

SG_FIELDS = ["k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "est_model_scale",
             "se", "tau2", "I2", "Q", "Q_p"]


def sg_rows():
    ref = pd.read_csv(DATA / "sg_ref.csv")
    return [pytest.param(r, id=f"{r['test']}-{r['subgroup']}") for r in ref.to_dict("records")]


@pytest.mark.parametrize("row", sg_rows())
def test_edge_subgroups_match_metafor(row):
    # with test="knha", metafor fits the k = 1 subgroups with z (column ftest); so must we.
    # metafor's test of subgroup differences takes every subgroup, k = 1 ones too: so does
    # subgroup_min_k=1 (the default, 2, leaves them out: test_subgroup_guard below)
    out = run(dict(MR, file="sg.csv", measure="PLO", method="REML", by="design",
                   knha=row["test"] == "knha", subgroup_min_k=1))
    g = {s["group"]: s for s in out["subgroups"]}[row["subgroup"]]
    bad = {f: (g[f], row[f]) for f in SG_FIELDS if not close(g[f], row[f])}
    assert not bad, bad
    assert close(out["Q_between"], row["Q_between"])
    assert close(out["Q_between_p"], row["Q_between_p"])
    assert [s["group"] for s in out["subgroups"]] == ["pro", "retro", "retro2"]


def test_subgroup_guard_leaves_k1_subgroups_out_of_the_test():
    """By default a subgroup of one study is shown but not tested; here only one subgroup
    (k = 4) is left, so there is no test and a note says why."""
    out = run(dict(MR, file="sg.csv", measure="PLO", method="REML", by="design"))
    assert out["Q_between"] is None and out["Q_between_p"] is None
    assert [g["in_test"] for g in out["subgroups"]] == [False, True, False]
    notes = " ".join(out["subgroup_notes"])
    assert "'pro' has k = 1" in notes and "'retro2' has k = 1" in notes
    assert "test of subgroup differences not done" in notes
    assert out["subgroup_notes"][0] in out["warnings"]
    # the k = 1 subgroup is still estimated (its own study)
    pro = out["subgroups"][0]
    assert pro["k"] == 1 and pro["tau2"] == 0
