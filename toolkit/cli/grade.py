"""`review grade`: GRADE certainty of the evidence per outcome (propose, rate) and the
summary-of-findings table."""

from __future__ import annotations

import click

from ..errors import ReviewError
from .common import (OutFile, emit, json_option, note, open_store, outcome_pool_options,
                     terminal)


GRADE_TOOL_HELP = ("The appraisal tool whose overall judgements give risk of bias and the "
                   "starting level (default: the only tool the review has used; none: "
                   "every study not appraised, starting low).")
R_HELP = "Mean-change outcomes without an r field: the assumed pre/post correlation."


@click.group("grade")
def grade_group():
    """GRADE certainty of the evidence per outcome and the summary-of-findings table.

    \b
    review grade propose [--outcome O]     what the store suggests, domain by domain
    review grade rate OUTCOME              the reviewer's rating, with reasons (audited)
    review grade sof [--format md|csv]     the summary-of-findings table
    """


def _grade_tool(review, tool_name):
    from ..appraisal.templates import find_tool

    if tool_name:
        return find_tool(review, tool_name)
    used = [r["name"] for r in review.db.query("select name from appraisal_tools")]
    if not used:
        note("no appraisal in the review: every study counts as not appraised")
        return None
    return find_tool(review, None)


def _outcomes(review, named) -> list[str]:
    from ..extraction.forms import find_form

    if named:
        return list(named)
    return list(find_form(review, None).outcomes)


def _proposals(review, outcomes, tool, *, strict, **settings) -> tuple[dict, list, list]:
    """({outcome: proposal}, [{outcome, reason}] of outcomes that cannot be proposed,
    [outcomes without data]). With ``strict`` (outcomes named on the command line) the first
    failure is the error."""
    from ..appraisal import grade
    from ..extraction.export import outcome_table

    props, skipped, no_data = {}, [], []
    for o in outcomes:
        if not strict and len(outcome_table(review, o)) == 0:
            no_data.append(o)
            continue
        try:
            props[o] = grade.propose(review, o, tool, **settings)
        except ReviewError as exc:
            if strict:
                raise
            skipped.append({"outcome": o, "reason": exc.bare_message})
    if no_data:
        note("outcomes without data, left out: " + ", ".join(no_data))
    for s in skipped:
        note(f"outcome {s['outcome']}: not proposed: "
             + s["reason"].removeprefix(f"outcome {s['outcome']}: "))
    return props, skipped, no_data


def _grade_options(f):
    """The options every grade command shares: the appraisal tool, GRADE's settings and the
    pooling of `review pool --outcome` (model, unit of analysis, overlapping cohorts)."""
    f = outcome_pool_options(f)
    f = click.option("--ois", type=int, default=400, show_default=True,
                     help="Optimal information size (participants) for imprecision.")(f)
    f = click.option("--start", type=click.Choice(["high", "low"]),
                     help="Starting level (default: high for RoB 2 and ROBINS-I, else low).")(f)
    f = click.option("--r", "r", type=float, help=R_HELP)(f)
    return click.option("--tool", "tool_name", help=GRADE_TOOL_HELP)(f)


@grade_group.command("propose")
@click.option("--outcome", "outcomes", multiple=True,
              help="An outcome of the extraction form (repeatable; default every outcome with "
                   "data).")
@_grade_options
@json_option
@click.pass_context
def grade_propose_cmd(ctx, outcomes, tool_name, r, start, ois, model, use_unit, overlap_policy,
                      as_json):
    """Propose each outcome's GRADE rating from the store: risk of bias from the weight at
    high risk, inconsistency from I2 and the prediction interval, imprecision from the
    participants and the CI, publication bias from Egger's test (10 or more studies)."""
    from ..appraisal.grade import recheck

    with open_store(ctx, "grade") as review:
        tool = _grade_tool(review, tool_name)
        props, skipped, no_data = _proposals(
            review, _outcomes(review, outcomes), tool, strict=bool(outcomes), r=r, start=start,
            ois=ois, model=model, use_unit=use_unit, overlap_policy=overlap_policy)
        stale = recheck(review, tool, list(props))
    for text in stale:
        note(text)
    out = {"tool": tool.name if tool else None, "proposals": list(props.values()),
           "not_proposed": skipped, "no_data": no_data, "stale_ratings": stale}

    def human(d):
        lines = []
        for p in d["proposals"]:
            lines.append(f"{p['outcome']}: k = {p['k']}, participants "
                         f"{p['participants'] if p['participants'] is not None else 'unknown'},"
                         f" {p['measure']} {p['estimate']:.4g} [{p['ci_low']:.4g}, "
                         f"{p['ci_high']:.4g}]; starts {p['start']} -> proposed "
                         f"{p['certainty']}")
            for dom, v in p["domains"].items():
                lv = f"{v['levels']:+d}" if v["levels"] else "0"
                lines.append(f"  {dom:<17} {lv:>2}  {v['reason']}")
        return "\n".join(lines)
    emit(out, as_json, human)


def _domain_values(pairs, what: str, convert) -> dict:
    from ..appraisal.grade import DOMAINS, UPGRADES

    out = {}
    for text in pairs:
        name, sep, value = text.partition("=")
        name = name.strip().replace("-", "_").replace(" ", "_")
        if not sep or name not in DOMAINS + UPGRADES:
            raise ReviewError(f"{what} {text!r}: give DOMAIN=..., DOMAIN one of "
                              f"{', '.join(DOMAINS + UPGRADES)}")
        try:
            out[name] = convert(value.strip())
        except ValueError:
            raise ReviewError(f"{what} {text!r}: {value.strip()!r} is not a number of levels "
                              "(0, -1, -2; upgrades 1, 2)") from None
    return out


