"""Saving answers and working out judgements (table ``appraisal_entries``).

An assessor answers items of a tool for a study: signalling questions, domains (a checklist
item's answer is its domain judgement) and, where the tool derives nothing, the overall
judgement. Judgements an algorithm derives are *not* stored: they are worked out from the
answers each time. A judgement the assessor enters on a derived domain (or on a derived
overall) is an override and carries its reason.

Consensus (the *final* judgement of a study's domain): the adjudicated value if any; else the
value every assessor of the study reached alike; else, when the assessors' judgements differ
only because their answers differ and nobody overrode it, the judgement derived from the
final answers (each adjudicated or agreed); else a conflict.
"""

from __future__ import annotations

from ..errors import ReviewError
from ..store import Review, now_iso
from . import algorithms
from .templates import OVERALL, Tool, register_tool


def asked(question: dict, answers: dict) -> bool:
    """Whether a conditional question is asked given the earlier answers (NA otherwise)."""
    cond = question.get("ask_if")
    if cond is None:
        return True
    hits = [answers.get(q) in allowed for q, allowed in cond["conditions"].items()]
    return any(hits) if cond["mode"] == "any" else all(hits)


def domain_answers(domain: dict, given: dict) -> dict:
    """{question id: answer} of one domain with 'NA' for the questions its earlier answers
    skip (an answer stored for a skipped question is set aside); unanswered questions that
    are asked are left out."""
    out: dict[str, str] = {}
    for q in domain["questions"]:
        if not asked(q, out):
            out[q["id"]] = "NA"
        elif given.get(q["id"]) is not None:
            out[q["id"]] = given[q["id"]]
    return out


def derive_domain(domain: dict, given: dict) -> str | None:
    """The judgement a domain's algorithm proposes from the answers, or None (no algorithm,
    or the answers it needs are not all given)."""
    if not domain.get("algorithm"):
        return None
    return algorithms.DOMAIN_ALGORITHMS[domain["algorithm"]](domain_answers(domain, given))


def derive_overall(tool: Tool, domain_values: dict[str, str | None]) -> str | None:
    """The overall judgement the tool's rule gives from every domain's judgement, or None
    (rule 'none', or a domain not yet judged)."""
    rule = tool.overall["rule"]
    if rule == "none" or any(domain_values.get(d["id"]) is None for d in tool.domains):
        return None
    if rule == "sum":
        return algorithms.overall_sum([domain_values[d["id"]] for d in tool.domains])
    if rule == "nos_ahrq":
        groups: dict[str, list[str]] = {}
        for d in tool.domains:
            groups.setdefault(d["group"], []).append(domain_values[d["id"]])
        return algorithms.overall_nos_ahrq(groups)
    classes = [tool.class_of(d["id"], domain_values[d["id"]]) for d in tool.domains]
    cls = (algorithms.overall_worst if rule == "worst" else algorithms.overall_robins_i)(classes)
    for label, c in tool.overall["classes"].items():
        if c == cls:
            return label
    return None


def is_derived(tool: Tool, item: str) -> bool:
    """Whether the tool derives this domain's (or the overall) judgement."""
    if item == OVERALL:
        return tool.derives_overall
    return bool(tool.by_id[item].get("algorithm")) if item in tool.by_id else False


def view(tool: Tool, entries: dict[str, dict]) -> dict:
    """One assessor's (or the consensus') assessment of a study from {item: entry row}:
    {'answers': {qid: value}, 'domains': {did: J}, 'overall': J}, where J is {'value',
    'derived', 'override' (bool), 'reason'}; value None while it cannot be told."""
    answers = {i: e["value"] for i, e in entries.items() if i in tool.questions}
    domains = {}
    for d in tool.domains:
        derived = derive_domain(d, answers)
        entry = entries.get(d["id"])
        value = entry["value"] if entry else derived
        domains[d["id"]] = {"value": value, "derived": derived,
                            "override": bool(entry) and is_derived(tool, d["id"]),
                            "reason": entry.get("reason") if entry else None}
    derived = derive_overall(tool, {k: v["value"] for k, v in domains.items()})
    entry = entries.get(OVERALL)
    overall = {"value": entry["value"] if entry else derived, "derived": derived,
               "override": bool(entry) and tool.derives_overall,
               "reason": entry.get("reason") if entry else None}
    return {"answers": answers, "domains": domains, "overall": overall}


def live_entries(review: Review, tool: str, study: str | None = None) -> list[dict]:
    """Current (not superseded) rows of a tool, in entry order."""
    sql = "select * from appraisal_entries where tool = ? and superseded_at is null"
    args = [tool]
    if study is not None:
        sql += " and study = ?"
        args.append(study)
    return [dict(r) for r in review.db.query(sql + " order by id", args)]


def by_assessor(review: Review, tool: Tool) -> dict[str, dict[str, dict[str, dict]]]:
    """{study: {assessor: {item: entry}}} of the assessors' own (not adjudicated) entries."""
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for row in live_entries(review, tool.name):
        if row["origin"] != "resolution":
            out.setdefault(row["study"], {}).setdefault(row["assessor"], {})[row["item"]] = row
    return out


def resolutions(review: Review, tool: Tool) -> dict[str, dict[str, dict]]:
    """{study: {item: the adjudicated entry}}."""
    out: dict[str, dict[str, dict]] = {}
    for row in live_entries(review, tool.name):
        if row["origin"] == "resolution":
            out.setdefault(row["study"], {})[row["item"]] = row
    return out


def assessor_views(review: Review, tool: Tool) -> dict[str, dict[str, dict]]:
    """{study: {assessor: :func:`view`}}."""
    return {s: {a: view(tool, items) for a, items in by.items()}
            for s, by in by_assessor(review, tool).items()}


