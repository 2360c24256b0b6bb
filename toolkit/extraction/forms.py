"""Extraction forms: a YAML file of typed fields, validated when loaded.

Shape (see docs/fulltext_extraction.md)::

    name: cryoablation            # optional; defaults to the file name
    title: "..."                  # optional
    fields:
      - name: patients            # identifier: letters, digits, _; unique
        label: Patients           # shown in prompts (defaults to name)
        type: integer             # one of values.TYPES ("n of N", "mean (SD)", ... accepted)
        unit: patients            # optional
        units: [patients, tumours] # n of N only: what may be counted; each value names one
        min: 1                    # optional range (numeric and compound types)
        max: 10000
        choices: [a, b]           # choice only: required, unique
        required: true            # default false: prompts insist on an answer (NR allowed)
        help: "..."               # optional
        level: study              # study (default) | arm | timepoint
        n_field: patients         # mean (SD) only: the integer field giving n for SD derivation
    outcomes:                     # optional: what `--export --outcome NAME` writes
      local_control: {measure: proportion, events: ltc}           # events: an n of N field
      female: {measure: proportion, events: female_n, total: patients}  # or integer + integer
      age: {measure: mean, value: age, n: patients}
      pain: {measure: mean_change, pre: pain_pre, post: pain_post, n: patients,
             r: pain_r, timepoint: pain_timepoint}                 # r, timepoint optional
    # every outcome may add `covariates: [field, ...]` (moderator / subgroup columns)
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import yaml

from ..errors import ReviewError
from ..store import Review, now_iso
from .values import (NOT_REPORTED, NUMERIC_TYPES, TYPE_ALIASES, TYPES, parse_value,
                     to_json)

LEVELS = ("study", "arm", "timepoint")
FIELD_KEYS = {"name", "label", "type", "unit", "units", "min", "max", "choices", "required",
              "help", "level", "n_field"}
RANGE_TYPES = NUMERIC_TYPES + ("n_of_N", "mean_sd", "median_iqr")
WHOLE_TYPES = ("integer", "n_of_N")  # their range bounds are whole numbers
# The type names as form files and the docs spell them (internal name -> documented spelling).
SPELLINGS = {"integer": "integer", "number": "number", "percent": "percent", "text": "text",
             "choice": "choice", "boolean": "boolean", "date": "date", "n_of_N": "n of N",
             "mean_sd": "mean (SD)", "median_iqr": "median (IQR or range)"}
# measure -> {role: (required?, allowed types)}
MEASURES = {
    "proportion": {"events": (True, ("n_of_N", "integer")), "total": (False, ("integer",))},
    "mean": {"value": (True, ("mean_sd",)), "n": (True, ("integer",))},
    "mean_change": {"pre": (True, ("mean_sd",)), "post": (True, ("mean_sd",)),
                    "n": (True, ("integer",)), "r": (False, ("number",)),
                    "timepoint": (False, ("text", "number", "integer"))},
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Form:
    """A validated form: ``name``, ``title``, ``fields`` (list of dicts, in order),
    ``by_name``, ``outcomes`` and the source ``text``."""

    def __init__(self, name: str, title: str | None, fields: list[dict], outcomes: dict,
                 text: str):
        self.name, self.title, self.fields, self.outcomes, self.text = (
            name, title, fields, outcomes, text)
        self.by_name = {f["name"]: f for f in fields}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def parse_form(text: str, *, source: str = "<form>", default_name: str | None = None) -> Form:
    """Validate form YAML; every problem is a ReviewError naming the file and field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ReviewError(f"not valid YAML: {exc}", file=source) from None
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
        raise ReviewError("a form is a mapping with a list 'fields:'", file=source)
    unknown = set(data) - {"name", "title", "version", "description", "fields", "outcomes"}
    if unknown:
        raise ReviewError(f"unknown top-level keys {sorted(unknown)}", file=source)
    name = str(data.get("name") or default_name or "").strip()
    if not _NAME.match(name):
        raise ReviewError(f"form name {name!r} must be letters, digits and _", file=source)
    fields = []
    seen = set()
    for i, raw in enumerate(data["fields"], start=1):
        where = f"field {i}"
        if not isinstance(raw, dict):
            raise ReviewError("each field is a mapping (name:, type:, ...)", file=source,
                              record=where)
        fname = raw.get("name")
        if not isinstance(fname, str) or not _NAME.match(fname):
            raise ReviewError(f"name {fname!r} must be an identifier (letters, digits, _)",
                              file=source, record=where)
        where = f"field {i} ({fname})"
        if fname in seen:
            raise ReviewError(f"duplicate field name {fname!r}", file=source, record=where)
        seen.add(fname)
        extra = set(raw) - FIELD_KEYS
        if extra:
            raise ReviewError(f"unknown keys {sorted(extra)}; allowed: {sorted(FIELD_KEYS)}",
                              file=source, record=where)
        kind = TYPE_ALIASES.get(str(raw.get("type")), raw.get("type"))
        if not isinstance(kind, str) or kind not in TYPES:
            raise ReviewError(f"unknown type {raw.get('type')!r}; one of "
                              f"{', '.join(SPELLINGS.values())}", file=source, record=where)
        for key in ("label", "unit", "help"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise ReviewError(f"{key} must be text, got {raw[key]!r} (quote it: "
                                  f"{key}: \"{raw[key]}\")", file=source, record=where)
        f = {"name": fname, "label": raw.get("label") or fname, "type": kind,
             "unit": raw.get("unit"), "help": raw.get("help"),
             "required": raw.get("required", False), "level": raw.get("level", "study")}
        if not isinstance(f["required"], bool):
            raise ReviewError("required must be true or false", file=source, record=where)
        if f["level"] not in LEVELS:
            raise ReviewError(f"level {f['level']!r} is not one of {', '.join(LEVELS)}",
                              file=source, record=where)
        for key in ("min", "max"):
            if key in raw:
                if kind not in RANGE_TYPES:
                    raise ReviewError(f"{key} is not allowed for type {SPELLINGS[kind]}",
                                      file=source, record=where)
                bound = raw[key]
                if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                    raise ReviewError(f"{key} must be a number, got {bound!r}", file=source,
                                      record=where)
                if not math.isfinite(bound):
                    raise ReviewError(f"{key} must be a finite number, got {bound!r}",
                                      file=source, record=where)
                if kind in WHOLE_TYPES:
                    if not float(bound).is_integer():
                        raise ReviewError(f"{key} of a{'n' if kind == 'integer' else ''} "
                                          f"{SPELLINGS[kind]} field must be a whole number, "
                                          f"got {bound!r}", file=source, record=where)
                    bound = int(bound)
                f[key] = bound
        if "min" in f and "max" in f and f["min"] > f["max"]:
            raise ReviewError(f"bad range: min {f['min']} > max {f['max']}", file=source,
                              record=where)
        if kind == "percent" and (f.get("min", 0) < 0 or f.get("max", 100) > 100):
            raise ReviewError("a percent range must lie within 0 to 100", file=source,
                              record=where)
        if kind == "choice":
            choices = raw.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ReviewError("a choice field needs choices: [a non-empty list of text]",
                                  file=source, record=where)
            odd = [c for c in choices if not isinstance(c, str)]
            if odd:
                raise ReviewError(
                    f"choices must be text, but YAML read {odd!r} as "
                    f"{'true/false' if all(isinstance(c, bool) for c in odd) else 'not text'}"
                    " (unquoted yes, no, on, off, true, false and numbers are not text): quote "
                    "them, e.g. choices: [\"yes\", \"no\"]", file=source, record=where)
            if not all(c.strip() for c in choices):
                raise ReviewError("a choice field needs choices: [a non-empty list of text]",
                                  file=source, record=where)
            folded = [c.casefold() for c in choices]
            if len(set(folded)) != len(folded):
                raise ReviewError(f"duplicate choices in {choices}", file=source, record=where)
            f["choices"] = [c.strip() for c in choices]
        elif "choices" in raw:
            raise ReviewError(f"choices are only for type choice, not {SPELLINGS[kind]}",
                              file=source, record=where)
        if "units" in raw:
            units = raw["units"]
            if kind != "n_of_N":
                raise ReviewError("units: is only for n of N fields (other fields have one "
                                  "unit:)", file=source, record=where)
            if raw.get("unit") is not None:
                raise ReviewError("give either unit: (one) or units: (a list to choose from), "
                                  "not both", file=source, record=where)
            if (not isinstance(units, list) or not units
                    or not all(isinstance(u, str) and re.fullmatch(r"[A-Za-z][\w-]*", u)
                               for u in units)):
                raise ReviewError(f"units must be a non-empty list of single words, got "
                                  f"{units!r}", file=source, record=where)
            if len({u.casefold() for u in units}) != len(units):
                raise ReviewError(f"duplicate units in {units}", file=source, record=where)
            f["units"] = list(units)
        if "n_field" in raw:
            if kind != "mean_sd":
                raise ReviewError("n_field is only for mean (SD) fields", file=source,
                                  record=where)
            f["n_field"] = raw["n_field"]
        fields.append(f)
    if not fields:
        raise ReviewError("the form has no fields", file=source)
    by_name = {f["name"]: f for f in fields}
    for f in fields:
        if "n_field" in f:
            ref = by_name.get(f["n_field"])
            if ref is None or ref["type"] != "integer":
                raise ReviewError(f"n_field {f['n_field']!r} is not an integer field of the "
                                  "form", file=source, record=f"field {f['name']}")
    outcomes = _parse_outcomes(data.get("outcomes") or {}, by_name, source)
    return Form(name, data.get("title"), fields, outcomes, text)


def _parse_outcomes(raw, by_name: dict, source: str) -> dict:
    if not isinstance(raw, dict):
        raise ReviewError("outcomes must be a mapping of name: {measure: ...}", file=source)
    out = {}
    for oname, spec in raw.items():
        where = f"outcome {oname}"
        if not _NAME.match(str(oname)):
            raise ReviewError("outcome names are identifiers", file=source, record=where)
        if not isinstance(spec, dict) or spec.get("measure") not in MEASURES:
            raise ReviewError(f"measure must be one of {', '.join(MEASURES)}", file=source,
                              record=where)
        roles = MEASURES[spec["measure"]]
        extra = set(spec) - set(roles) - {"measure", "covariates", "label"}
        if extra:
            raise ReviewError(f"unknown keys {sorted(extra)} for measure {spec['measure']}",
                              file=source, record=where)
        for role, (needed, types) in roles.items():
            if role not in spec:
                if needed:
                    raise ReviewError(f"missing {role}: (a field name)", file=source,
                                      record=where)
                continue
            f = by_name.get(spec[role])
            if f is None:
                raise ReviewError(f"{role}: {spec[role]!r} is not a field of the form",
                                  file=source, record=where)
            if f["type"] not in types:
                raise ReviewError(f"{role}: field {f['name']!r} has type "
                                  f"{SPELLINGS[f['type']]}, needs "
                                  f"{' or '.join(SPELLINGS[t] for t in types)}", file=source,
                                  record=where)
        if spec["measure"] == "proportion":
            etype = by_name[spec["events"]]["type"]
            if etype == "integer" and "total" not in spec:
                raise ReviewError("events is an integer field, so total: is needed",
                                  file=source, record=where)
            if etype == "n_of_N" and "total" in spec:
                raise ReviewError("events is an n of N field; it has its own total",
                                  file=source, record=where)
            if etype == "integer":
                eu, tu = by_name[spec["events"]].get("unit"), by_name[spec["total"]].get("unit")
                if eu and tu and eu.casefold() != tu.casefold():
                    raise ReviewError(f"events are counted in {eu} but the total in {tu}: "
                                      "a proportion needs one unit of analysis", file=source,
                                      record=where)
        covs = spec.get("covariates") or []
        if not isinstance(covs, list) or any(c not in by_name for c in covs):
            raise ReviewError(f"covariates must be a list of field names, got {covs!r}",
                              file=source, record=where)
        levels = {by_name[spec[r]]["level"] for r in roles if r in spec} - {"study"}
        if len(levels) > 1:
            raise ReviewError(f"its fields mix levels {sorted(levels)}", file=source,
                              record=where)
        out[str(oname)] = dict(spec, covariates=list(covs))
    return out


def load_form(path: str | Path) -> Form:
    """Read and validate a form file."""
    path = Path(path)
    if not path.exists():
        raise ReviewError("form file not found", file=path)
    return parse_form(path.read_text(encoding="utf-8"), source=str(path),
                      default_name=path.stem)


def forms_dir(review: Review) -> Path:
    """``extraction/forms/`` in the folder that holds the review store."""
    return review.path.resolve().parent / "extraction" / "forms"


def find_form(review: Review, name: str | None) -> Form:
    """The form called ``name`` (a path to a YAML file, a file in ``extraction/forms/``, or a
    form stored in the review); without a name, the only form there is."""
    if name and (name.endswith((".yaml", ".yml")) or "/" in name):
        return load_form(name)
    folder = forms_dir(review)
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.exists() \
        else []
    if name:
        for p in files:
            if p.stem == name:
                return load_form(p)
        stored = stored_form(review, name)
        if stored is not None:
            return stored
        raise ReviewError(f"no form {name!r} in {folder} or in the review")
    stored_names = [r["name"] for r in review.db.query("select name from extraction_forms")]
    names = sorted({p.stem for p in files} | set(stored_names))
    if len(names) == 1:
        return find_form(review, names[0])
    if not names:
        raise ReviewError(f"no extraction form: put one in {folder} or pass --form PATH")
    raise ReviewError(f"several forms ({', '.join(names)}): choose one with --form NAME")


def stored_form(review: Review, name: str) -> Form | None:
    rows = list(review.db.query("select yaml from extraction_forms where name = ?", [name]))
    if not rows:
        return None
    return parse_form(rows[0]["yaml"], source=f"form {name} (stored)", default_name=name)


def stored_forms(review: Review) -> list[Form]:
    return [parse_form(r["yaml"], source=f"form {r['name']} (stored)", default_name=r["name"])
            for r in review.db.query("select name, yaml from extraction_forms order by name")]


def check_instance(field: dict, instance: str | None) -> str:
    """The instance key for a field: '' at study level, a non-empty label otherwise."""
    instance = (instance or "").strip()
    if field["level"] == "study":
        if instance:
            raise ValueError(f"field {field['name']} is study-level and takes no instance")
        return ""
    if not instance:
        raise ValueError(f"field {field['name']} is {field['level']}-level: give the "
                         f"{field['level']} (instance)")
    return instance


def replacing_key(study: str, field: str, instance: str, extractor: str) -> tuple:
    """The key of an extractor's value that a new value of the same cell supersedes
    (instances compared ignoring case and spacing)."""
    return (study, field, " ".join(instance.split()).casefold(), extractor)


def refit_values(review: Review, form: Form,
                 replacing: set | None = None) -> list[tuple[int, str, str | None]]:
    """Re-parse every live (not superseded) stored value of ``form.name`` against ``form``,
    except extractors' values about to be superseded (``replacing``: :func:`replacing_key`
    keys, e.g. the cells of an import made with the new form).

    Returns the rows whose canonical value changes, as (id, status, value JSON); raises one
    ReviewError listing every stored value that does not fit (study, field, instance,
    extractor, value and why) -- a field no longer in the form, a value its new type or range
    refuses, an instance its new level refuses."""
    problems, changes = [], []
    replacing = replacing or set()
    for row in review.db.query(
            "select id, study, field, instance, extractor, origin, status, value, raw "
            "from extraction_values where form = ? and superseded_at is null order by id",
            [form.name]):
        if row["origin"] != "resolution" and replacing_key(
                row["study"], row["field"], row["instance"], row["extractor"]) in replacing:
            continue
        inst = f" [{row['instance']}]" if row["instance"] else ""
        where = (f"study {row['study']}, field {row['field']}{inst}, value {row['raw']!r} "
                 f"(by {row['extractor']})")
        field = form.by_name.get(row["field"])
        if field is None:
            problems.append(f"{where}: the field is no longer in the form")
            continue
        try:
            value = parse_value(field, row["raw"])
            check_instance(field, row["instance"])
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        status = "not_reported" if value is NOT_REPORTED else "reported"
        canonical = to_json(value)
        if (status, canonical) != (row["status"], row["value"]):
            changes.append((row["id"], status, canonical))
    if problems:
        n = len(problems)
        raise ReviewError(
            f"form {form.name} has changed, and {n} stored value{'s' if n != 1 else ''} "
            f"do{'es' if n == 1 else ''} not fit the new form; nothing was changed. Re-enter "
            "them in the new form's terms in one `review extract import FILE.csv` (values "
            "an import replaces are not checked), or keep those fields as they were and add "
            "fields with new names:\n" + "\n".join(problems))
    return changes


def check_form_fits(review: Review, form: Form) -> None:
    """Read-only: when ``form`` differs from the stored form of its name, raise the
    ReviewError of :func:`refit_values` if stored values do not fit it (prompt loops call
    this before the first question)."""
    rows = list(review.db.query("select sha256 from extraction_forms where name = ?",
                                [form.name]))
    if rows and rows[0]["sha256"] != form.sha256:
        refit_values(review, form)


def register_form(review: Review, form: Form, replacing: set | None = None) -> None:
    """Keep the form's text in the store (caller holds the transaction).

    A changed form (same name, other text) is first checked against every live stored value
    of that form but those in ``replacing`` (:func:`refit_values`): if one does not fit,
    nothing changes and the ReviewError names it. Otherwise the new text replaces the stored
    one, values whose canonical form changes with it (e.g. a text field that became a choice)
    are re-stored in the new canonical form (``raw`` is kept), and the replacement is
    logged."""
    rows = list(review.db.query("select sha256 from extraction_forms where name = ?",
                                [form.name]))
    if rows and rows[0]["sha256"] == form.sha256:
        return
    changes = refit_values(review, form, replacing) if rows else []
    for row_id, status, value in changes:
        review.db.execute("update extraction_values set status = ?, value = ? where id = ?",
                          [status, value, row_id])
    review.db["extraction_forms"].upsert({"name": form.name, "yaml": form.text,
                                          "sha256": form.sha256, "loaded_at": now_iso()},
                                         pk="name")
    review.log("extraction_form", {"name": form.name, "sha256": form.sha256,
                                   "replaced": bool(rows),
                                   **({"revalued": [c[0] for c in changes]} if changes else {})})
