"""Random-intercept logistic model for single-arm proportions, as metafor's
``rma.glmm(measure="PLO", method="ML")`` (binomial-normal model fitted by lme4's ``glmer``).

Model: x_i ~ Binomial(n_i, expit(beta + u_i)), u_i ~ N(0, tau^2). The marginal likelihood of
each study is an integral over u_i, approximated by adaptive Gauss-Hermite quadrature with
``nagq`` nodes (metafor's default 7) centred at the conditional mode and scaled by the
curvature there, exactly as lme4 does; ``nagq=1`` is the Laplace approximation. beta and
tau = sqrt(tau^2) maximise it. The standard error of beta is lme4's: from the Hessian of the
deviance in (tau, beta) (so it allows for the uncertainty in tau). I^2 and H^2 are metafor's:
tau^2 against the "typical" within-study variance of the logits computed by ``escalc``
(1/2 added to the cells of studies with 0 or n events), vt = (k - 1) / tr(P).
The t-test (``test="t"``) uses k - 1 degrees of freedom, as metafor.

A study's events x = 0 or x = n are fine; when *every* study has 0 events (or every study has
all events) the maximum-likelihood estimate does not exist (it is 0 % or 100 %) and the fit is
refused with that reason, where metafor stops with "Cannot fit ML model".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special, stats

from ..errors import ReviewError
from .effects import escalc

NAGQ = 7                    # metafor's default number of quadrature nodes
_NEWTON_TOL = 1e-12         # conditional modes: stop when the Newton step is below this
_BETA_TOL = 1e-11           # beta given tau: optimiser tolerance
_BOUNDARY_TOL = 1e-5       # lme4's boundary.tol: tau this close to 0 is tried at 0
_HESS_STEP = 1e-4           # central-difference step of the Hessian (lme4's deriv12 step)


@dataclass
class GLMMResult:
    """A fitted random-intercept logistic model (logit scale unless a name says otherwise)."""

    k: int
    test: str                 # "z" (Wald, normal) or "t" (t with k - 1 df)
    level: float
    nagq: int
    beta: float               # pooled logit
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    crit: float
    df: int | None            # t-test degrees of freedom (None for z)
    tau2: float
    I2: float
    H2: float
    QE_LRT: float             # likelihood-ratio test of heterogeneity (fixed vs saturated)
    QE_LRT_p: float
    QE_Wald: float | None     # Wald test of heterogeneity; None when a study has 0 or n events
    QE_Wald_p: float | None
    loglik: float             # marginal log-likelihood at the estimate (AGQ), with constants
    deviance: float
    xi: np.ndarray = field(repr=False, default=None)
    ni: np.ndarray = field(repr=False, default=None)
    modes: np.ndarray = field(repr=False, default=None)   # conditional modes of u_i / tau

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)


def _nodes(nagq: int):
    """Gauss-Hermite nodes and weights for the standard normal density (lme4's GHrule)."""
    z, w = np.polynomial.hermite_e.hermegauss(nagq)
    return z, w / math.sqrt(2 * math.pi)


def _log_binom(x, n, eta):
    """log P(x | n, expit(eta)) without the binomial coefficient, stable for large |eta|."""
    return x * eta - n * np.logaddexp(0.0, eta)


def _modes(beta, theta, x, n, start=None):
    """Conditional modes of the spherical random effects v_i (u_i = theta v_i) and the
    curvature there: maximise x (beta + theta v) - n log(1 + e^(beta + theta v)) - v^2 / 2."""
    v = np.zeros_like(x) if start is None else start.copy()
    if theta == 0:
        return np.zeros_like(x), np.ones_like(x)
    for _ in range(200):
        p = special.expit(beta + theta * v)
        grad = theta * (x - n * p) - v
        hess = theta * theta * n * p * (1 - p) + 1.0
        step = grad / hess
        v = v + step
        if np.max(np.abs(step)) < _NEWTON_TOL:
            break
    p = special.expit(beta + theta * v)
    return v, theta * theta * n * p * (1 - p) + 1.0


def _loglik_terms(beta, theta, x, n, nagq, start=None):
    """Per-study log marginal likelihoods (without binomial coefficients) by adaptive
    Gauss-Hermite quadrature, and the conditional modes."""
    v, curv = _modes(beta, theta, x, n, start)
    if theta == 0:
        return _log_binom(x, n, np.full_like(x, beta)), v
    z, w = _nodes(nagq)
    sd = 1.0 / np.sqrt(curv)                                  # (k,)
    vv = v[:, None] + sd[:, None] * z[None, :]                # (k, nagq)
    logf = _log_binom(x[:, None], n[:, None], beta + theta * vv) - 0.5 * vv * vv
    # integral of exp(logf) dv ~ sd * sum_j w_j exp(z_j^2 / 2) sqrt(2 pi) ... / sqrt(2 pi)
    terms = logf + 0.5 * z[None, :] ** 2 + np.log(w)[None, :]
    return np.log(sd) + special.logsumexp(terms, axis=1), v


def _deviance(beta, theta, x, n, nagq):
    ll, _ = _loglik_terms(beta, abs(theta), x, n, nagq)
    return -2.0 * float(np.sum(ll))


def _best_beta(theta, x, n, nagq, start, tol=_BETA_TOL):
    """beta maximising the likelihood at a given tau (the profile is smooth and unimodal)."""
    f = lambda b: _deviance(b, theta, x, n, nagq)  # noqa: E731
    lo, hi = start - 1.0, start + 1.0
    while f(lo) < f(start):
        lo -= 2 * (start - lo)
    while f(hi) < f(start):
        hi += 2 * (hi - start)
    res = optimize.minimize_scalar(f, bracket=(lo, start, hi), method="brent",
                                   options={"xtol": tol})
    return float(res.x), float(res.fun)


def _maximise(x, n, nagq, start, near=None):
    """(tau, beta, deviance) at the maximum likelihood: a coarse profile search over tau
    (beta optimised at each tau) -- or ``near`` = (tau, beta), a point close to the optimum,
    e.g. the full fit's for a leave-one-out refit -- then Newton steps on the pair with
    central-difference derivatives, each step halved until the deviance decreases; tau = 0 is
    taken when it is not worse (lme4's boundary check)."""
    dev = lambda p: _deviance(p[1], p[0], x, n, nagq)  # noqa: E731

    def profile(theta):
        return _best_beta(theta, x, n, nagq, start, tol=1e-8)[1]

    if near is not None:
        theta, beta = float(near[0]), float(near[1])
        d = dev([theta, beta])
        out = _newton(dev, theta, beta, d)
        if out is not None:
            return _boundary(out, x, n, nagq, start)
    upper = 5.0          # tau on [0, upper]; widened while the optimum sits at its end
    while True:
        res = optimize.minimize_scalar(profile, bounds=(0.0, upper), method="bounded",
                                       options={"xatol": 1e-4})
        if res.x < 0.9 * upper or upper > 1e3:
            break
        upper *= 4
    theta = float(res.x)
    beta, d = _best_beta(theta, x, n, nagq, start, tol=1e-8)
    out = _newton(dev, theta, beta, d) or (theta, beta, d)
    return _boundary(out, x, n, nagq, start)


def _newton(dev, theta, beta, d):
    """Newton steps on (tau, beta) from a point; (tau, beta, deviance), or None when the
    deviance is not locally convex there (the caller then searches)."""
    p = np.array([theta, beta])
    for _ in range(100):
        g, H = _derivatives(dev, p)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)) or np.linalg.eigvalsh(H)[0] <= 0:
            return None
        t = 1.0
        while t > 1e-6:
            q = p - t * step
            q[0] = abs(q[0])    # the deviance is even in tau
            dq = dev(q)
            if dq <= d:
                break
            t /= 2
        else:
            break
        moved = np.max(np.abs(q - p))
        p, d = q, dq
        if moved < 1e-10:
            break
    return float(p[0]), float(p[1]), d


