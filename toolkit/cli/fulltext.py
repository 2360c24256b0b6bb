"""Full-text eligibility: `review fulltext` (run, import, decide, resolve, summary, conflicts)
and `review link` (several reports of one study)."""

from __future__ import annotations

import click

from ..errors import ReviewError
from .common import StageGroup, deprecated, emit, json_option, note, open_store

REVIEWER_HELP = "Who decides (default: env REVIEW_REVIEWER or the OS user)."
CRITERIA_HELP = ("Criteria YAML with fulltext_reasons (default: screening/criteria.yaml beside "
                 "the store).")
DECISIONS = click.Choice(["include", "exclude", "not_retrieved"])


def _reasons(review, criteria):
    from ..fulltext import default_criteria_path, load_criteria

    return load_criteria(criteria or default_criteria_path(review))["fulltext_reasons"]


def _ft_counts_text(c: dict) -> str:
    """Full-text counts (``fulltext_counts``) as readable lines."""
    lines = [f"{c['reports_sought']} reports at full text: {c['reports_included']} included "
             f"({c['studies_included']} studies), {c['reports_excluded']} excluded, "
             f"{c['reports_not_retrieved']} not retrieved, {c['reports_pending']} pending, "
             f"{c['reports_conflict']} in conflict"]
    for reason, n in c["excluded_reasons"].items():
        lines.append(f"  excluded, {reason}: {n}")
    return "\n".join(lines)


def _ft_conflicts_text(d: dict, *, unresolved_only: bool = False) -> str:
    """Full-text conflicts (``fulltext_conflicts``) as readable lines."""
    from ..fulltext import RESOLVE_HINT, describe_decision

    items = [c for c in d["conflicts"] if not (unresolved_only and c["resolution"])]
    if unresolved_only:
        lines = [f"{len(items)} report(s) in conflict:"] if items else []
    else:
        lines = [f"full-text conflicts: {len(items)}, unresolved: {d['n_unresolved']}"]
    for c in items:
        lines.append(f"  record {c['record_id']}: {(c['title'] or '(no title)')[:70]}")
        lines.append("    " + "; ".join(f"{who}: {describe_decision(x)}"
                                        for who, x in c["decisions"].items()))
        if c["resolution"]:
            r = c["resolution"]
            lines.append(f"    -> resolved: {describe_decision(r)} by {r['reviewer']}"
                         + (f" ({r['note']})" if r["note"] else ""))
    if d["n_unresolved"]:
        lines.append(RESOLVE_HINT)
    return "\n".join(lines)


@click.group("fulltext", cls=StageGroup, default="run", default_if_no_args=True)
def fulltext_group():
    """Full-text eligibility of each report included or maybed at title/abstract.

    \b
    review fulltext                  prompts report by report (run)
    review fulltext decide REF ...   one decision without prompts
    review fulltext resolve REF ...  an adjudicated decision (overrides reviewers'; audited)
    review fulltext import FILE.csv  decisions made elsewhere
    review fulltext summary          counts (PRISMA) and reports in conflict
    review fulltext conflicts        reports reviewers disagree on

    \b
    Keys of the prompts:
      i include          e exclude, then a reason (its number or text)
      x not retrieved    n note for the next decision
      s skip             u undo your last decision
      c show criteria    q quit (also end of input)
      ? help and the numbered reasons
    """


@fulltext_group.command("run")
@click.option("--reviewer", help=REVIEWER_HELP)
@click.option("--criteria", type=click.Path(dir_okay=False), help=CRITERIA_HELP)
# the old mode flags, kept for one release
@click.option("--import", "import_file", type=click.Path(dir_okay=False), hidden=True)
@click.option("--record", "record_ref", hidden=True)
@click.option("--decision", type=DECISIONS, hidden=True)
@click.option("--reason", hidden=True)
@click.option("--note", "note_text", hidden=True)
@click.option("--resolve", is_flag=True, hidden=True)
@click.option("--summary", is_flag=True, hidden=True)
@click.option("--conflicts", "list_conflicts", is_flag=True, hidden=True)
@json_option
@click.pass_context
def fulltext_run_cmd(ctx, reviewer, criteria, import_file, record_ref, decision, reason,
                     note_text, resolve, summary, list_conflicts, as_json):
    """Prompt report by report (keys: `review fulltext --help`).

    Reviewers who disagree leave a report in conflict: list them with `review fulltext
    conflicts` and resolve with `review fulltext resolve REF --decision D`.
    """
    from .. import fulltext as ft
    from ..store import default_actor

    if _old_spelling(ctx, reviewer, criteria, import_file, record_ref, decision, reason,
                     note_text, resolve, summary, list_conflicts, as_json):
        return
    from ..terminal import Terminal

    with open_store(ctx, "fulltext") as review:
        crit = ft.load_criteria(criteria or ft.default_criteria_path(review))
        term = Terminal(err=as_json)
        out = ft.run_fulltext(review, reviewer or default_actor(), crit["fulltext_reasons"],
                              ask=lambda p: term.line(f"{p}: "), echo=term.echo, key=term.key,
                              criteria=crit, one_key_reasons=term.tty)
        out.update(counts=ft.fulltext_counts(review))
    emit(out, as_json, lambda d: (
        f"{'quit' if d['quit'] else 'done'}: {d['decided']} decision(s) saved this session"
        + (f", {d['undone']} undone" if d["undone"] else "") + "\n"
        + _ft_counts_text(d["counts"])))


