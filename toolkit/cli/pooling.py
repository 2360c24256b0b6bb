"""`review pool`: effect sizes, random-effects models, subgroups, meta-regression, forest plots."""

from __future__ import annotations

import os

import click

from ..csvdialect import delimiter_of_file
from ..errors import ReviewError
from ..pooling.registry import MEASURES, METHODS, input_roles  # no numpy import at start-up
from .common import OutFile, emit, json_option, note, open_store

RISK_COLUMN = "risk_of_bias"  # toolkit.appraisal.pooling.COLUMN (not imported at start-up)


def _pool_human(d: dict) -> str:
    """Human summary of a pool_table result."""
    f = lambda x, n=4: "NA" if x is None else f"{x:.{n}g}"  # noqa: E731
    lines = [f"{d['measure']} pooled with {d['method']}"
             f"{' + Knapp-Hartung' if d['test'] == 'knha' else ''}, k = {d['k']}"
             f"{' (proportion scale)' if d['scale'] == 'proportion' else ''}",
             f"  estimate {f(d['estimate'])}  {d['level']:g}% CI [{f(d['ci_low'])}, "
             f"{f(d['ci_high'])}]" + ("" if d["pi_low"] is None else
                                      f"  PI [{f(d['pi_low'])}, {f(d['pi_high'])}]"),
             f"  model scale {f(d['est_model_scale'])} (SE {f(d['se'])})",
             f"  tau2 = {f(d['tau2'])}, I2 = {f(d['I2'], 3)}%, Q = {f(d['Q'])} "
             f"(df = {d['Q_df']}, p = {f(d['Q_p'], 3)})"]
    if "subgroups" in d:
        lines.append(f"subgroups by {d['by']}:")
        for g in d["subgroups"]:
            lines.append(f"  {g['group']}: k = {g['k']}, estimate {f(g['estimate'])} "
                         f"[{f(g['ci_low'])}, {f(g['ci_high'])}], tau2 = {f(g['tau2'])}, "
                         f"I2 = {f(g['I2'], 3)}%")
        lines.append(f"  test of subgroup differences: Q = {f(d['Q_between'])} "
                     f"(df = {d['Q_between_df']}, p = {f(d['Q_between_p'], 3)})")
    if "metareg" in d:
        m = d["metareg"]
        lines.append("meta-regression (model scale):")
        for c in m["coefficients"]:
            lines.append(f"  {c['name']:<20} {f(c['estimate']):>10}  SE {f(c['se']):>9}  "
                         f"p = {f(c['p'], 3):>9}  [{f(c['ci_low'])}, {f(c['ci_high'])}]")
        lines.append(f"  tau2 = {f(m['tau2'])}, QM = {f(m['QM'])} (p = {f(m['QM_p'], 3)}), "
                     f"QE = {f(m['QE'])}, R2 = {f(m['R2'], 3)}%")
    if d.get("appraisal"):
        a = d["appraisal"]
        if a["excluded_high_risk"]:
            lines.append(f"left out at high risk of bias ({a['tool']}): "
                         + ", ".join(a["excluded_high_risk"]))
    if d.get("forest"):
        lines.append(f"forest plot: {d['forest']}")
    return "\n".join(lines)


def _pool_options(f):
    """One --ROLE COLUMN option per input role of the measure registry (r is separate)."""
    for role in reversed([r for r in input_roles() if r != "r"]):
        used = [m.name for m in MEASURES.values() if role in m.roles]
        f = click.option(f"--{role.replace('_', '-')}", role, metavar="COL",
                         help=f"Column with {role.replace('_', ' ')} ({', '.join(used)}).")(f)
    return f


@click.command("pool")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--outcome", help="Pool the review's own extracted outcome NAME (from the store; "
                                "see `review extract --export --outcome`).")
@click.option("--measure", callback=lambda c, p, v: v.upper() if v else v,
              type=click.Choice(list(MEASURES), case_sensitive=False),
              help="Effect size: " + "; ".join(f"{m.name} = {m.label}" for m in MEASURES.values()))
@_pool_options
@click.option("--r", "r", metavar="VALUE|COL",
              help="MC: pre/post correlation, one assumed value or a column of per-study values.")
@click.option("--study", metavar="COL", help="Column with study labels.")
@click.option("--method", default="REML", show_default=True,
              callback=lambda c, p, v: v.upper(),
              type=click.Choice(list(METHODS), case_sensitive=False),
              help="tau^2 estimator (FE = fixed effect).")
@click.option("--knha", is_flag=True, help="Knapp-Hartung (t-based) inference.")
@click.option("--level", default=95.0, show_default=True, type=float,
              help="Confidence level in percent.")
@click.option("--by", metavar="COL", help="Subgroup column: one model per subgroup + test of "
                                         "subgroup differences.")
