"""Diagnostic plots (matplotlib, Agg): contour-enhanced funnel plot, Baujat plot, and
leave-one-out / cumulative forest-style plots. Deterministic files, as the forest plot
(fixed SVG hash salt, no dates in the metadata). Each function takes the JSON-ready result of
:mod:`toolkit.pooling.sensitivity` and a path (.png, .svg or .pdf) and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from ..errors import ReviewError  # noqa: E402
from .forest import _METADATA, A4_WIDTH_IN, FORMATS  # noqa: E402

_RC = {"svg.hashsalt": "review-diagnostics", "font.size": 8, "font.family": "DejaVu Sans",
       "path.simplify": False}
#: Shades for p < 0.01, 0.01-0.05, 0.05-0.10 and p > 0.10 (from the outside in).
SHADES = ("#8c8c8c", "#bdbdbd", "#e0e0e0", "#ffffff")


def _check(path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ReviewError(f"a plot must be .png, .svg or .pdf, not {path.suffix!r}", file=path)
    return path


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata=_METADATA[path.suffix.lower()])
    plt.close(fig)
    return path


def funnel_plot(result: dict, path, *, title: str | None = None) -> Path:
    """Contour-enhanced funnel plot of a ``funnel`` result.

    Effect sizes with standard errors (``result["y"] == "se"``): the effect (model scale)
    against its standard error, 0 at the top; shaded where a study would be significant at
    p < 0.10, 0.05 and 0.01 against 0 (Peters et al. 2008), with the pseudo 95% region around
    the pooled estimate. Proportions (``"n"``): the proportion against the sample size, with
    the 90/95/99% regions of a study of that size around the pooled proportion (a binomial
    funnel; a test against 0 means nothing for a single-arm proportion). With effect sizes,
    trim-and-fill studies (``result["filled"]``) are drawn as open circles.
    """
    path = _check(path)
    pts = result["points"]
    est = result["estimate"]
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(A4_WIDTH_IN * 0.7, 3.6), dpi=150)
        if result["y"] == "n":
            ns = np.array([p["n"] for p in pts], dtype=float)
            top = float(ns.max()) * 1.1
            grid = np.linspace(max(1.0, ns.min() * 0.5), top, 200)
            ax.axvspan(0, 1, color=SHADES[0], lw=0)
            for p_level, shade in zip((0.01, 0.05, 0.10), SHADES[1:]):
                z = stats.norm.ppf(1 - p_level / 2)
                half = z * np.sqrt(est * (1 - est) / grid)
                ax.fill_betweenx(grid, np.clip(est - half, 0, 1), np.clip(est + half, 0, 1),
                                 color=shade, lw=0)
            ax.plot([p["estimate"] for p in pts], ns, "o", color="black", ms=4, zorder=3)
            ax.axvline(est, color="black", lw=0.8)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, top)
            ax.set_xlabel("Proportion")
            ax.set_ylabel("Sample size (units of analysis)")
        else:
            ses = np.array([p["se"] for p in pts], dtype=float)
            top = float(ses.max()) * 1.1
            grid = np.linspace(0, top, 200)
            span = max(abs(p["yi"]) for p in pts) + abs(est) + 4 * top
            # layered from the outside in: p < 0.01 everywhere, then the bands inside
            ax.axvspan(-span, span, color=SHADES[0], lw=0)
            for p_level, shade in zip((0.01, 0.05, 0.10), SHADES[1:]):
                z = stats.norm.ppf(1 - p_level / 2)
                ax.fill_betweenx(grid, -z * grid, z * grid, color=shade, lw=0)
            crit = stats.norm.ppf(0.975)
            ax.plot(est - crit * grid, grid, color="black", lw=0.6, ls="--")
            ax.plot(est + crit * grid, grid, color="black", lw=0.6, ls="--")
            ax.plot([p["yi"] for p in pts], ses, "o", color="black", ms=4, zorder=3)
            for f in result.get("filled", []):
                ax.plot([f["yi"]], [np.sqrt(f["vi"])], "o", mfc="white", mec="black", ms=4)
            ax.axvline(est, color="black", lw=0.8)
            ax.axvline(0, color="grey", lw=0.5)
            xs = [p["yi"] for p in pts] + [est]
            lo, hi = min(xs) - crit * top, max(xs) + crit * top
            ax.set_xlim(lo, hi)
            ax.set_ylim(top, 0)
            ax.set_xlabel(result.get("scale_label", "Effect size"))
            ax.set_ylabel("Standard error")
        if title:
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        return _save(fig, path)


def baujat_plot(result: dict, path, *, title: str | None = None) -> Path:
    """Baujat plot: each study's contribution to the heterogeneity (x) against its influence
    on the pooled result (y), labelled."""
    path = _check(path)
    pts = [p for p in result["points"] if p["y"] is not None]
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(A4_WIDTH_IN * 0.7, 3.6), dpi=150)
        ax.plot([p["x"] for p in pts], [p["y"] for p in pts], "o", mfc="white",
                mec="black", ms=5)
        for p in pts:
            ax.annotate(p["study"], (p["x"], p["y"]), textcoords="offset points",
                        xytext=(4, 3), fontsize=6)
        ax.set_xlabel("Contribution to overall heterogeneity" if result.get("method") == "FE"
                      else "Squared Pearson residual (contribution to heterogeneity)")
        ax.set_ylabel("Influence on the overall result")
        ax.grid(color="#e0e0e0", lw=0.5)
        if title:
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        return _save(fig, path)


def steps_plot(result: dict, path, *, title: str | None = None, kind: str = "leave1out") -> Path:
    """Forest-style plot of leave-one-out (one row per left-out study) or cumulative (one row
    per step) estimates with their CIs and the full model as a reference line."""
    path = _check(path)
    rows = [r for r in result["rows"] if r.get("estimate") is not None]
    n = len(rows)
    height = (n + 4) * 0.24
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(A4_WIDTH_IN, height), dpi=150)
        for y, r in enumerate(rows):
            ax.plot([r["ci_low"], r["ci_high"]], [y, y], color="black", lw=0.8)
            ax.plot([r["estimate"]], [y], "s", color="#3a6ea5", ms=4)
        if result.get("estimate") is not None:
            ax.axvline(result["estimate"], color="grey", lw=0.6, ls=":")
        prefix = "without " if kind == "leave1out" else "+ "
        ax.set_yticks(range(n))
        ax.set_yticklabels([prefix + str(r["study"]) for r in rows])
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_xlabel(result.get("scale_label", "Estimate"))
        for side in ("right", "top"):
            ax.spines[side].set_visible(False)
        if result.get("scale") == "proportion":
            ax.set_xlim(0, 1)
        if title:
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        return _save(fig, path)
