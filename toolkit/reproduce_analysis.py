"""The pooled analyses of `review reproduce` and their report sections.

The analysis choices are data (``extraction/analysis_plan.yaml``): the models (GLMM primary,
inverse-variance logit model as sensitivity, for proportions), the unit of analysis of each
proportion outcome, the overlapping-cohort policy (``screening/overlaps.csv`` records which
studies overlap) and the outcomes given a leave-one-out analysis. For every figure of the
published abstract this module pools the primary analysis (pooled.csv), the sensitivity
analyses (sensitivity.csv) and the leave-one-out tables (leave1out.csv), and writes the report
sections about them, one function per section.

A figure is pooled only from studies that count the same unit and do not share patients;
everything left out is named with its reason, and unknown stays unknown (a mean without its
SD, or a follow-up without the number followed, is listed, never pooled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ReviewError

PROPORTION, MEAN, MEAN_CHANGE = "proportion", "mean", "mean_change"
MODEL_NAMES = {"glmm": "GLMM", "rma": "inverse-variance (REML)"}


def sig(x, digits: int = 10):
    """A float rounded to ``digits`` significant digits (None stays None): byte-identical
    files whatever the last bit of a floating-point sum."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    if x == 0:
        return 0.0
    return float(f"{x:.{digits}g}")


@dataclass
class Plan:
    """``extraction/analysis_plan.yaml``, validated."""

    primary: str = "glmm"
    sensitivity: str = "rma"
    units: dict = field(default_factory=dict)
    overlap_primary: str = "largest"
    overlap_sensitivity: str = "all"
    leave_one_out: list = field(default_factory=list)
    assumed_r: float = 0.5


