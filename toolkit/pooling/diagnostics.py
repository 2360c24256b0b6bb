"""Sensitivity and small-study diagnostics of an inverse-variance model, as R metafor's
``leave1out``, ``influence``, ``regtest``, ``trimfill``, ``cumul`` and ``baujat`` for
``rma.uni`` fits. Pure functions of the effect sizes ``yi`` and sampling variances ``vi``
(and the model settings); no store, no files. The GLMM counterparts of leave-one-out and the
cumulative meta-analysis are :func:`glmm_leave_one_out` and :func:`glmm_cumulative`.

Every refit uses the model's own estimator (``method``), test (``"z"`` or ``"knha"``) and
level, as metafor does; a refit of one study is metafor's k = 1 fit (tau^2 = 0, z-test).
The one exception is :func:`trim_and_fill`, whose final fit on the filled data uses the z-test
unless ``test`` is given explicitly -- metafor 3.8's trimfill always refits with the
default z-test (see its docstring).

Called from elsewhere in the project: :func:`egger_test` (certainty of evidence: publication
bias) and :func:`cumulative` (living reviews: the pooled estimate as studies accrue).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ..errors import ReviewError
from .models import RMAResult, _gls, rma, rma_any_k

_EPS = np.finfo(float).eps


def _arrays(yi, vi):
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if len(y) != len(v):
        raise ReviewError(f"{len(y)} effect sizes but {len(v)} variances")
    return y, v


def _labels(labels, k):
    if labels is None:
        return [str(i + 1) for i in range(k)]
    labels = [str(s) for s in labels]
    if len(labels) != k:
        raise ReviewError(f"{len(labels)} study labels for {k} studies")
    return labels


def _summary(fit: RMAResult) -> dict:
    """The per-fit numbers metafor's leave1out/cumul report (model scale)."""
    return {"estimate": float(fit.beta[0]), "se": float(fit.se[0]),
            "zval": float(fit.zval[0]), "pval": float(fit.pval[0]),
            "ci_low": float(fit.ci_lb[0]), "ci_high": float(fit.ci_ub[0]),
            "Q": float(fit.QE), "Q_p": float(fit.QEp), "tau2": float(fit.tau2),
            "I2": float(fit.I2), "H2": float(fit.H2), "k": int(fit.k)}


# --- leave-one-out ------------------------------------------------------------------------------

def leave_one_out(yi, vi, *, method: str = "REML", test: str = "z", level: float = 95,
                  labels=None) -> list[dict]:
    """The model refitted with each study left out in turn (metafor ``leave1out``).

    Returns one dict per left-out study, in input order: "study" (its label), "k" (studies
    in the refit), "estimate", "se", "zval" (a t value with Knapp-Hartung), "pval", "ci_low",
    "ci_high" (model scale), "Q", "Q_p", "tau2", "I2", "H2".
    """
    y, v = _arrays(yi, vi)
    k = len(y)
    if k < 2:
        raise ReviewError(f"leave-one-out needs at least 2 studies (got {k})")
    labels = _labels(labels, k)
    out = []
    for i in range(k):
        keep = np.arange(k) != i
        fit = rma_any_k(y[keep], v[keep], method=method, test=test, level=level)
        out.append({"study": labels[i], **_summary(fit)})
    return out


# --- influence ----------------------------------------------------------------------------------

@dataclass
class Influence:
    """metafor ``influence(model)`` for an ``rma.uni`` fit: one value per study (input order).

    rstudent: externally studentized residuals; dffits; cook_d: Cook's distances; cov_r:
    covariance ratios; tau2_del / QE_del: tau^2 and Q with the study deleted; hat: leverages;
    weight: model weights in percent; dfbetas: (k x p) DFBETAS; influential: metafor's
    flag (|DFFITS| > 3 sqrt(p / (k - p)), Cook's D above the chi^2_p median, hat > 3 p / k,
    or any |DFBETAS| > 1).
    """

    studies: list[str]
    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    QE_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbetas: np.ndarray
    influential: np.ndarray
    names: list[str] = field(default_factory=list)

    def rows(self) -> list[dict]:
        """One dict per study (the JSON shape of ``review pool --influence``)."""
        out = []
        for i, s in enumerate(self.studies):
            row = {"study": s}
            for key in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat",
                        "weight"):
                row[key] = float(getattr(self, key)[i])
            row["dfbetas"] = {n: float(self.dfbetas[i, j]) for j, n in enumerate(self.names)}
            row["influential"] = bool(self.influential[i])
            out.append(row)
        return out