@click.option("--moderator", "moderators", multiple=True, metavar="COL",
              help="Meta-regression moderator (repeatable; text columns are categorical).")
@click.option("--forest", type=OutFile(), metavar="FILE",
              help="Write a forest plot (.png, .svg or .pdf).")
@click.option("--exclude-high-risk", is_flag=True,
              help="Sensitivity analysis: leave out studies whose overall risk of bias is high "
                   "(or critical) in the review's appraisal.")
@click.option("--tool", "tool_name", metavar="TOOL",
              help="The appraisal tool for --exclude-high-risk and --by risk_of_bias "
                   "(default: the only one the review has used).")
@json_option
@click.pass_context
def pool_cmd(ctx, file, outcome, measure, r, study, method, knha, level, by, moderators, forest,
             exclude_high_risk, tool_name, as_json, **columns):
    """Pool studies from FILE.csv (one row per study): effect sizes, random-effects model,
    subgroups, meta-regression and a forest plot; numbers as R metafor. With the review's
    appraisal: --exclude-high-risk, and --by risk_of_bias for subgroups by overall judgement
    (FILE.csv needs --study COL holding the review's study labels)."""
    import pandas as pd

    from ..pooling.api import pool_table
    from ..pooling.forest import FORMATS

    if (file is None) == (outcome is None):
        raise ReviewError("give either FILE.csv or --outcome NAME")
    if forest and os.path.splitext(forest)[1].lower() not in FORMATS:
        raise ReviewError("--forest must end in .png, .svg or .pdf", file=forest)
    columns = {k: v for k, v in columns.items() if v is not None}
    if outcome is not None:
        from ..extraction.export import outcome_table

        with open_store(ctx, "pool") as review:
            df = outcome_table(review, outcome)
        for text in df.attrs.get("notes", []):
            note(text)
        # the outcome's own columns, unless the command line names others
        columns = {**df.attrs["pool_kwargs"], **columns}
        study = study or columns.pop("study", None)
        columns.pop("study", None)
        if r is None:
            r = columns.pop("r", None)
        columns.pop("r", None)
        measure = measure or df.attrs["default_measure"]
        source, title = f"outcome {outcome}", outcome
    else:
        if measure is None:
            raise ReviewError("--measure is required with FILE.csv")
        try:
            with open(file, encoding="utf-8-sig", newline="") as fh:
                sep = delimiter_of_file(fh)
            df = pd.read_csv(file, dtype=str, encoding="utf-8-sig", skipinitialspace=True,
                             sep=sep)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ReviewError(f"cannot read CSV: {exc}", file=file)
        source, title = file, os.path.basename(file)
    appraisal = None
    if exclude_high_risk or (by == RISK_COLUMN and RISK_COLUMN not in df.columns):
        df, appraisal = _with_appraisal(ctx, df, tool_name, study, exclude_high_risk, file)
    # the forest plot is drawn inside pool_table, before anything is printed: a failure
    # leaves no half output
    out = pool_table(df, measure, study=study, method=method, knha=knha, level=level, by=by,
                     moderators=moderators, r=r, file=source, forest=forest, title=title,
                     **columns)
    if appraisal is not None:
        out["appraisal"] = appraisal
    emit(out, as_json, _pool_human)


def _with_appraisal(ctx, df, tool_name, study, exclude_high_risk, file):
    """The table with the review's overall risk-of-bias judgements (``risk_of_bias``), and
    without the studies at high risk with ``exclude_high_risk``; notes say what was done."""
    from ..appraisal.pooling import risk_of_bias_for_pooling
    from ..appraisal.templates import find_tool

    if study is None:
        raise ReviewError("matching studies to the appraisal needs --study COL (the review's "
                          "study labels, as `review extract export` writes them)", file=file)
    if exclude_high_risk and RISK_COLUMN in df.columns:
        raise ReviewError(f"the table has its own {RISK_COLUMN} column; --exclude-high-risk "
                          "reads the review's appraisal (rename the column)", file=file,
                          column=RISK_COLUMN)
    with open_store(ctx, "pool") as review:
        tool = find_tool(review, tool_name)
        df, info = risk_of_bias_for_pooling(review, df, tool, study=study,
                                            exclude_high=exclude_high_risk)
    if info["excluded_high_risk"]:
        note("sensitivity analysis without the studies at high risk of bias: left out "
             + ", ".join(info["excluded_high_risk"]))
    elif exclude_high_risk:
        note("no study is at high risk of bias: nothing left out")
    if info["not_appraised"]:
        note(f"not appraised with {tool.name} (kept): " + ", ".join(info["not_appraised"]))
    if info["not_final"]:
        note(f"overall judgement not final with {tool.name} (kept; see `review appraise "
             "compare`): " + ", ".join(info["not_final"]))
    return df, info


COMMANDS = [pool_cmd]
