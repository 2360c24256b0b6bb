"""`review pool`: effect sizes, random-effects models, subgroups, meta-regression, forest plots."""

from __future__ import annotations

import os

import click

from ..csvdialect import delimiter_of_file
from ..errors import ReviewError
from ..pooling.registry import MEASURES, METHODS, input_roles  # no numpy import at start-up
from .common import OutDir, OutFile, emit, json_option, note, open_store, warn


def _pool_human(d: dict) -> str:
    """Human summary of a pool_table result (and its diagnostics)."""
    f = lambda x, n=4: "NA" if x is None else f"{x:.{n}g}"  # noqa: E731
    if d.get("model") == "glmm":
        head = f"{d['measure']} pooled with the GLMM (random-intercept logistic, ML" \
               f"{', t-test' if d['test'] == 't' else ''})"
        q = "Q (LRT)"
    else:
        head = (f"{d['measure']} pooled with {d['method']}"
                f"{' + Knapp-Hartung' if d['test'] == 'knha' else ''}")
        q = "Q"
    lines = [f"{head}, k = {d['k']}"
             f"{' (proportion scale)' if d['scale'] == 'proportion' else ''}"
             + (f", unit: {d['unit']}" if d.get("unit") else ""),
             f"  estimate {f(d['estimate'])}  {d['level']:g}% CI [{f(d['ci_low'])}, "
             f"{f(d['ci_high'])}]" + ("" if d["pi_low"] is None else
                                      f"  PI [{f(d['pi_low'])}, {f(d['pi_high'])}]"),
             f"  model scale {f(d['est_model_scale'])} (SE {f(d['se'])})",
             f"  tau2 = {f(d['tau2'])}, I2 = {f(d['I2'], 3)}%, {q} = {f(d['Q'])} "
             f"(df = {d['Q_df']}, p = {f(d['Q_p'], 3)})"]
    for lo in d.get("left_out", []):
        lines.append(f"  left out: {lo['study']}: {lo['reason']}")
    if d.get("overlap"):
        o = d["overlap"]
        lines.append(f"  overlapping sets: {'; '.join(', '.join(s) for s in o['sets'])} "
                     f"(policy {o['policy']})")
    if "subgroups" in d:
        lines.append(f"subgroups by {d['by']}:")
        for g in d["subgroups"]:
            lines.append(f"  {g['group']}: k = {g['k']}, estimate {f(g['estimate'])} "
                         f"[{f(g['ci_low'])}, {f(g['ci_high'])}], tau2 = {f(g['tau2'])}, "
                         f"I2 = {f(g['I2'], 3)}%" + ("" if g.get("in_test", True)
                                                     else "  (not in the test)"))
        if d["Q_between"] is not None:
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
    lines.extend(_diagnostics_human(d.get("diagnostics") or {}, f))
    return "\n".join(lines)


def _diagnostics_human(g: dict, f) -> list[str]:
    lines = []
    for key, what in (("leave1out", "leave-one-out"), ("cumulative", "cumulative")):
        if key in g:
            lines.append(f"{what} ({g[key]['model']}):")
            for r in g[key]["rows"]:
                tag = f"without {r['study']}" if key == "leave1out" else f"+ {r['study']}"
                lines.append(f"  {tag:<30} {f(r['estimate'])} [{f(r['ci_low'])}, "
                             f"{f(r['ci_high'])}]  tau2 = {f(r['tau2'])}")
    if "influence" in g:
        lines.append(f"influence ({g['influence']['model']}):")
        for r in g["influence"]["rows"]:
            lines.append(f"  {r['study']:<30} rstudent {f(r['rstudent'], 3):>7}  dffits "
                         f"{f(r['dffits'], 3):>7}  cook {f(r['cook_d'], 3):>7}  hat "
                         f"{f(r['hat'], 3):>6}{'  *' if r['influential'] else ''}")
    if "egger" in g:
        e = g["egger"]
        lines.append(f"Egger's test ({e['model']}): {'t' if e['df'] else 'z'} = "
                     f"{f(e['zval'])}, p = {f(e['pval'], 3)}; limit estimate "
                     f"{f(e['limit_estimate'])} [{f(e['ci_low'])}, {f(e['ci_high'])}]"
                     + (f"\n  note: {e['note']}" if e.get("note") else ""))
    if "trimfill" in g:
        t = g["trimfill"]
        lines.append(f"trim and fill ({t['model']}): {t['k0']} filled on the {t['side']}; "
                     f"estimate {f(t['estimate'])} [{f(t['ci_low'])}, {f(t['ci_high'])}]")
    if "baujat" in g:
        lines.append("Baujat (heterogeneity contribution, influence): " + "; ".join(
            f"{p['study']} ({f(p['x'], 3)}, {f(p['y'], 3)})" for p in g["baujat"]["points"]))
    if "funnel" in g:
        lines.append(f"funnel: {len(g['funnel']['points'])} studies around {f(g['funnel']['estimate'])}")
    for name, path in (g.get("plots") or {}).items():
        lines.append(f"{name} plot: {path}")
    return lines