@grade_group.command("rate")
@click.argument("outcome")
@click.option("--level", "level_pairs", multiple=True, metavar="DOMAIN=N",
              help="Levels down (-1, -2) or up (1, 2) for a domain, where they differ from the "
                   "proposal (repeatable). Domains: risk_of_bias, inconsistency, indirectness, "
                   "imprecision, publication_bias; up: large_effect, dose_response, "
                   "plausible_confounding.")
@click.option("--reason", "reason_pairs", multiple=True, metavar="DOMAIN=TEXT",
              help="Why, for a domain rated up or down or changed from the proposal "
                   "(repeatable).")
@click.option("--accept", is_flag=True, help="Rate as proposed (no prompts).")
@click.option("--certainty", type=click.Choice(["high", "moderate", "low", "very low"]),
              help="The certainty you expect: an error (nothing saved) if the levels give "
                   "another.")
@click.option("--rater", help="Who rates (default: env REVIEW_REVIEWER or the OS user).")
@click.option("--note", "note_text", help="A note kept with the rating.")
@_grade_options
@json_option
@click.pass_context
def grade_rate_cmd(ctx, outcome, level_pairs, reason_pairs, accept, certainty, rater,
                   note_text, tool_name, r, start, ois, model, use_unit, overlap_policy,
                   as_json):
    """Record the reviewer's GRADE rating of OUTCOME: domain by domain in the terminal, or
    with --level/--reason (or --accept). Every level up or down needs a reason (the
    proposal's stands where its level is kept), and so does every departure from the
    proposal. A new rating supersedes the old one (both kept)."""
    from ..appraisal import grade
    from ..store import default_actor

    rater = rater or default_actor()
    levels = _domain_values(level_pairs, "--level", int)
    reasons = _domain_values(reason_pairs, "--reason", str)
    ask, say = terminal(as_json)
    with open_store(ctx, "grade") as review:
        tool = _grade_tool(review, tool_name)
        proposal = grade.propose(review, outcome, tool, r=r, start=start, ois=ois, model=model,
                                 use_unit=use_unit, overlap_policy=overlap_policy)
        if levels or reasons or accept:
            with review.atomic():
                out = grade.rate(review, outcome, proposal, rater, levels=levels,
                                 reasons=reasons, start=start, note=note_text)
                if certainty and out["certainty"] != certainty:
                    raise ReviewError(f"outcome {outcome}: these levels give "
                                      f"{out['certainty']}, not {certainty}; nothing saved")
        else:
            out = grade.run_rating(review, outcome, proposal, rater, ask=ask, echo=say,
                                   start=start, note=note_text)
            if out is None:
                out = {"outcome": outcome, "saved": False}

    def human(d):
        if "certainty" not in d:
            return f"{d['outcome']}: not saved"
        lines = [f"{d['outcome']}: {d['certainty']} (proposed: {d['proposed']}), rated by "
                 f"{rater}"]
        lines += [f"  {dom} {lv:+d}: {d['reasons'].get(dom, '')}"
                  for dom, lv in d["levels"].items() if lv]
        return "\n".join(lines)
    emit(out, as_json, human)


@grade_group.command("sof")
@click.option("--outcome", "outcomes", multiple=True,
              help="An outcome of the table, in order (repeatable; default the rated "
                   "outcomes).")
@click.option("--format", "fmt", type=click.Choice(["md", "csv"]), default="md",
              show_default=True)
@click.option("--out", "out_file", type=OutFile(), help="Write the table here instead of "
                                                        "stdout.")
@_grade_options
@json_option
@click.pass_context
def grade_sof_cmd(ctx, outcomes, fmt, out_file, tool_name, r, start, ois, model, use_unit,
                  overlap_policy, as_json):
    """The summary-of-findings table: outcome, studies, participants, estimate [95% CI],
    certainty and reasons. Rated outcomes show the reviewer's rating (a note names those whose
    numbers have changed since); outcomes named with --outcome and not rated show their
    proposal, pooled with the options given, marked "proposed, not rated"."""
    import csv
    import io

    from ..appraisal import grade

    with open_store(ctx, "grade") as review:
        tool = _grade_tool(review, tool_name)
        named = list(outcomes) or list(grade.ratings(review))
        if not named:
            raise ReviewError("no outcome is rated yet: rate them (`review grade rate "
                              "OUTCOME`), or name them with --outcome to show their proposals")
        rated = grade.ratings(review)
        # rated outcomes show their rating (re-checked with its own settings); the others
        # their proposal, pooled with the options given here
        props, skipped, no_data = _proposals(
            review, [o for o in named if o not in rated], tool, strict=bool(outcomes), r=r,
            start=start, ois=ois, model=model, use_unit=use_unit,
            overlap_policy=overlap_policy)
        rows = grade.sof_rows(review, props, outcomes=named)
        stale = grade.recheck(review, tool, named)
    for text in stale:
        note(text)
    if fmt == "md":
        text = grade.sof_markdown(rows)
    else:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=grade.SOF_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows([{k: "" if v is None else v for k, v in row.items()} for row in rows])
        text = buf.getvalue()
    if out_file:
        with open(out_file, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    out = {"rows": rows, "format": fmt, "file": out_file, "not_proposed": skipped,
           "no_data": no_data, "stale_ratings": stale}
    if as_json:
        emit(out, True)
    elif out_file:
        click.echo(f"wrote {len(rows)} outcome(s) to {out_file}")
    else:
        click.echo(text, nl=False)


COMMANDS = [grade_group]
