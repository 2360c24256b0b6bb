"""From a table of studies to the pooled result: validation, effect sizes, models, one dict.

:func:`pool_table` is what ``review pool FILE.csv --json`` prints and what ``review pool
--outcome NAME`` will call on the review's extracted data.
"""

from __future__ import annotations

import math
import re
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ReviewError
from .effects import (MEASURES, NON_NEGATIVE, EffectSizes, back_transform, escalc,
                      study_back_transform)
from .metareg import design_matrix, is_categorical, metareg
from .models import METHODS, predict, rma
from .subgroups import subgroups

#: Why a missing SD stops a pooled mean (an inverse-variance weight is n / SD^2).
SD_NEEDED = (": a pooled mean needs each study's SD (or an SE or CI to derive it), since its "
             "weight is n / SD^2; leave the study out (and report its mean), or find its SD")
#: Roles that must be strictly positive (sample sizes).
POSITIVE = {"total", "n"}
COUNTS = {"events", "total", "n"}  # people (or lesions, ...) are counted in whole numbers


def _where(df: pd.DataFrame, pos: int, study: str | None) -> str:
    """'row 3 (study 'Smith 2001')': the 1-based data row as in the CSV, and the study label."""
    text = f"row {pos + 1}"
    if study is not None:
        text += f" (study {str(df[study].iloc[pos])!r})"
    return text


def _column(df, col, role, study, file):
    if col not in df.columns:
        raise ReviewError(f"no column {col!r} (needed as {role}); columns are: "
                          f"{', '.join(map(str, df.columns))}", file=file, column=col)
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce")
    for pos in np.flatnonzero(values.isna().to_numpy()):
        cell = raw.iloc[pos]
        what = "is empty" if pd.isna(cell) or str(cell).strip() == "" else \
            f"is not a number ({cell!r})"
        if re.fullmatch(r"\s*[-+]?\d+,\d+\s*", str(cell)):  # a spreadsheet's decimal comma
            what += "; write decimals with a point (0.1, not 0,1)"
        why = SD_NEEDED if role in ("sd", "sd_pre", "sd_post") else ""
        raise ReviewError(f"{role} {what}{why}", file=file, record=_where(df, pos, study),
                          column=col)
    arr = values.to_numpy(dtype=float)
    for pos in np.flatnonzero(~np.isfinite(arr)):
        raise ReviewError(f"{role} is not a finite number", file=file,
                          record=_where(df, pos, study), column=col)
    if role in NON_NEGATIVE:
        for pos in np.flatnonzero(arr < 0):
            raise ReviewError(f"{role} is negative ({arr[pos]:g})", file=file,
                              record=_where(df, pos, study), column=col)
    if role in POSITIVE:
        for pos in np.flatnonzero(arr <= 0):
            raise ReviewError(f"{role} must be positive ({arr[pos]:g})", file=file,
                              record=_where(df, pos, study), column=col)
    if role in COUNTS:
        for pos in np.flatnonzero(arr != np.round(arr)):
            raise ReviewError(f"{role} is a count and must be a whole number ({arr[pos]:g}); "
                              "a count derived from a percentage must be rounded as the paper "
                              "would have it, and said so", file=file,
                              record=_where(df, pos, study), column=col)
    return arr


