"""Bulk entry of appraisal answers from a long CSV (one row per study, item and assessor)."""

from __future__ import annotations

from pathlib import Path

from ..fulltext import check_columns, included_studies, raise_cell_errors, read_csv, study_cell
from ..store import Review
from .assessments import is_derived, live_entries, save_entry, view
from .templates import OVERALL, Tool, register_tool

IMPORT_COLUMNS = ("study", "item", "value", "assessor", "support", "quote", "source",
                  "source_url", "reason", "note", "domain", "question")
# `quote` is another name for `support` and `source_url` for `source`; `domain` and
# `question` are ignored (a reader's aid: the domain's or question's words beside its id).


def import_csv(review: Review, path: str | Path, tool: Tool,
               assessor: str | None = None) -> dict:
    """Import answers (columns ``IMPORT_COLUMNS``; ``study``, ``item``, ``value`` required,
    ``assessor`` unless given). Every invalid cell is reported (file, row, column, why) and
    nothing is written unless all are valid. A judgement on a derived domain (or overall)
    equal to what the answers derive is not stored (it is not an override); one that differs
    needs a ``reason``. Returns {'imported', 'derived_equal', 'studies', 'file'}."""
    path = Path(path)
    header, rows = read_csv(path)
    check_columns(path, header, ("study", "item", "value"), IMPORT_COLUMNS)
    studies = included_studies(review)
    errors, todo, seen = [], [], {}
    for line, row in enumerate(rows, start=2):
        study = study_cell(review, row, line, studies, errors)
        who = (row.get("assessor") or "").strip() or assessor
        if not who:
            errors.append((line, "assessor", "empty, and no --assessor given"))
        try:
            item, value = tool.canonical(row.get("item") or "", row.get("value"))
        except ValueError as exc:
            column = "value" if (row.get("item") or "").strip() and _has_item(tool, row) \
                else "item"
            errors.append((line, column, str(exc)))
            continue
        if study is None or not who:
            continue
        key = (study, item, who)
        if key in seen:
            errors.append((line, "item", f"{item} of study {study} by {who} is already on "
                                         f"row {seen[key]}"))
            continue
        seen[key] = line
        todo.append({"line": line, "study": study, "item": item, "value": value,
                     "assessor": who, "reason": (row.get("reason") or "").strip() or None,
                     "support": row.get("support") or row.get("quote"),
                     "source": row.get("source") or row.get("source_url"),
                     "note": row.get("note")})
    # overrides: judged against the answers this import leaves in place
    skip = set()
    for t in todo:
        if not is_derived(tool, t["item"]):
            continue
        entries = {r["item"]: r for r in live_entries(review, tool.name, t["study"])
                   if r["assessor"] == t["assessor"] and r["origin"] != "resolution"}
        entries.update({u["item"]: u for u in todo if u["study"] == t["study"]
                        and u["assessor"] == t["assessor"]})
        entries.pop(t["item"], None)
        v = view(tool, entries)
        derived = v["overall"]["derived"] if t["item"] == OVERALL else \
            v["domains"][t["item"]]["derived"]
        if derived == t["value"]:
            skip.add(t["line"])
        elif not t["reason"]:
            what = f"the answers derive {derived!r}" if derived is not None else \
                "the tool derives it, but not all the answers it needs are given"
            errors.append((t["line"], "reason", f"{t['item']} = {t['value']!r} overrides a "
                                                f"derived judgement ({what}): give a reason"))
    if errors:
        raise_cell_errors(path, sorted(errors))
    kept = [t for t in todo if t["line"] not in skip]
    with review.atomic():
        register_tool(review, tool)
        for t in kept:
            save_entry(review, tool, t["study"], t["item"], t["value"], t["assessor"],
                       support=t["support"], source=t["source"], reason=t["reason"],
                       origin="import", note=t["note"], log=False)
        review.log("appraisal_import", {"file": str(path), "tool": tool.name,
                                        "rows": len(kept), "derived_equal": len(skip)})
    return {"imported": len(kept), "derived_equal": len(skip),
            "studies": len({t["study"] for t in todo}), "file": str(path)}


def _has_item(tool: Tool, row: dict) -> bool:
    try:
        tool.item((row.get("item") or "").strip())
        return True
    except KeyError:
        return False