def _pool_options(f):
    """One --ROLE COLUMN option per input role of the measure registry (r is separate)."""
    for role in reversed([r for r in input_roles() if r != "r"]):
        used = [m.name for m in MEASURES.values() if role in m.roles]
        f = click.option(f"--{role.replace('_', '-')}", role, metavar="COL",
                         help=f"Column with {role.replace('_', ' ')} ({', '.join(used)}).")(f)
    return f


DIAGNOSTICS = ("leave1out", "influence", "funnel", "egger", "trimfill", "cumulative", "baujat")
PLOTTED = ("leave1out", "funnel", "cumulative", "baujat")


def _diagnostic_options(f):
    """One flag per diagnostic (``toolkit.pooling.sensitivity.ANALYSES``)."""
    helps = {"leave1out": "Leave-one-out: the model without each study (metafor leave1out).",
             "influence": "Influence: studentized residuals, DFFITS, Cook's D, COVRATIO, "
                          "tau2/Q deleted, hat, weight (metafor influence).",
             "funnel": "Funnel plot data, contour-enhanced (against sample size for "
                       "proportions).",
             "egger": "Egger's regression test (metafor regtest, rma, sei).",
             "trimfill": "Trim and fill, L0 (metafor trimfill).",
             "cumulative": "Cumulative meta-analysis in --order (default --year) order "
                           "(metafor cumul).",
             "baujat": "Baujat plot data (metafor baujat)."}
    for name in reversed(DIAGNOSTICS):
        f = click.option(f"--{name}", f"diag_{name}", is_flag=True, help=helps[name])(f)
    return f


def _overlap_pairs(ctx, param, values):
    pairs = []
    for v in values:
        parts = [x.strip() for x in v.split(",")]
        if len(parts) != 2 or not all(parts):
            raise click.BadParameter(f"{v!r}: give two study labels separated by a comma",
                                     ctx=ctx, param=param)
        pairs.append(tuple(parts))
    return pairs


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
@click.option("--model", default="rma", show_default=True,
              type=click.Choice(["rma", "glmm"], case_sensitive=False),
              callback=lambda c, p, v: v.lower(),
              help="rma = inverse-variance model of the effect sizes; glmm = random-intercept "
                   "logistic model of the counts (PR/PLO; metafor rma.glmm, ML).")
@click.option("--method", default="REML", show_default=True,
              callback=lambda c, p, v: v.upper(),
              type=click.Choice(list(METHODS), case_sensitive=False),
              help="tau^2 estimator (FE = fixed effect); the GLMM is always ML.")
@click.option("--knha", is_flag=True, help="Knapp-Hartung (t-based) inference; with --model "
                                           "glmm the t-test (k - 1 df).")
@click.option("--level", default=95.0, show_default=True, type=float,
              help="Confidence level in percent.")
@click.option("--unit", "unit_col", metavar="COL",
              help="Column with each study's unit of analysis (patients, tumours...); "
                   "--outcome has its own. Mixed units are refused unless --unit-of-analysis "
                   "chooses one.")
@click.option("--unit-of-analysis", "use_unit", metavar="UNIT",
              help="Pool only the studies that count UNIT; the others are left out and listed.")
@click.option("--overlap", "overlap_policy", default="largest", show_default=True,
              type=click.Choice(["largest", "all"]),
              help="Overlapping cohorts: keep the larger (then more recent) study of each "
                   "overlapping set, or all of them (a sensitivity analysis).")
@click.option("--overlapping", "overlapping", multiple=True, metavar="A,B",
              callback=_overlap_pairs,
              help="FILE: two studies whose cohorts overlap (repeatable). --outcome uses the "
                   "overlaps recorded with `review overlap add`.")