def _old_spelling(ctx, reviewer, criteria, import_file, record_ref, decision, reason, note_text,
                  resolve, summary, list_conflicts, as_json):
    """Run an old mode-flag spelling (``review fulltext --import F`` ...) as its subcommand;
    True if one was given (and run)."""
    modes = [m for m, on in (("--summary", summary), ("--conflicts", list_conflicts),
                             ("--import", import_file), ("--record", record_ref)) if on]
    if len(modes) > 1:
        raise ReviewError(f"choose one of {', '.join(modes)}")
    if not record_ref:
        given = [o for o, on in (("--decision", decision), ("--reason", reason),
                                 ("--note", note_text), ("--resolve", resolve)) if on]
        if given:
            raise ReviewError(f"{'/'.join(given)} go{'es' if len(given) == 1 else ''} with "
                              "`review fulltext decide REF`")
    if summary:
        deprecated("review fulltext --summary", "review fulltext summary")
        ctx.invoke(fulltext_summary_cmd, as_json=as_json)
    if list_conflicts:
        deprecated("review fulltext --conflicts", "review fulltext conflicts")
        ctx.invoke(fulltext_conflicts_cmd, as_json=as_json)
    if import_file:
        deprecated("review fulltext --import FILE", "review fulltext import FILE")
        ctx.invoke(fulltext_import_cmd, file=import_file, reviewer=reviewer,
                   criteria=criteria, as_json=as_json)
    if record_ref:
        if not decision:
            raise ReviewError("--record needs --decision include|exclude|not_retrieved")
        new = "resolve" if resolve else "decide"
        deprecated("review fulltext --record REF" + (" --resolve" if resolve else ""),
                   f"review fulltext {new} REF")
        ctx.invoke(fulltext_resolve_cmd if resolve else fulltext_decide_cmd,
                   report=record_ref, decision=decision, reason=reason, note_text=note_text,
                   reviewer=reviewer, criteria=criteria, as_json=as_json)
    return bool(modes)


def _save_one(ctx, report, decision, reason, note_text, reviewer, criteria, as_json, *,
              resolve: bool):
    """One full-text decision (or resolution) without prompts; prints the report's final
    decision after it is saved (a conflict when reviewers now disagree)."""
    from .. import fulltext as ft
    from ..store import default_actor

    if reason and decision != "exclude":
        raise ReviewError("--reason goes with --decision exclude")
    reviewer = reviewer or default_actor()
    with open_store(ctx, "fulltext") as review:
        reasons = _reasons(review, criteria) if decision == "exclude" else None
        rid = ft.require_report(review, report, record=f"record {report}")
        status = "not_retrieved" if decision == "not_retrieved" else "assessed"
        save = ft.resolve_fulltext if resolve else ft.record_fulltext
        with review.atomic():
            save(review, rid, status, None if status != "assessed" else decision, reason,
                 reviewer=reviewer, reasons=reasons, note=note_text)
        final = ft.final_fulltext(review)[rid]
    out = {"record_id": rid, "status": status, "reviewer": reviewer, "resolution": resolve,
           "decision": final}
    emit(out, as_json, lambda d: (
        f"record {d['record_id']}: {'resolved' if d['resolution'] else 'saved'} "
        f"{_describe_saved(status, decision, reason, reasons)} by {d['reviewer']}; "
        + ("now in conflict with another reviewer (see `review fulltext conflicts`)"
           if d["decision"]["status"] == "conflict" else
           f"full-text decision now: {ft.describe_decision(d['decision'])}")))


def _one_decision_options(f):
    for opt in reversed([
        click.argument("report", metavar="REF"),
        click.option("--decision", type=DECISIONS, required=True, help="The decision."),
        click.option("--reason", help="With --decision exclude: the reason (text or its "
                                      "number in fulltext_reasons)."),
        click.option("--note", "note_text", help="A note."),
        click.option("--reviewer", help=REVIEWER_HELP),
        click.option("--criteria", type=click.Path(dir_okay=False), help=CRITERIA_HELP),
        json_option,
        click.pass_context,
    ]):
        f = opt(f)
    return f