def effect_sizes_from_table(df: pd.DataFrame, measure: str, columns: dict, *, r=None,
                            study: str | None = None, file=None) -> EffectSizes:
    """Validate the columns ``measure`` needs (``columns``: role -> column name) and compute
    the effect sizes; every bad cell is reported with its row, study label and column."""
    if measure not in MEASURES:
        raise ReviewError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    spec = MEASURES[measure]
    if study is not None and study not in df.columns:
        raise ReviewError(f"no column {study!r} (study labels)", file=file, column=study)
    if study is not None:
        labels = df[study].astype(str).str.strip()
        dupes = labels[labels.duplicated(keep=False)]
        if len(dupes):
            first = dupes.iloc[0]
            rows = [i + 1 for i in np.flatnonzero((labels == first).to_numpy())]
            raise ReviewError(f"study {first!r} appears in rows {', '.join(map(str, rows))}: "
                              "each study is one row (pool one report of it, or label the "
                              "cohorts apart if they really are different)", file=file,
                              column=study)
    data = {}
    for role in spec.roles:
        col = columns.get(role)
        if col is None:
            raise ReviewError(f"measure {measure} needs --{role.replace('_', '-')} COLUMN",
                              file=file)
        data[role] = _column(df, col, role, study, file)
    if measure in ("PR", "PLO", "PFT"):
        bad = np.flatnonzero(data["events"] > data["total"])
        if len(bad):
            pos = bad[0]
            raise ReviewError(f"events ({data['events'][pos]:g}) exceed total "
                              f"({data['total'][pos]:g})", file=file,
                              record=_where(df, pos, study), column=columns["events"])
    if measure == "MC":
        if r is None:
            raise ReviewError("measure MC needs the pre/post correlation: --r VALUE or --r COLUMN",
                              file=file)
        if isinstance(r, str) and r in df.columns:
            rv = _column(df, r, "r", study, file)
            rcol = r
        else:
            try:
                rv = float(r)
            except (TypeError, ValueError):
                raise ReviewError(f"--r {r!r} is neither a number nor a column", file=file)
            rcol = None
        bad = np.flatnonzero(np.abs(np.broadcast_to(rv, (len(df),))) > 1)
        if len(bad):
            raise ReviewError("correlation r must lie between -1 and 1", file=file,
                              record=_where(df, bad[0], study), column=rcol)
        data["r"] = rv
    es = escalc(measure, **data)
    if measure == "GEN":
        es.ni = None
    bad = np.flatnonzero(es.vi <= 0)
    if len(bad) == len(es.vi):
        raise ReviewError("all sampling variances are zero; inverse-variance weights are "
                          "undefined", file=file, column=_vi_column(measure, columns))
    if len(bad):
        raise ReviewError("sampling variance is zero (inverse-variance weight undefined)",
                          file=file, record=_where(df, bad[0], study),
                          column=_vi_column(measure, columns))
    return es


def _vi_column(measure, columns):
    return {"GEN": columns.get("vi"), "MN": columns.get("sd"), "MC": columns.get("sd_pre")}.get(
        measure, columns.get("total"))