def _boundary(out, x, n, nagq, start):
    theta, beta, d = out
    if theta < _BOUNDARY_TOL:
        b0, d0 = _best_beta(0.0, x, n, nagq, start)
        if d0 <= d + 1e-9:
            return 0.0, b0, d0
    return theta, beta, d


def _derivatives(fun, x0, step=_HESS_STEP):
    """Central-difference gradient and Hessian of ``fun`` at ``x0`` (lme4's deriv12)."""
    x0 = np.asarray(x0, dtype=float)
    m = len(x0)
    f0 = fun(x0)
    g = np.empty(m)
    H = np.empty((m, m))
    for i in range(m):
        e_i = np.zeros(m)
        e_i[i] = step
        fp, fm = fun(x0 + e_i), fun(x0 - e_i)
        g[i] = (fp - fm) / (2 * step)
        H[i, i] = (fp - 2 * f0 + fm) / step ** 2
        for j in range(i):
            e_j = np.zeros(m)
            e_j[j] = step
            H[i, j] = H[j, i] = (fun(x0 + e_i + e_j) - fun(x0 + e_i - e_j)
                                 - fun(x0 - e_i + e_j) + fun(x0 - e_i - e_j)) / (4 * step ** 2)
    return g, H


def _check_counts(xi, ni):
    x = np.asarray(xi, dtype=float).ravel()
    n = np.asarray(ni, dtype=float).ravel()
    if len(x) != len(n):
        raise ReviewError("events and totals differ in length")
    if len(x) < 1:
        raise ReviewError("no studies to pool")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(n))):
        raise ReviewError("events and totals must be finite numbers")
    if np.any(n <= 0) or np.any(x < 0) or np.any(x > n):
        raise ReviewError("events must lie between 0 and the total, and totals be positive")
    if np.any(x != np.round(x)) or np.any(n != np.round(n)):
        raise ReviewError("the GLMM needs whole-number counts of events and totals")
    if np.all(x == 0):
        raise ReviewError("no study has any event: the GLMM's maximum-likelihood estimate "
                          "does not exist (the pooled proportion would be 0); report the "
                          "counts, or use an inverse-variance model with a continuity "
                          "correction as a sensitivity analysis")
    if np.all(x == n):
        raise ReviewError("every study has events in all its units: the GLMM's "
                          "maximum-likelihood estimate does not exist (the pooled proportion "
                          "would be 1); report the counts, or use an inverse-variance model "
                          "with a continuity correction as a sensitivity analysis")
    return x, n


