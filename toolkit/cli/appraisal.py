"""`review appraise`: risk of bias of the included studies (enter, import, compare, resolve,
export with robvis's CSV and plots)."""

from __future__ import annotations

import click

from ..errors import ReviewError
from .common import (OutFile, StageGroup, emit, json_option, open_store, outcome_pool_options,
                     terminal)

TOOL_HELP = ("Appraisal tool: rob2, robins_i, jbi_case_series, minors, nos_cohort, a "
             "template in appraisal/tools/ or a YAML path (default: the only tool the review "
             "has used).")
ASSESSOR_HELP = "Who appraises (default: env REVIEW_REVIEWER or the OS user)."


# -- review appraise --------------------------------------------------------------------------

@click.group("appraise", cls=StageGroup, default="enter", default_if_no_args=True)
def appraise_group():
    """Appraise the risk of bias of included studies with a tool (RoB 2, ROBINS-I, JBI case
    series, MINORS, Newcastle-Ottawa, or the review's own).

    \b
    review appraise STUDY --tool T    domain by domain in the terminal (enter)
    review appraise import FILE.csv   bulk entry from a long CSV
    review appraise compare           agreement per domain and every disagreement
    review appraise resolve           record adjudicated judgements (audited)
    review appraise export [FILE.csv] every answer, robvis's CSV, traffic-light/summary plots
    """


@appraise_group.command("enter")
@click.argument("study", required=False)
@click.option("--tool", "tool_name", help=TOOL_HELP)
@click.option("--assessor", help=ASSESSOR_HELP)
@click.option("--no-support", is_flag=True,
              help="Do not ask for a supporting quote and its source after each answer.")
@json_option
@click.pass_context
def appraise_enter_cmd(ctx, study, tool_name, assessor, no_support, as_json):
    """Appraise an included STUDY domain by domain: signalling questions, then the judgement
    (a derived one is shown; Enter accepts it, another value overrides it with a reason)."""
    from ..appraisal.prompts import run_entry
    from ..appraisal.templates import find_tool
    from ..fulltext import included_study
    from ..store import default_actor

    if not study:
        raise ReviewError("name the STUDY to appraise (or: review appraise import|compare|"
                          "resolve|export)")
    assessor = assessor or default_actor()
    ask, say = terminal(as_json)
    with open_store(ctx, "appraise") as review:
        tool = find_tool(review, tool_name)
        label = included_study(review, study)
        out = run_entry(review, tool, label, assessor, ask=ask, echo=say,
                        ask_support=not no_support)
    out.update(study=label, tool=tool.name, assessor=assessor)
    emit(out, as_json)


@appraise_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--tool", "tool_name", help=TOOL_HELP)
@click.option("--assessor", help="Whose answers, for rows without an assessor column.")
@json_option
@click.pass_context
def appraise_import_cmd(ctx, file, tool_name, assessor, as_json):
    """Bulk entry from a long CSV: study, item, value[, assessor, support, source, reason,
    note]. Every invalid cell is reported and nothing is written if any is invalid."""
    from ..appraisal.entries_import import import_csv
    from ..appraisal.templates import find_tool

    with open_store(ctx, "appraise") as review:
        tool = find_tool(review, tool_name)
        out = import_csv(review, file, tool, assessor=assessor)
    out["tool"] = tool.name
    emit(out, as_json)


@appraise_group.command("compare")
@click.option("--tool", "tool_name", help=TOOL_HELP)
@json_option
@click.pass_context
def appraise_compare_cmd(ctx, tool_name, as_json):
    """Agreement between assessors per domain (percent and Cohen's kappa) and every
    disagreement, with how it was settled."""
    from ..appraisal import compare as cmp
    from ..appraisal.templates import find_tool

    with open_store(ctx, "appraise") as review:
        tool = find_tool(review, tool_name)
        agreement = cmp.agreement(review, tool)
        rows = cmp.disagreements(review, tool, include_resolved=True)
    out = {"tool": tool.name, "agreement": agreement, "disagreements": rows,
           "unresolved": sum(1 for r in rows
                             if r["kind"] == "judgement" and r["settled_by"] is None)}

    def human(d):
        lines = []
        if d["agreement"]:
            lines.append(f"agreement ({d['tool']}):")
            lines.append(f"  {'item':<10} {'assessors':<24} {'n':>3} {'agree':>7} {'kappa':>6}")
            for a in d["agreement"]:
                pct = "–" if a["agreement"] is None else f"{a['agreement']:.1f}%"
                kap = "–" if a["kappa"] is None else f"{a['kappa']:.2f}"
                lines.append(f"  {a['item']:<10} {' / '.join(a['assessors']):<24} "
                             f"{a['n']:>3} {pct:>7} {kap:>6}")
        else:
            lines.append(f"agreement ({d['tool']}): fewer than two assessors")
        lines.append(f"{len(d['disagreements'])} disagreement(s), {d['unresolved']} "
                     "judgement(s) unresolved")
        for r in d["disagreements"]:
            vals = "; ".join(f"{a}: {v if v is not None else '(none)'}"
                             for a, v in r["values"].items())
            how = {"resolution": f" -> resolved {r['resolved']}",
                   "derived": f" -> {r['final']} (derived from the final answers)"}.get(
                       r["settled_by"], "")
            lines.append(f"study {r['study']} {r['item']} ({r['kind']}): {vals}{how}")
        return "\n".join(lines)
    emit(out, as_json, human)