def hat_values(fit: RMAResult) -> np.ndarray:
    """Leverages diag(X (X'WX)^-1 X'W) with W = 1 / (vi + tau^2) (metafor ``hatvalues``)."""
    w = 1.0 / (fit.vi + fit.tau2)
    _, ainv = _gls(fit.yi, fit.X, w)
    h = np.einsum("ij,jk,ik->i", fit.X, ainv, fit.X) * w
    return np.where(h > 1 - 10 * _EPS, 1.0, h)


def influence(yi, vi, X=None, *, method: str = "REML", test: str = "z", level: float = 95,
              labels=None, names=None) -> Influence:
    """Case-deletion diagnostics of the model ``rma(yi, vi, X)`` (metafor ``influence``)."""
    y, v = _arrays(yi, vi)
    k = len(y)
    if k < 2:
        raise ReviewError(f"influence diagnostics need at least 2 studies (got {k})")
    full = rma(y, v, X, method=method, test=test, level=level, names=names)
    X = full.X
    p = full.p
    labels = _labels(labels, k)
    pred_full = X @ full.beta
    svb = np.linalg.inv(full.vb)
    hat = hat_values(full)
    nan = np.full(k, np.nan)
    tau2_del, qe_del, delpred, vdelpred, s2w_del = (nan.copy() for _ in range(5))
    dffits, cook, covr = nan.copy(), nan.copy(), nan.copy()
    dfbs = np.full((k, p), np.nan)
    for i in range(k):
        keep = np.arange(k) != i
        try:
            res = rma_any_k(y[keep], v[keep], X[keep], method=method, test=test, level=level)
        except ReviewError:        # e.g. a coefficient no longer estimable: metafor gives NA
            continue
        tau2_del[i], qe_del[i] = res.tau2, res.QE
        delpred[i] = X[i] @ res.beta
        vdelpred[i] = X[i] @ res.vb @ X[i]
        s2w_del[i] = res.s2w
        dffits[i] = (pred_full[i] - delpred[i]) / math.sqrt(
            res.s2w * hat[i] * (tau2_del[i] + v[i]))
        _, vb_del = _gls(y, X, 1.0 / (v + tau2_del[i]))
        dfb = full.beta - res.beta
        dfbs[i] = dfb / np.sqrt(res.s2w * np.diag(vb_del))
        cook[i] = float(dfb @ svb @ dfb)
        covr[i] = np.linalg.det(res.vb) / np.linalg.det(full.vb)
    resid = y - delpred
    resid[np.abs(resid) < 100 * _EPS] = 0.0
    se_resid = np.sqrt(v * s2w_del + vdelpred + tau2_del * s2w_del)
    with np.errstate(invalid="ignore", divide="ignore"):
        rstudent = resid / se_resid
        flag = ((np.abs(dffits) > 3 * math.sqrt(p / (k - p)) if k > p else False)
                | (stats.chi2.cdf(cook, p) > 0.5) | (hat > 3 * p / k)
                | np.any(np.abs(dfbs) > 1, axis=1))
    flag = np.where(np.isnan(cook), False, flag)
    return Influence(studies=labels, rstudent=rstudent, dffits=dffits, cook_d=cook,
                     cov_r=covr, tau2_del=tau2_del, QE_del=qe_del, hat=hat,
                     weight=np.asarray(full.weights, dtype=float), dfbetas=dfbs,
                     influential=np.asarray(flag, dtype=bool), names=list(full.names))


# --- Egger's regression test --------------------------------------------------------------------

