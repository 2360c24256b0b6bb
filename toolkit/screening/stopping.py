"""Stopping rules and recall estimates for title/abstract screening.

Two rules, chosen by the reviewer (``review screen --stop ...``):

* **heuristic** — stop after ``N`` consecutive human excludes (``--stop-after N``). Simple and
  common; it gives no guarantee about recall.
* **BUSCAR** (Callaghan & Müller-Hansen 2020, *Systematic Reviews* 9:273) — once the ranked
  screening has found little for a while, the reviewer screens a *random* sample drawn without
  replacement from the ``N_urn`` records not yet screened. With ``r_AL`` includes found before the
  sample and ``k`` includes among the ``n`` sampled records (``r_seen = r_AL + k``), the null
  hypothesis "recall < target τ" means the total number of includes is above ``r_seen / τ``; the
  smallest number of includes the urn would then hold is ``K = floor(r_seen/τ − r_AL + 1)``.
  The p-value is the probability of seeing ``k`` or fewer includes in ``n`` draws from an urn of
  ``N_urn`` records with ``K`` includes: the hypergeometric CDF. A larger ``K`` only makes
  ``k`` less likely, so the smallest ``K`` gives the largest (conservative) p. H0 is rejected,
  and screening may stop, when ``p < 1 − confidence``.

Recall estimate shown in the status line (:func:`recall_from_sample`, :func:`recall_from_model`):

* with a random sample (BUSCAR phase): the lower bound inverts the BUSCAR test itself. The
  largest number of urn includes the test does not reject, ``K_up`` (the largest ``K`` with
  ``P(X ≤ k | K) ≥ 1 − confidence``), gives the one-sided lower confidence bound
  ``r_seen / (r_AL + K_up)``: the smallest recall not rejected at the confidence level. So the
  lower bound is ``≥ τ`` exactly when the test rejects "recall < τ" (when screening may stop).
  The upper bound is the one-sided bound from the other tail (the smallest ``K`` with
  ``P(X ≥ k | K) ≥ 1 − confidence``), each bound at the full confidence level, so the pair is a
  two-sided interval at ``2·confidence − 1`` (90 % for 95 %). The point estimate scales ``k/n``
  to the urn. The includes still missed are ``K − k`` and recall = ``r_seen / (r_seen + K − k)``.
* before a random sample exists: a model-based approximation. Each screened record's score when
  it was shown (before its label was known, so out of sample) and its label calibrate the scores
  to probabilities by Platt scaling (a one-feature logistic regression); the expected number of
  includes among the records no person has seen is the sum of their probabilities under the
  current ranking. The interval combines the uncertainty of the two Platt parameters (Laplace
  approximation, seeded draws) with the Poisson-binomial spread ``Σ p(1 − p)`` of the missed
  includes. Screened records are not a random sample (the model chose them, and scores of
  different model versions are not on exactly one scale), so this is only a guide; only the
  sample-based figure is a guarantee.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
from scipy.stats import hypergeom

DEFAULT_TARGET = 0.95
DEFAULT_CONFIDENCE = 0.95
DEFAULT_STOP_AFTER = 50


def consecutive_excludes(decisions: Iterable[str]) -> int:
    """How many 'exclude' end the sequence (oldest first). A maybe or include breaks the run."""
    n = 0
    for d in decisions:
        n = n + 1 if d == "exclude" else 0
    return n


def heuristic_should_stop(decisions: Iterable[str], stop_after: int) -> bool:
    """True when the last ``stop_after`` decisions (oldest first) are all excludes."""
    return consecutive_excludes(decisions) >= stop_after


def buscar_k_h0(r_before: int, r_seen: int, target: float) -> int:
    """Smallest number of includes in the urn compatible with H0 "recall < target"."""
    # The tiny epsilon keeps r_seen/target that is an integer in exact arithmetic (19/0.95 = 20)
    # from being floored one too low by binary rounding.
    return math.floor(r_seen / target + 1e-9) - r_before + 1


def buscar_p_value(urn_size: int, r_before: int, n_sample: int, k_sample: int,
                   target: float = DEFAULT_TARGET) -> float:
    """p-value of H0 "recall < target" after a random sample of the unscreened records.

    Parameters
    ----------
    urn_size : records not screened when the random sample began (``N_urn``).
    r_before : includes found before the sample began (``r_AL``).
    n_sample, k_sample : records sampled so far and includes among them.
    target : the recall target τ.
    """
    if n_sample <= 0:
        return 1.0
    K = buscar_k_h0(r_before, r_before + k_sample, target)
    if K > urn_size:  # the urn cannot hold that many includes: H0 is impossible
        return 0.0
    return _p_at_most(k_sample, urn_size, K, n_sample)


def buscar_should_stop(urn_size: int, r_before: int, n_sample: int, k_sample: int,
                       target: float = DEFAULT_TARGET,
                       confidence: float = DEFAULT_CONFIDENCE) -> tuple[bool, float]:
    """``(stop, p)``: stop when H0 "recall < target" is rejected at ``confidence``."""
    p = buscar_p_value(urn_size, r_before, n_sample, k_sample, target)
    return p < 1 - confidence, p


def _p_at_most(k_sample: int, urn_size: int, K: int, n_sample: int) -> float:
    """P(X <= k) for ``n`` draws from an urn of ``urn_size`` records holding ``K`` includes."""
    return float(hypergeom.cdf(k_sample, urn_size, K, n_sample))


def urn_includes_bounds(urn_size: int, n_sample: int, k_sample: int,
                        confidence: float = DEFAULT_CONFIDENCE) -> tuple[int, int]:
    """``(K_low, K_up)``: one-sided bounds, each at ``confidence``, on the includes ``K`` in an
    urn of ``urn_size`` records given ``k`` includes in a random sample of ``n`` (``n >= 1``).

    ``K_up`` is the largest ``K`` that the BUSCAR test does not reject, the largest with
    ``P(X <= k | K) >= 1 - confidence`` (the same probability and comparison as
    :func:`buscar_should_stop`); ``K_low`` the smallest with ``P(X >= k | K) >= 1 - confidence``.
    Both tails are monotone in ``K``, so each bound is found by bisection over the ``K`` the
    sample allows (``k`` to ``urn_size - (n - k)``).
    """
    alpha = 1 - confidence
    lo, hi = k_sample, urn_size - (n_sample - k_sample)
    # K_up: P(X <= k | K) decreases with K and is 1 at K = k
    a, b = lo, hi
    while a < b:
        mid = (a + b + 1) // 2
        if _p_at_most(k_sample, urn_size, mid, n_sample) >= alpha:
            a = mid
        else:
            b = mid - 1
    k_up = a
    # K_low: P(X >= k | K) increases with K and is 1 at the largest K the sample allows
    a, b = lo, hi
    while a < b:
        mid = (a + b) // 2
        if float(hypergeom.sf(k_sample - 1, urn_size, mid, n_sample)) >= alpha:
            b = mid
        else:
            a = mid + 1
    return a, k_up


def recall_from_sample(r_seen: int, urn_size: int, n_sample: int, k_sample: int,
                       confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """Recall estimate and bounds from a random sample of the unscreened records.

    ``r_seen`` counts every include found, the sample's ``k`` among them (so the includes found
    before the sample are ``r_seen - k``). ``low`` is the one-sided lower bound at
    ``confidence`` obtained by inverting the BUSCAR test: for any target τ, ``low >= τ``
    exactly when :func:`buscar_should_stop` says stop. ``high`` is the one-sided upper bound at
    the same confidence.
    Returns {"recall", "low", "high", "method": "sample"}; recall is None if nothing is found.
    """
    if n_sample <= 0:
        return {"recall": None, "low": None, "high": None, "method": "sample"}
    K_low, K_up = urn_includes_bounds(urn_size, n_sample, k_sample, confidence)
    K_hat = k_sample / n_sample * urn_size
    missed_hat = max(K_hat - k_sample, 0.0)
    return _recall_dict(r_seen, missed_hat, K_up - k_sample, K_low - k_sample, "sample")


def recall_from_model(r_seen: int, labelled_scores: Sequence[float], labels: Sequence[int],
                      unlabelled_scores: Sequence[float],
                      confidence: float = DEFAULT_CONFIDENCE, draws: int = 2000,
                      seed: int = 0) -> dict:
    """Model-based recall estimate (approximate; see the module docstring).

    ``labelled_scores`` should be out-of-sample: the score each screened record had when it was
    shown, before its label was known (``ta_decisions.score``). The interval carries both the
    uncertainty of the calibration (Laplace approximation of the Platt fit's two parameters,
    ``draws`` seeded draws) and the Poisson-binomial spread of the missed includes.

    Returns {"recall", "low", "high", "method": "model"}; all None while the model cannot be
    calibrated (fewer than one include and one exclude with a score).
    """
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels, dtype=int)
    if len(y) == 0 or y.min() == y.max() or r_seen == 0:
        return {"recall": None, "low": None, "high": None, "method": "model"}
    x = np.asarray(labelled_scores, dtype=float)
    C = 1.0
    # newton-cg: exact on this 2-parameter problem and far quicker than lbfgs here
    platt = LogisticRegression(C=C, solver="newton-cg").fit(x.reshape(-1, 1), y)
    theta = np.array([platt.coef_[0, 0], platt.intercept_[0]])
    u = np.asarray(unlabelled_scores, dtype=float)
    if len(u) == 0:
        return _recall_dict(r_seen, 0.0, 0.0, 0.0, "model")
    p_hat = _sigmoid(theta[0] * u + theta[1])
    # Laplace approximation: the parameters' covariance is the inverse Hessian of the
    # penalised log-likelihood (sklearn penalises the slope by 1/(2C), not the intercept).
    X = np.column_stack([x, np.ones_like(x)])
    p_lab = _sigmoid(X @ theta)
    H = X.T @ (X * (p_lab * (1 - p_lab))[:, None]) + np.diag([1.0 / C, 0.0])
    cov = np.linalg.pinv(H)
    rng = np.random.default_rng(seed)
    thetas = rng.multivariate_normal(theta, cov, size=draws, method="eigh")
    # The pool's scores in 256 equal-count groups (their means) keep the draws cheap.
    order = np.sort(u)
    starts = np.linspace(0, len(order), min(256, len(order)) + 1).astype(int)[:-1]
    starts = np.unique(starts)
    counts = np.diff(np.append(starts, len(order))).astype(float)
    centres = np.add.reduceat(order, starts) / counts
    p_draw = _sigmoid(thetas[:, :1] * centres[None, :] + thetas[:, 1:])
    mean = p_draw @ counts
    sd = np.sqrt((p_draw * (1 - p_draw)) @ counts)
    missed = np.maximum(mean + sd * rng.standard_normal(draws), 0.0)
    alpha = 1 - confidence
    low, high = np.quantile(missed, [alpha / 2, 1 - alpha / 2])
    return _recall_dict(r_seen, float(p_hat.sum()), float(high), float(low), "model")


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def _recall_dict(r_seen, missed_hat, missed_high, missed_low, method) -> dict:
    if r_seen <= 0:
        return {"recall": None, "low": None, "high": None, "method": method}
    return {
        "recall": r_seen / (r_seen + missed_hat),
        "low": r_seen / (r_seen + missed_high),
        "high": r_seen / (r_seen + missed_low),
        "method": method,
    }


def format_recall(est: dict) -> str:
    """'recall ~0.91 [0.80-0.97] (sample)' or 'recall n/a' (ASCII: any terminal shows it)."""
    if not est or est.get("recall") is None:
        return "recall n/a"
    return (f"recall ~{est['recall']:.2f} [{est['low']:.2f}-{est['high']:.2f}] "
            f"({est['method']})")
