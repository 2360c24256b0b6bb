"""Tidy tables of extracted data, for people and for ``review pool``.

``export_table(review)``: one row per included study (per study x instance when the form has
arm- or timepoint-level fields), every field flattened into columns (see docs). Cells: the
value; ``NR`` = not reported; empty = not extracted; ``CONFLICT`` = extractors disagree and no
adjudicated value yet. Derived columns (``*_percent``, an SD from an SE or CI) are marked: the
``*_sd_derivation`` column gives the formula, empty when the SD was reported.

``outcome_table(review, outcome)``: the columns ``review pool`` takes, one row per study with
every needed value; rows lacking one are left out and listed in ``df.attrs['notes']``:

=============  ==============================================================  ===============
measure        columns                                                         review pool
=============  ==============================================================  ===============
proportion     study, events, total, percent (derived), unit (what was counted)  ``--measure PR|PLO|PFT --events events --total total``
mean           study, mean, sd, n, sd_derivation                               ``--measure MN --mean mean --sd sd --n n``
mean_change    study, mean_pre, sd_pre, mean_post, sd_post, n, [r],            ``--measure MC --mean-pre mean_pre --sd-pre sd_pre
               [timepoint], sd_derivation                                      --mean-post mean_post --sd-post sd_post --n n --r r|VALUE``
=============  ==============================================================  ===============

plus ``arm``/``timepoint`` for arm/timepoint-level outcomes and one column per covariate.
"""

from __future__ import annotations

import pandas as pd

from ..errors import ReviewError
from ..fulltext import final_fulltext, included_studies, report_links, study_of
from ..store import Review
from .derived import percent_from_n_of_N, sd_of
from .entries import final_values
from .forms import Form, register_form, stored_form, stored_forms
from .values import NOT_REPORTED

# Keyword arguments of toolkit.pooling's pool_table for each measure's columns, and the
# measure `review pool` uses by default for it.
POOL_KWARGS = {
    "proportion": {"events": "events", "total": "total", "study": "study", "unit": "unit"},
    "mean": {"mean": "mean", "sd": "sd", "n": "n", "study": "study"},
    "mean_change": {"mean_pre": "mean_pre", "sd_pre": "sd_pre", "mean_post": "mean_post",
                    "sd_post": "sd_post", "n": "n", "study": "study"},
}
DEFAULT_MEASURE = {"proportion": "PLO", "mean": "MN", "mean_change": "MC"}
POOL_ARGS = {
    "proportion": "--measure PLO --events events --total total --study study --unit unit",
    "mean": "--measure MN --mean mean --sd sd --n n --study study",
    "mean_change": ("--measure MC --mean-pre mean_pre --sd-pre sd_pre --mean-post mean_post "
                    "--sd-post sd_post --n n --r {r} --study study"),
}


def _form_for(review: Review, form, outcome: str | None) -> Form:
    if isinstance(form, Form):
        stored = stored_form(review, form.name)
        if stored is not None and stored.sha256 != form.sha256:
            # the form file changed since values were saved with it: check the stored values
            # against it and keep it, as saving a value does (a ReviewError names a value
            # that does not fit, and nothing changes)
            with review.atomic():
                register_form(review, form)
        return form
    if form:
        f = stored_form(review, form)
        if f is None:
            raise ReviewError(f"no extraction form {form!r} in the review (nothing extracted "
                              "with it yet)")
        return f
    forms = stored_forms(review)
    if outcome:
        forms = [f for f in forms if outcome in f.outcomes]
        if not forms:
            known = sorted({o for f in stored_forms(review) for o in f.outcomes})
            raise ReviewError(f"no extraction form in the review defines outcome {outcome!r} "
                              f"(known: {', '.join(known) or 'none'})")
    if not forms:
        raise ReviewError("nothing extracted yet: no form in the review")
    if len(forms) > 1:
        raise ReviewError(f"several forms ({', '.join(f.name for f in forms)}): pass a form")
    return forms[0]


