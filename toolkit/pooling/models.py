"""Fixed- and random-effects models and meta-regression, as metafor's ``rma`` (rma.uni).

All estimators work on a design matrix ``X`` (a column of ones for a plain model) without ever
forming k x k matrices, so 10,000 studies cost O(k p^2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

from ..errors import ReviewError
from .registry import METHODS, TESTS

# metafor's control defaults (rma.uni): our numbers must equal metafor's, and metafor reports the
# iterate at which these are met, so the same stopping rules are used (see docs/pooling.md).
THRESHOLD = 1e-5                           # Fisher scoring stops when |change in tau^2| <= this
UNIROOT_TOL = np.finfo(float).eps ** 0.25  # R's uniroot() default tolerance, used for PM
TAU2_MAX = 100.0                           # PM search interval upper end (extended if needed)
_MAXITER = 100
_EPS = np.finfo(float).eps


@dataclass
class RMAResult:
    """A fitted model: coefficients, their inference and heterogeneity statistics."""

    method: str
    test: str
    level: float
    k: int
    p: int
    names: list[str]
    beta: np.ndarray
    se: np.ndarray
    vb: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    tau2: float
    I2: float
    H2: float
    QE: float
    QEp: float
    QM: float
    QMp: float
    crit: float
    df: int                       # k - p (residual degrees of freedom; t / F with knha)
    weights: np.ndarray           # model weights in percent
    yi: np.ndarray = field(repr=False, default=None)
    vi: np.ndarray = field(repr=False, default=None)
    X: np.ndarray = field(repr=False, default=None)
    iterations: int = 0
    s2w: float = 1.0              # Knapp-Hartung scale factor of vb (1 with the z-test)


# --- linear algebra on the weighted design ----------------------------------------------------

def _gls(y, X, w):
    """Weighted least squares: beta, (X'WX)^-1."""
    XtW = X.T * w
    A = XtW @ X
    try:
        Ainv = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        raise ReviewError("the model matrix is singular (a moderator is constant or collinear)")
    beta = Ainv @ (XtW @ y)
    return beta, Ainv


def _traces(X, w, Ainv):
    """tr(P) and tr(P P) for P = W - W X (X'WX)^-1 X'W, using only p x p products."""
    B = Ainv @ ((X.T * w ** 2) @ X)            # (X'WX)^-1 X'W^2 X
    C = Ainv @ ((X.T * w ** 3) @ X)            # (X'WX)^-1 X'W^3 X
    trP = w.sum() - np.trace(B)
    trPP = (w ** 2).sum() - 2 * np.trace(C) + np.trace(B @ B)
    return trP, trPP


def _q(y, X, w):
    """Weighted residual sum of squares sum w (y - Xb)^2 at the GLS fit."""
    beta, _ = _gls(y, X, w)
    r = y - X @ beta
    return float(np.sum(w * r * r))


# --- tau^2 estimators -------------------------------------------------------------------------

def _tau2_dl(y, v, X):
    w = 1.0 / v
    beta, Ainv = _gls(y, X, w)
    Q = float(np.sum(w * (y - X @ beta) ** 2))
    trP, _ = _traces(X, w, Ainv)
    return max(0.0, (Q - (len(y) - X.shape[1])) / trP), 0


def _tau2_he(y, v, X):
    """Hedges' (HE) moment estimator: metafor's starting value for ML/REML."""
    k, p = X.shape
    beta, XtXinv = _gls(y, X, np.ones(k))
    rss = float(np.sum((y - X @ beta) ** 2))
    # tr(P V) with P = I - X (X'X)^-1 X'
    trPV = float(v.sum() - np.einsum("ij,jk,ik->", X, XtXinv, X * v[:, None]))
    return (rss - trPV) / (k - p)


def zeroin(f, lower, upper, tol=UNIROOT_TOL, maxiter=1000):
    """Brent's root finder exactly as R's ``uniroot`` (R_zeroin2), so that roots agree with R's
    to the last digit when the same tolerance is used. Returns (root, iterations)."""
    a, b = float(lower), float(upper)
    fa, fb = f(a), f(b)
    if fa == 0.0:
        return a, 0
    if fb == 0.0:
        return b, 0
    c, fc = a, fa
    for it in range(1, maxiter + 2):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b, it
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    raise ReviewError("root finding for tau^2 did not converge")


def _tau2_pm(y, v, X, tol=UNIROOT_TOL):
    """Paule-Mandel: the tau^2 at which the generalised Q equals k - p (0 if Q(0) < k - p),
    found by R's uniroot algorithm on [0, 100] as metafor; the interval is widened by factors
    of 10 when the root lies beyond it (where metafor stops with an error)."""
    df = len(y) - X.shape[1]
    f = lambda t: _q(y, X, 1.0 / (v + t)) - df  # noqa: E731  (decreasing in t)
    if f(0.0) < 0:
        return 0.0, 0
    hi = TAU2_MAX
    while f(hi) > 0:
        hi *= 10
        if hi > 1e15:
            raise ReviewError("Paule-Mandel estimate of tau^2 did not converge")
    return zeroin(f, 0.0, hi, tol=tol)


def _tau2_fisher(y, v, X, reml: bool, threshold=THRESHOLD):
    """REML or ML by Fisher scoring as metafor: start at max(0, HE), halve steps that would make
    tau^2 negative, stop when the change is <= ``threshold``; then metafor's check that the
    likelihood at tau^2 = 0 is not larger."""
    tau2 = max(0.0, _tau2_he(y, v, X))
    for it in range(1, _MAXITER + 2):
        w = 1.0 / (v + tau2)
        beta, Ainv = _gls(y, X, w)
        Py = w * (y - X @ beta)
        if reml:
            trP, trPP = _traces(X, w, Ainv)
            adj = (Py @ Py - trP) / trPP
        else:
            adj = (Py @ Py - w.sum()) / (w ** 2).sum()
        while tau2 + adj < 0:
            adj /= 2
        old, tau2 = tau2, tau2 + adj
        if abs(old - tau2) <= threshold:
            break
    else:
        # Fisher scoring did not converge (metafor stops here): maximise the likelihood directly.
        tau2 = _tau2_optimise(y, v, X, reml)
    gain_at_zero = _loglik(0.0, y, v, X, reml) - _loglik(tau2, y, v, X, reml)
    if tau2 > threshold and gain_at_zero > UNIROOT_TOL:
        tau2 = 0.0   # stuck at a local maximum: metafor sets tau^2 = 0
    return max(0.0, tau2), it


def _loglik(tau2, y, v, X, reml):
    w = 1.0 / (v + tau2)
    beta, Ainv = _gls(y, X, w)
    r = y - X @ beta
    ll = -0.5 * (np.sum(np.log(v + tau2)) + np.sum(w * r * r))
    if reml:
        ll -= 0.5 * np.linalg.slogdet((X.T * w) @ X)[1]
    return ll


def _tau2_optimise(y, v, X, reml):
    hi = 10 * float(np.var(y)) + 10 * float(np.max(v)) + 1.0
    res = optimize.minimize_scalar(lambda t: -_loglik(t, y, v, X, reml), bounds=(0.0, hi),
                                   method="bounded", options={"xatol": 1e-12})
    return max(0.0, float(res.x))


def estimate_tau2(y, v, X, method):
    """tau^2 and the iterations used for ``method`` (REML, DL, PM, ML, FE)."""
    if method == "FE":
        return 0.0, 0
    if method == "DL":
        return _tau2_dl(y, v, X)
    if method == "PM":
        return _tau2_pm(y, v, X)
    if method in ("REML", "ML"):
        return _tau2_fisher(y, v, X, reml=(method == "REML"))
    raise ReviewError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


# --- the model --------------------------------------------------------------------------------

def rma(yi, vi, X=None, *, method: str = "REML", test: str = "z", level: float = 95,
        names: list[str] | None = None, tau2: float | None = None) -> RMAResult:
    """Fit a fixed-, random- or mixed-effects model (metafor ``rma``).

    Parameters
    ----------
    yi, vi : effect sizes and sampling variances.
    X : design matrix (k x p) with an intercept column first; ``None`` = intercept only.
    method : REML (default), DL, PM, ML or FE.
    test : ``"z"`` (Wald, normal) or ``"knha"`` (Knapp-Hartung: scaled variance, t / F tests).
    level : confidence level in percent.
    names : coefficient names (default ``intercept`` and ``x1...``).
    tau2 : fix tau^2 at this value instead of estimating it.

    Returns
    -------
    RMAResult
    """
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    k = len(y)
    X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float).reshape(k, -1)
    p = X.shape[1]
    method = method.upper()
    if method not in METHODS:
        raise ReviewError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if test not in TESTS:
        raise ReviewError(f"unknown test {test!r}; choose z or knha")
    if not 0 < level < 100:
        raise ReviewError("level must lie between 0 and 100 (a percentage)")
    if k < 1 or (method != "FE" and k < 2):
        raise ReviewError(f"a random-effects model needs at least 2 studies (got {k})")
    if p > k or (method != "FE" and tau2 is None and p + 1 > k):
        raise ReviewError(f"{k} studies are too few for {p} coefficients"
                          f"{'' if method == 'FE' else ' and tau^2'}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v))):
        raise ReviewError("effect sizes and variances must be finite numbers")
    if np.any(v < 0):
        raise ReviewError("sampling variances must not be negative")
    if np.any(v <= 0):
        raise ReviewError("sampling variances are zero (inverse-variance weights undefined)")
    names = list(names) if names is not None else ["intercept"] + [f"x{j}" for j in range(1, p)]

    df = k - p
    if tau2 is None:
        tau2, iters = estimate_tau2(y, v, X, method)
    else:
        iters = 0

    # FE-weighted quantities: residual heterogeneity QE and the typical within-study variance.
    w0 = 1.0 / v
    beta0, A0inv = _gls(y, X, w0)
    QE = max(0.0, float(np.sum(w0 * (y - X @ beta0) ** 2)))
    QEp = float(stats.chi2.sf(QE, df)) if df > 0 else 1.0
    if df == 0:                  # saturated model (e.g. one study): metafor's conventions
        QE, I2, H2 = 0.0, 0.0, 1.0
    elif method == "FE":
        I2 = max(0.0, 100 * (QE - df) / QE) if QE > 0 else 0.0
        H2 = QE / df
    else:
        trP, _ = _traces(X, w0, A0inv)
        vt = df / trP if trP > 0 else 0.0
        I2 = 100 * tau2 / (vt + tau2) if (vt + tau2) > 0 else 0.0
        H2 = (vt + tau2) / vt if vt > 0 else float("nan")

    w = 1.0 / (v + tau2)
    beta, vb = _gls(y, X, w)
    s2w = 1.0
    if test == "knha":
        if df < 1:
            raise ReviewError("Knapp-Hartung needs more studies than coefficients")
        rss = float(np.sum(w * (y - X @ beta) ** 2))
        s2w = 0.0 if rss <= _EPS else rss / df   # all yi equal: metafor sets the factor to 0
        vb = vb * s2w
        crit = float(stats.t.ppf(1 - (1 - level / 100) / 2, df))
    else:
        crit = float(stats.norm.ppf(1 - (1 - level / 100) / 2))
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    if test == "knha":
        pval = 2 * stats.t.sf(np.abs(zval), df)
    else:
        pval = 2 * stats.norm.sf(np.abs(zval))

    # Omnibus test of the moderators (all but the intercept; the intercept alone if p == 1).
    btt = np.arange(1, p) if p > 1 else np.arange(0, 1)
    b = beta[btt]
    try:
        QM = float(b @ np.linalg.solve(vb[np.ix_(btt, btt)], b))
    except np.linalg.LinAlgError:   # a zero Knapp-Hartung factor: no test possible
        QM = float("nan")
    m = len(btt)
    if test == "knha":
        QM /= m
        QMp = float(stats.f.sf(QM, m, df))
    else:
        QMp = float(stats.chi2.sf(QM, m))

    return RMAResult(
        method=method, test=test, level=level, k=k, p=p, names=names, beta=beta, se=se, vb=vb,
        zval=zval, pval=pval, ci_lb=beta - crit * se, ci_ub=beta + crit * se, tau2=float(tau2),
        I2=float(I2), H2=float(H2), QE=QE, QEp=QEp, QM=QM, QMp=QMp, crit=crit, df=df,
        weights=100 * w / w.sum(), yi=y, vi=v, X=X, iterations=iters, s2w=s2w)


def rma_any_k(yi, vi, X=None, *, method: str = "REML", test: str = "z", level: float = 95,
              names: list[str] | None = None) -> RMAResult:
    """:func:`rma`, also for a single study, as metafor fits one: tau^2 = 0 and the z-test
    (the fit is reported under the asked ``method``). Used wherever a subset of the studies
    is refitted (subgroups, leave-one-out, cumulative meta-analysis)."""
    y = np.asarray(yi, dtype=float).ravel()
    if len(y) == 1 and (X is None or np.asarray(X).reshape(1, -1).shape[1] == 1):
        fit = rma(y, vi, X, method="FE", test="z", level=level, names=names)
        fit.method = method.upper()
        return fit
    return rma(y, vi, X, method=method, test=test, level=level, names=names)


@dataclass
class Prediction:
    pred: float
    se: float
    ci_lb: float
    ci_ub: float
    pi_lb: float
    pi_ub: float


def predict(fit: RMAResult, x=None, transf=None) -> Prediction:
    """Predicted (average) effect at moderator values ``x`` (default: the intercept), its CI and
    prediction interval (metafor ``predict.rma``: pred +/- crit sqrt(se^2 + tau^2), no PI for FE);
    ``transf`` is applied to every bound."""
    if x is None:
        x = np.zeros(fit.p)
        x[0] = 1.0
    else:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        if len(x) == fit.p - 1:
            x = np.concatenate([[1.0], x])
    pred = float(x @ fit.beta)
    se = float(np.sqrt(x @ fit.vb @ x))
    ci = (pred - fit.crit * se, pred + fit.crit * se)
    if fit.method == "FE":
        pi = (float("nan"), float("nan"))
    else:
        s = np.sqrt(se ** 2 + fit.tau2)
        pi = (pred - fit.crit * s, pred + fit.crit * s)
    vals = [pred, *ci, *pi]
    if transf is not None:
        vals = [float(np.asarray(transf(np.array([t])))[0]) if np.isfinite(t) else float("nan")
                for t in vals]
    return Prediction(pred=vals[0], se=se, ci_lb=vals[1], ci_ub=vals[2], pi_lb=vals[3],
                      pi_ub=vals[4])