def load_plan(path: Path) -> Plan:
    """Read and check the analysis plan; a bad entry is one clear error naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ReviewError(f"not valid YAML: {exc}", file=path) from None
    known = {"proportions", "unit_of_analysis", "overlap", "leave_one_out", "assumed_r"}
    extra = set(data) - known
    if extra:
        raise ReviewError(f"unknown keys {sorted(extra)}; allowed: {sorted(known)}", file=path)
    props = data.get("proportions") or {}
    overlap = data.get("overlap") or {}
    plan = Plan(primary=props.get("primary", "glmm"), sensitivity=props.get("sensitivity", "rma"),
                units=dict(data.get("unit_of_analysis") or {}),
                overlap_primary=overlap.get("primary", "largest"),
                overlap_sensitivity=overlap.get("sensitivity", "all"),
                leave_one_out=list(data.get("leave_one_out") or []),
                assumed_r=float(data.get("assumed_r", 0.5)))
    for key, value, allowed in (("proportions.primary", plan.primary, MODEL_NAMES),
                                ("proportions.sensitivity", plan.sensitivity, MODEL_NAMES),
                                ("overlap.primary", plan.overlap_primary, ("largest", "all")),
                                ("overlap.sensitivity", plan.overlap_sensitivity,
                                 ("largest", "all"))):
        if value not in allowed:
            raise ReviewError(f"{key} is {value!r}; choose one of {', '.join(allowed)}",
                              file=path)
    if not -1 <= plan.assumed_r <= 1:
        raise ReviewError("assumed_r must lie between -1 and 1", file=path)
    return plan


def record_overlaps(review, path: Path) -> list[dict]:
    """Record the overlapping cohorts of ``screening/overlaps.csv`` (study_a, study_b, note,
    source; studies by record id) in the store, as `review overlap add` would."""
    from .fulltext import read_csv_rows
    from .overlaps import record_overlap

    out = []
    with review.atomic():
        for row in read_csv_rows(path):
            out.append(record_overlap(review, row["study_a"], row["study_b"],
                                      note=row.get("note"), source=row.get("source"),
                                      actor="reproduce"))
    return out


# -- running one analysis ------------------------------------------------------------------------

@dataclass
class Analysis:
    """One pooled (or not pooled) analysis of one outcome."""

    outcome: str
    name: str                       # primary | inverse-variance | overlapping cohorts kept
    model: str                      # glmm | rma
    overlap: str                    # largest | all
    unit: str | None = None         # unit of analysis pooled
    k: int = 0
    studies: list = field(default_factory=list)
    left_out: list = field(default_factory=list)    # [{"study", "reason"}]
    result: dict | None = None      # pool_table's result when pooled
    single: dict | None = None      # the one study's numbers when k = 1
    status: str = ""

    @property
    def pooled(self) -> bool:
        return self.result is not None


def _percent(x, scale: bool):
    return None if x is None else sig(100 * x if scale else x)


def run_analysis(df, kind: str, outcome: str, name: str, model: str, overlap: str,
                 use_unit: str | None, r: float, forest=None, title=None) -> Analysis:
    """Select the studies (unit of analysis, overlaps) and pool them, or say why not."""
    from .pooling.api import pool_table, select_studies
    from .pooling.review_outcomes import pool_kwargs

    measure = {PROPORTION: "PLO", MEAN: "MN", MEAN_CHANGE: "MC"}[kind]
    model = model if kind == PROPORTION else "rma"
    a = Analysis(outcome=outcome, name=name, model=model, overlap=overlap)
    if len(df) == 0:
        a.status = "not reproducible: no study with data"
        return a
    kw = pool_kwargs(df)
    overlaps = kw.pop("overlaps")
    unit_col = kw.pop("unit", None)
    year = kw.pop("year")
    size_col = kw.get("total") if kind == PROPORTION else kw.get("n")
    try:
        sel, chosen = select_studies(df, measure, kw["study"], unit_col, use_unit, overlaps,
                                     overlap, year, size_col)
    except ReviewError as exc:
        a.status = f"not pooled: {exc.bare_message}"
        return a
    a.unit = chosen.get("unit")
    a.left_out = chosen.get("left_out", [])
    a.studies = [str(s) for s in sel["study"]]
    a.k = len(sel)
    if kind == MEAN_CHANGE:
        kw["r"] = r
    if a.k == 1:
        a.single = _single(sel, kind)
        a.status = f"not pooled: 1 study ({a.studies[0]})"
        return a
    if kind == PROPORTION and model == "glmm":
        ev, tot = sel["events"].astype(int), sel["total"].astype(int)
        counts = ", ".join(f"{e}/{t}" for e, t in zip(ev, tot))
        if (ev == 0).all() or (ev == tot).all():
            what = ("no study has an event" if (ev == 0).all()
                    else "every study has events in all its units")
            a.status = (f"not pooled: {what} ({counts} {a.unit or ''}".rstrip() + "); the "
                        f"GLMM has no finite estimate ({'0' if (ev == 0).all() else '100'} %)")
            return a
    try:
        a.result = pool_table(sel, measure, model=model, method="REML", forest=forest,
                              title=title, **kw)
        a.status = "pooled"
    except ReviewError as exc:
        a.status = f"not pooled: {exc.bare_message}"
    return a


def _single(sel, kind) -> dict:
    row = sel.iloc[0]
    if kind == PROPORTION:
        return {"estimate": float(row["events"]) / float(row["total"]),
                "counts": f"{int(row['events'])}/{int(row['total'])}"}
    if kind == MEAN:
        return {"estimate": float(row["mean"])}
    return {"estimate": float(row["mean_pre"]) - float(row["mean_post"])}


# -- all figures ---------------------------------------------------------------------------------

@dataclass
class Analyses:
    """Everything pooled for the report: per figure the primary analysis and the sensitivity
    analyses, the leave-one-out tables, the local-control subgroup/meta-regression rows."""

    primary: list = field(default_factory=list)        # pooled.csv rows
    sensitivity: list = field(default_factory=list)    # sensitivity.csv rows
    leave1out: list = field(default_factory=list)      # leave1out.csv rows
    extra: list = field(default_factory=list)          # analyses.csv rows
    runs: dict = field(default_factory=dict)           # outcome -> [Analysis]
    reported: dict = field(default_factory=dict)       # outcome -> reported values (means)


def analyse(review, form, published: dict, plan: Plan, out: Path) -> Analyses:
    """Pool every figure of the published abstract as the plan says."""
    from .pooling.review_outcomes import outcome_data

    res = Analyses()
    for fig in published["figures"]:
        outcome = fig.get("outcome")
        row = {"outcome": outcome or "", "label": fig["label"], "unit": fig["unit"],
               "published": fig["value"], "k": 0, "k_of": published["studies"]}
        if not outcome or outcome not in form.outcomes:
            row["status"] = "not reproducible: the extraction form has no such outcome"
            res.primary.append(row)
            continue
        df = outcome_data(review, outcome, form=form)
        kind = df.attrs["measure"]
        use_unit = plan.units.get(outcome)
        scale = kind == PROPORTION and fig["unit"] == "%"
        model_label = "GLMM" if kind == PROPORTION and plan.primary == "glmm" else "REML"
        primary = run_analysis(df, kind, outcome, "primary", plan.primary, plan.overlap_primary,
                               use_unit, plan.assumed_r, forest=out / f"forest_{outcome}.png",
                               title=f"{fig['label']} ({model_label})")
        runs = [primary]
        if kind == PROPORTION and plan.sensitivity != plan.primary:
            runs.append(run_analysis(df, kind, outcome, MODEL_NAMES[plan.sensitivity],
                                     plan.sensitivity, plan.overlap_primary, use_unit,
                                     plan.assumed_r))
        if plan.overlap_sensitivity != plan.overlap_primary and df.attrs.get("overlaps"):
            runs.append(run_analysis(df, kind, outcome, "overlapping cohorts kept",
                                     plan.primary, plan.overlap_sensitivity, use_unit,
                                     plan.assumed_r))
        res.runs[outcome] = runs
        row.update(_row(primary, kind, scale, plan))
        if row.get("estimate") is not None and primary.pooled:
            row["difference"] = sig(row["estimate"] - fig["value"])
        if kind == MEAN and not primary.pooled:
            res.reported[outcome] = reported_values(review, form, form.outcomes[outcome])
            if len(df) == 0 and res.reported[outcome]:
                row["status"] = ("not pooled: no study reports the mean with its SD and the "
                                 "number it describes (the values reported are listed below)")
        res.primary.append(row)
        if len(df) == 0:
            continue
        for s in runs[1:]:
            res.sensitivity.append(dict(_row(s, kind, scale, plan), outcome=outcome,
                                        label=fig["label"], analysis=s.name))
        if outcome in plan.leave_one_out:
            res.leave1out.extend(leave_one_out_rows(df, outcome, plan, use_unit, scale))
    res.extra = extra_analyses(review, form, plan)
    return res


def _row(a: Analysis, kind: str, scale: bool, plan: Plan) -> dict:
    """A pooled.csv / sensitivity.csv row of an analysis."""
    row = {"k": a.k, "measure": {PROPORTION: "PLO", MEAN: "MN", MEAN_CHANGE: "MC"}[kind],
           "model": a.model, "method": "ML" if a.model == "glmm" else "REML",
           "unit_of_analysis": a.unit or "", "overlap": a.overlap,
           "studies": ";".join(a.studies), "status": a.status,
           "left_out": "; ".join(f"{d['study']} ({d['reason']})" for d in a.left_out)}
    if a.pooled:
        r = a.result
        for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            row[key] = _percent(r[key], scale)
        row.update(tau2=sig(r["tau2"]), I2=sig(r["I2"]), Q_p=sig(r["Q_p"]))
        if kind == MEAN_CHANGE:
            row["r"] = plan.assumed_r
    elif a.single is not None:
        row["estimate"] = _percent(a.single["estimate"], scale)
    return row


def reported_values(review, form, spec: dict) -> list[dict]:
    """What the studies report of a mean outcome that could not be pooled: each study's mean
    (with its SD, or none) and, where the form has them, the matching medians -- shown, never
    averaged."""
    from .extraction.export import export_table

    wide = export_table(review, form=form)
    value = spec["value"]
    median = value.replace("_mean", "_median") if value.endswith("_mean") else None
    if value == "age":
        median = "age_median"
    out = []
    for _, r in wide.iterrows():
        mean = r.get(f"{value}_mean")
        sd = r.get(f"{value}_sd")
        med = r.get(f"{median}_median") if median and f"{median}_median" in wide.columns else None
        if not _is_num(mean) and not _is_num(med):
            continue
        out.append({"study": r["study"], "mean": sig(float(mean)) if _is_num(mean) else None,
                    "sd": sig(float(sd)) if _is_num(sd) else None,
                    "median": sig(float(med)) if _is_num(med) else None})
    return out


def _is_num(x) -> bool:
    try:
        return x is not None and not isinstance(x, str) and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def leave_one_out_rows(df, outcome: str, plan: Plan, use_unit, scale: bool) -> list[dict]:
    """Leave-one-out of the primary analysis and of the all-studies set (overlapping cohorts
    kept), with the primary model."""
    from .pooling.api import select_studies
    from .pooling.review_outcomes import pool_kwargs
    from .pooling.sensitivity import diagnose_table

    rows = []
    kind = df.attrs["measure"]
    measure = {PROPORTION: "PLO", MEAN: "MN", MEAN_CHANGE: "MC"}[kind]
    policies = [("primary", plan.overlap_primary)]
    if plan.overlap_sensitivity != plan.overlap_primary and df.attrs.get("overlaps"):
        policies.append(("overlapping cohorts kept", plan.overlap_sensitivity))
    for name, policy in policies:
        kw = pool_kwargs(df)
        overlaps, unit_col, year = kw.pop("overlaps"), kw.pop("unit", None), kw.pop("year")
        if kind == MEAN_CHANGE:
            kw["r"] = plan.assumed_r
        try:
            sel, _ = select_studies(df, measure, kw["study"], unit_col, use_unit, overlaps,
                                    policy, year, kw.get("total") or kw.get("n"))
            if len(sel) < 2:
                continue
            model = plan.primary if kind == PROPORTION else "rma"
            d = diagnose_table(sel, measure, ["leave1out"], model=model, **kw)
        except ReviewError:
            continue
        for r in d["leave1out"]["rows"]:
            rows.append({"outcome": outcome, "analysis": name, "left_out": r["study"],
                         "k": r["k"], "model": model,
                         "estimate": _percent(r["estimate"], scale),
                         "ci_low": _percent(r["ci_low"], scale),
                         "ci_high": _percent(r["ci_high"], scale),
                         "tau2": sig(r["tau2"]), "I2": sig(r["I2"]),
                         "note": r.get("note", "")})
    return rows


def extra_analyses(review, form, plan: Plan) -> list[dict]:
    """The abstract's "subgroup analysis and meta-regression", on local control (the published
    moderators are not known): by study design, and on mean age -- with the guards: a subgroup
    of one study is not tested, a meta-regression needs k >= coefficients + 2."""
    from .pooling.api import pool_table, select_studies
    from .pooling.review_outcomes import outcome_data, pool_kwargs

    out = []
    df = outcome_data(review, "local_control", form=form)
    kw = pool_kwargs(df)
    overlaps, unit_col, year = kw.pop("overlaps"), kw.pop("unit", None), kw.pop("year")
    sub = "subgroup: local control by design"
    reg = "meta-regression: logit local control on mean age"
    try:
        sel, _ = select_studies(df, "PLO", kw["study"], unit_col,
                                plan.units.get("local_control"), overlaps,
                                plan.overlap_primary, year, kw["total"])
    except ReviewError as exc:
        return [{"analysis": sub, "note": f"not done: {exc.bare_message}"},
                {"analysis": reg, "note": f"not done: {exc.bare_message}"}]
    d = sel[sel["design"].notna()] if "design" in sel.columns else sel.iloc[0:0]
    designs = sorted(set(d["design"])) if len(d) else []
    if len(designs) < 2:
        out.append({"analysis": sub, "term": "", "k": int(len(d)),
                    "note": f"not done: one design only ({', '.join(designs) or 'none'}) among "
                            f"the {len(d)} studies of the primary analysis"})
    else:
        res = pool_table(d.reset_index(drop=True), "PLO", by="design",
                         model=plan.primary, **kw)
        for g in res["subgroups"]:
            out.append({"analysis": sub, "term": g["group"], "k": g["k"],
                        "estimate": _percent(g["estimate"], True),
                        "ci_low": _percent(g["ci_low"], True),
                        "ci_high": _percent(g["ci_high"], True),
                        "note": "percent" + ("" if g["in_test"] else
                                             "; one study: not in the test of differences")})
        if res["Q_between"] is not None:
            out.append({"analysis": sub, "term": "test of subgroup differences",
                        "k": int(len(d)), "estimate": sig(res["Q_between"]),
                        "p": sig(res["Q_between_p"]), "note": "Q between"})
        else:
            out.append({"analysis": sub, "term": "test of subgroup differences",
                        "k": int(len(d)), "note": "not done: fewer than 2 subgroups with "
                                                  "2 or more studies"})
    a = sel[[_is_num(x) for x in sel["age"]]] if "age" in sel.columns else sel.iloc[0:0]
    try:
        res = pool_table(a.reset_index(drop=True), "PLO", moderators=["age"], **kw)
    except ReviewError as exc:
        out.append({"analysis": reg, "term": "", "k": int(len(a)),
                    "note": f"not done: {exc.bare_message}"})
    else:
        mr = res["metareg"]
        for c in mr["coefficients"]:
            out.append({"analysis": reg, "term": c["name"], "k": int(len(a)),
                        "estimate": sig(c["estimate"]), "ci_low": sig(c["ci_low"]),
                        "ci_high": sig(c["ci_high"]), "p": sig(c["p"]),
                        "note": "; ".join([f"QM p = {sig(mr['QM_p'])}"] + res["warnings"])})
    return out


# -- report sections ----------------------------------------------------------------------------

def _fmt(x, digits: int = 1) -> str:
    if x is None or x == "":
        return "–"
    return f"{x:.{digits}f}"


def _ci(row: dict) -> str:
    return f"{_fmt(row.get('estimate'))} [{_fmt(row.get('ci_low'))}, {_fmt(row.get('ci_high'))}]"


def section_pooled(published: dict, res: Analyses, plan: Plan) -> list[str]:
    """The primary analysis of every figure next to the published value."""
    L = ["## Pooled results next to the published abstract\n",
         f"| outcome | published | reproduced [95% CI] | model | k of {published['studies']} | "
         "difference | status |", "|---|---|---|---|---|---|---|"]
    for r in res.primary:
        shown = _ci(r) if r.get("status") == "pooled" else _fmt(r.get("estimate"))
        diff = "–" if r.get("difference") is None else f"{r['difference']:+.1f}"
        model = {"glmm": "GLMM", "rma": "REML"}.get(r.get("model"), "–") \
            if r.get("status") == "pooled" else "–"
        unit = f", per {r['unit_of_analysis'].rstrip('s')}" if r.get("unit_of_analysis") else ""
        L.append(f"| {r['label']} ({r['unit']}{unit}) | {r['published']:.1f} | {shown} | "
                 f"{model} | {r['k']} | {diff} | {r['status']} |")
    L.append("")
    L.append("Models: proportions by the random-intercept logistic GLMM (maximum likelihood, "
             "7-point adaptive Gauss-Hermite quadrature; metafor's rma.glmm) as the primary "
             "analysis and the inverse-variance random-effects model of the logits (REML) as "
             "a sensitivity analysis (below); means as MN and pain reduction as mean change "
             "(MC, pre − post) with an assumed pre/post correlation "
             f"r = {plan.assumed_r} where no study reports one, both REML. A single study's "
             "value is shown, not pooled. Forest plots: forest_<outcome>.png.\n")
    return L


def section_sensitivity(res: Analyses) -> list[str]:
    """The sensitivity analyses: the other model, and the overlapping cohorts kept."""
    if not res.sensitivity:
        return []
    L = ["## Sensitivity analyses\n",
         "| outcome | analysis | k | estimate [95% CI] | studies | status |",
         "|---|---|---|---|---|---|"]
    for r in res.sensitivity:
        shown = _ci(r) if r["status"] == "pooled" else _fmt(r.get("estimate"))
        L.append(f"| {r['label']} | {r['analysis']} | {r['k']} | {shown} | "
                 f"{r['studies'].replace(';', ', ')} | {r['status']} |")
    L.append("")
    L.append("“inverse-variance (REML)”: the same studies as the primary analysis, pooled as "
             "logits with inverse-variance weights (studies with 0 or all events get 1/2 added "
             "to their cells, as metafor's escalc). “overlapping cohorts kept”: every study, "
             "the overlapping cohorts counted as if independent (they are not; see below).\n")
    return L


def section_units_and_overlaps(res: Analyses, overlaps: list[dict], plan: Plan,
                               names: dict) -> list[str]:
    """Which studies each figure leaves out, and why (units of analysis, overlapping cohorts).
    ``names`` maps record ids (CRYO###) in the overlap notes to study labels."""
    import re

    L = ["## Units of analysis and overlapping cohorts\n"]
    if plan.units:
        L.append("Each pooled proportion counts one unit of analysis (the plan, "
                 "extraction/analysis_plan.yaml): "
                 + "; ".join(f"{o}: {u}" for o, u in sorted(plan.units.items())) + ".")
    if overlaps:
        L.append("Overlapping cohorts recorded at full text (screening/overlaps.csv, "
                 "`review overlap add`):\n")
        for p in overlaps:
            note = re.sub(r"CRYO\d{3}", lambda m: names.get(m.group(0), m.group(0)),
                          p["note"] or "")
            L.append(f"- {p['studies'][0]} and {p['studies'][1]}: {note}")
        L.append("")
        L.append("The primary analyses keep, per outcome, the larger study of each "
                 "overlapping set (more units in that outcome; then the more recent), so no "
                 "cohort is counted twice; the sensitivity analysis “overlapping cohorts kept” "
                 "pools them all.\n")
    left = [(r["label"], r["left_out"]) for r in res.primary if r.get("left_out")]
    if left:
        L.append("Left out of the primary analyses:\n")
        L.extend(f"- {label}: {text}" for label, text in left)
        L.append("")
    return L


def section_leave_one_out(res: Analyses, labels_of: dict) -> list[str]:
    if not res.leave1out:
        return []
    L = ["## Leave-one-out\n", "| outcome | analysis | study left out | k | estimate [95% CI] "
         "| tau² |", "|---|---|---|---|---|---|"]
    for r in res.leave1out:
        shown = _ci(r) if r.get("estimate") is not None else f"– ({r.get('note')})"
        L.append(f"| {labels_of.get(r['outcome'], r['outcome'])} | {r['analysis']} | "
                 f"{r['left_out']} | {r['k']} | {shown} | {_fmt(r.get('tau2'), 3)} |")
    L.append("")
    L.append("With k = 2 each leave-one-out estimate is the remaining study alone; the "
             "all-studies set shows how much the figure rests on each study. Table: "
             "leave1out.csv.\n")
    return L


def section_reported_means(res: Analyses, labels_of: dict) -> list[str]:
    """Means that could not be pooled: what each study reports, side by side."""
    if not res.reported:
        return []
    L = ["## Means that are reported but not pooled\n",
         "A pooled mean needs each study's mean, SD and the number of patients it describes; "
         "studies without them are listed, not averaged (and a follow-up of local control is "
         "not mixed with a clinical follow-up).\n"]
    for outcome, rows in res.reported.items():
        if not rows:
            continue
        parts = []
        for r in rows:
            bits = []
            if r["mean"] is not None:
                bits.append(f"mean {r['mean']:g}" + (f" (SD {r['sd']:g})" if r["sd"] is not None
                                                    else " (no SD)"))
            if r["median"] is not None:
                bits.append(f"median {r['median']:g}")
            parts.append(f"{r['study']} {', '.join(bits)}")
        L.append(f"- {labels_of.get(outcome, outcome)}: " + "; ".join(parts))
    L.append("")
    return L


def section_subgroup_metareg(res: Analyses) -> list[str]:
    if not res.extra:
        return []
    L = ["## Subgroup analysis and meta-regression\n",
         "| analysis | term | k | estimate | 95% CI | p | note |", "|---|---|---|---|---|---|---|"]
    for e in res.extra:
        ci = (f"[{e['ci_low']:.3g}, {e['ci_high']:.3g}]" if e.get("ci_low") is not None
              else "")
        est = "" if e.get("estimate") is None else f"{e['estimate']:.4g}"
        p = "" if e.get("p") is None else f"{e['p']:.3g}"
        L.append(f"| {e['analysis']} | {e.get('term', '')} | {e.get('k', '')} | {est} | "
                 f"{ci} | {p} | {e.get('note', '')} |")
    L.append("")
    return L