def _flatten(field: dict, value, finals: dict, study: str, instance: str) -> dict:
    """A field's columns for one cell."""
    name, kind = field["name"], field["type"]
    cols = {"n_of_N": ("events", "total", "percent") + (("unit",) if field.get("units") else ()),
            "mean_sd": ("mean", "sd", "sd_derivation"),
            "median_iqr": ("median", "q1", "q3", "min", "max")}.get(kind)
    if cols is None:
        if value is None:
            return {name: None}
        if value is NOT_REPORTED:
            return {name: "NR"}
        if value == "CONFLICT":
            return {name: "CONFLICT"}
        return {name: ("yes" if value else "no") if isinstance(value, bool) else value}
    keys = [f"{name}_{c}" for c in cols]
    if value is None or value is NOT_REPORTED or value == "CONFLICT":
        fill = "NR" if value is NOT_REPORTED else (None if value is None else "CONFLICT")
        return {k: fill for k in keys}
    try:
        return _derive(field, keys, cols, value, finals, study, instance)
    except ValueError as exc:  # a derivation the value cannot have: say whose
        where = f"study {study}" + (f" [{instance}]" if instance else "")
        raise ReviewError(f"cannot derive the columns of {name}: {exc}", record=where,
                          column=name) from None


def _derive(field, keys, cols, value, finals, study, instance) -> dict:
    kind = field["type"]
    if kind == "n_of_N":
        return dict(zip(keys, (value["n"], value["N"],
                               percent_from_n_of_N(value["n"], value["N"]), value.get("unit"))))
    if kind == "median_iqr":
        return {k: value.get(c) for k, c in zip(keys, cols)}
    n = _n_for(field, finals, study, instance)
    sd, how = sd_of(value, n)
    return dict(zip(keys, (value["mean"], sd, how if sd is not None else None)))


def _n_for(field: dict, finals: dict, study: str, instance: str):
    nf = field.get("n_field")
    if not nf:
        return None
    for inst in (instance, ""):
        cell = finals.get((study, nf, inst))
        if cell and cell["state"] != "conflict" and cell["value"] is not NOT_REPORTED:
            return cell["value"]
    return None


def _cell(finals, study, field, instance):
    """The final value of a cell: a value, NOT_REPORTED, 'CONFLICT' or None (not extracted)."""
    for inst in ((instance, "") if field["level"] == "study" and instance else (instance,)):
        key = (study, field["name"], "" if field["level"] == "study" else inst)
        c = finals.get(key)
        if c is not None:
            return "CONFLICT" if c["state"] == "conflict" else c["value"]
    return None


def _instances(finals, study, fields) -> list[str]:
    names = {f["name"] for f in fields if f["level"] != "study"}
    return sorted({k[2] for k in finals if k[0] == study and k[1] in names})


