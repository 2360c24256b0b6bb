"""Effect sizes and their sampling variances, as metafor's ``escalc``.

One registry, :data:`MEASURES`, names every measure, the input columns it needs and how its
pooled estimate is shown (back-transformation); the CLI derives its choices and checks from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import ReviewError
from .registry import MEASURES, Measure  # noqa: F401  (re-exported)


#: Roles whose values must be non-negative (counts, sizes, SDs, variances).
NON_NEGATIVE = {"events", "total", "sd", "n", "sd_pre", "sd_post", "vi"}


@dataclass
class EffectSizes:
    """Output of :func:`escalc`: one ``yi`` and ``vi`` per study, plus what back-transforms need."""

    measure: str
    yi: np.ndarray
    vi: np.ndarray
    ni: np.ndarray | None = None      # unadjusted sample sizes (PFT back-transformation)
    r: np.ndarray | None = None       # pre/post correlations used (MC)
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.yi)


def _arr(data: dict, role: str) -> np.ndarray:
    return np.asarray(data[role], dtype=float)


def escalc(measure: str, add: float | None = None, to: str = "only0", **data) -> EffectSizes:
    """Compute effect sizes ``yi`` and sampling variances ``vi`` (metafor ``escalc``).

    Parameters
    ----------
    measure : one of :data:`MEASURES` (PR, PLO, PFT, MN, MC, GEN).
    add, to : continuity correction for PR and PLO as metafor: ``add`` (default 1/2) is added
        to the event and non-event counts of studies with 0 or n events (``to="only0"``);
        ``to="all"`` adds it everywhere, ``to="none"`` never. PFT uses no correction.
    **data : arrays by role: ``events, total`` (PR/PLO/PFT), ``mean, sd, n`` (MN),
        ``mean_pre, sd_pre, mean_post, sd_post, n, r`` (MC; ``r`` a scalar or per study),
        ``yi, vi`` (GEN).

    Returns
    -------
    EffectSizes
    """
    if measure not in MEASURES:
        raise ReviewError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    spec = MEASURES[measure]
    for role in spec.roles:
        if data.get(role) is None:
            raise ReviewError(f"measure {measure} needs {role!r}")

    if measure in ("PR", "PLO", "PFT"):
        xi, ni = _arr(data, "events"), _arr(data, "total")
        if np.any(xi > ni):
            raise ReviewError("events larger than total")
        if measure == "PFT":
            # metafor sets add=0 for PFT: the transformation is defined at 0 and n.
            return EffectSizes(measure, _ft(xi, ni), 1.0 / (4 * ni + 2), ni=ni)
        add = 0.5 if add is None else float(add)
        mi = ni - xi
        if to == "all":
            adj = np.ones_like(xi, dtype=bool)
        elif to == "only0":
            adj = (xi == 0) | (mi == 0)
        elif to == "if0all":
            adj = np.full(xi.shape, bool(np.any((xi == 0) | (mi == 0))))
        elif to == "none":
            adj = np.zeros_like(xi, dtype=bool)
        else:
            raise ReviewError(f"unknown continuity correction target {to!r}")
        xa = np.where(adj, xi + add, xi)
        ma = np.where(adj, mi + add, mi)
        na = xa + ma
        p = xa / na
        if measure == "PR":
            return EffectSizes(measure, p, p * (1 - p) / na, ni=ni)
        with np.errstate(divide="ignore"):
            return EffectSizes(measure, np.log(p / (1 - p)), 1 / xa + 1 / ma, ni=ni)

    if measure == "MN":
        sd, n = _arr(data, "sd"), _arr(data, "n")
        return EffectSizes(measure, _arr(data, "mean"), sd ** 2 / n, ni=n)

    if measure == "MC":
        s1, s2, n = _arr(data, "sd_pre"), _arr(data, "sd_post"), _arr(data, "n")
        r = data.get("r")
        if r is None:
            raise ReviewError("measure MC needs the pre/post correlation r (a value or a column)")
        r = np.broadcast_to(np.asarray(r, dtype=float), n.shape).copy()
        if np.any(np.abs(r) > 1):
            raise ReviewError("pre/post correlation r must lie in [-1, 1]")
        yi = _arr(data, "mean_pre") - _arr(data, "mean_post")
        vi = (s1 ** 2 + s2 ** 2 - 2 * r * s1 * s2) / n
        return EffectSizes(measure, yi, vi, ni=n, r=r)

    # GEN
    return EffectSizes(measure, _arr(data, "yi"), _arr(data, "vi"))


# --- back-transformations ---------------------------------------------------------------------

def ilogit(x):
    """Inverse logit (metafor ``transf.ilogit``)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _ft(x, n):
    """Freeman-Tukey double arcsine of ``x`` events out of ``n``."""
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def pft(p, n):
    """Freeman-Tukey double arcsine of proportion ``p`` at sample size ``n`` (``transf.pft``)."""
    return _ft(np.asarray(p, dtype=float) * n, n)


def ipft(x, n):
    """Inverse Freeman-Tukey transformation for sample size ``n`` (metafor ``transf.ipft``);
    values beyond the transforms of 0 and 1 are clamped to 0 and 1."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    n = np.broadcast_to(np.asarray(n, dtype=float), x.shape)
    s = np.sin(2 * x)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / n) ** 2))
    z = np.where(x > pft(1.0, n), 1.0, z)
    z = np.where(x < pft(0.0, n), 0.0, z)
    return z


def ipft_hm(x, ni):
    """Inverse Freeman-Tukey with the harmonic mean of ``ni`` (metafor ``transf.ipft.hm``)."""
    nhm = 1.0 / np.mean(1.0 / np.asarray(ni, dtype=float))
    return ipft(x, nhm)


def back_transform(measure: str, ni=None) -> Callable | None:
    """The function that maps model-scale values to the reported scale (``None`` = identity)."""
    if measure == "PLO":
        return ilogit
    if measure == "PFT":
        return lambda x: ipft_hm(x, ni)
    return None


def study_back_transform(measure: str, ni) -> Callable | None:
    """Per-study back-transformation for forest-plot rows (PFT uses each study's own n)."""
    if measure == "PLO":
        return lambda x, i: ilogit(x)
    if measure == "PFT":
        return lambda x, i: ipft(x, ni[i])
    return None
