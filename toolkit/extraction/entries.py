"""Saving and reading extracted values (table ``extraction_values``).

Each value is saved at once, in its own transaction, with its extractor, time and optional
source quote and page. Re-entering a value supersedes the extractor's earlier one (kept).
The *final* value of a study's field is: the latest adjudicated value if any; else the value
every extractor of the study gave alike (or the only extractor's); else a conflict. The
extractors of a study are those who entered any value for it; once there are two, a field one
of them left out is a conflict too (as ``--compare`` lists it), until it is adjudicated.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ReviewError
from ..fulltext import read_csv_rows, included_studies, raise_cell_errors, resolve_study
from ..store import Review, now_iso
from .forms import Form, check_instance, register_form, replacing_key
from .values import (NOT_REPORTED, format_value, from_row, is_not_reported_text, parse_value,
                     to_json, unit_of)

IMPORT_COLUMNS = ("study", "field", "value", "instance", "extractor", "quote", "page", "source",
                  "source_url", "note", "unit", "derived")
# `source_url` is another name for `source`; `unit`, when given, must be the field's unit (any
# case and spacing) -- for a field without a unit in the form it is kept in the note, as
# `derived` (how a value was worked out from the source, e.g. "0: 'no complications'") is.


def canonical_instance(review: Review, form: Form, study: str, instance: str) -> str:
    """Instance names (arms, time points) match ignoring case and spacing: the spelling first
    stored for this study and form is kept (the export has one row per instance name)."""
    if not instance:
        return instance
    folded = " ".join(instance.split()).casefold()
    for row in review.db.query(
            "select instance from extraction_values where study = ? and form = ? "
            "and instance != '' order by id", [study, form.name]):
        if " ".join(row["instance"].split()).casefold() == folded:
            return row["instance"]
    return " ".join(instance.split())


def save_value(review: Review, form: Form, study: str, field_name: str, text, extractor: str,
               *, instance: str | None = None, quote: str | None = None,
               page: str | None = None, origin: str = "entry", note: str | None = None,
               source: str | None = None, log: bool = True) -> int:
    """Validate and save one value (caller holds the transaction); returns the row id.

    ``study`` must be a study label (see :func:`toolkit.fulltext.resolve_study`)."""
    field = form.by_name.get(field_name)
    if field is None:
        raise ReviewError(f"form {form.name} has no field {field_name!r}")
    try:
        value = parse_value(field, text)
        instance = check_instance(field, instance)
    except ValueError as exc:
        raise ReviewError(str(exc), record=f"study {study}", column=field_name) from None
    register_form(review, form)
    instance = canonical_instance(review, form, study, instance)
    key = [study, form.name, field_name, instance]
    if origin == "resolution":
        review.db.execute(
            "update extraction_values set superseded_at = ? where study = ? and form = ? and "
            "field = ? and instance = ? and origin = 'resolution' and superseded_at is null",
            [now_iso()] + key)
    else:
        review.db.execute(
            "update extraction_values set superseded_at = ? where study = ? and form = ? and "
            "field = ? and instance = ? and extractor = ? and origin != 'resolution' "
            "and superseded_at is null", [now_iso()] + key + [extractor])
    row_id = review.db["extraction_values"].insert({
        "study": study, "form": form.name, "field": field_name, "instance": instance,
        "extractor": extractor,
        "status": "not_reported" if value is NOT_REPORTED else "reported",
        "value": to_json(value), "raw": str(text).strip(), "quote": quote or None,
        "page": (str(page).strip() or None) if page is not None else None,
        "source": source or None, "origin": origin, "note": note, "entered_at": now_iso(), "superseded_at": None,
    }).last_pk
    if log:
        review.log(f"extraction_{origin}", {"id": row_id, "study": study, "form": form.name,
                                            "field": field_name, "instance": instance,
                                            "value": format_value(value)}, actor=extractor)
    return row_id


def add_source(review: Review, row_id: int, quote: str | None, page: str | None,
               extractor: str) -> None:
    """Add the source quote and page to a saved value (caller holds the transaction): the
    prompts save a value first and ask for its source after, so a crash at the question
    keeps the value."""
    quote = (quote or "").strip() or None
    page = (str(page).strip() or None) if page is not None else None
    review.db.execute("update extraction_values set quote = ?, page = ? where id = ?",
                      [quote, page, row_id])
    review.log("extraction_source", {"id": row_id, "quote": quote, "page": page},
               actor=extractor)


def live_rows(review: Review, form_name: str, study: str | None = None) -> list[dict]:
    """Current (not superseded) rows of a form, with ``parsed`` values, in entry order."""
    sql = ("select * from extraction_values where form = ? and superseded_at is null")
    args = [form_name]
    if study is not None:
        sql += " and study = ?"
        args.append(study)
    out = []
    for row in review.db.query(sql + " order by id", args):
        row = dict(row)
        row["parsed"] = from_row(row["status"], row["value"])
        out.append(row)
    return out


def study_extractors(rows: list[dict]) -> dict[str, set[str]]:
    """{study: the extractors who entered any live value for it (adjudicators not counted)}."""
    out: dict[str, set[str]] = {}
    for row in rows:
        if row["origin"] != "resolution":
            out.setdefault(row["study"], set()).add(row["extractor"])
    return out


def cell_agrees(values: dict, extractors: set[str]) -> bool:
    """Whether a cell ({extractor: parsed value}) is settled without adjudication: every
    extractor of the study gave it, all alike. The one rule of ``final_values`` and
    ``compare.disagreements``."""
    vals = list(values.values())
    return set(values) == set(extractors) and all(values_equal(vals[0], v) for v in vals[1:])


def final_values(review: Review, form: Form) -> dict[tuple, dict]:
    """{(study, field, instance): {'state', 'value', 'by'}}; state is 'resolved', 'agreed'
    (two or more extractors, same value), 'single' (the study's only extractor) or
    'conflict' (the extractors differ, or a study with two or more extractors has the cell
    from only some of them), with value None."""
    rows = live_rows(review, form.name)
    extractors = study_extractors(rows)
    grouped: dict[tuple, dict] = {}
    for row in rows:
        key = (row["study"], row["field"], row["instance"])
        g = grouped.setdefault(key, {"resolution": None, "by": {}})
        if row["origin"] == "resolution":
            g["resolution"] = row
        else:
            g["by"][row["extractor"]] = row
    out = {}
    for key, g in grouped.items():
        if g["resolution"] is not None:
            out[key] = {"state": "resolved", "value": g["resolution"]["parsed"],
                        "by": [g["resolution"]["extractor"]]}
            continue
        parsed = {e: r["parsed"] for e, r in g["by"].items()}
        if cell_agrees(parsed, extractors.get(key[0], set())):
            first = next(iter(g["by"].values()))
            out[key] = {"state": "agreed" if len(g["by"]) > 1 else "single",
                        "value": first["parsed"], "by": sorted(g["by"])}
        else:
            out[key] = {"state": "conflict", "value": None, "by": sorted(g["by"])}
    return out


def _cmp_key(value) -> str:
    if value is NOT_REPORTED:
        return "NR"
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    return to_json(value)


def values_equal(a, b) -> bool:
    """Whether two parsed values are the same answer (text ignores case and spacing)."""
    return _cmp_key(a) == _cmp_key(b)


def with_unit(field: dict, text, unit: str) -> str:
    """The value text of an ``n of N`` field with ``units:`` whose unit is given apart (the
    import's ``unit`` column): the unit appended, or checked against the one the text names.
    "Not reported" takes no unit."""
    text = str(text or "").strip()
    if not text or is_not_reported_text(text):
        return text
    wanted = unit_of(field["units"], unit, unit)
    try:
        value = parse_value(field, text)
    except ValueError:
        return f"{text} {wanted}"
    if value["unit"] != wanted:
        raise ValueError(f"the value says {value['unit']} but the unit column {unit!r}")
    return text


def import_values_csv(review: Review, path: str | Path, form: Form,
                      extractor: str | None = None) -> dict:
    """Bulk entry from a long CSV (columns ``IMPORT_COLUMNS``; ``study``, ``field``, ``value``
    required, ``extractor`` unless given). Every invalid cell is reported (file, row, column,
    why); nothing is written unless all are valid. Returns {'imported': n, 'studies': k}."""
    path = Path(path)
    rows = read_csv_rows(path)
    header = list(rows[0].keys()) if rows else []
    missing = [c for c in ("study", "field", "value") if c not in header]
    if missing:
        raise ReviewError(f"missing columns {missing}; expected {list(IMPORT_COLUMNS)}",
                          file=path)
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    if unknown:
        raise ReviewError(f"unknown columns {unknown}; expected {list(IMPORT_COLUMNS)}",
                          file=path)
    studies = included_studies(review)
    errors, todo, seen = [], [], {}
    for line, row in enumerate(rows, start=2):
        ref = (row.get("study") or "").strip()
        study = resolve_study(review, ref, studies) if ref else None
        if not ref:
            errors.append((line, "study", "empty"))
        elif study is None:
            errors.append((line, "study", f"{ref!r} is not an included study (nor one of its "
                                          "reports)"))
        who = (row.get("extractor") or "").strip() or extractor
        if not who:
            errors.append((line, "extractor", "empty, and no --extractor given"))
        fname = (row.get("field") or "").strip()
        field = form.by_name.get(fname)
        if field is None:
            errors.append((line, "field", f"{fname!r} is not a field of form {form.name}"))
            continue
        unit = " ".join((row.get("unit") or "").split())
        if unit and field.get("unit") and unit.casefold() != " ".join(
                str(field["unit"]).split()).casefold():
            errors.append((line, "unit", f"{unit!r} is not the unit of field {fname} "
                                         f"({field['unit']})"))
        text = row.get("value")
        if field.get("units") and unit:
            try:
                text = with_unit(field, text, unit)
            except ValueError as exc:
                errors.append((line, "unit", str(exc)))
                continue
        try:
            parse_value(field, text)
        except ValueError as exc:
            errors.append((line, "value", str(exc)))
            continue
        try:
            instance = check_instance(field, row.get("instance"))
        except ValueError as exc:
            errors.append((line, "instance", str(exc)))
            continue
        if study is None or not who:
            continue
        key = replacing_key(study, fname, instance, who)
        if key in seen:
            errors.append((line, "field", f"{fname} of study {study} by {who} is already on "
                                          f"row {seen[key]}"))
            continue
        seen[key] = line
        note = "; ".join(x for x in ((row.get("note") or "").strip(),
                                     ("derived: " + row["derived"].strip())
                                     if (row.get("derived") or "").strip() else "",
                                     f"unit: {unit}" if unit and not field.get("unit")
                                     and not field.get("units") else "") if x)
        source = (row.get("source") or row.get("source_url") or "").strip() or None
        todo.append((study, fname, text, who, instance, row.get("quote"),
                     row.get("page"), note or None, source))
    if errors:
        raise_cell_errors(path, errors)
    with review.atomic():
        # a changed form is checked against the stored values this import does not replace
        register_form(review, form, {replacing_key(t[0], t[1], t[4], t[3]) for t in todo})
        for study, fname, text, who, instance, quote, page, note, source in todo:
            save_value(review, form, study, fname, text, who, instance=instance,
                       quote=(quote or "").strip() or None, page=page, origin="import",
                       note=note, source=source, log=False)
        review.log("extraction_import", {"file": str(path), "form": form.name,
                                         "rows": len(todo)})
    return {"imported": len(todo), "studies": len({t[0] for t in todo}), "file": str(path)}
