"""Subgroup analysis: a separate random-effects fit per subgroup (own tau^2) and the test of
subgroup differences, a fixed-effect Q over the subgroup estimates (as metafor / meta do).

A subgroup of fewer than ``min_k`` studies (default 2) is fitted and shown, but left out of the
test of subgroup differences: one study is no estimate of a subgroup's average effect, and a
p-value that rests on it would be misread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .models import rma_any_k


@dataclass
class SubgroupAnalysis:
    groups: list[str]
    fits: list                    # RMAResult per group (dicts for the GLMM)
    index: list[np.ndarray]       # positions of each group's studies
    Q_between: float
    Q_between_df: int
    Q_between_p: float
    tested: list[bool] = field(default_factory=list)   # in the test of differences?


def q_between(estimates, ses) -> tuple[float, int, float]:
    """Fixed-effect Q of subgroup estimates: sum w_g (b_g - b_FE)^2, w_g = 1/se_g^2,
    df = G - 1, and its chi^2 p-value; (nan, 0, nan) for fewer than 2 subgroups."""
    b = np.asarray(estimates, dtype=float)
    if len(b) < 2:
        return float("nan"), 0, float("nan")
    w = 1.0 / np.asarray(ses, dtype=float) ** 2
    mean = np.sum(w * b) / np.sum(w)
    q = float(np.sum(w * (b - mean) ** 2))
    df = len(b) - 1
    return q, df, float(stats.chi2.sf(q, df))


def subgroups(yi, vi, groups, *, method: str = "REML", test: str = "z",
              level: float = 95, min_k: int = 2) -> SubgroupAnalysis:
    """Fit one model per level of ``groups`` (sorted, as R's ``split`` on a factor).

    A subgroup of one study gets tau^2 = 0 (metafor's k = 1 case). The test of subgroup
    differences is Q_between over the subgroups with at least ``min_k`` studies
    (``min_k=1``: all of them, as metafor).
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    labels = np.asarray([str(g) for g in groups], dtype=object)
    names = sorted({str(g) for g in labels})
    fits, index = [], []
    for g in names:
        idx = np.flatnonzero(labels == g)
        fits.append(rma_any_k(yi[idx], vi[idx], method=method, test=test, level=level))
        index.append(idx)
    tested = [len(idx) >= min_k for idx in index]
    q, df, p = q_between([f.beta[0] for f, t in zip(fits, tested) if t],
                         [f.se[0] for f, t in zip(fits, tested) if t])
    return SubgroupAnalysis(names, fits, index, q, df, p, tested)
