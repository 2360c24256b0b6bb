"""The recall curve of one reviewer: includes found against records screened, in the order they
were screened, with the estimated total of includes (from the recall estimate) as a line.

A flattening curve is the usual picture of "the model has found most of what there is"; the
estimate line and its band say how many includes are thought to be left.
"""

from __future__ import annotations

import io

from ..store import Review


def recall_curve(review: Review, reviewer: str) -> dict:
    """{"screened": [1..n], "found": [cumulative includes]} over the reviewer's live own
    decisions (human and imported, maybes counted as not found), in the order they were made."""
    screened, found, k = [], [], 0
    latest: dict[int, str] = {}
    for row in review.db.query(
            "select record_id, decision from ta_decisions where reviewer = ? and "
            "undone_at is null and origin in ('human', 'import') order by id", [reviewer]):
        latest[row["record_id"]] = row["decision"]
    # the order of first decisions, each record counted once with its latest decision
    for n, decision in enumerate(latest.values(), start=1):
        k += decision == "include"
        screened.append(n)
        found.append(k)
    return {"screened": screened, "found": found}


def recall_curve_png(curve: dict, estimate: dict | None, n_records: int,
                     title: str = "") -> bytes:
    """The curve as a PNG (matplotlib's object API, no global state: safe in a web server's
    threads). ``estimate``: a recall estimate (see :mod:`toolkit.screening.stopping`) whose
    point and interval give the estimated total of includes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs, ys = [0] + curve["screened"], [0] + curve["found"]
    ax.step(xs, ys, where="post", color="#1f5f8b", lw=2, label="includes found")
    found = ys[-1]
    if estimate and estimate.get("recall"):
        total = found / estimate["recall"]
        ax.axhline(total, color="#b04a2f", ls="--", lw=1,
                   label=f"estimated includes in all ({total:.1f})")
        low, high = estimate.get("low"), estimate.get("high")
        if low and high:  # recall bounds give bounds on the total the other way round
            ax.axhspan(found / high, found / low, color="#b04a2f", alpha=0.12,
                       label="interval of the estimate")
    ax.set_xlim(0, max(n_records, 1))
    ax.set_ylim(0, max(found, 1) * 1.25 if not estimate or not estimate.get("low")
                else max(found / estimate["low"], found, 1) * 1.1)
    ax.set_xlabel("records screened")
    ax.set_ylabel("includes")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