def egger_test(yi, vi, *, method: str = "REML", test: str = "z", level: float = 95,
               predictor: str = "sei", ni=None) -> dict:
    """Egger's regression test for funnel-plot asymmetry, as metafor
    ``regtest(model, model="rma", predictor="sei")``: the meta-regression of yi on the
    standard error sqrt(vi) (``predictor="vi"``: on vi; ``"ni"``, ``"ninv"``, ``"sqrtni"``,
    ``"sqrtninv"``: on the sample sizes ``ni``) with the model's estimator and test.

    Returns {"predictor", "k", "zval" (a t value with Knapp-Hartung), "df" (t df or None),
    "pval" (of the predictor's coefficient: asymmetry), "slope", "slope_se", "limit_estimate"
    with "ci_low"/"ci_high" (the intercept: the effect as the standard error goes to 0; only
    for sei, vi, ninv and sqrtninv, else None), "method", "test"}.
    """
    y, v = _arrays(yi, vi)
    k = len(y)
    if predictor in ("sei", "vi"):
        z = np.sqrt(v) if predictor == "sei" else v
    elif predictor in ("ni", "ninv", "sqrtni", "sqrtninv"):
        if ni is None:
            raise ReviewError(f"predictor {predictor} needs the sample sizes")
        n = np.asarray(ni, dtype=float).ravel()
        z = {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[predictor]
    else:
        raise ReviewError(f"unknown predictor {predictor!r}; choose sei, vi, ni, ninv, sqrtni "
                          "or sqrtninv")
    need = 3 if method.upper() != "FE" else 2
    if k < need:
        raise ReviewError(f"Egger's test needs at least {need} studies (got {k}): "
                          "the regression has 2 coefficients"
                          + ("" if need == 2 else " and tau^2"))
    X = np.column_stack([np.ones(k), z])
    if np.linalg.matrix_rank(X) < 2:
        raise ReviewError(f"Egger's test is undefined: every study has the same {predictor}")
    fit = rma(y, v, X, method=method, test=test, level=level, names=["intercept", predictor])
    limit = predictor in ("sei", "vi", "ninv", "sqrtninv")
    return {"predictor": predictor, "k": k, "method": fit.method, "test": fit.test,
            "zval": float(fit.zval[1]), "df": fit.df if test == "knha" else None,
            "pval": float(fit.pval[1]), "slope": float(fit.beta[1]),
            "slope_se": float(fit.se[1]),
            "limit_estimate": float(fit.beta[0]) if limit else None,
            "ci_low": float(fit.ci_lb[0]) if limit else None,
            "ci_high": float(fit.ci_ub[0]) if limit else None}


# --- trim and fill ------------------------------------------------------------------------------

def _rank_first(x):
    """R's rank(x, ties.method="first"): 1-based ranks, ties in order of appearance."""
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x), dtype=float)
    r[order] = np.arange(1, len(x) + 1)
    return r


def trim_and_fill(yi, vi, *, method: str = "REML", estimator: str = "L0", side: str | None = None,
                  level: float = 95, test: str = "z", maxiter: int = 100,
                  labels=None) -> dict:
    """Duval and Tweedie's trim and fill, as metafor ``trimfill(rma(yi, vi, method=...))``.

    The side of the missing studies is the one opposite the sign of Egger's slope
    (``side=None``); the number missing, k0, is estimated by the L0 (default) or R0 estimator
    iterated on the trimmed data; k0 studies are mirrored about the trimmed estimate and the
    model is refitted on the filled data (with ``test``; metafor 3.8 always uses z).

    Returns {"k0", "se_k0", "side", "estimator", "k" (observed), "estimate", "se", "zval",
    "pval", "ci_low", "ci_high", "tau2", "I2", "Q", "Q_p" (the filled model, model scale),
    "filled": [{"study", "yi", "vi"}], "iterations", "p_k0" (R0 only)}.
    """
    y0, v0 = _arrays(yi, vi)
    k = len(y0)
    method = method.upper()
    estimator = estimator.upper()
    if estimator not in ("L0", "R0"):
        raise ReviewError(f"unknown trim-and-fill estimator {estimator!r}; choose L0 or R0")
    if k < 3:
        raise ReviewError(f"trim and fill needs at least 3 studies (got {k})")
    if side is None:
        X = np.column_stack([np.ones(k), np.sqrt(v0)])
        slope = rma(y0, v0, X, method=method).beta[1]
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise ReviewError(f"side must be left or right, not {side!r}")
    y = -y0 if side == "right" else y0.copy()
    ix = np.argsort(y, kind="stable")
    y, v = y[ix], v0[ix]
    k0_prev, k0, it = -1, 0, 0
    se_k0 = float("nan")
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise ReviewError("trim and fill did not converge")
        beta = rma_any_k(y[:k - k0], v[:k - k0], method=method).beta[0]
        yc = y - beta
        signed = np.sign(yc) * _rank_first(np.abs(yc))
        if estimator == "R0":
            neg = signed[signed < 0]
            k0f = (k - np.max(-neg)) - 1 if len(neg) else k - 1
            se_k0 = math.sqrt(2 * max(0.0, k0f) + 2)
        else:
            sr = float(np.sum(signed[signed > 0]))
            k0f = (4 * sr - k * (k + 1)) / (2 * k - 1)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f ** 3 + 27 * k0f ** 2 + 17 * k0f
                      - 18 * k * k0f ** 2 - 18 * k * k0f + 6 * k ** 2 * k0f) / 24
            se_k0 = 4 * math.sqrt(var_sr) / (2 * k - 1) if var_sr > 0 else 0.0
        k0 = int(max(0, _round_half_even(k0f)))
        se_k0 = max(0.0, se_k0)
    labels = _labels(labels, k)
    filled = []
    if k0 > 0:
        yc = -(yc - beta) if side == "right" else yc - beta
        fill_y = -yc[k - k0:]
        fill_v = v[k - k0:]
        yy = np.concatenate([y0, fill_y])
        vv = np.concatenate([v0, fill_v])
        fit = rma(yy, vv, method=method, test=test, level=level)
        filled = [{"study": f"Filled {j + 1}", "yi": float(a), "vi": float(b)}
                  for j, (a, b) in enumerate(zip(fill_y, fill_v))]
    else:
        fit = rma(y0, v0, method=method, test=test, level=level)
    out = {"k0": k0, "se_k0": se_k0, "side": side, "estimator": estimator, "k": k,
           "iterations": it, **{key: val for key, val in _summary(fit).items() if key != "k"},
           "k_filled": k + k0, "filled": filled, "studies": labels}
    if estimator == "R0":
        m = np.arange(-1, k0)
        out["p_k0"] = float(1 - np.sum([math.comb(int(j) + 1, int(j) + 1) * 0.5 ** (j + 2)
                                        for j in m]))
    return out


