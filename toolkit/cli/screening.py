"""Title/abstract screening: `review screen`, `review conflicts`, `review simulate`."""

from __future__ import annotations

import click

from ..errors import ReviewError
from .common import (OutFile, StageGroup, db_path, deprecated, emit, json_option, open_store,
                     warn)

REVIEWER_HELP = "Who screens (default: env REVIEW_REVIEWER, else the OS user)."


def queue_options(f):
    """The options of a screening queue (`review screen`, `review serve`): stopping rule and
    seed."""
    for option in reversed([
        click.option("--stop", type=click.Choice(["none", "heuristic", "buscar"]),
                     default="none", show_default=True,
                     help="Stopping rule; when it is met the remaining records are recorded as "
                          "excluded by automation."),
        click.option("--stop-after", type=click.IntRange(min=1), default=50, show_default=True,
                     help="Consecutive excludes that stop (heuristic) or start the random "
                          "sample (buscar)."),
        click.option("--target-recall", default=0.95, show_default=True,
                     type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     help="BUSCAR recall target."),
        click.option("--confidence", default=0.95, show_default=True,
                     type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     help="BUSCAR confidence level."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Random state of the model and of the BUSCAR sample."),
    ]):
        f = option(f)
    return f


@click.group("screen", cls=StageGroup, default="run", default_if_no_args=True)
def screen_group():
    """Title/abstract screening: `review screen` (run) screens in the model's order;
    `review screen import FILE` loads decisions made elsewhere."""


@screen_group.command("run")
@click.option("--reviewer", envvar="REVIEW_REVIEWER", help=REVIEWER_HELP)
@click.option("--criteria", "criteria_path", type=click.Path(dir_okay=False),
              help="Inclusion/exclusion criteria YAML shown on `c` "
                   "[default: screening/criteria.yaml next to the db, else in the cwd].")
@click.option("--import", "import_path", type=click.Path(dir_okay=False), hidden=True)
@queue_options
@click.option("--yes", "-y", is_flag=True,
              help="When the stopping rule is met, exclude the rest by automation without "
                   "asking first.")
@json_option
@click.pass_context
def screen_run_cmd(ctx, reviewer, criteria_path, import_path, stop, stop_after, target_recall,
                   confidence, seed, yes, as_json):
    """Screen one record at a time, in the order the model ranks them.

    Keys: i include, e exclude (1-9: with that reason of the criteria file's ta_reasons,
    r: choose one), m maybe, u undo, n note, c criteria, ? help, q quit. Every
    decision is saved before the next record is shown; run again to resume. When a stopping
    rule is met you are asked before the rest is excluded by automation (--yes: not asked).
    With --json the prompts go to stderr and one JSON object of counts is printed at the end.
    """
    from ..fulltext import criteria_path_for
    from ..screening.prompts import run
    from ..screening.queue import ScreeningSession
    from ..store import default_actor

    if import_path:  # the old mode flag, kept for one release
        deprecated("review screen --import FILE", "review screen import FILE")
        return ctx.invoke(screen_import_cmd, file=import_path, reviewer=reviewer,
                          as_json=as_json)
    from ..screening.criteria import load_screening_criteria
    from ..screening.queue import screening_readiness

    reviewer = reviewer or default_actor()
    criteria_path = criteria_path or str(criteria_path_for(db_path(ctx)))
    criteria = load_screening_criteria(criteria_path)  # a malformed file stops here, first
    with open_store(ctx, "screen") as review:
        for text in screening_readiness(review):  # an empty store is an error, raised here
            warn(text)
        n = review.db["records"].count
        if n > 2000:  # features for a large review take seconds; say why nothing shows yet
            click.echo(f"preparing the ranking of {n} records ...", err=True)
        session = ScreeningSession(review, reviewer, stop=stop, stop_after=stop_after,
                                   target_recall=target_recall, confidence=confidence,
                                   seed=seed)
        out = run(session, criteria_path=criteria_path, criteria=criteria, err=as_json,
                  yes=yes)
    if as_json:
        emit(out, True)


@screen_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--reviewer", envvar="REVIEW_REVIEWER",
              help="Whose decisions, for rows without a reviewer column (default: env "
                   "REVIEW_REVIEWER, else the OS user).")
@json_option
@click.pass_context
def screen_import_cmd(ctx, file, reviewer, as_json):
    """Load title/abstract decisions from FILE.csv (record_id|source_id|pmid|doi, decision,
    [reviewer], [note]) in one transaction."""
    from ..screening.decisions import import_decisions
    from ..store import default_actor

    with open_store(ctx, "screen") as review:
        out = import_decisions(review, file, reviewer or default_actor())
    out = {"file": file, **out}
    emit(out, as_json, lambda d: (
        f"{d['file']}: {d['rows']} rows, {d['decisions']} decisions saved "
        f"(include {d['include']}, exclude {d['exclude']}, maybe {d['maybe']})"))


@click.group("conflicts", cls=StageGroup, default="list", default_if_no_args=True)
def conflicts_group():
    """Disagreements between reviewers and maybes, with Cohen's kappa (list); `review
    conflicts resolve RECORD --decision D` records a resolution."""


@conflicts_group.command("list")
@click.option("--resolve", "record_id", type=int, hidden=True)
@click.option("--decision", type=click.Choice(["include", "exclude"]), hidden=True)
@click.option("--note", hidden=True)
@click.option("--reviewer", envvar="REVIEW_REVIEWER", hidden=True)
@json_option
@click.pass_context
def conflicts_list_cmd(ctx, record_id, decision, note, reviewer, as_json):
    """List disagreements between reviewers and maybes, with Cohen's kappa."""
    from ..screening.agreement import conflicts

    if record_id is not None or decision is not None:  # the old mode flag, kept for a release
        if record_id is None or decision is None:
            raise ReviewError("`review conflicts resolve RECORD --decision include|exclude`")
        deprecated("review conflicts --resolve N", "review conflicts resolve N")
        return ctx.invoke(conflicts_resolve_cmd, record_id=record_id, decision=decision,
                          note=note, reviewer=reviewer, as_json=as_json)
    with open_store(ctx, "conflicts") as review:
        out = conflicts(review)
    emit(out, as_json, _format_conflicts)


