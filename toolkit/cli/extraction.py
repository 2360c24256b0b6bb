"""`review extract`: typed data extraction (enter, import, compare, resolve, export)."""

from __future__ import annotations

import click

from ..errors import ReviewError
from .common import (OutFile, StageGroup, deprecated, emit, json_option, note, open_store,
                     terminal)

FORM_HELP = "Form name (extraction/forms/NAME.yaml) or path."
EXTRACTOR_HELP = "Who extracts (default: env REVIEW_REVIEWER or the OS user)."


@click.group("extract", cls=StageGroup, default="enter", default_if_no_args=True)
def extract_group():
    """Extract data from included studies with a typed form.

    \b
    review extract STUDY            field by field in the terminal (enter)
    review extract import FILE.csv  bulk entry from a long CSV
    review extract compare          double extraction: every disagreement
    review extract resolve          record the adjudicated values (audited)
    review extract export FILE.csv  a tidy table, or one outcome's pooling table
    """


@extract_group.command("enter")
@click.argument("study", required=False)
@click.option("--form", "form_name", help=FORM_HELP)
@click.option("--extractor", help=EXTRACTOR_HELP)
@click.option("--no-source", is_flag=True, help="Do not ask for a quote/page after each value.")
# the old mode flags, kept for one release
@click.option("--import", "import_file", type=click.Path(dir_okay=False), hidden=True)
@click.option("--compare", is_flag=True, hidden=True)
@click.option("--resolve", is_flag=True, hidden=True)
@click.option("--field", "field_name", hidden=True)
@click.option("--value", hidden=True)
@click.option("--instance", hidden=True)
@click.option("--note", "note_text", hidden=True)
@click.option("--export", "export_file", type=OutFile(), hidden=True)
@click.option("--outcome", hidden=True)
@json_option
@click.pass_context
def extract_enter_cmd(ctx, study, form_name, extractor, no_source, import_file, compare, resolve,
                      field_name, value, instance, note_text, export_file, outcome, as_json):
    """Enter the data of an included STUDY field by field ("NR" = not reported)."""
    from ..extraction.forms import find_form
    from ..extraction.prompts import run_entry
    from ..fulltext import included_study
    from ..store import default_actor

    modes = [m for m, on in (("--import", import_file), ("--compare", compare),
                             ("--resolve", resolve), ("--export", export_file)) if on]
    if len(modes) > 1:
        raise ReviewError(f"choose one of {', '.join(modes)}")
    if outcome and not export_file:
        raise ReviewError("--outcome goes with `review extract export FILE.csv`")
    if (field_name or value is not None or note_text) and not resolve:
        raise ReviewError("--field/--value/--note go with `review extract resolve`")
    if modes and study and not resolve:
        raise ReviewError(f"STUDY goes with field-by-field entry or resolve, not with {modes[0]}")
    if import_file:
        deprecated("review extract --import FILE", "review extract import FILE")
        return ctx.invoke(extract_import_cmd, file=import_file, form_name=form_name,
                          extractor=extractor, as_json=as_json)
    if compare:
        deprecated("review extract --compare", "review extract compare")
        return ctx.invoke(extract_compare_cmd, form_name=form_name, as_json=as_json)
    if resolve:
        deprecated("review extract --resolve", "review extract resolve")
        return ctx.invoke(extract_resolve_cmd, study=study, form_name=form_name,
                          extractor=extractor, field_name=field_name, value=value,
                          instance=instance, note_text=note_text, as_json=as_json)
    if export_file:
        deprecated("review extract --export FILE", "review extract export FILE")
        return ctx.invoke(extract_export_cmd, file=export_file, form_name=form_name,
                          outcome=outcome, as_json=as_json)
    if not study:
        raise ReviewError("name the STUDY to extract (or: review extract import|compare|"
                          "resolve|export)")
    extractor = extractor or default_actor()
    ask, say = terminal(as_json)
    with open_store(ctx, "extract") as review:
        form = find_form(review, form_name)
        label = included_study(review, study)
        out = run_entry(review, form, label, extractor, ask=ask, echo=say,
                        ask_source=not no_source)
    out.update(study=label, form=form.name, extractor=extractor)
    emit(out, as_json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))


@extract_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--form", "form_name", help=FORM_HELP)
@click.option("--extractor", help="Whose values, for rows without an extractor column "
                                  "(default: env REVIEW_REVIEWER or the OS user).")