def _num(x):
    """JSON-safe float: NaN/inf become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def pool_table(df: pd.DataFrame, measure: str, *, events=None, total=None, mean=None, sd=None,
               n=None, mean_pre=None, sd_pre=None, mean_post=None, sd_post=None, r=None,
               yi=None, vi=None, study=None, method: str = "REML", knha: bool = False,
               level: float = 95, by: str | None = None, moderators: Iterable[str] = (),
               file=None, moderator: str | None = None, test: str | None = None,
               forest=None, title: str | None = None, model: str = "rma",
               unit: str | None = None, use_unit: str | None = None,
               overlaps: Iterable = (), overlap_policy: str = "largest",
               year: str | None = None, subgroup_min_k: int = 2) -> dict:
    """Pool the studies in ``df`` and return the result dict printed by ``review pool --json``.

    Parameters
    ----------
    df : one row per study.
    measure : PR, PLO, PFT, MN, MC or GEN (see :data:`toolkit.pooling.effects.MEASURES`).
    events, total, mean, sd, n, mean_pre, sd_pre, mean_post, sd_post, yi, vi : column names of
        the inputs the measure needs. ``r`` (MC): a number or a column name.
    study : column of study labels (default: row numbers).
    method : REML (default), DL, PM, ML or FE.  knha : Knapp-Hartung inference (with
        ``model="glmm"``: the t-test with k - 1 df).
    model : ``"rma"`` (inverse-variance model of the effect sizes, default) or ``"glmm"``
        (random-intercept logistic model of the counts, PR and PLO only, maximum likelihood:
        metafor's ``rma.glmm``; ``method`` is then ML).
    level : confidence level in percent.  by : subgroup column.
    subgroup_min_k : subgroups with fewer studies are fitted and shown but left out of the test
        of subgroup differences (default 2; 1 reproduces metafor, which tests every subgroup).
    moderators : meta-regression moderator columns (numeric, or categorical = text); it needs
        k >= coefficients + 2 studies and warns below 10 studies per moderator term.
    unit, use_unit : column of units of analysis (patients, tumours, ...) and the one to pool;
        mixed units without ``use_unit`` are refused (:func:`toolkit.pooling.inclusion.one_unit`).
    overlaps, overlap_policy, year : pairs of study labels whose cohorts overlap, what to do
        about them ("largest": keep the larger, then more recent, of each overlapping set;
        "all": keep all, a sensitivity analysis) and the column of years used for "more
        recent" (:func:`toolkit.pooling.inclusion.without_overlaps`).
    file : shown in error messages.
    moderator : one moderator (added to ``moderators``).  test : ``"knha"`` = ``knha=True``.
    forest : draw a forest plot to this path (.png/.svg/.pdf), titled ``title``.

    Returns
    -------
    dict with the overall model ("k", "measure", "model", "method", "estimate", "ci_low",
    "ci_high", "pi_low", "pi_high", "est_model_scale", "se", "tau2", "I2", "Q", "Q_p", ...),
    "studies", "warnings" (a list), "unit" and "left_out" when units or overlaps left studies
    out, "overlap" with overlaps; with ``by`` "subgroups", "Q_between", "Q_between_p"; with
    moderators "metareg".
    """
    if test is not None:
        if str(test).lower() not in ("z", "knha", "t"):
            raise ReviewError(f"unknown test {test!r}; choose z or knha")
        knha = knha or str(test).lower() in ("knha", "t")
    if isinstance(moderators, str):
        moderators = [moderators]
    moderators = list(moderators or ()) + ([moderator] if moderator else [])
    measure, method, model, level = check_settings(measure, method, model, level)
    if model == "glmm":
        if moderators:
            raise ReviewError("meta-regression uses the inverse-variance model: drop "
                              "--model glmm for it (or pool the GLMM without moderators)")
        method = "ML"
    warnings: list[str] = []
    columns = dict(events=events, total=total, mean=mean, sd=sd, n=n, mean_pre=mean_pre,
                   sd_pre=sd_pre, mean_post=mean_post, sd_post=sd_post, yi=yi, vi=vi)
    df, chosen, es = studies_and_effects(df, measure, columns, r, study, unit, use_unit,
                                         overlaps, overlap_policy, year, file)
    k = len(es)
    if method != "FE" and k < 2:
        raise ReviewError(f"a random-effects model ({method}) needs at least 2 studies; "
                          f"got {k}" + ("" if model == "glmm" else " (use --method FE)"),
                          file=file)
    test = "knha" if knha else "z"
    labels = ([str(s) for s in df[study]] if study is not None
              else [str(i + 1) for i in range(k)])

    if model == "glmm":
        out, fit = _glmm_overall(df, columns, measure, test, level, file)
    else:
        fit = rma(es.yi, es.vi, method=method, test=test, level=level)
        out = _rma_overall(fit, es, measure, test, level)
    if measure == "MC":
        out["r"] = r if isinstance(r, str) and r in df.columns else float(r)
    out.update(chosen)
    out["warnings"] = warnings
    out["studies"] = _study_rows(es, fit if model == "rma" else None, labels, measure, level)

    if by is not None:
        out.update(_subgroups(df, es, by, study, measure, method, test, level, model, columns,
                              subgroup_min_k, file, out["studies"], warnings))
    if moderators:
        out["metareg"] = _metareg(df, es, moderators, study, method, test, level, file,
                                  warnings)
    if forest is not None:
        from .forest import forest_plot

        forest_plot(out, forest, title=title)
        out["forest"] = str(forest)
    return out


#: Pooling models: the inverse-variance model of effect sizes, and the binomial GLMM.
MODELS = {"rma": "inverse-variance random/fixed-effects model of the effect sizes (rma.uni)",
          "glmm": "random-intercept logistic model of the counts, maximum likelihood "
                  "(rma.glmm, PLO)"}
GLMM_MEASURES = ("PR", "PLO")
#: Cochrane Handbook 10.11.5.1: meta-regression "should generally not be considered" with
#: fewer than ten studies per characteristic modelled.
STUDIES_PER_MODERATOR = 10


def studies_and_effects(df, measure, columns, r, study, unit, use_unit, overlaps, policy,
                        year, file):
    """The rows to pool (:func:`select_studies`), what was decided, and their effect sizes
    (:func:`effect_sizes_from_table`)."""
    if df is None or len(df) == 0:
        raise ReviewError("no studies to pool", file=file)
    size = columns.get("total") if measure in ("PR", "PLO", "PFT") else columns.get("n")
    df, chosen = select_studies(df.reset_index(drop=True), measure, study, unit, use_unit,
                                overlaps, policy, year, size, file)
    return df, chosen, effect_sizes_from_table(df, measure, columns, r=r, study=study,
                                               file=file)


def check_settings(measure, method, model, level) -> tuple[str, str, str, float]:
    """(measure, method, model, level) normalised -- upper/lower case, a level of 0.95 read
    as 95 % as metafor does -- or a ReviewError naming the choices."""
    level = float(level)
    if 0 < level < 1:
        level *= 100
    method = str(method).upper()
    if method not in METHODS:
        raise ReviewError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    measure = str(measure).upper()
    if measure not in MEASURES:
        raise ReviewError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    model = str(model).lower()
    if model not in MODELS:
        raise ReviewError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if model == "glmm" and measure not in GLMM_MEASURES:
        raise ReviewError(f"the GLMM pools counts of events: measure PR or PLO, not {measure}")
    return measure, method, model, level


def select_studies(df, measure, study, unit, use_unit, overlaps, policy, year, size_col,
                   file=None):
    """The rows of ``df`` to pool after the unit-of-analysis and overlapping-cohort rules
    (:mod:`toolkit.pooling.inclusion`), and what was decided: {"unit", "left_out": [{"study",
    "reason"}], "overlap": {"policy", "sets", "left_out"}} as applicable. ``size_col`` is the
    column whose value makes a study "larger" (the total, or n)."""
    from .inclusion import one_unit, without_overlaps

    chosen: dict = {}
    df, units = one_unit(df, unit, use_unit, study, file)
    if unit is not None:
        chosen["unit"] = units["unit"]
        chosen["left_out"] = [dict(d, reason=f"counts {d['unit'] or 'an unrecorded unit'}, "
                                             f"not {units['unit']}")
                              for d in units["left_out"]]
    overlaps = [tuple(map(str, p)) for p in (overlaps or ())]
    if overlaps:
        if study is None:
            raise ReviewError("overlapping cohorts are named by study: give the study column",
                              file=file)
        if year is not None and year not in df.columns:
            raise ReviewError(f"no column {year!r} (years)", file=file, column=year)
        labels = [str(s) for s in df[study]]
        sizes = {}
        if size_col is not None and size_col in df.columns:
            sizes = dict(zip(labels, pd.to_numeric(df[size_col], errors="coerce")
                             .fillna(0).tolist()))
        years = (dict(zip(labels, pd.to_numeric(df[year], errors="coerce").tolist()))
                 if year is not None else {})
        sel = without_overlaps(labels, overlaps, sizes, years, policy)
        chosen["overlap"] = {"policy": sel["policy"], "sets": sel["sets"],
                             "left_out": [d["study"] for d in sel["left_out"]]}
        chosen.setdefault("left_out", []).extend(
            {"study": d["study"], "reason": "overlaps " + ", ".join(d["kept_instead"])
             + ", kept instead as the larger" + (" (then more recent)" if years else "")
             + " study"}
            for d in sel["left_out"])
        keep = set(sel["keep"])
        df = df[[s in keep for s in labels]].reset_index(drop=True)
    if len(df) == 0:
        raise ReviewError("no studies left to pool", file=file)
    return df, chosen


def _rma_overall(fit, es, measure, test, level) -> dict:
    transf = back_transform(measure, es.ni)
    pred = predict(fit, transf=transf)
    spec = MEASURES[measure]
    return {
        "k": fit.k,
        "measure": measure,
        "model": "rma",
        "method": fit.method,
        "test": test,
        "level": level,
        "scale": "proportion" if spec.proportion else "model",
        "estimate": _num(pred.pred),
        "ci_low": _num(pred.ci_lb),
        "ci_high": _num(pred.ci_ub),
        "pi_low": _num(pred.pi_lb),
        "pi_high": _num(pred.pi_ub),
        "est_model_scale": _num(fit.beta[0]),
        "se": _num(fit.se[0]),
        "tau2": _num(fit.tau2),
        "I2": _num(fit.I2),
        "H2": _num(fit.H2),
        "Q": _num(fit.QE),
        "Q_df": fit.df,
        "Q_p": _num(fit.QEp),
    }


def _glmm_overall(df, columns, measure, test, level, file):
    from .glmm import fit_glmm, glmm_prediction

    x = pd.to_numeric(df[columns["events"]]).to_numpy(dtype=float)
    n = pd.to_numeric(df[columns["total"]]).to_numpy(dtype=float)
    try:
        fit = fit_glmm(x, n, test="t" if test == "knha" else "z", level=level)
    except ReviewError as exc:
        raise ReviewError(exc.bare_message, file=file) from None
    pred = glmm_prediction(fit)
    return {
        "k": fit.k, "measure": measure, "model": "glmm", "method": "ML",
        "test": "t" if fit.test == "t" else "z", "level": level, "scale": "proportion",
        "estimate": _num(pred["estimate"]), "ci_low": _num(pred["ci_low"]),
        "ci_high": _num(pred["ci_high"]), "pi_low": _num(pred["pi_low"]),
        "pi_high": _num(pred["pi_high"]), "est_model_scale": _num(fit.beta),
        "se": _num(fit.se), "tau2": _num(fit.tau2), "I2": _num(fit.I2), "H2": _num(fit.H2),
        "Q": _num(fit.QE_LRT), "Q_df": fit.k - 1, "Q_p": _num(fit.QE_LRT_p),
        "Q_test": "likelihood ratio", "Q_wald": _num(fit.QE_Wald),
        "Q_wald_p": _num(fit.QE_Wald_p), "df": fit.df, "nagq": fit.nagq,
    }, fit


def _subgroups(df, es, by, study, measure, method, test, level, model, columns, min_k, file,
               study_rows, warnings) -> dict:
    """Per-subgroup fits and the test of subgroup differences over the subgroups with at
    least ``min_k`` studies (the others are shown, with a note, but not tested)."""
    if by not in df.columns:
        raise ReviewError(f"no column {by!r} (--by)", file=file, column=by)
    for pos in np.flatnonzero(df[by].isna().to_numpy()):
        raise ReviewError("subgroup is empty", file=file, record=_where(df, pos, study),
                          column=by)
    group_labels = df[by].astype(str).tolist()
    for row, g in zip(study_rows, group_labels):
        row["group"] = g
    if model == "glmm":
        sub = _glmm_subgroups(df, columns, group_labels, test, level, min_k)
    else:
        sub = subgroups(es.yi, es.vi, group_labels, method=method, test=test, level=level,
                        min_k=min_k)
    rows, notes = [], []
    for g, f, idx, tested in zip(sub.groups, sub.fits, sub.index, sub.tested):
        if model == "glmm":
            rows.append(dict(f, group=g, in_test=tested))
        else:
            ni = es.ni[idx] if es.ni is not None else None
            p = predict(f, transf=back_transform(measure, ni))
            rows.append({"group": g, "k": f.k, "estimate": _num(p.pred), "se": _num(f.se[0]),
                         "ci_low": _num(p.ci_lb), "ci_high": _num(p.ci_ub),
                         "pi_low": _num(p.pi_lb), "pi_high": _num(p.pi_ub),
                         "est_model_scale": _num(f.beta[0]), "tau2": _num(f.tau2),
                         "I2": _num(f.I2), "Q": _num(f.QE), "Q_p": _num(f.QEp),
                         "in_test": tested})
        if not tested:
            notes.append(f"subgroup {g!r} has k = {len(idx)} (< {min_k}): shown, but not in "
                         "the test of subgroup differences")
    if sum(sub.tested) < 2:
        notes.append(f"test of subgroup differences not done: fewer than 2 subgroups with "
                     f"k >= {min_k}")
    warnings.extend(notes)
    return {"by": by, "subgroups": rows, "subgroup_notes": notes,
            "Q_between": _num(sub.Q_between), "Q_between_df": sub.Q_between_df,
            "Q_between_p": _num(sub.Q_between_p)}


def _glmm_subgroups(df, columns, group_labels, test, level, min_k):
    """GLMM per subgroup (a subgroup of one study: its own logit and binomial SE), and the
    fixed-effect Q over the logits of the tested subgroups."""
    from .diagnostics import _glmm_subset
    from .subgroups import SubgroupAnalysis, q_between

    x = pd.to_numeric(df[columns["events"]]).to_numpy(dtype=float)
    n = pd.to_numeric(df[columns["total"]]).to_numpy(dtype=float)
    labels = np.asarray(group_labels, dtype=object)
    names = sorted(set(group_labels))
    fits, index, tested = [], [], []
    for g in names:
        idx = np.flatnonzero(labels == g)
        res = _glmm_subset(x[idx], n[idx], "t" if test == "knha" else "z", level, 7)
        res.pop("near", None)
        row = {"k": len(idx), "est_model_scale": _num(res["estimate"]), "se": _num(res["se"]),
               "tau2": _num(res["tau2"]), "I2": _num(res["I2"]), "Q": _num(res["Q"]),
               "Q_p": _num(res["Q_p"])}
        for key, src in (("estimate", "estimate"), ("ci_low", "ci_low"),
                         ("ci_high", "ci_high")):
            v = res[src]
            row[key] = None if v is None else _num(1 / (1 + math.exp(-v)))
        if "note" in res:
            row["note"] = res["note"]
        fits.append(row)
        index.append(idx)
        tested.append(len(idx) >= min_k and res["estimate"] is not None)
    b = [f["est_model_scale"] for f, t in zip(fits, tested) if t]
    se = [f["se"] for f, t in zip(fits, tested) if t]
    q, df_, p = q_between(b, se)
    return SubgroupAnalysis(names, fits, index, q, df_, p, tested)


def _metareg(df, es, moderators, study, method, test, level, file, warnings) -> dict:
    """The meta-regression block, after the guards: k >= coefficients + 2 (an error), and a
    warning below 10 studies per moderator term."""
    # "factor(COL)" treats a numeric column as categorical, as in an R formula
    forced = [m[7:-1].strip() for m in moderators
              if m.startswith("factor(") and m.endswith(")")]
    moderators = [m[7:-1].strip() if m.startswith("factor(") and m.endswith(")") else m
                  for m in moderators]
    for col in moderators:
        if col not in df.columns:
            raise ReviewError(f"no column {col!r} (--moderator)", file=file, column=col)
        for pos in np.flatnonzero(df[col].isna().to_numpy()):
            raise ReviewError("moderator is empty", file=file,
                              record=_where(df, pos, study), column=col)
        nums = pd.to_numeric(df[col], errors="coerce")
        if col not in forced and nums.notna().any() and nums.isna().any():
            pos = int(np.flatnonzero(nums.isna().to_numpy())[0])
            raise ReviewError(f"moderator is not a number ({df[col].iloc[pos]!r}) while "
                              f"other rows are; fix the cell, or use factor({col}) to treat "
                              "the column as categorical", file=file,
                              record=_where(df, pos, study), column=col)
    X, names = design_matrix(df[moderators], forced)
    k, p = len(es), X.shape[1]
    if k < p + 2:
        raise ReviewError(f"a meta-regression with {p} coefficients (intercept and "
                          f"{p - 1} moderator term{'s' if p > 2 else ''}) needs at least "
                          f"{p + 2} studies, to leave residual degrees of freedom for "
                          f"heterogeneity beyond tau^2; got {k}", file=file)
    terms = p - 1
    if k < STUDIES_PER_MODERATOR * terms:
        warnings.append(f"meta-regression with {k} studies for {terms} moderator "
                        f"term{'s' if terms > 1 else ''}: fewer than "
                        f"{STUDIES_PER_MODERATOR} studies per term, so the estimates are "
                        "unreliable (Cochrane Handbook 10.11.5.1); treat as exploratory")
    mr = metareg(es.yi, es.vi, df[moderators], method=method, test=test, level=level,
                 categorical=forced)
    f = mr.fit
    return {
        "moderators": moderators,
        "categorical": [c for c in moderators if c in forced or is_categorical(df[c])],
        "coefficients": [
            {"name": nm, "estimate": _num(b), "se": _num(s), "z" if test == "z" else "t":
             _num(z), "p": _num(pv), "ci_low": _num(lo), "ci_high": _num(hi)}
            for nm, b, s, z, pv, lo, hi in zip(f.names, f.beta, f.se, f.zval, f.pval,
                                               f.ci_lb, f.ci_ub)],
        "tau2": _num(f.tau2),
        "I2": _num(f.I2),
        "QM": _num(f.QM),
        "QM_df": len(f.names) - 1,
        "QM_p": _num(f.QMp),
        "QE": _num(f.QE),
        "QE_df": f.df,
        "QE_p": _num(f.QEp),
        "R2": _num(mr.R2),
    }


def _study_rows(es: EffectSizes, fit, labels, measure, level):
    """Per-study estimate and CI on the reported scale, and the model weight in percent (None
    for the GLMM, which has no inverse-variance weights). Study CIs use the normal quantile
    (as metafor's forest plot); PFT rows are back-transformed with each study's own n."""
    z = stats.norm.ppf(1 - (1 - level / 100) / 2)
    back = study_back_transform(measure, es.ni)
    rows = []
    for i, lab in enumerate(labels):
        y, s = es.yi[i], math.sqrt(es.vi[i])
        vals = [y, y - z * s, y + z * s]
        if back is not None:
            vals = [float(np.asarray(back(np.array([v]), i))[0]) for v in vals]
        row = {"study": lab, "yi": _num(y), "vi": _num(es.vi[i]), "estimate": _num(vals[0]),
               "ci_low": _num(vals[1]), "ci_high": _num(vals[2]),
               "weight": None if fit is None else _num(fit.weights[i])}
        if es.r is not None:            # MC: the pre/post correlation used for this study
            row["r"] = _num(es.r[i])
        rows.append(row)
    return rows