def _same(values: list) -> bool:
    return all(v is not None for v in values) and len(set(values)) == 1


def final_assessments(review: Review, tool: Tool) -> dict[str, dict]:
    """{study: {'domains': {did: F}, 'overall': F, 'assessors': [...]}} where F is
    {'value', 'state'}; state is 'resolved', 'agreed' (two or more assessors alike),
    'single' (the only assessor), 'derived' (from final answers or final domains),
    'incomplete' (not yet judged) or 'conflict' (value None)."""
    views = assessor_views(review, tool)
    res = resolutions(review, tool)
    out = {}
    for study in sorted(set(views) | set(res)):
        vs = views.get(study, {})
        rs = res.get(study, {})
        # the final answers: adjudicated, else every assessor alike
        answers = {}
        for qid in tool.questions:
            if qid in rs:
                answers[qid] = rs[qid]["value"]
            else:
                given = [v["answers"].get(qid) for v in vs.values()]
                if given and _same(given):
                    answers[qid] = given[0]
        domains = {}
        for d in tool.domains:
            did = d["id"]
            domains[did] = _final(did, rs, [v["domains"][did] for v in vs.values()],
                                  lambda d=d: derive_domain(d, answers))
        overall = _final(OVERALL, rs, [v["overall"] for v in vs.values()],
                         lambda: derive_overall(tool, {k: f["value"] for k, f in
                                                       domains.items()}))
        out[study] = {"domains": domains, "overall": overall, "assessors": sorted(vs)}
    return out


def _final(item: str, res: dict, judged: list[dict], derive) -> dict:
    if item in res:
        return {"value": res[item]["value"], "state": "resolved"}
    values = [j["value"] for j in judged]
    if values and _same(values):
        return {"value": values[0], "state": "single" if len(values) == 1 else "agreed"}
    if not any(j["override"] for j in judged):
        derived = derive()
        if derived is not None:
            return {"value": derived, "state": "derived"}
    if not values or None in values:
        return {"value": None, "state": "incomplete"}
    return {"value": None, "state": "conflict"}


def save_entry(review: Review, tool: Tool, study: str, item: str, text, assessor: str, *,
               support: str | None = None, source: str | None = None,
               reason: str | None = None, origin: str = "entry", note: str | None = None,
               log: bool = True) -> int | None:
    """Validate and save one answer (caller holds the transaction); returns the row id, or
    None when a judgement entered on a derived item equals what is derived (nothing to
    override). ``study`` must be a study label. An override of a derived judgement needs a
    ``reason`` (an adjudicator's ``note`` serves as one)."""
    try:
        item, value = tool.canonical(item, text)
    except ValueError as exc:
        raise ReviewError(str(exc), record=f"study {study}", column=item) from None
    register_tool(review, tool)
    if origin != "resolution" and is_derived(tool, item):
        mine = {r["item"]: r for r in live_entries(review, tool.name, study)
                if r["assessor"] == assessor and r["origin"] != "resolution"
                and r["item"] != item}
        derived = view(tool, mine)["overall" if item == OVERALL else "domains"]
        derived = derived["derived"] if item == OVERALL else derived[item]["derived"]
        if derived == value:  # nothing to override; an earlier override is withdrawn
            cur = review.db.execute(
                "update appraisal_entries set superseded_at = ? where study = ? and tool = ? "
                "and item = ? and assessor = ? and origin != 'resolution' and superseded_at "
                "is null", [now_iso(), study, tool.name, item, assessor])
            if cur.rowcount and log:
                review.log("appraisal_override_withdrawn", {"study": study, "tool": tool.name,
                                                            "item": item, "value": value},
                           actor=assessor)
            return None
        if not (reason or "").strip():
            what = f"derives {derived!r}" if derived is not None else \
                "derives it from the answers (not all given yet)"
            raise ReviewError(f"{item}: the tool {what}; an override to {value!r} needs a "
                              "reason", record=f"study {study}", column="reason")
    key = [study, tool.name, item]
    if origin == "resolution":
        review.db.execute(
            "update appraisal_entries set superseded_at = ? where study = ? and tool = ? and "
            "item = ? and origin = 'resolution' and superseded_at is null", [now_iso()] + key)
    else:
        review.db.execute(
            "update appraisal_entries set superseded_at = ? where study = ? and tool = ? and "
            "item = ? and assessor = ? and origin != 'resolution' and superseded_at is null",
            [now_iso()] + key + [assessor])
    row_id = review.db["appraisal_entries"].insert({
        "study": study, "tool": tool.name, "item": item, "assessor": assessor,
        "value": value, "reason": (reason or "").strip() or None,
        "support": (support or "").strip() or None, "source": (source or "").strip() or None,
        "origin": origin, "note": (note or "").strip() or None, "entered_at": now_iso(),
        "superseded_at": None}).last_pk
    if log:
        review.log(f"appraisal_{origin}", {"id": row_id, "study": study, "tool": tool.name,
                                           "item": item, "value": value,
                                           **({"reason": reason} if reason else {})},
                   actor=assessor)
    return row_id


def add_support(review: Review, row_id: int, support: str | None, source: str | None,
                assessor: str) -> None:
    """Add the supporting quote and its source to a saved answer (a second transaction: the
    answer is saved before the quote is asked, so a crash there keeps it)."""
    support = (support or "").strip() or None
    source = (source or "").strip() or None
    review.db.execute("update appraisal_entries set support = ?, source = ? where id = ?",
                      [support, source, row_id])
    review.log("appraisal_support", {"id": row_id, "support": support, "source": source},
               actor=assessor)