@json_option
@click.pass_context
def extract_import_cmd(ctx, file, form_name, extractor, as_json):
    """Bulk entry from a long CSV: study, field, value[, instance, extractor, quote, page,
    note]. Every invalid cell is reported and nothing is written if any is invalid."""
    from ..extraction.entries import import_values_csv
    from ..extraction.forms import find_form
    from ..store import default_actor

    with open_store(ctx, "extract") as review:
        form = find_form(review, form_name)
        out = import_values_csv(review, file, form, extractor=extractor or default_actor())
    emit(out, as_json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))


@extract_group.command("compare")
@click.option("--form", "form_name", help=FORM_HELP)
@json_option
@click.pass_context
def extract_compare_cmd(ctx, form_name, as_json):
    """List every disagreement between extractors (and how it was resolved)."""
    from ..extraction import compare as cmp
    from ..extraction.forms import find_form

    with open_store(ctx, "extract") as review:
        form = find_form(review, form_name)
        rows = cmp.disagreements(review, form, include_resolved=True)
    out = {"form": form.name, "disagreements": rows,
           "unresolved": sum(1 for r in rows if r["resolved"] is None)}

    def human(d):
        lines = [f"{len(d['disagreements'])} disagreement(s), {d['unresolved']} unresolved"]
        for r in d["disagreements"]:
            inst = f" [{r['instance']}]" if r["instance"] else ""
            vals = "; ".join(f"{e}: {v if v is not None else '(none)'}"
                             for e, v in r["values"].items())
            res = f" -> resolved {r['resolved']}" if r["resolved"] is not None else ""
            lines.append(f"study {r['study']} {r['field']}{inst}: {vals}{res}")
        return "\n".join(lines)
    emit(out, as_json, human)


@extract_group.command("resolve")
@click.argument("study", required=False)
@click.option("--form", "form_name", help=FORM_HELP)
@click.option("--extractor", help="Who adjudicates (default: env REVIEW_REVIEWER or the OS "
                                  "user).")
@click.option("--field", "field_name", help="With STUDY: the field.")
@click.option("--value", help="With STUDY --field: the adjudicated value.")
@click.option("--instance", help="The arm or time point of an arm/timepoint-level field.")
@click.option("--note", "note_text", help="Why.")
@json_option
@click.pass_context
def extract_resolve_cmd(ctx, study, form_name, extractor, field_name, value, instance,
                        note_text, as_json):
    """Record adjudicated values: prompts per open disagreement, or one value with
    STUDY --field F --value V (audited)."""
    from ..extraction import compare as cmp
    from ..extraction.forms import find_form
    from ..store import default_actor

    extractor = extractor or default_actor()
    if study or field_name or value is not None:
        if not (study and field_name and value is not None):
            raise ReviewError("a resolved value needs STUDY --field F --value V")
    ask, say = terminal(as_json)
    with open_store(ctx, "extract") as review:
        form = find_form(review, form_name)
        if study:
            with review.atomic():
                cmp.resolve(review, form, study, field_name, value, extractor,
                            instance=instance, note=note_text)
            out = {"study": study, "field": field_name, "value": value,
                   "resolved_by": extractor}
        else:
            out = cmp.run_resolve(review, form, extractor, ask=ask, echo=say)
    emit(out, as_json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))


@extract_group.command("export")
@click.argument("file", type=OutFile())
@click.option("--form", "form_name", help=FORM_HELP)
@click.option("--outcome", help="Write the pooling table of this outcome instead.")
@json_option
@click.pass_context
def extract_export_cmd(ctx, file, form_name, outcome, as_json):
    """Write a tidy CSV of the extracted data (one row per study), or with --outcome the
    pooling table of one outcome and the `review pool` command that pools it."""
    from ..extraction import export as ex
    from ..extraction.forms import find_form

    with open_store(ctx, "extract") as review:
        form = find_form(review, form_name) if form_name else None
        df = ex.export_table(review, outcome=outcome, form=form)
    df.to_csv(file, index=False, lineterminator="\n")
    out = {"file": file, "rows": len(df), "columns": list(df.columns),
           "form": df.attrs.get("form")}
    if outcome:
        out.update(outcome=outcome, measure=df.attrs["measure"], left_out=df.attrs["notes"],
                   pool=f"review pool {file} {df.attrs['pool_args']}")
        for n in df.attrs["notes"]:
            note(n)
    emit(out, as_json, lambda d: f"wrote {d['rows']} rows to {d['file']}"
         + (f"\npool with: {d['pool']}" if "pool" in d else ""))


COMMANDS = [extract_group]
