"""Forest plot of a :func:`toolkit.pooling.api.pool_table` result (matplotlib, Agg backend).

Study rows (estimate, CI, weight), subgroup blocks with their own diamonds, the pooled diamond
and the prediction interval; sized for an A4 page width; the same result gives the same file
(fixed SVG hash salt, no dates in the metadata).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from ..errors import ReviewError  # noqa: E402

FORMATS = (".png", ".svg", ".pdf")
A4_WIDTH_IN = 8.27 - 1.0       # A4 width less 2 x 1.27 cm margins
_ROW_IN = 0.24                 # height of one row in inches

_METADATA = {".png": {"Software": None}, ".svg": {"Date": None, "Creator": None},
             ".pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}}


def _fmt(x, digits):
    return "NA" if x is None else f"{x:.{digits}f}"


def _rows(result: dict):
    """Rows top to bottom: ('header', text) | ('study', row) | ('diamond', dict, label) | ..."""
    rows = []
    studies = result["studies"]
    if "subgroups" in result:
        groups = {g["group"]: g for g in result["subgroups"]}
        members = {g: [] for g in groups}
        for s in studies:
            members[s["group"]].append(s)
        for g, sub in groups.items():
            rows.append(("header", f"{result['by']} = {g}"))
            rows.extend(("study", s) for s in members[g])
            tail = f"  (k = {sub['k']}, I\u00b2 = {_fmt(sub['I2'], 0)}%)"
            rows.append(("diamond", sub, "Subgroup" + tail, "#4d4d4d"))
            rows.append(("blank",))
    else:
        rows.extend(("study", s) for s in studies)
        rows.append(("blank",))
    hk = ", Knapp-Hartung" if result["test"] == "knha" else ""
    if result.get("model") == "glmm":
        label = f"GLMM (ML{', t-test' if result['test'] == 't' else ''})"
    elif result["method"] == "FE":
        label = f"FE model{hk.replace(', ', ' (')}{')' if hk else ''}"
    else:
        label = f"RE model ({result['method']}{hk})"
    rows.append(("diamond", result, label, "black"))
    if result.get("pi_low") is not None:
        rows.append(("pi", result))
    return rows


def forest_plot(result: dict, path, *, title: str | None = None, digits: int | None = None) -> Path:
    """Draw the forest plot of ``result`` to ``path`` (.png, .svg or .pdf) and return the path."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ReviewError(f"forest plot must be .png, .svg or .pdf, not {path.suffix!r}",
                          file=path)
    proportion = result.get("scale") == "proportion"
    if digits is None:
        digits = 2 if not proportion else 3
    rows = _rows(result)
    n = len(rows)
    height = (n + 5) * _ROW_IN
    level = result.get("level", 95)
    with plt.rc_context({"svg.hashsalt": "review-forest", "font.size": 8,
                         "font.family": "DejaVu Sans", "path.simplify": False}):
        fig = plt.figure(figsize=(A4_WIDTH_IN, height), dpi=150)
        gs = fig.add_gridspec(1, 3, width_ratios=[2.3, 3.0, 2.3], wspace=0.02,
                              left=0.01, right=0.99,
                              top=1 - (1.5 if title else 0.5) * _ROW_IN / height,
                              bottom=3.0 * _ROW_IN / height)
        ax_l, ax, ax_r = (fig.add_subplot(gs[0, i]) for i in range(3))
        for a in (ax_l, ax_r):
            a.set_axis_off()
        for a in (ax_l, ax, ax_r):
            a.set_ylim(n - 0.5, -1.5)
            a.set_xlim(0, 1) if a is not ax else None

        xs = []
        for row in rows:
            if row[0] == "study":
                xs += [row[1]["ci_low"], row[1]["ci_high"]]
            elif row[0] in ("diamond", "pi"):
                xs += [row[1].get("ci_low"), row[1].get("ci_high"), row[1].get("pi_low"),
                       row[1].get("pi_high")]
        xs = [x for x in xs if x is not None]
        lo, hi = min(xs), max(xs)
        if proportion:
            lo, hi = 0.0, 1.0
        pad = 0.04 * (hi - lo or 1.0)
        ax.set_xlim(lo - pad, hi + pad)

        ax_l.text(0, -1, "Study", fontweight="bold", va="center")
        ax_r.text(0.02, -1, f"Estimate [{level:g}% CI]", fontweight="bold", va="center")
        ax_r.text(0.98, -1, "Weight", fontweight="bold", va="center", ha="right")
        wmax = max((s["weight"] or 0) for s in result["studies"]) or 1.0
        for y, row in enumerate(rows):
            kind = row[0]
            if kind == "header":
                ax_l.text(0, y, row[1], fontweight="bold", va="center")
            elif kind == "study":
                s = row[1]
                ax_l.text(0.03, y, s["study"], va="center", clip_on=True)
                ax.plot([s["ci_low"], s["ci_high"]], [y, y], color="black", lw=0.8)
                size = 2.0 + 6.0 * ((s["weight"] or 0) / wmax) ** 0.5
                ax.plot([s["estimate"]], [y], marker="s", ms=size, color="#3a6ea5",
                        mec="#3a6ea5", ls="none")
                ax_r.text(0.02, y, f"{_fmt(s['estimate'], digits)} [{_fmt(s['ci_low'], digits)}, "
                                   f"{_fmt(s['ci_high'], digits)}]", va="center")
                ax_r.text(0.98, y, "–" if s["weight"] is None else f"{s['weight']:.1f}%",
                          va="center", ha="right")
            elif kind == "diamond":
                d, label, color = row[1], row[2], row[3]
                if d.get("estimate") is None:       # a GLMM subgroup with no estimate
                    ax_l.text(0.03, y, label + ": no estimate", va="center")
                    continue
                ax.add_patch(Polygon([(d["ci_low"], y), (d["estimate"], y - 0.35),
                                      (d["ci_high"], y), (d["estimate"], y + 0.35)],
                                     closed=True, color=color))
                ax_l.text(0.0 if color == "black" else 0.03, y, label, va="center",
                          fontweight="bold" if color == "black" else "normal")
                ax_r.text(0.02, y, f"{_fmt(d['estimate'], digits)} [{_fmt(d['ci_low'], digits)}, "
                                   f"{_fmt(d['ci_high'], digits)}]", va="center",
                          fontweight="bold" if color == "black" else "normal")
                weight = 100.0 if color == "black" else sum(
                    s["weight"] or 0 for s in result["studies"]
                    if s.get("group") == d.get("group"))
                shown = "–" if result.get("model") == "glmm" and color != "black" \
                    else f"{weight:.1f}%"
                ax_r.text(0.98, y, shown, va="center", ha="right",
                          fontweight="bold" if color == "black" else "normal")
            elif kind == "pi":
                d = row[1]
                ax.plot([d["pi_low"], d["pi_high"]], [y, y], color="#b22222", lw=2.0,
                        solid_capstyle="butt")
                ax_l.text(0.0, y, "Prediction interval", va="center", color="#b22222")
                ax_r.text(0.02, y, f"[{_fmt(d['pi_low'], digits)}, {_fmt(d['pi_high'], digits)}]",
                          va="center", color="#b22222")
        ax.axvline(result["estimate"], color="grey", lw=0.6, ls=":")
        if not proportion and lo < 0 < hi:
            ax.axvline(0, color="black", lw=0.6)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=7)
        xlabel = {"PR": "Proportion", "PLO": "Proportion", "PFT": "Proportion", "MN": "Mean",
                  "MC": "Mean change (pre \u2212 post)"}.get(result["measure"], "Effect size")
        ax.set_xlabel(xlabel, fontsize=8)
        tau = "" if result["method"] == "FE" else f"\u03c4\u00b2 = {_fmt(result['tau2'], 4)}, "
        het = (f"Heterogeneity: {tau}"
               f"I\u00b2 = {_fmt(result['I2'], 1)}%, "
               f"{'Q (LRT)' if result.get('model') == 'glmm' else 'Q'} = {_fmt(result['Q'], 2)} "
               f"(df = {result['Q_df']}, p {_pfmt(result['Q_p'])})")
        if result.get("Q_between") is not None:
            het += (f"; subgroup differences: Q = {_fmt(result['Q_between'], 2)} "
                    f"(df = {result['Q_between_df']}, p {_pfmt(result['Q_between_p'])})")
        fig.text(0.01, 0.4 * _ROW_IN / height, het, fontsize=7, va="bottom")
        if title:
            fig.suptitle(title, fontsize=9, fontweight="bold", y=1 - 0.3 * _ROW_IN / height,
                         va="top")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, metadata=_METADATA[path.suffix.lower()])
        plt.close(fig)
    return path


def _pfmt(p):
    if p is None:
        return "NA"
    return "< 0.0001" if p < 1e-4 else f"= {p:.4f}"
