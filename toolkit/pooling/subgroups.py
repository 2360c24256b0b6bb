"""Subgroup analysis: a separate random-effects fit per subgroup (own tau^2) and the test of
subgroup differences, a fixed-effect Q over the subgroup estimates (as metafor / meta do)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .models import RMAResult, rma_any_k


@dataclass
class SubgroupAnalysis:
    groups: list[str]
    fits: list[RMAResult]
    index: list[np.ndarray]       # positions of each group's studies
    Q_between: float
    Q_between_df: int
    Q_between_p: float


def subgroups(yi, vi, groups, *, method: str = "REML", test: str = "z",
              level: float = 95) -> SubgroupAnalysis:
    """Fit one model per level of ``groups`` (sorted, as R's ``split`` on a factor).

    A subgroup of one study gets tau^2 = 0 (metafor's k = 1 case). The test of subgroup
    differences is Q_between = sum w_g (b_g - b_FE)^2 with w_g = 1/se_g^2, df = G - 1.
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    labels = np.asarray([str(g) for g in groups], dtype=object)
    names = sorted({str(g) for g in labels})
    fits, index = [], []
    for g in names:
        idx = np.flatnonzero(labels == g)
        fits.append(rma_any_k(yi[idx], vi[idx], method=method, test=test, level=level))
        index.append(idx)
    if len(fits) >= 2:
        b = np.array([f.beta[0] for f in fits])
        w = 1.0 / np.array([f.se[0] for f in fits]) ** 2
        mean = np.sum(w * b) / np.sum(w)
        q = float(np.sum(w * (b - mean) ** 2))
        df = len(fits) - 1
        p = float(stats.chi2.sf(q, df))
    else:
        q, df, p = float("nan"), 0, float("nan")
    return SubgroupAnalysis(names, fits, index, q, df, p)