def _round_half_even(x: float) -> float:
    """R's round(): halves go to the even neighbour (IEC 60559), as Python's round."""
    return float(round(x))


# --- cumulative meta-analysis -------------------------------------------------------------------

def cumulative(yi, vi, order=None, *, method: str = "REML", test: str = "z", level: float = 95,
               labels=None, decreasing: bool = False) -> list[dict]:
    """Cumulative meta-analysis (metafor ``cumul(model, order=order)``): the model refitted
    on the first 1, 2, ..., k studies, the studies sorted by ``order`` (e.g. publication
    year; ties keep the input order, as R's ``order``; ``None`` = input order).

    Returns one dict per step: "study" (the study added), "order" (its sort key), "k",
    "estimate", "se", "zval", "pval", "ci_low", "ci_high", "Q", "Q_p", "tau2", "I2", "H2"
    (model scale; the first step is the single study's own estimate, tau^2 = 0).
    """
    y, v = _arrays(yi, vi)
    k = len(y)
    if k < 1:
        raise ReviewError("no studies")
    labels = _labels(labels, k)
    keys = list(range(k)) if order is None else list(order)
    if len(keys) != k:
        raise ReviewError(f"{len(keys)} order values for {k} studies")
    if any(x is None or (isinstance(x, float) and math.isnan(x)) for x in keys):
        missing = [labels[i] for i, x in enumerate(keys)
                   if x is None or (isinstance(x, float) and math.isnan(x))]
        raise ReviewError("the order (e.g. year) is missing for " + ", ".join(missing))
    # a stable sort: ties keep the input order, as R's order() (also when decreasing)
    idx = (sorted(range(k), key=lambda i: _neg(keys[i])) if decreasing
           else sorted(range(k), key=lambda i: keys[i]))
    out = []
    for step in range(1, k + 1):
        sel = np.array(idx[:step])
        fit = rma_any_k(y[sel], v[sel], method=method, test=test, level=level)
        last = idx[step - 1]
        out.append({"study": labels[last], "order": keys[last], **_summary(fit)})
    return out


def _neg(x):
    try:
        return -float(x)
    except (TypeError, ValueError):
        raise ReviewError("a decreasing order needs numeric keys")


# --- Baujat plot coordinates --------------------------------------------------------------------

def baujat(yi, vi, X=None, *, method: str = "REML", test: str = "z", level: float = 95,
           labels=None) -> list[dict]:
    """Coordinates of the Baujat plot (metafor ``baujat``): per study, "x" = its contribution
    to the heterogeneity statistic, (yi - fitted)^2 / (vi + tau^2) (the Q contribution for a
    fixed-effect model), and "y" = its influence on the overall result, (fitted without it -
    fitted with it)^2 / var(fitted without it)."""
    y, v = _arrays(yi, vi)
    k = len(y)
    if k < 2:
        raise ReviewError(f"a Baujat plot needs at least 2 studies (got {k})")
    full = rma(y, v, X, method=method, test=test, level=level)
    labels = _labels(labels, k)
    X = full.X
    pred = X @ full.beta
    out = []
    for i in range(k):
        keep = np.arange(k) != i
        try:
            res = rma_any_k(y[keep], v[keep], X[keep], method=method, test=test, level=level)
            yv = float((X[i] @ res.beta - pred[i]) ** 2 / (X[i] @ res.vb @ X[i]))
        except ReviewError:
            yv = float("nan")
        out.append({"study": labels[i], "x": float((y[i] - pred[i]) ** 2 / (full.tau2 + v[i])),
                    "y": yv})
    return out