@conflicts_group.command("resolve")
@click.argument("record_id", type=int, metavar="RECORD")
@click.option("--decision", type=click.Choice(["include", "exclude"]), required=True,
              help="The resolution.")
@click.option("--note", help="Why.")
@click.option("--reviewer", envvar="REVIEW_REVIEWER",
              help="Who resolves (default: env REVIEW_REVIEWER, else the OS user).")
@json_option
@click.pass_context
def conflicts_resolve_cmd(ctx, record_id, decision, note, reviewer, as_json):
    """Resolve RECORD (its id): the resolution overrides the reviewers' decisions."""
    from ..screening.decisions import resolve
    from ..store import default_actor

    who = reviewer or default_actor()
    with open_store(ctx, "conflicts") as review:
        row_id = resolve(review, record_id, decision, who, note)
    emit({"record_id": record_id, "decision": decision, "reviewer": who, "note": note,
          "decision_id": row_id}, as_json,
         lambda d: f"record {d['record_id']}: resolved as {d['decision']} by {d['reviewer']}")


def _format_conflicts(d: dict) -> str:
    lines = []
    # three kinds of conflict, each resolved with `review conflicts resolve`
    for label, items in (("reviewers disagree", d["conflicts"]),
                         ("everyone said maybe", d["maybes"]),
                         ("one paper screened twice with different decisions (duplicates)",
                          d["duplicate_conflicts"])):
        lines.append(f"{label}: {len(items)}")
        for it in items:
            who = ", ".join(f"{r}: {v}" for r, v in it["decisions"].items())
            res = f"  -> resolved: {it['resolution']}" if it["resolution"] else ""
            lines.append(f"  record {it['record_id']}: {(it['title'] or '')[:70]}")
            lines.append(f"    {who}{res}")
    for k in d["kappa"]:
        kap = "n/a" if k["kappa"] is None else f"{k['kappa']:.3f}"
        agr = "n/a" if k["agreement"] is None else f"{k['agreement']:.1%}"
        lines.append(f"kappa {k['reviewers'][0]} vs {k['reviewers'][1]}: {kap} "
                     f"(agreement {agr} on {k['n']} records)")
    lines.append(f"unresolved: {d['n_unresolved']}")
    if d["n_unresolved"]:
        lines.append("resolve with `review conflicts resolve RECORD --decision include|exclude "
                     "[--note WHY]`")
    return "\n".join(lines)


@click.command("simulate")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the priors and the model.")
@click.option("--prior-included", type=int, default=1, show_default=True,
              help="Includes drawn at random as prior knowledge.")
@click.option("--prior-excluded", type=int, default=1, show_default=True,
              help="Excludes drawn at random as prior knowledge.")
@click.option("--classifier", type=click.Choice(["svm", "logistic", "nb"]), default="svm",
              show_default=True, help="The model's classifier.")
@click.option("--query", type=click.Choice(["max", "uncertainty", "mixed"]), default="max",
              show_default=True, help="Query strategy.")
@click.option("--out", "out_path", type=OutFile(), default=None,
              help="Write the screening order as CSV.")
@click.option("--refit-to-end", is_flag=True,
              help="Keep refitting until every record is screened (default: stop refitting "
                   "once the last include is found; the metrics are the same).")
@json_option
def simulate_cmd(data, seed, prior_included, prior_excluded, classifier, query, out_path,
                 refit_to_end, as_json):
    """Simulate screening of a labelled CSV (title, abstract, label_included) and report
    work saved (WSS@95) and recall."""
    import time

    from ..screening.simulate import read_labelled_csv, simulate, write_ranking

    t0 = time.perf_counter()
    ds = read_labelled_csv(data)
    try:
        res = simulate(ds.texts, ds.labels, seed=seed, prior_included=prior_included,
                       prior_excluded=prior_excluded, classifier=classifier, query=query,
                       refit_to_end=refit_to_end)
    except ReviewError as exc:  # e.g. more priors asked for than the file has: name the file
        if exc.file:
            raise
        raise ReviewError(exc.bare_message, file=data) from None
    if out_path:
        write_ranking(res, out_path, ds.record_ids)
    m = res.metrics
    out = {
        "data": str(data), "seed": seed, "model": res.model_version,
        "n_records": int(len(ds.labels)), "n_included": int(ds.labels.sum()),
        "n_priors": len(res.prior_rows), "N": m["N"], "R": m["R"],
        "n95": m["n95"], "n100": m["n100"], "wss95": m["wss95"],
        "recall_at_10pct": m["recall_at_10pct"], "n_fits": res.n_fits,
        "wall_s": round(time.perf_counter() - t0, 3),
    }
    if out_path:
        out["out"] = str(out_path)

    def human(d):
        f = (lambda v: "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else v))
        return (f"{d['data']}: {d['n_records']} records, {d['n_included']} included "
                f"({d['n_priors']} priors, seed {d['seed']}, {d['model']})\n"
                f"WSS@95 {f(d['wss95'])}  recall@10% {f(d['recall_at_10pct'])}  "
                f"n95 {f(d['n95'])}  n100 {f(d['n100'])}  wall {d['wall_s']:.1f} s")
    emit(out, as_json, human)


COMMANDS = [screen_group, conflicts_group, simulate_cmd]