@fulltext_group.command("decide")
@_one_decision_options
def fulltext_decide_cmd(ctx, report, decision, reason, note_text, reviewer, criteria, as_json):
    """Decide on one report REF (record id, pmid:N, doi:...) without prompts."""
    _save_one(ctx, report, decision, reason, note_text, reviewer, criteria, as_json,
              resolve=False)


@fulltext_group.command("resolve")
@_one_decision_options
def fulltext_resolve_cmd(ctx, report, decision, reason, note_text, reviewer, criteria, as_json):
    """Record an adjudicated decision on REF: it overrides the reviewers' (audited)."""
    _save_one(ctx, report, decision, reason, note_text, reviewer, criteria, as_json,
              resolve=True)


@fulltext_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--reviewer", help="Whose decisions, for rows without a reviewer column "
                                 "(default: env REVIEW_REVIEWER or the OS user).")
@click.option("--criteria", type=click.Path(dir_okay=False), help=CRITERIA_HELP)
@json_option
@click.pass_context
def fulltext_import_cmd(ctx, file, reviewer, criteria, as_json):
    """Import decisions from FILE.csv (record_id|source_id|pmid|doi, status, decision, reason,
    reviewer, note). The same file content twice adds nothing."""
    from .. import fulltext as ft
    from ..store import default_actor

    with open_store(ctx, "fulltext") as review:
        reasons = _reasons(review, criteria)
        out = ft.import_fulltext_csv(review, file, reasons=reasons,
                                     reviewer=reviewer or default_actor())
        out.update(counts=ft.fulltext_counts(review))
    emit(out, as_json, lambda d: (
        f"{d['file']}: {d['message']}" if d["already_imported"] else
        f"{d['file']}: {d['imported']} decisions imported") + "\n" + _ft_counts_text(
            d["counts"]))


@fulltext_group.command("summary")
@json_option
@click.pass_context
def fulltext_summary_cmd(ctx, as_json):
    """The full-text counts (PRISMA) and the reports in conflict."""
    from .. import fulltext as ft

    with open_store(ctx, "fulltext") as review:
        out = ft.fulltext_counts(review)
        open_conflicts = ft.fulltext_conflicts(review)
    emit(out, as_json, lambda d: "\n".join(filter(None, [
        _ft_counts_text(d), _ft_conflicts_text(open_conflicts, unresolved_only=True)])))


@fulltext_group.command("conflicts")
@json_option
@click.pass_context
def fulltext_conflicts_cmd(ctx, as_json):
    """The reports reviewers disagree on, each reviewer's decision and reason, and any
    resolution."""
    from .. import fulltext as ft

    with open_store(ctx, "fulltext") as review:
        out = ft.fulltext_conflicts(review)
    emit(out, as_json, _ft_conflicts_text)


def _describe_saved(status, decision, reason, reasons) -> str:
    """The decision the user just gave, in words (the reason as the criteria spell it)."""
    from ..fulltext import describe_decision, match_reason

    if reason and reasons:
        reason = match_reason(reason, reasons) or reason
    return describe_decision({"status": status, "decision": decision, "reason": reason})


@click.command("link")
@click.argument("report")
@click.option("--study", required=True,
              help="A study label, or another report (record id, pmid:N) whose study to join.")
@json_option
@click.pass_context
def link_cmd(ctx, report, study, as_json):
    """Link REPORT (record id, pmid:N, doi:...) to a study: several reports, one study.

    Only included reports make a study; an excluded or not-retrieved report may be linked too
    (to record which study it belongs to) but does not count. A link that would leave a study
    with extracted values without an included report is refused."""
    from .. import fulltext as ft

    with open_store(ctx, "link") as review:
        with review.atomic():
            label = ft.link_report(review, report, study)
        rid = ft.resolve_record(review, report)
        links = ft.report_links(review)
        members = [r for r in ft.fulltext_reports(review)
                   if ft.study_of(review, r, links) == label]
        final = ft.final_fulltext(review)
    if final[rid]["decision"] != "include":
        state = {"exclude": "excluded", "not_retrieved": "not retrieved",
                 "conflict": "in conflict", "sought": "not decided yet"}.get(
                     final[rid]["decision"] or final[rid]["status"])
        note(f"report {rid} is {state} at full text: the link is kept, but only included "
             "reports count for a study")
    emit({"report": rid, "study": label, "reports": members}, as_json,
         lambda d: f"report {d['report']} -> study {d['study']} (reports "
                   f"{', '.join(map(str, d['reports']))})")


COMMANDS = [fulltext_group, link_cmd]