# --- GLMM refits --------------------------------------------------------------------------------

def _glmm_summary(fit) -> dict:
    return {"estimate": fit.beta, "se": fit.se, "zval": fit.zval, "pval": fit.pval,
            "ci_low": fit.ci_lb, "ci_high": fit.ci_ub, "tau2": fit.tau2, "I2": fit.I2,
            "H2": fit.H2, "Q": fit.QE_LRT, "Q_p": fit.QE_LRT_p, "k": fit.k}


def _glmm_single(x, n, test, level) -> dict:
    """One study under the GLMM: its own logit with the binomial (Wald) SE, tau^2 = 0."""
    from scipy import special

    if x == 0 or x == n:
        return {"estimate": None, "se": None, "zval": None, "pval": None, "ci_low": None,
                "ci_high": None, "tau2": 0.0, "I2": 0.0, "H2": 1.0, "Q": 0.0, "Q_p": 1.0,
                "k": 1, "note": "one study with 0 or all events: no finite estimate"}
    b = float(special.logit(x / n))
    se = math.sqrt(1 / x + 1 / (n - x))
    crit = float(stats.norm.ppf(1 - (1 - level / 100) / 2))
    return {"estimate": b, "se": se, "zval": b / se, "pval": float(2 * stats.norm.sf(abs(b / se))),
            "ci_low": b - crit * se, "ci_high": b + crit * se, "tau2": 0.0, "I2": 0.0,
            "H2": 1.0, "Q": 0.0, "Q_p": 1.0, "k": 1}


def _glmm_subset(x, n, test, level, nagq, near=None) -> dict:
    from .glmm import fit_glmm

    if len(x) == 1:
        return _glmm_single(float(x[0]), float(n[0]), test, level)
    try:
        fit = fit_glmm(x, n, test=test, level=level, nagq=nagq, near=near)
        return dict(_glmm_summary(fit), near=(fit.tau, fit.beta))
    except ReviewError as exc:
        return {"estimate": None, "se": None, "zval": None, "pval": None, "ci_low": None,
                "ci_high": None, "tau2": None, "I2": None, "H2": None, "Q": None, "Q_p": None,
                "k": len(x), "note": str(exc)}


def glmm_leave_one_out(xi, ni, *, test: str = "z", level: float = 95, nagq: int = 7,
                       labels=None) -> list[dict]:
    """Leave-one-out for the random-intercept logistic model (:func:`toolkit.pooling.glmm.
    fit_glmm` refitted without each study; metafor has no ``leave1out`` for ``rma.glmm``, so
    this is ``rma.glmm`` on each subset). Keys as :func:`leave_one_out` ("Q" is the
    likelihood-ratio heterogeneity statistic); a subset whose GLMM has no estimate (every
    remaining study with 0 events, say) gives None values and a "note"."""
    x, n = _arrays(xi, ni)
    k = len(x)
    if k < 2:
        raise ReviewError(f"leave-one-out needs at least 2 studies (got {k})")
    labels = _labels(labels, k)
    near = _glmm_subset(x, n, test, level, nagq).get("near")   # warm start for the refits
    out = []
    for i in range(k):
        keep = np.arange(k) != i
        row = _glmm_subset(x[keep], n[keep], test, level, nagq, near)
        row.pop("near", None)
        out.append({"study": labels[i], **row})
    return out


def glmm_cumulative(xi, ni, order=None, *, test: str = "z", level: float = 95, nagq: int = 7,
                    labels=None) -> list[dict]:
    """Cumulative meta-analysis with the random-intercept logistic model, studies sorted by
    ``order`` (ties keep the input order). Keys as :func:`cumulative`."""
    x, n = _arrays(xi, ni)
    k = len(x)
    labels = _labels(labels, k)
    keys = list(range(k)) if order is None else list(order)
    idx = sorted(range(k), key=lambda i: keys[i])
    out, near = [], None
    for step in range(1, k + 1):
        sel = np.array(idx[:step])
        last = idx[step - 1]
        row = _glmm_subset(x[sel], n[sel], test, level, nagq, near)
        near = row.pop("near", near)
        out.append({"study": labels[last], "order": keys[last], **row})
    return out
