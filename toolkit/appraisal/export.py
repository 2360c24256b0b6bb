"""Appraisal tables: the long record of every answer, the final judgements and robvis's CSV."""

from __future__ import annotations

import pandas as pd

from ..errors import ReviewError
from ..fulltext import study_sort_key
from ..store import Review
from .assessments import assessor_views, final_assessments, live_entries
from .templates import OVERALL, Tool

# robvis's words for the plot classes, for tools robvis does not know ("Generic")
ROBVIS_WORDS = {"low": "Low", "some": "Some concerns", "high": "High", "critical": "Critical",
                "ni": "No information", "na": "Not applicable"}
LONG_COLUMNS = ["study", "assessor", "item", "kind", "value", "derived", "override_reason",
                "support", "source", "origin", "note", "entered_at"]


def long_table(review: Review, tool: Tool) -> pd.DataFrame:
    """Every live answer (questions, domain and overall judgements, adjudications) plus, per
    assessor, the judgements the tool derives (``origin`` 'derived'), in study order."""
    rows = []
    for r in live_entries(review, tool.name):
        kind = "answer" if r["item"] in tool.questions else "judgement"
        rows.append({"study": r["study"], "assessor": r["assessor"], "item": r["item"],
                     "kind": kind, "value": r["value"], "derived": None,
                     "override_reason": r["reason"], "support": r["support"],
                     "source": r["source"], "origin": r["origin"], "note": r["note"],
                     "entered_at": r["entered_at"]})
    for study, by in assessor_views(review, tool).items():
        for who, v in by.items():
            judged = [(d["id"], v["domains"][d["id"]]) for d in tool.domains
                      if d.get("algorithm")] + ([(OVERALL, v["overall"])]
                                                if tool.derives_overall else [])
            for item, j in judged:
                if j["derived"] is not None:
                    rows.append({"study": study, "assessor": who, "item": item,
                                 "kind": "judgement", "value": j["value"],
                                 "derived": j["derived"], "override_reason": j["reason"],
                                 "origin": "derived"})
    order = {i: n for n, i in enumerate(list(tool.questions) + list(tool.by_id) + [OVERALL])}
    rows.sort(key=lambda r: (study_sort_key(r["study"]), r["assessor"],
                             order.get(r["item"], 1e9), r["origin"] == "derived"))
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def final_table(review: Review, tool: Tool, studies: list[str] | None = None) -> pd.DataFrame:
    """One row per assessed study: each domain's final judgement and the overall one (None
    where a conflict or an unfinished assessment leaves it open), and a ``state`` column
    naming what is open."""
    finals = final_assessments(review, tool)
    rows = []
    for study in sorted(finals if studies is None else studies, key=study_sort_key):
        f = finals.get(study)
        row = {"study": study}
        open_ = []
        for d in tool.domains:
            cell = f["domains"][d["id"]] if f else {"value": None, "state": "incomplete"}
            row[d["id"]] = cell["value"]
            if cell["value"] is None:
                open_.append(f"{d['id']} {cell['state']}")
        cell = f["overall"] if f else {"value": None, "state": "incomplete"}
        row["overall"] = cell["value"]
        if cell["value"] is None:
            open_.append(f"overall {cell['state']}")
        row["state"] = "; ".join(open_) or "final"
        rows.append(row)
    return pd.DataFrame(rows, columns=["study"] + [d["id"] for d in tool.domains]
                        + ["overall", "state"])


def robvis_table(review: Review, tool: Tool, weights: dict[str, float] | None = None,
                 studies: list[str] | None = None) -> pd.DataFrame:
    """robvis's layout: Study, D1..Dn, Overall, Weight (the weight 1 for every study unless
    ``weights`` gives one). Judgements as the tool words them when robvis knows the tool
    (``robvis:`` in the template), else robvis's words for their classes (use robvis's
    "Generic" tool). A study whose assessment is not final is an error naming it."""
    final = final_table(review, tool, studies)
    open_ = final[final["state"] != "final"]
    if len(open_):
        raise ReviewError("assessments not final (resolve conflicts with `review appraise "
                          "resolve`, or finish them): " + "; ".join(
                              f"{s}: {st}" for s, st in zip(open_["study"], open_["state"])))
    out = pd.DataFrame({"Study": final["study"]})
    for n, d in enumerate(tool.domains, start=1):
        out[f"D{n}"] = [_word(tool, d["id"], v) for v in final[d["id"]]]
    out["Overall"] = [_word(tool, OVERALL, v) for v in final["overall"]]
    weights = weights or {}
    out["Weight"] = [float(weights.get(s, 1.0)) for s in final["study"]]
    return out


def _word(tool: Tool, item: str, value: str) -> str:
    if tool.robvis:
        return value
    return ROBVIS_WORDS[tool.class_of(item, value)]
