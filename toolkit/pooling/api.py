"""From a table of studies to the pooled result: validation, effect sizes, models, one dict.

:func:`pool_table` is what ``review pool FILE.csv --json`` prints and what ``review pool
--outcome NAME`` will call on the review's extracted data.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ReviewError
from .effects import (MEASURES, NON_NEGATIVE, EffectSizes, back_transform, escalc,
                      study_back_transform)
from .metareg import is_categorical, metareg
from .models import METHODS, predict, rma
from .subgroups import subgroups

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
        raise ReviewError(f"{role} {what}", file=file, record=_where(df, pos, study), column=col)
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
               forest=None, title: str | None = None) -> dict:
    """Pool the studies in ``df`` and return the result dict printed by ``review pool --json``.

    Parameters
    ----------
    df : one row per study.
    measure : PR, PLO, PFT, MN, MC or GEN (see :data:`toolkit.pooling.effects.MEASURES`).
    events, total, mean, sd, n, mean_pre, sd_pre, mean_post, sd_post, yi, vi : column names of
        the inputs the measure needs. ``r`` (MC): a number or a column name.
    study : column of study labels (default: row numbers).
    method : REML (default), DL, PM, ML or FE.  knha : Knapp-Hartung inference.
    level : confidence level in percent.  by : subgroup column.
    moderators : meta-regression moderator columns (numeric, or categorical = text).
    file : shown in error messages.
    moderator : one moderator (added to ``moderators``).  test : ``"knha"`` = ``knha=True``.
    forest : draw a forest plot to this path (.png/.svg/.pdf), titled ``title``.

    Returns
    -------
    dict with the overall model ("k", "measure", "method", "estimate", "ci_low", "ci_high",
    "pi_low", "pi_high", "est_model_scale", "se", "tau2", "I2", "Q", "Q_p", ...), "studies",
    and with ``by`` "subgroups", "Q_between", "Q_between_p"; with moderators "metareg".
    """
    if test is not None:
        if str(test).lower() not in ("z", "knha"):
            raise ReviewError(f"unknown test {test!r}; choose z or knha")
        knha = knha or str(test).lower() == "knha"
    if isinstance(moderators, str):
        moderators = [moderators]
    moderators = list(moderators or ()) + ([moderator] if moderator else [])
    level = float(level)
    if 0 < level < 1:          # 0.95 means 95%, as metafor accepts both
        level *= 100
    method = str(method).upper()
    if method not in METHODS:
        raise ReviewError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    measure = str(measure).upper()
    if measure not in MEASURES:
        raise ReviewError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if df is None or len(df) == 0:
        raise ReviewError("no studies to pool", file=file)
    df = df.reset_index(drop=True)
    columns = dict(events=events, total=total, mean=mean, sd=sd, n=n, mean_pre=mean_pre,
                   sd_pre=sd_pre, mean_post=mean_post, sd_post=sd_post, yi=yi, vi=vi)
    es = effect_sizes_from_table(df, measure, columns, r=r, study=study, file=file)
    k = len(es)
    if method != "FE" and k < 2:
        raise ReviewError(f"a random-effects model ({method}) needs at least 2 studies; "
                          f"got {k} (use --method FE)", file=file)
    test = "knha" if knha else "z"
    labels = ([str(s) for s in df[study]] if study is not None
              else [str(i + 1) for i in range(k)])

    fit = rma(es.yi, es.vi, method=method, test=test, level=level)
    transf = back_transform(measure, es.ni)
    pred = predict(fit, transf=transf)
    spec = MEASURES[measure]
    out = {
        "k": k,
        "measure": measure,
        "method": method,
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
    if measure == "MC":
        out["r"] = r if isinstance(r, str) and r in df.columns else float(r)
    out["studies"] = _study_rows(es, fit, labels, measure)

    if by is not None:
        if by not in df.columns:
            raise ReviewError(f"no column {by!r} (--by)", file=file, column=by)
        for pos in np.flatnonzero(df[by].isna().to_numpy()):
            raise ReviewError("subgroup is empty", file=file, record=_where(df, pos, study),
                              column=by)
        group_labels = df[by].astype(str).tolist()
        sub = subgroups(es.yi, es.vi, group_labels, method=method, test=test, level=level)
        for row, g in zip(out["studies"], group_labels):
            row["group"] = g
        rows = []
        for g, f, idx in zip(sub.groups, sub.fits, sub.index):
            ni = es.ni[idx] if es.ni is not None else None
            p = predict(f, transf=back_transform(measure, ni))
            rows.append({"group": g, "k": f.k, "estimate": _num(p.pred), "se": _num(f.se[0]),
                         "ci_low": _num(p.ci_lb), "ci_high": _num(p.ci_ub),
                         "pi_low": _num(p.pi_lb), "pi_high": _num(p.pi_ub),
                         "est_model_scale": _num(f.beta[0]), "tau2": _num(f.tau2),
                         "I2": _num(f.I2), "Q": _num(f.QE), "Q_p": _num(f.QEp)})
        out["by"] = by
        out["subgroups"] = rows
        out["Q_between"] = _num(sub.Q_between)
        out["Q_between_df"] = sub.Q_between_df
        out["Q_between_p"] = _num(sub.Q_between_p)

    moderators = list(moderators or ())
    if moderators:
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
        mr = metareg(es.yi, es.vi, df[moderators], method=method, test=test, level=level,
                     categorical=forced)
        f = mr.fit
        out["metareg"] = {
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
    if forest is not None:
        from .forest import forest_plot

        forest_plot(out, forest, title=title)
        out["forest"] = str(forest)
    return out


def _study_rows(es: EffectSizes, fit, labels, measure):
    """Per-study estimate and CI on the reported scale, and the model weight in percent.
    Study CIs use the normal quantile (as metafor's forest plot); PFT rows are back-transformed
    with each study's own n."""
    z = stats.norm.ppf(1 - (1 - fit.level / 100) / 2)
    back = study_back_transform(measure, es.ni)
    rows = []
    for i, lab in enumerate(labels):
        y, s = es.yi[i], math.sqrt(es.vi[i])
        vals = [y, y - z * s, y + z * s]
        if back is not None:
            vals = [float(np.asarray(back(np.array([v]), i))[0]) for v in vals]
        row = {"study": lab, "yi": _num(y), "vi": _num(es.vi[i]), "estimate": _num(vals[0]),
               "ci_low": _num(vals[1]), "ci_high": _num(vals[2]),
               "weight": _num(fit.weights[i])}
        if es.r is not None:            # MC: the pre/post correlation used for this study
            row["r"] = _num(es.r[i])
        rows.append(row)
    return rows