def _tidy(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A DataFrame whose all-whole-number columns stay integers (nullable), so 14 is not
    written as 14.0."""
    data = {}
    for col in columns:
        vals = [r.get(col) for r in rows]
        present = [v for v in vals if v is not None]
        if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            data[col] = pd.array(vals, dtype="Int64")
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                             for v in present):
            data[col] = pd.array([float(v) if v is not None else None for v in vals],
                                 dtype="float64")
        else:
            data[col] = pd.Series(vals, dtype=object)
    return pd.DataFrame(data, columns=columns)


def export_table(review: Review, outcome: str | None = None, form=None) -> pd.DataFrame:
    """All extracted data (``outcome=None``), or the pooling table of one outcome."""
    if outcome is not None:
        return outcome_table(review, outcome, form=form)
    form = _form_for(review, form, None)
    finals = final_values(review, form)
    studies = included_studies(review)
    has_levels = any(f["level"] != "study" for f in form.fields)
    rows, columns = [], ["study", "reports"] + (["instance"] if has_levels else [])
    for f in form.fields:
        columns += list(_flatten(f, None, {}, "", ""))
    for study, reports in studies.items():
        instances = (_instances(finals, study, form.fields) or [""]) if has_levels else [""]
        for inst in instances:
            row = {"study": study, "reports": ";".join(map(str, reports))}
            if has_levels:
                row["instance"] = inst
            for f in form.fields:
                if f["level"] != "study" and not inst:
                    row.update(_flatten(f, None, {}, study, inst))
                    continue
                row.update(_flatten(f, _cell(finals, study, f, inst), finals, study, inst))
            rows.append(row)
    df = _tidy(rows, columns)
    df.attrs["form"] = form.name
    return df


def outcome_table(review: Review, outcome: str, form=None) -> pd.DataFrame:
    """One row per study (x instance for arm/timepoint-level outcomes) in the column names
    ``review pool`` takes; studies lacking a needed value are left out and listed in
    ``df.attrs['notes']``.

    ``df.attrs`` also has 'measure' (proportion, mean, mean_change), 'default_measure' (PLO,
    MN, MC), 'pool_kwargs' (the column keyword arguments of ``toolkit.pooling``'s
    ``pool_table``; for mean_change without an ``r`` field the caller supplies ``r``),
    'pool_args' (the same as ``review pool`` flags), 'form' and 'outcome'."""
    form = _form_for(review, form, outcome)
    if outcome not in form.outcomes:
        raise ReviewError(f"form {form.name} has no outcome {outcome!r} (outcomes: "
                          f"{', '.join(form.outcomes) or 'none'})")
    spec = form.outcomes[outcome]
    measure = spec["measure"]
    f = form.by_name
    role_fields = [f[spec[r]] for r in ("events", "total", "value", "n", "pre", "post", "r",
                                        "timepoint") if r in spec]
    level = next((x["level"] for x in role_fields if x["level"] != "study"), None)
    finals = final_values(review, form)
    rows, notes = [], []
    for study in included_studies(review):
        instances = _instances(finals, study, role_fields) if level else [""]
        if level and not instances:
            notes.append(f"study {study}: left out: no {level} with {outcome} values")
        for inst in instances:
            label = study if not inst else f"{study} [{inst}]"
            row, missing = {"study": study}, []
            if level:
                row[level] = inst

            def get(role, part=None):
                field = f[spec[role]]
                v = _cell(finals, study, field, inst)
                if v is None:
                    missing.append(f"{field['name']} not extracted")
                elif v is NOT_REPORTED:
                    missing.append(f"{field['name']} not reported")
                elif v == "CONFLICT":
                    missing.append(f"{field['name']} unresolved disagreement")
                else:
                    return v
                return None

            if measure == "proportion":
                ev = get("events")
                if "total" in spec:
                    tot = get("total")
                    unit = f[spec["total"]].get("unit") or f[spec["events"]].get("unit")
                else:
                    unit = (ev.get("unit") if ev is not None else None) or \
                        f[spec["events"]].get("unit")
                    tot = ev["N"] if ev is not None else None
                    ev = ev["n"] if ev is not None else None
                if ev is not None and tot is not None:
                    if ev > tot or tot <= 0:
                        missing.append(f"events {ev} > total {tot}" if ev > tot
                                       else "total is 0")
                    else:
                        row.update(events=ev, total=tot, percent=percent_from_n_of_N(ev, tot),
                                   unit=unit)
            elif measure == "mean":
                v, n = get("value"), get("n")
                if v is not None and n is not None:
                    sd, how = sd_of(v, n)
                    if sd is None:
                        missing.append(f"{spec['value']}: {how}")
                    else:
                        row.update(mean=v["mean"], sd=sd, n=n, sd_derivation=how)
            else:
                pre, post, n = get("pre"), get("post"), get("n")
                if pre is not None and post is not None and n is not None:
                    sd_pre, how_pre = sd_of(pre, n)
                    sd_post, how_post = sd_of(post, n)
                    if sd_pre is None:
                        missing.append(f"{spec['pre']}: {how_pre}")
                    if sd_post is None:
                        missing.append(f"{spec['post']}: {how_post}")
                    if sd_pre is not None and sd_post is not None:
                        row.update(mean_pre=pre["mean"], sd_pre=sd_pre, mean_post=post["mean"],
                                   sd_post=sd_post, n=n)
                        if "r" in spec:
                            rv = _cell(finals, study, f[spec["r"]], inst)
                            row["r"] = rv if isinstance(rv, (int, float)) else None
                        if "timepoint" in spec:
                            tv = _cell(finals, study, f[spec["timepoint"]], inst)
                            row["timepoint"] = tv if tv not in (None, NOT_REPORTED,
                                                                "CONFLICT") else None
                        hows = [h for h in (how_pre and f"pre: {how_pre}",
                                            how_post and f"post: {how_post}") if h]
                        row["sd_derivation"] = "; ".join(hows) or None
            if missing:
                notes.append(f"study {label}: left out: {'; '.join(dict.fromkeys(missing))}")
                continue
            for cov in spec["covariates"]:
                row[cov] = _covariate(f[cov], _cell(finals, study, f[cov], inst))
            rows.append(row)
    columns = ["study"] + ([level] if level else []) + {
        "proportion": ["events", "total", "percent", "unit"],
        "mean": ["mean", "sd", "n", "sd_derivation"],
        "mean_change": (["mean_pre", "sd_pre", "mean_post", "sd_post", "n"]
                        + (["r"] if "r" in spec else [])
                        + (["timepoint"] if "timepoint" in spec else []) + ["sd_derivation"]),
    }[measure] + list(spec["covariates"])
    df = _tidy(rows, columns)
    kwargs = dict(POOL_KWARGS[measure], **({"r": "r"} if "r" in spec else {}))
    df.attrs.update(measure=measure, form=form.name, outcome=outcome, notes=notes,
                    pool_args=POOL_ARGS[measure].format(r="r" if "r" in spec else "0.5"),
                    pool_kwargs=kwargs, default_measure=DEFAULT_MEASURE[measure])
    return df


def _covariate(field, v):
    if v is None or v is NOT_REPORTED or v == "CONFLICT":
        return None
    if isinstance(v, dict):
        if "N" in v:
            return percent_from_n_of_N(v["n"], v["N"])
        return v.get("mean", v.get("median"))
    return v


def record_columns(review: Review):
    """Column provider for ``review export``: full-text status, decision, reason and study of
    every report at the full-text stage."""
    cols = ["fulltext_status", "fulltext_decision", "fulltext_reason", "study"]
    values, links = {}, report_links(review)
    for rid, d in final_fulltext(review).items():
        values[rid] = {"fulltext_status": d["status"], "fulltext_decision": d["decision"],
                       "fulltext_reason": d["reason"], "study": study_of(review, rid, links)}
    return cols, values


def status(review: Review) -> dict:
    """The line `review status` shows for extraction ({} before any value is entered)."""
    from .compare import disagreements

    if not review.db.execute("select count(*) from extraction_values").fetchone()[0]:
        return {}
    parts = []
    for form in stored_forms(review):
        studies = {r[0] for r in review.db.execute(
            "select distinct study from extraction_values where form = ? and "
            "superseded_at is null", [form.name])}
        extractors = {r[0] for r in review.db.execute(
            "select distinct extractor from extraction_values where form = ? and "
            "superseded_at is null and origin != 'resolution'", [form.name])}
        open_ = len(disagreements(review, form))
        parts.append(f"form {form.name}: {len(studies)} studies, {len(extractors)} extractors, "
                     f"{open_} unresolved disagreements")
    return {"extraction": "; ".join(parts)}
