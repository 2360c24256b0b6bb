"""Sensitivity and bias diagnostics of a table of studies: what ``review pool --leave1out
--influence --funnel --egger --trimfill --cumulative --baujat --json`` prints.

:func:`diagnose_table` takes the same table and column arguments as
:func:`toolkit.pooling.api.pool_table` (the same unit-of-analysis and overlap rules choose the
studies), runs the diagnostics asked for and returns one JSON-ready dict, drawing the usual
plot of each when a path is given. Numbers are metafor's (see
:mod:`toolkit.pooling.diagnostics`); estimates are shown on the reported scale (proportions
back-transformed) with the model-scale values beside them.

With ``model="glmm"`` leave-one-out and the cumulative meta-analysis refit the GLMM; the
influence statistics, Egger's test, trim and fill, the funnel and the Baujat plot are defined
for the inverse-variance model only (as in metafor), so they use the inverse-variance model of
the logits (``method``, REML by default) and say so in their "model" key.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ReviewError
from . import diagnostics as dg
from .api import _num, check_settings, studies_and_effects
from .effects import MEASURES, back_transform

#: Diagnostics by name: what each is, and whether a plot is usual for it.
ANALYSES = {
    "leave1out": "leave-one-out: the model without each study in turn (metafor leave1out)",
    "influence": "influence: studentized residuals, DFFITS, Cook's distance, COVRATIO, "
                 "tau^2 and Q deleted, hat, weight, DFBETAS (metafor influence)",
    "funnel": "funnel plot, contour-enhanced (against sample size for proportions)",
    "egger": "Egger's regression test (metafor regtest, model rma, predictor sei)",
    "trimfill": "trim and fill (metafor trimfill, L0 estimator)",
    "cumulative": "cumulative meta-analysis in order of a column, e.g. year (metafor cumul)",
    "baujat": "Baujat plot: contribution to heterogeneity against influence (metafor baujat)",
}
PLOTTED = ("leave1out", "funnel", "cumulative", "baujat")
IV_ONLY = ("influence", "funnel", "egger", "trimfill", "baujat")


def _scale_label(measure: str) -> str:
    return {"PLO": "Log odds (logit)", "PFT": "Freeman-Tukey double arcsine",
            "PR": "Proportion", "MN": "Mean", "MC": "Mean change (pre - post)"}.get(
        measure, "Effect size")


def _reported(row: dict, transf) -> dict:
    """A diagnostics row with the estimate and CI on the reported scale, and the model-scale
    values kept as ``est_model_scale`` / ``ci_low_model`` / ``ci_high_model``."""
    out = {k: _num(v) if isinstance(v, (float, np.floating)) else v for k, v in row.items()}
    est, lo, hi = row.get("estimate"), row.get("ci_low"), row.get("ci_high")
    out["est_model_scale"], out["ci_low_model"], out["ci_high_model"] = (
        _num(est), _num(lo), _num(hi))
    if transf is not None:
        def tr(x):
            if x is None or not math.isfinite(x):
                return None
            return _num(float(np.asarray(transf(np.array([x])))[0]))
        out["estimate"], out["ci_low"], out["ci_high"] = tr(est), tr(lo), tr(hi)
    return out


def diagnose_table(df: pd.DataFrame, measure: str, analyses=("leave1out",), *,
                   events=None, total=None, mean=None, sd=None, n=None, mean_pre=None,
                   sd_pre=None, mean_post=None, sd_post=None, r=None, yi=None, vi=None,
                   study=None, method: str = "REML", knha: bool = False, level: float = 95,
                   model: str = "rma", unit=None, use_unit=None, overlaps=(),
                   overlap_policy: str = "largest", year=None, order: str | None = None,
                   estimator: str = "L0", plots: dict | None = None, file=None,
                   title: str | None = None) -> dict:
    """Run the diagnostics named in ``analyses`` (keys of :data:`ANALYSES`; "all" = every
    one) on the studies of ``df`` and return one JSON-ready dict.

    ``order`` is the column the cumulative meta-analysis sorts by (default ``year`` when
    given, else the table order). ``plots`` maps analysis names to plot paths (.png, .svg,
    .pdf); the result's "plots" lists the files written. Other arguments as ``pool_table``.
    """
    if isinstance(analyses, str):
        analyses = [analyses]
    analyses = list(ANALYSES) if "all" in analyses else list(dict.fromkeys(analyses))
    unknown = [a for a in analyses if a not in ANALYSES]
    if unknown:
        raise ReviewError(f"unknown diagnostics {unknown}; choose from {', '.join(ANALYSES)}")
    plots = dict(plots or {})
    bad = [a for a in plots if a not in PLOTTED]
    if bad:
        raise ReviewError(f"no plot for {', '.join(bad)} (plots: {', '.join(PLOTTED)})")
    measure, method, model, level = check_settings(measure, method, model, level)
    columns = dict(events=events, total=total, mean=mean, sd=sd, n=n, mean_pre=mean_pre,
                   sd_pre=sd_pre, mean_post=mean_post, sd_post=sd_post, yi=yi, vi=vi)
    df, chosen, es = studies_and_effects(df, measure, columns, r, study, unit, use_unit,
                                         overlaps, overlap_policy, year, file)
    k = len(es)
    test = "knha" if knha else "z"
    labels = ([str(s) for s in df[study]] if study is not None
              else [str(i + 1) for i in range(k)])
    proportion = MEASURES[measure].proportion
    iv_label = f"rma ({method}{', Knapp-Hartung' if knha else ''})"
    out = {"k": k, "measure": measure, "model": model,
           "method": "ML" if model == "glmm" else method,
           "test": ("t" if knha else "z") if model == "glmm" else test, "level": level,
           "scale": "proportion" if proportion else "model",
           "scale_label": "Proportion" if proportion else _scale_label(measure), **chosen,
           "plots": {}}
    if model == "glmm":
        x = pd.to_numeric(df[events]).to_numpy(dtype=float)
        nn = pd.to_numeric(df[total]).to_numpy(dtype=float)
        gtest = "t" if knha else "z"

    def full_estimate():
        if model == "glmm":
            from .glmm import fit_glmm

            f = fit_glmm(x, nn, test=gtest, level=level)
            return 1 / (1 + math.exp(-f.beta))
        from .models import rma

        f = rma(es.yi, es.vi, method=method, test=test, level=level)
        t = back_transform(measure, es.ni)
        b = float(f.beta[0])
        return float(np.asarray(t(np.array([b])))[0]) if t is not None else b

    for name in analyses:
        if name == "leave1out":
            if model == "glmm":
                rows = dg.glmm_leave_one_out(x, nn, test=gtest, level=level, labels=labels)
                transf = back_transform("PLO")
            else:
                rows = dg.leave_one_out(es.yi, es.vi, method=method, test=test, level=level,
                                        labels=labels)
                transf = None
            rows = [_reported(r, transf or _subset_transf(measure, es.ni, i))
                    for i, r in enumerate(rows)]
            out["leave1out"] = {"model": "glmm (ML)" if model == "glmm" else iv_label,
                                "estimate": _num(full_estimate()), "rows": rows}
        elif name == "cumulative":
            col = order or year
            keys = None
            if col is not None:
                if col not in df.columns:
                    raise ReviewError(f"no column {col!r} (cumulative order)", file=file,
                                      column=col)
                keys = [None if pd.isna(v) else v for v in df[col]]
            if model == "glmm":
                if keys is not None and any(v is None for v in keys):
                    raise ReviewError("the order (e.g. year) is missing for " + ", ".join(
                        s for s, v in zip(labels, keys) if v is None), file=file, column=col)
                rows = dg.glmm_cumulative(x, nn, keys, test=gtest, level=level, labels=labels)
                rows = [_reported(r, back_transform("PLO")) for r in rows]
            else:
                rows = dg.cumulative(es.yi, es.vi, keys, method=method, test=test,
                                     level=level, labels=labels)
                pos = {lab: i for i, lab in enumerate(labels)}
                seen = []
                conv = []
                for r in rows:
                    seen.append(pos[r["study"]])
                    conv.append(_reported(r, _transf_for(measure, es.ni, seen)))
                rows = conv
            for r in rows:
                if isinstance(r.get("order"), (np.integer, np.floating)):
                    r["order"] = r["order"].item()
            out["cumulative"] = {"model": "glmm (ML)" if model == "glmm" else iv_label,
                                 "order": col, "estimate": _num(full_estimate()),
                                 "rows": rows}
        elif name == "influence":
            inf = dg.influence(es.yi, es.vi, method=method, test=test, level=level,
                               labels=labels)
            out["influence"] = {"model": iv_label, "rows": _clean(inf.rows()),
                                "influential": [s for s, f in zip(inf.studies,
                                                                  inf.influential) if f]}
        elif name == "egger":
            out["egger"] = dict(_clean_dict(dg.egger_test(es.yi, es.vi, method=method,
                                                           test=test, level=level)),
                                model=iv_label)
            if k < 10:
                out["egger"]["note"] = (f"k = {k}: with fewer than 10 studies the test has "
                                        "too little power to rule out small-study effects "
                                        "(Cochrane Handbook 13.3.5.4)")
        elif name == "trimfill":
            # with --knha the filled model uses Knapp-Hartung too (metafor 3.8 refits with z)
            tf = dg.trim_and_fill(es.yi, es.vi, method=method, estimator=estimator,
                                  level=level, test=test, labels=labels)
            transf = back_transform(measure, es.ni)
            block = _clean_dict({k2: v for k2, v in tf.items() if k2 != "studies"})
            block = _reported(block, transf)
            block["model"] = iv_label
            out["trimfill"] = block
        elif name == "baujat":
            out["baujat"] = {"model": iv_label, "method": method,
                             "points": _clean(dg.baujat(es.yi, es.vi, method=method,
                                                        test=test, level=level,
                                                        labels=labels))}
        elif name == "funnel":
            out["funnel"] = _funnel(es, labels, measure, method, test, level, df, events,
                                    total, iv_label)
    for name, path in plots.items():
        from . import plots as pl

        if name not in out:
            raise ReviewError(f"a {name} plot needs the {name} analysis")
        heading = f"{title}: " if title else ""
        if name == "funnel":
            block = dict(out["funnel"])
            if "trimfill" in out:
                block["filled"] = out["trimfill"].get("filled", [])
            pl.funnel_plot(block, path, title=heading + "funnel plot")
        elif name == "baujat":
            pl.baujat_plot(out["baujat"], path, title=heading + "Baujat plot")
        else:
            block = dict(out[name], scale=out["scale"], scale_label=out["scale_label"])
            pl.steps_plot(block, path, kind=name, title=heading + (
                "leave-one-out" if name == "leave1out" else "cumulative meta-analysis"))
        out["plots"][name] = str(path)
    return out


def _subset_transf(measure, ni, left_out):
    """Back-transformation of a leave-one-out row (PFT: harmonic mean of the other n)."""
    if ni is None:
        return back_transform(measure, None)
    return back_transform(measure, np.delete(ni, left_out))


def _transf_for(measure, ni, positions):
    return back_transform(measure, None if ni is None else ni[positions])


def _clean_dict(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, (float, np.floating)):
            out[k] = _num(v)
        elif isinstance(v, np.integer):
            out[k] = int(v)
        elif isinstance(v, list):
            out[k] = _clean(v)
        elif isinstance(v, dict):
            out[k] = _clean_dict(v)
        else:
            out[k] = v
    return out


def _clean(rows: list) -> list:
    return [_clean_dict(r) if isinstance(r, dict) else r for r in rows]


def _funnel(es, labels, measure, method, test, level, df, events, total, iv_label) -> dict:
    """Funnel plot data: per study yi and its SE (effect sizes), or the observed proportion
    and the sample size (proportions), and the pooled estimate it is drawn around."""
    from .models import rma

    fit = rma(es.yi, es.vi, method=method, test=test, level=level)
    t = back_transform(measure, es.ni)
    est = float(fit.beta[0]) if t is None else float(np.asarray(t(np.array([fit.beta[0]])))[0])
    if MEASURES[measure].proportion:
        x = pd.to_numeric(df[events]).to_numpy(dtype=float)
        n = pd.to_numeric(df[total]).to_numpy(dtype=float)
        return {"model": iv_label, "y": "n", "estimate": _num(est),
                "points": [{"study": lab, "estimate": _num(x[i] / n[i]), "n": _num(n[i]),
                            "yi": _num(es.yi[i]), "se": _num(math.sqrt(es.vi[i]))}
                           for i, lab in enumerate(labels)]}
    return {"model": iv_label, "y": "se", "estimate": _num(est),
            "scale_label": _scale_label(measure),
            "points": [{"study": lab, "yi": _num(es.yi[i]), "se": _num(math.sqrt(es.vi[i]))}
                       for i, lab in enumerate(labels)]}