@click.option("--year", metavar="COL", help="Column with years (the more recent of "
                                           "overlapping studies; the cumulative order).")
@click.option("--by", metavar="COL", help="Subgroup column: one model per subgroup + test of "
                                         "subgroup differences.")
@click.option("--subgroup-min-k", default=2, show_default=True, type=click.IntRange(1),
              help="Subgroups with fewer studies are shown but not in the test of differences.")
@click.option("--moderator", "moderators", multiple=True, metavar="COL",
              help="Meta-regression moderator (repeatable; text columns are categorical).")
@click.option("--forest", type=OutFile(), metavar="FILE",
              help="Write a forest plot (.png, .svg or .pdf).")
@_diagnostic_options
@click.option("--diagnostics", "diag_all", is_flag=True, help="Every diagnostic above.")
@click.option("--order", metavar="COL", help="--cumulative: the column to order by "
                                            "(default: --year, else the table order).")
@click.option("--plots", type=OutDir(), metavar="DIR",
              help="Write the usual plot of each diagnostic asked for into DIR "
                   f"({', '.join(p + '.png' for p in PLOTTED)}).")
@json_option
@click.pass_context
def pool_cmd(ctx, file, outcome, measure, r, study, model, method, knha, level, unit_col,
             use_unit, overlap_policy, overlapping, year, by, subgroup_min_k, moderators,
             forest, diag_all, order, plots, as_json, **columns):
    """Pool studies from FILE.csv (one row per study) or the review's extracted --outcome:
    effect sizes, random-effects model or GLMM, subgroups, meta-regression, a forest plot and
    sensitivity/bias diagnostics; numbers as R metafor."""
    import pandas as pd

    from ..pooling.api import pool_table
    from ..pooling.forest import FORMATS

    asked = [d for d in DIAGNOSTICS if columns.pop(f"diag_{d}") or diag_all]
    if (file is None) == (outcome is None):
        raise ReviewError("give either FILE.csv or --outcome NAME")
    if forest and os.path.splitext(forest)[1].lower() not in FORMATS:
        raise ReviewError("--forest must end in .png, .svg or .pdf", file=forest)
    if plots and not any(d in PLOTTED for d in asked):
        raise ReviewError("--plots draws the plots of diagnostics: ask for one (e.g. "
                          "--leave1out, --funnel, --cumulative, --baujat)")
    columns = {k: v for k, v in columns.items() if v is not None}
    overlaps = list(overlapping)
    if outcome is not None:
        from ..pooling.review_outcomes import outcome_data, pool_kwargs

        with open_store(ctx, "pool") as review:
            df = outcome_data(review, outcome)
        for text in df.attrs.get("notes", []):
            note(text)
        # the outcome's own columns (and recorded overlaps), unless the command line names others
        own = pool_kwargs(df)
        overlaps = overlaps or own.pop("overlaps")
        own.pop("overlaps", None)
        columns = {**own, **columns}
        study = study or columns.pop("study", None)
        columns.pop("study", None)
        unit_col = unit_col or columns.pop("unit", None)
        columns.pop("unit", None)
        year = year or columns.pop("year", None)
        columns.pop("year", None)
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
    common = dict(study=study, method=method, knha=knha, level=level, r=r, file=source,
                  model=model, unit=unit_col, use_unit=use_unit, overlaps=overlaps,
                  overlap_policy=overlap_policy, year=year, **columns)
    # every plot is drawn before anything is printed: a failure leaves no half output
    out = pool_table(df, measure, by=by, moderators=moderators, forest=forest, title=title,
                     subgroup_min_k=subgroup_min_k, **common)
    if asked:
        from pathlib import Path

        from ..pooling.sensitivity import diagnose_table

        paths = {d: Path(plots) / f"{d}.png" for d in asked if d in PLOTTED} if plots else {}
        if paths:
            Path(plots).mkdir(exist_ok=True)
        diag = diagnose_table(df, measure, asked, order=order, plots=paths, title=title,
                              **common)
        out["diagnostics"] = {k: v for k, v in diag.items() if k in asked or k == "plots"}
    for text in out.get("warnings", []):
        warn(text)
    emit(out, as_json, _pool_human)


COMMANDS = [pool_cmd]