def heterogeneity_lrt(x, n) -> float:
    """Likelihood-ratio statistic of the common-proportion logistic model against the
    saturated one (metafor's ``QE.LRT``): the binomial deviance at the pooled proportion."""
    p = x.sum() / n.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(x > 0, x * np.log(x / (n * p)), 0.0)
        b = np.where(n - x > 0, (n - x) * np.log((n - x) / (n * (1 - p))), 0.0)
    return max(0.0, float(2 * np.sum(a + b)))


def fit_glmm(xi, ni, *, test: str = "z", level: float = 95, nagq: int = NAGQ,
             near: tuple | None = None) -> GLMMResult:
    """Fit the binomial-normal random-intercept model to ``xi`` events of ``ni``.

    Parameters
    ----------
    xi, ni : events and totals per study (whole numbers, 0 <= xi <= ni).
    test : ``"z"`` (default) or ``"t"`` (t distribution with k - 1 df; ``"knha"`` is accepted
        as a synonym, the t-test being the GLMM's small-sample option in metafor).
    level : confidence level in percent.
    nagq : quadrature nodes (7 as metafor; 1 = Laplace).
    near : (tau, beta) close to the optimum (e.g. the full fit's, for a leave-one-out refit):
        the search starts there; the optimum is the same.

    Returns
    -------
    GLMMResult (logit scale; ``ilogit`` of beta and of the CI bounds gives proportions).
    """
    test = {"knha": "t"}.get(str(test).lower(), str(test).lower())
    if test not in ("z", "t"):
        raise ReviewError(f"unknown test {test!r}; choose z or t")
    if not 0 < level < 100:
        raise ReviewError("level must lie between 0 and 100 (a percentage)")
    if int(nagq) != nagq or nagq < 1:
        raise ReviewError("nagq (quadrature nodes) must be a positive whole number")
    x, n = _check_counts(xi, ni)
    k = len(x)
    if k < 2:
        raise ReviewError(f"a random-effects model needs at least 2 studies (got {k})")

    # start: the common-effect logit (what glmer starts beta from)
    start = float(special.logit(x.sum() / n.sum()))

    theta, beta, dev = _maximise(x, n, nagq, start, near)

    _, H = _derivatives(lambda p: _deviance(p[1], p[0], x, n, nagq), [theta, beta])
    try:
        inv = np.linalg.inv(H)
        var = float(2 * inv[1, 1])
    except np.linalg.LinAlgError:
        var = float("nan")
    if not var > 0:                   # lme4 falls back to the conditional (RX) variance
        p = special.expit(beta)
        var = 1.0 / float(np.sum(n * p * (1 - p))) if theta == 0 else float("nan")
    se = math.sqrt(var) if var > 0 else float("nan")
    tau2 = theta * theta

    if test == "t":
        df = k - 1
        crit = float(stats.t.ppf(1 - (1 - level / 100) / 2, df))
        zval = beta / se
        pval = float(2 * stats.t.sf(abs(zval), df))
    else:
        df = None
        crit = float(stats.norm.ppf(1 - (1 - level / 100) / 2))
        zval = beta / se
        pval = float(2 * stats.norm.sf(abs(zval)))

    # I^2 and H^2 from the escalc logits' typical within-study variance (metafor's i2def 1)
    vi = escalc("PLO", events=x, total=n).vi
    w = 1.0 / vi
    vt = (k - 1) / (w.sum() - (w ** 2).sum() / w.sum())
    I2 = 100 * tau2 / (vt + tau2)
    H2 = tau2 / vt + 1

    lrt = heterogeneity_lrt(x, n)
    if np.any(x == 0) or np.any(x == n):
        wald = wald_p = None           # the saturated model's coefficients are infinite
    else:
        yi = np.log(x / (n - x))
        wi = 1.0 / (1 / x + 1 / (n - x))
        wald = float(np.sum(wi * (yi - np.sum(wi * yi) / wi.sum()) ** 2))
        wald_p = float(stats.chi2.sf(wald, k - 1))

    ll_terms, modes = _loglik_terms(beta, theta, x, n, nagq)
    const = special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
    loglik = float(np.sum(ll_terms + const))
    return GLMMResult(
        k=k, test=test, level=float(level), nagq=int(nagq), beta=beta, se=se, zval=zval,
        pval=pval, ci_lb=beta - crit * se, ci_ub=beta + crit * se, crit=crit, df=df,
        tau2=tau2, I2=float(I2), H2=float(H2), QE_LRT=lrt,
        QE_LRT_p=float(stats.chi2.sf(lrt, k - 1)), QE_Wald=wald, QE_Wald_p=wald_p,
        loglik=loglik, deviance=dev, xi=x, ni=n, modes=modes)


def glmm_prediction(fit: GLMMResult) -> dict:
    """Pooled proportion, CI and prediction interval on the proportion scale (metafor's
    ``predict(fit, transf=transf.ilogit)``: PI = beta +/- crit sqrt(se^2 + tau^2))."""
    s = math.sqrt(fit.se ** 2 + fit.tau2)
    ilogit = special.expit
    return {"estimate": float(ilogit(fit.beta)), "ci_low": float(ilogit(fit.ci_lb)),
            "ci_high": float(ilogit(fit.ci_ub)),
            "pi_low": float(ilogit(fit.beta - fit.crit * s)),
            "pi_high": float(ilogit(fit.beta + fit.crit * s))}
