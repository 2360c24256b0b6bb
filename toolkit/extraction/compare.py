"""Double extraction: list disagreements between extractors and record adjudicated values."""

from __future__ import annotations

from ..fulltext import included_study, study_sort_key
from ..store import Review
from .entries import cell_agrees, live_rows, save_value
from .forms import Form, check_form_fits
from .values import format_value, parse_value


def disagreements(review: Review, form: Form, *, include_resolved: bool = False) -> list[dict]:
    """Every (study, field, instance) where the extractors of a study disagree.

    A study counts as double-extracted once two or more extractors entered any value in it;
    then a value one of them left out is a disagreement too (shown as ``None``).
    Returns dicts {study, field, instance, values: {extractor: text or None}, resolved:
    text or None}, in study and form order."""
    by_study: dict[str, dict] = {}
    for row in live_rows(review, form.name):
        s = by_study.setdefault(row["study"], {"extractors": set(), "cells": {}, "res": {}})
        key = (row["field"], row["instance"])
        if row["origin"] == "resolution":
            s["res"][key] = row["parsed"]
            continue
        s["extractors"].add(row["extractor"])
        s["cells"].setdefault(key, {})[row["extractor"]] = row["parsed"]
    order = {f["name"]: i for i, f in enumerate(form.fields)}
    out = []
    for study in sorted(by_study, key=study_sort_key):
        s = by_study[study]
        if len(s["extractors"]) < 2:
            continue
        for key in sorted(s["cells"], key=lambda k: (order.get(k[0], 1e9), k[0], k[1])):
            cell = s["cells"][key]
            if cell_agrees(cell, s["extractors"]):  # the rule of entries.final_values
                continue
            resolved = s["res"].get(key)
            if resolved is not None and not include_resolved:
                continue
            out.append({"study": study, "field": key[0], "instance": key[1],
                        "values": {e: (format_value(cell[e]) if e in cell else None)
                                   for e in sorted(s["extractors"])},
                        "resolved": None if resolved is None else format_value(resolved)})
    return out


def resolve(review: Review, form: Form, study_ref: str, field: str, text: str,
            adjudicator: str, *, instance: str | None = None, note: str | None = None) -> int:
    """Record the adjudicated value of a study's field (audit: the extractors' values stay).
    Caller holds the transaction. Returns the row id."""
    study = included_study(review, study_ref)
    return save_value(review, form, study, field, text, adjudicator, instance=instance,
                      origin="resolution", note=note)


def run_resolve(review: Review, form: Form, adjudicator: str, *, ask, echo) -> dict:
    """Walk through the unresolved disagreements and record adjudicated values.

    For each: ``#1``, ``#2``... takes that extractor's value; any other text is the value
    itself (validated); Enter skips; ``q`` (or the end of input, ``ask`` returning None) quits.
    A note (why) is asked after each valid value. Returns {'resolved': n}. A changed form
    that stored values do not fit is refused (ReviewError) before the first question."""
    check_form_fits(review, form)
    resolved = 0
    for d in disagreements(review, form):
        inst = f" [{d['instance']}]" if d["instance"] else ""
        echo(f"study {d['study']} {d['field']}{inst}:")
        names = list(d["values"])
        for i, e in enumerate(names, 1):
            shown = d["values"][e] if d["values"][e] is not None else "(none)"
            echo(f"  #{i} {e}: {shown}")
        while True:
            text = ask("value (#1, #2... takes that extractor's; or type it; Enter skips; "
                       "q quits)")
            if text is None or text.strip().lower() == "q":
                return {"resolved": resolved}
            text = text.strip()
            if not text:
                break
            if text.startswith("#"):
                pick = text[1:].strip()
                if not (pick.isdigit() and 1 <= int(pick) <= len(names)):
                    echo(f"  no extractor {text}")
                    continue
                text = d["values"][names[int(pick) - 1]]
                if text is None:
                    echo("  that extractor has no value; type one")
                    continue
            try:  # validate before asking why
                parse_value(form.by_name[d["field"]], text)
            except ValueError as exc:
                echo(f"  invalid: {exc}")
                continue
            why = (ask("note (why; Enter: none)") or "").strip() or None
            with review.atomic():
                resolve(review, form, d["study"], d["field"], text, adjudicator,
                        instance=d["instance"] or None, note=why)
            resolved += 1
            break
    return {"resolved": resolved}
