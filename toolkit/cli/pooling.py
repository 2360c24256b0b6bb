"""`review pool`: effect sizes, random-effects models, subgroups, meta-regression, forest plots."""

from __future__ import annotations

import os

import click

from ..csvdialect import delimiter_of_file
from ..errors import ReviewError
from ..pooling.registry import MEASURES, METHODS, input_roles  # no numpy import at start-up
from .common import OutFile, emit, json_option, note, open_store


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
@json_option
@click.pass_context
def pool_cmd(ctx, file, outcome, measure, r, study, method, knha, level, by, moderators, forest,
             as_json, **columns):
    """Pool studies from FILE.csv (one row per study): effect sizes, random-effects model,
    subgroups, meta-regression and a forest plot; numbers as R metafor."""
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
    # the forest plot is drawn inside pool_table, before anything is printed: a failure
    # leaves no half output
    out = pool_table(df, measure, study=study, method=method, knha=knha, level=level, by=by,
                     moderators=moderators, r=r, file=source, forest=forest, title=title,
                     **columns)
    emit(out, as_json, _pool_human)


COMMANDS = [pool_cmd]
