"""robvis-style plots with matplotlib: the traffic-light plot (study x domain) and the
weighted summary bar plot, in robvis's layout and its "cochrane" colours.

Both take the robvis table (:func:`toolkit.appraisal.export.robvis_table`) and the tool; a
judgement's colour and symbol come from its plot class (low +, some -, high x, critical !,
no information ?, not applicable blank), as in robvis.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, Rectangle  # noqa: E402

from ..errors import ReviewError  # noqa: E402
from ..pooling.forest import _METADATA  # noqa: E402  (no dates: same input, same file)
from .export import ROBVIS_WORDS  # noqa: E402
from .templates import OVERALL, Tool  # noqa: E402

# robvis's "cochrane" palette (R/helpers.R, get_colour) and its symbols (shape codes 43,
# 45, 120, 33, 63: + - x ! ?)
COLOURS = {"low": "#02C100", "some": "#E2DF07", "high": "#BF0000", "critical": "#820000",
           "ni": "#4EA1F7", "na": "#cccccc"}
SYMBOLS = {"low": "+", "some": "\u2212", "high": "\u00d7", "critical": "!", "ni": "?",
           "na": ""}
STRIP = "#a9a9a9"      # robvis's facet strips
OVERALL_BG = "#d3d3d3"  # robvis's background of the Overall column
ORDER = ("low", "some", "high", "critical", "ni", "na")
FORMATS = (".png", ".svg", ".pdf")


def _label(tool: Tool, cls: str, item: str | None = None) -> str:
    """The legend's word of a class: the tool's own judgement when one has that class."""
    specs = [tool.overall] if item == OVERALL else tool.domains + [tool.overall]
    for spec in specs:
        for j, c in spec["classes"].items():
            if c == cls and not j.isdigit():
                return j
    return ROBVIS_WORDS[cls]


def _classes(tool: Tool, table) -> list[list[str]]:
    out = []
    for _, row in table.iterrows():
        cells = []
        for n, d in enumerate(tool.domains, start=1):
            cells.append(_class_of_word(tool, d["id"], row[f"D{n}"]))
        cells.append(_class_of_word(tool, OVERALL, row["Overall"]))
        out.append(cells)
    return out


def _class_of_word(tool: Tool, item: str, word: str) -> str:
    if tool.robvis:
        return tool.class_of(item, word)
    for cls, w in ROBVIS_WORDS.items():
        if w == word:
            return cls
    return "na"


def check_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ReviewError("a plot file must end in .png, .svg or .pdf", file=path)
    return path


_RC = {"svg.hashsalt": "review-rob", "font.family": "DejaVu Sans", "path.simplify": False}


def traffic_light(table, tool: Tool, path, *, title: str | None = None) -> Path:
    """Write the traffic-light plot: one row per study, one column per domain and Overall."""
    path = check_path(path)
    with plt.rc_context(_RC):
        _traffic_light(table, tool, path, title)
    return path


def _traffic_light(table, tool: Tool, path: Path, title: str | None) -> None:
    if not len(table):
        raise ReviewError("no assessed study to plot")
    classes = _classes(tool, table)
    studies = [str(s) for s in table["Study"]]
    ncol = len(tool.domains) + 1
    heads = [f"D{n}" for n in range(1, ncol)] + ["Overall"]
    cell = 0.55                               # inches per cell
    left = 0.75 + 0.075 * max(len(s) for s in studies)
    used = sorted({c for row in classes for c in row}, key=ORDER.index)
    caption = ["Domains:"] + [
        textwrap.shorten(f"D{n}: {d['name']}", 95) for n, d in enumerate(tool.domains, 1)]
    cap_h = 0.17 * len(caption) + 0.2
    width = max(left + cell * ncol + 0.5, 6.0)
    height = 0.9 + cell * (len(studies) + 1) + max(cap_h, 0.2 + 0.2 * len(used))
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    x0, y0 = left, 0.7
    ax.text(x0 + cell * ncol / 2, 0.35, "Risk of bias domains", ha="center", va="center",
            fontsize=10)
    ax.text(0.15, y0 + cell * (len(studies) + 1) / 2 + cell / 2, "Study", rotation=90,
            ha="center", va="center", fontsize=10)
    for j, h in enumerate(heads):  # column strips
        ax.add_patch(Rectangle((x0 + j * cell, y0), cell, cell, facecolor=STRIP,
                               edgecolor="grey", lw=0.6))
        ax.text(x0 + (j + 0.5) * cell, y0 + cell / 2, h, ha="center", va="center",
                fontsize=9 if len(h) < 5 else 7.5)
    for i, (study, row) in enumerate(zip(studies, classes)):
        y = y0 + (i + 1) * cell
        ax.add_patch(Rectangle((0.3, y), x0 - 0.3, cell, facecolor=STRIP, edgecolor="grey",
                               lw=0.6))
        ax.text((0.3 + x0) / 2, y + cell / 2, study, ha="center", va="center", fontsize=9)
        for j, cls in enumerate(row):
            bg = OVERALL_BG if j == ncol - 1 else "white"
            ax.add_patch(Rectangle((x0 + j * cell, y), cell, cell, facecolor=bg,
                                   edgecolor="grey", lw=0.6))
            cx, cy = x0 + (j + 0.5) * cell, y + cell / 2
            if cls != "na":
                ax.add_patch(Circle((cx, cy), cell * 0.36, facecolor=COLOURS[cls],
                                    edgecolor="black", lw=0.7))
            ax.text(cx, cy, SYMBOLS[cls], ha="center", va="center_baseline", fontsize=12,
                    fontweight="bold", color="black")
    ybot = y0 + (len(studies) + 1) * cell + 0.25
    ax.text(x0 - left + 0.3, ybot, "\n".join(caption), ha="left", va="top", fontsize=7.5,
            linespacing=1.35)
    lx = width - 1.75  # legend, bottom right, as robvis
    ax.text(lx, ybot, "Judgement", ha="left", va="top", fontsize=8.5)
    for k, cls in enumerate(used):
        ly = ybot + 0.32 + 0.22 * k
        if cls != "na":
            ax.add_patch(Circle((lx + 0.1, ly), 0.08, facecolor=COLOURS[cls],
                                edgecolor="black", lw=0.5))
        ax.text(lx + 0.1, ly, SYMBOLS[cls], ha="center", va="center_baseline", fontsize=7,
                fontweight="bold")
        ax.text(lx + 0.27, ly, _label(tool, cls), ha="left", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height)
    fig.savefig(path, dpi=150, metadata=_METADATA[path.suffix.lower()])
    plt.close(fig)


def summary_plot(table, tool: Tool, path, *, weighted: bool = True,
                 title: str | None = None) -> Path:
    """Write the summary bar plot: per domain (and overall) the share of studies, weighted by
    the table's Weight column, at each judgement; the first domain on top and Overall (bold)
    at the bottom, as robvis draws it."""
    path = check_path(path)
    with plt.rc_context(_RC):
        _summary_plot(table, tool, path, weighted, title)
    return path


def _summary_plot(table, tool: Tool, path: Path, weighted: bool, title: str | None) -> None:
    if not len(table):
        raise ReviewError("no assessed study to plot")
    classes = _classes(tool, table)
    weights = [float(w) for w in table["Weight"]] if weighted else [1.0] * len(table)
    total = sum(weights)
    if total <= 0:
        raise ReviewError("the study weights add up to zero")
    names = [d["name"] for d in tool.domains] + ["Overall risk of bias"]
    used = sorted({c for row in classes for c in row}, key=ORDER.index)
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(names) + 1.3))
    for j, name in enumerate(names):
        y = len(names) - 1 - j
        start = 0.0
        for cls in used:
            share = sum(w for w, row in zip(weights, classes) if row[j] == cls) / total
            if share > 0:
                ax.barh(y, share, left=start, height=0.7, color=COLOURS[cls],
                        edgecolor="black", lw=0.6)
                start += share
    ax.set_yticks(range(len(names)))
    labels = [textwrap.shorten(n, 60) for n in reversed(names)]
    ax.set_yticklabels(labels, fontsize=9)
    ax.get_yticklabels()[0].set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1])
    ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"], fontsize=8)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    handles = [Rectangle((0, 0), 1, 1, facecolor=COLOURS[c], edgecolor="black", lw=0.5)
               for c in used]
    ax.legend(handles, [_label(tool, c) for c in used], loc="upper center",
              bbox_to_anchor=(0.35, -0.12), ncol=len(used), fontsize=7, frameon=True,
              edgecolor="black", fancybox=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=150, metadata=_METADATA[path.suffix.lower()])
    plt.close(fig)