@appraise_group.command("resolve")
@click.argument("study", required=False)
@click.option("--tool", "tool_name", help=TOOL_HELP)
@click.option("--assessor", help="Who adjudicates (default: env REVIEW_REVIEWER or the OS "
                                 "user).")
@click.option("--domain", "--item", "item",
              help="With STUDY: the domain (D1, Q4), 'overall', or a signalling question (1.1).")
@click.option("--judgement", "--value", "value", help="With STUDY --domain: the adjudicated "
                                                      "judgement (or answer).")
@click.option("--note", "note_text", help="Why.")
@json_option
@click.pass_context
def appraise_resolve_cmd(ctx, study, tool_name, assessor, item, value, note_text, as_json):
    """Record adjudicated judgements: prompts per judgement in conflict, or one with
    STUDY --domain D --judgement J [--note WHY] (audited; the assessors' stay)."""
    from ..appraisal import compare as cmp
    from ..appraisal.templates import find_tool
    from ..store import default_actor

    assessor = assessor or default_actor()
    if study or item or value is not None:
        if not (study and item and value is not None):
            raise ReviewError("an adjudicated judgement needs STUDY --domain D --judgement J")
    ask, say = terminal(as_json)
    with open_store(ctx, "appraise") as review:
        tool = find_tool(review, tool_name)
        if study:
            with review.atomic():
                cmp.resolve(review, tool, study, item, value, assessor, note=note_text)
            out = {"study": study, "item": item, "value": value, "resolved_by": assessor,
                   "tool": tool.name}
        else:
            out = cmp.run_resolve(review, tool, assessor, ask=ask, echo=say)
            out["tool"] = tool.name
    emit(out, as_json)


@appraise_group.command("export")
@click.argument("file", required=False, type=OutFile())
@click.option("--tool", "tool_name", help=TOOL_HELP)
@click.option("--robvis", is_flag=True,
              help="Write robvis's layout (Study, D1..Dn, Overall, Weight) instead of every "
                   "answer.")
@click.option("--traffic-light", "traffic", type=OutFile(), metavar="PLOT",
              help="Draw the traffic-light plot (.png, .svg or .pdf).")
@click.option("--summary-plot", "summary", type=OutFile(), metavar="PLOT",
              help="Draw the weighted summary bar plot (.png, .svg or .pdf).")
@click.option("--outcome", help="Only the studies of this pooled outcome, weighted by their "
                                "random-effects weights (else every study, weight 1).")
@click.option("--r", "r", type=float,
              help="With --outcome of a mean change: the assumed pre/post correlation.")
@outcome_pool_options
@json_option
@click.pass_context
def appraise_export_cmd(ctx, file, tool_name, robvis, traffic, summary, outcome, r, model,
                        use_unit, overlap_policy, as_json):
    """Write every answer with its support (FILE.csv), or with --robvis the final judgements
    in robvis's CSV layout; draw the traffic-light and summary plots. The robvis table and
    the plots need every assessment final (no open conflict)."""
    from ..appraisal import export as ex
    from ..appraisal import plots
    from ..appraisal.pooling import pooled_weights
    from ..appraisal.templates import find_tool

    if robvis and not file:
        raise ReviewError("--robvis goes with FILE.csv")
    if not (file or traffic or summary):
        raise ReviewError("name FILE.csv, --traffic-light PLOT or --summary-plot PLOT")
    for plot in (traffic, summary):
        if plot:
            plots.check_path(plot)
    with open_store(ctx, "appraise") as review:
        tool = find_tool(review, tool_name)
        weights = pooled_weights(review, outcome, r=r, model=model, use_unit=use_unit,
                                 overlap_policy=overlap_policy) if outcome else None
        studies = sorted(weights) if weights else None
        table = ex.robvis_table(review, tool, weights, studies) \
            if (robvis or traffic or summary) else None
        written = ex.long_table(review, tool) if file and not robvis else table
    out = {"tool": tool.name}
    if file:
        written.to_csv(file, index=False, lineterminator="\n")
        out.update(file=file, layout="robvis" if robvis else "long", rows=len(written))
    if traffic:
        out["traffic_light"] = str(plots.traffic_light(table, tool, traffic))
    if summary:
        out["summary_plot"] = str(plots.summary_plot(table, tool, summary))
    if table is not None:
        out["studies"] = len(table)
    if outcome:
        out["outcome"] = outcome
    emit(out, as_json)


COMMANDS = [appraise_group]
