"""Two (or more) assessors: agreement per domain, disagreements, adjudication."""

from __future__ import annotations

import itertools

from ..fulltext import included_study, study_sort_key
from ..screening.agreement import kappa
from ..store import Review
from .assessments import assessor_views, final_assessments, resolutions, save_entry
from .templates import OVERALL, Tool


def _judged(view: dict, item: str):
    return view["overall"]["value"] if item == OVERALL else view["domains"][item]["value"]


def agreement(review: Review, tool: Tool) -> list[dict]:
    """Per domain (and overall) and pair of assessors: the studies both judged, percent
    agreement and Cohen's kappa (None when undefined: no study, or one category only)."""
    views = assessor_views(review, tool)
    assessors = sorted({a for by in views.values() for a in by})
    out = []
    for item in [d["id"] for d in tool.domains] + [OVERALL]:
        for a, b in itertools.combinations(assessors, 2):
            pairs = [(_judged(by[a], item), _judged(by[b], item))
                     for _, by in sorted(views.items()) if a in by and b in by]
            pairs = [p for p in pairs if None not in p]
            agree = sum(x == y for x, y in pairs)
            out.append({"item": item, "assessors": [a, b], "n": len(pairs),
                        "agreement": round(100 * agree / len(pairs), 1) if pairs else None,
                        "kappa": kappa([p[0] for p in pairs], [p[1] for p in pairs])})
    return out


def disagreements(review: Review, tool: Tool, *, include_resolved: bool = False) -> list[dict]:
    """Every study item on which two or more assessors differ: domain and overall
    judgements (``kind`` 'judgement', the ones consensus needs) and signalling answers
    (``kind`` 'answer'). Dicts {study, item, kind, values: {assessor: value or None},
    resolved: value or None, final: value or None (the consensus, e.g. derived from
    resolved answers)}."""
    views = assessor_views(review, tool)
    res = resolutions(review, tool)
    finals = final_assessments(review, tool)
    out = []
    for study in sorted(views, key=study_sort_key):
        by = views[study]
        if len(by) < 2:
            continue
        rs = res.get(study, {})
        for d in tool.domains:
            items = [(q["id"], "answer") for q in d["questions"]] + [(d["id"], "judgement")]
            for item, kind in items:
                if kind == "answer":
                    values = {a: v["answers"].get(item) for a, v in by.items()}
                else:
                    values = {a: _judged(v, item) for a, v in by.items()}
                if len(set(values.values())) < 2:
                    continue
                final = finals[study]["domains"][item]["value"] if kind == "judgement" \
                    else None
                out.append(_row(study, item, kind, values, rs, final, include_resolved))
        values = {a: _judged(v, OVERALL) for a, v in by.items()}
        if len(set(values.values())) > 1:
            out.append(_row(study, OVERALL, "judgement", values, rs,
                            finals[study]["overall"]["value"], include_resolved))
    return [r for r in out if r is not None]


def _row(study, item, kind, values, rs, final, include_resolved):
    resolved = rs[item]["value"] if item in rs else None
    if kind == "judgement" and final is not None and resolved is None:
        resolved_by = "derived"
    else:
        resolved_by = "resolution" if resolved is not None else None
    if resolved_by and not include_resolved:
        return None
    return {"study": study, "item": item, "kind": kind, "values": values,
            "resolved": resolved, "final": final, "settled_by": resolved_by}


def resolve(review: Review, tool: Tool, study_ref: str, item: str, value: str,
            adjudicator: str, *, note: str | None = None) -> int:
    """Record the adjudicated answer or judgement of a study's item (the assessors' stay,
    for the audit). Caller holds the transaction. Returns the row id."""
    study = included_study(review, study_ref)
    return save_entry(review, tool, study, item, value, adjudicator, origin="resolution",
                      note=note, reason=note)


def run_resolve(review: Review, tool: Tool, adjudicator: str, *, ask, echo) -> dict:
    """Walk through the domain and overall judgements in conflict and record adjudicated
    ones: ``#1``, ``#2``... takes that assessor's; any other text is the judgement itself
    (validated); Enter skips; ``q`` (or the end of input) quits. A note (why) is asked after
    each. Returns {'resolved': n}."""
    resolved = 0
    for d in disagreements(review, tool):
        if d["kind"] != "judgement":
            continue
        finals = final_assessments(review, tool)[d["study"]]
        state = finals["overall"] if d["item"] == OVERALL else finals["domains"][d["item"]]
        if state["state"] != "conflict":  # settled meanwhile (e.g. the overall, derived)
            continue
        name = "overall" if d["item"] == OVERALL else \
            f"{d['item']} ({tool.by_id[d['item']]['name']})"
        echo(f"study {d['study']}, {name}:")
        names = list(d["values"])
        for i, a in enumerate(names, 1):
            echo(f"  #{i} {a}: {d['values'][a] or '(not judged)'}")
        choices = tool.choices(d["item"])
        while True:
            text = ask(f"judgement ({', '.join(choices)}; #1, #2... takes that assessor's; "
                       "Enter skips; q quits)")
            if text is None or text.strip().lower() == "q":
                return {"resolved": resolved}
            text = text.strip()
            if not text:
                break
            if text.startswith("#"):
                pick = text[1:].strip()
                if not (pick.isdigit() and 1 <= int(pick) <= len(names)) or \
                        d["values"][names[int(pick) - 1]] is None:
                    echo(f"  no judgement {text}")
                    continue
                text = d["values"][names[int(pick) - 1]]
            try:
                tool.canonical(d["item"], text)
            except ValueError as exc:
                echo(f"  invalid: {exc}")
                continue
            why = (ask("note (why; Enter: none)") or "").strip() or None
            with review.atomic():
                resolve(review, tool, d["study"], d["item"], text, adjudicator, note=why)
            resolved += 1
            break
    return {"resolved": resolved}
