"""The `review` command: a thin click skin over the Python API.

Conventions for every command:
- ``--json`` prints exactly one JSON object on stdout; human text otherwise.
- Progress bars (rich) go to stderr.
- Errors print one line ``review: error: ...`` and exit 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import os
import sys

import click

from . import __version__
from .errors import ReviewError
from . import DEFAULT_DB
from .sources import FORMAT_NAMES

JSON_HELP = "Print one JSON object on stdout instead of human text."


def emit(data: dict, as_json: bool, human=None) -> None:
    """Print ``data`` as one JSON object, or as human text (``human(data)`` or key: value lines)."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, sort_keys=False, default=str))
        return
    if human is not None:
        text = human(data)
        if text:
            click.echo(text)
        return
    for k, v in data.items():
        click.echo(f"{k}: {v}")


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(f)


def get_review(ctx: click.Context, command: str):
    """Open the store named by --db / REVIEW_DB for ``command``."""
    from .store import open_review  # imported here: `review simulate`/`pool` need no store

    return open_review(ctx.obj["db"], command=command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", envvar="REVIEW_DB", default=DEFAULT_DB, show_default=True,
              type=click.Path(dir_okay=False), help="The review's SQLite file (env REVIEW_DB).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="review")
@click.pass_context
def cli(ctx: click.Context, db_path: str, debug: bool):
    """review: a systematic review from search to pooled result, in one SQLite file."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db_path
    ctx.obj["debug"] = debug


def main(argv=None) -> None:
    """Console-script entry point: runs the group and turns errors into one line + exit 1."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = cli.main(args=argv, prog_name="review", standalone_mode=False)
    except ReviewError as exc:
        if debug:
            raise
        click.echo(f"review: error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("review: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        if debug:
            raise
        click.echo(f"review: error: {exc.format_message()}", err=True)
        sys.exit(1)  # usage errors too: one line, exit code 1
    except KeyboardInterrupt:
        click.echo("review: interrupted; everything saved so far is kept", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug or an unexpected environment problem
        if debug:
            raise
        click.echo(f"review: error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                   err=True)
        sys.exit(1)
    if isinstance(rv, int) and rv:
        sys.exit(rv)


# ============================================================================================
# Foundation: init, import, search, status, export (issue 3)
# ============================================================================================

@cli.command("init")
@click.option("--title", help="The review's title.")
@json_option
@click.pass_context
def init_cmd(ctx, title, as_json):
    """Create a new review store (default ./review.db)."""
    from .store import create_review

    review = create_review(ctx.obj["db"], title=title)
    out = {"db": str(review.path), "title": title, "schema_version": review.schema_version}
    review.close()
    emit(out, as_json, lambda d: f"created {d['db']} (schema version {d['schema_version']})")


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(sorted(FORMAT_NAMES)),
              help="Force a format instead of detecting it.")
@click.option("--source", help="The database the export came from (PubMed, Embase, ...).")
@json_option
@click.pass_context
def import_cmd(ctx, file, fmt, source, as_json):
    """Import an export file (PubMed XML, MEDLINE/NBIB, RIS, Embase CSV, CSV) in one transaction."""
    from .importing import import_file
    from .progress import counter

    review = get_review(ctx, "import")
    with counter(f"importing {os.path.basename(file)}", quiet=as_json) as tick:
        out = import_file(review, file, fmt=fmt, source=source, progress=tick)
    emit(out, as_json, lambda d: (
        f"{d['file']}: {d['format']}, source {d['source']}: read {d['records_read']}, "
        f"added {d['records_added']}, already present {d['already_present']}"
        + (f"\n  {d['message']}" if d.get("already_imported") else "")))


@cli.command("status")
@json_option
@click.pass_context
def status_cmd(ctx, as_json):
    """Records per source and search, and progress per stage."""
    from .status import format_status, review_status

    review = get_review(ctx, "status")
    emit(review_status(review), as_json, format_status)


@cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "ris"]), default="csv",
              show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Write to this file (default: stdout; with --json, inside the JSON object "
                   "as 'content').")
@json_option
@click.pass_context
def export_cmd(ctx, fmt, out_path, as_json):
    """Every record as CSV (with each stage's columns) or RIS."""
    from . import export

    review = get_review(ctx, "export")
    writer = export.write_csv if fmt == "csv" else export.write_ris
    if out_path:
        with open(out_path, "w", encoding="utf-8", newline="") as fh:
            n = writer(review, fh)
        emit({"out": out_path, "format": fmt, "records": n}, as_json,
             lambda d: f"wrote {d['records']} records to {d['out']}")
    elif as_json:  # stdout carries one JSON object, so the export goes inside it
        import io

        buf = io.StringIO(newline="")
        n = writer(review, buf)
        emit({"out": None, "format": fmt, "records": n, "content": buf.getvalue()}, True)
    else:
        writer(review, sys.stdout)


@cli.group("search")
def search_group():
    """Search bibliographic databases."""


@search_group.command("pubmed")
@click.argument("query", required=False)
@click.option("--mindate", help="Earliest publication date (YYYY, YYYY/MM or YYYY/MM/DD).")
@click.option("--maxdate", help="Latest publication date (YYYY or YYYY/MM: to the end of that "
                                 "year or month, as PubMed reads it).")
@click.option("--email", envvar="NCBI_EMAIL", help="Your e-mail, sent to NCBI as they ask.")
@click.option("--api-key", envvar="NCBI_API_KEY", help="NCBI API key (10 requests/s not 3).")
@click.option("--batch-size", default=500, show_default=True, type=int,
              help="Records per efetch request.")
@click.option("--resume", is_flag=True, help="Continue the latest unfinished search.")
@json_option
@click.pass_context
def search_pubmed_cmd(ctx, query, mindate, maxdate, email, api_key, batch_size, resume,
                      as_json):
    """Search PubMed (E-utilities, history server) and save every record found."""
    from .progress import counter
    from .search.pubmed import search_pubmed

    review = get_review(ctx, "search pubmed")
    with counter("fetching PubMed records", quiet=as_json) as tick:
        out = search_pubmed(review, query, mindate=mindate, maxdate=maxdate,
                            batch_size=batch_size, email=email, api_key=api_key, resume=resume,
                            progress=lambda done, total: tick(done))
    # whenever retrieved != Count (or the date parts did not add up): the search is incomplete
    for warning in out["warnings"]:
        click.echo(f"review: warning: {warning}", err=True)
    emit(out, as_json, lambda d: (
        f"PubMed: {d['query']}\n  count {d['count']}, retrieved {d['retrieved']}, "
        f"added {d['added']}, already present {d['already_present']} "
        f"({d['requests']} requests, {d['parts']} date part(s))"))


# --- end of foundation commands ---------------------------------------------------------------


# ============================================================================================
# Deduplication (issue 4): `review dedup`
# ============================================================================================

def _dedup_human(d: dict) -> str:
    lines = [f"records: {d['records']}, clusters: {d['clusters']}, duplicates removed: "
             f"{d['duplicates_removed']}, uncertain pairs open: {d['uncertain_pairs']}"]
    if "new_records" in d:
        lines.append(f"this run: {d['new_records']} new records compared, "
                     f"{d.get('clusters_created', 0)} clusters created, "
                     f"{d.get('clusters_extended', 0)} extended ({d['wall_s']} s)")
    for cid, old, new in d.get("primary_changed", []):
        lines.append(f"  record {new} (screened) is now the primary of cluster {cid} "
                     f"(was record {old})")
    for h in d.get("inherited_decisions", []):
        lines.append(f"  record {h['record_id']} duplicates screened record "
                     f"{h['from_record_id']}: inherits '{h['decision']}'")
    if d.get("decision_conflicts"):
        from .dedup.prompts import conflict_line

        lines.append("screening decisions that differ within a cluster:")
        lines += [f"  {conflict_line(c)}" for c in d["decision_conflicts"]]
    if d["uncertain_pairs"]:
        lines.append("decide uncertain pairs with `review dedup --review`")
    return "\n".join(lines)


def _dedup_undo_human(d: dict) -> str:
    lines = [f"cluster {d['cluster_id']} undone: records "
             f"{', '.join(map(str, d['records']))} are separate again"]
    for w in d.get("withdrawn_decisions", []):
        lines.append(f"  record {w['record_id']}: the '{w['decision']}' inherited from record "
                     f"{w['from_record_id']} is withdrawn; it is back in the screening queue")
    return "\n".join(lines)


@cli.command("dedup")
@click.option("--review", "manual", is_flag=True,
              help="Decide uncertain pairs in the terminal: d(uplicate) / n(ot) / s(kip) / q(uit).")
@click.option("--undo", "undo", type=int, metavar="CLUSTER",
              help="Split cluster CLUSTER back into separate records.")
@json_option
@click.pass_context
def dedup_cmd(ctx, manual, undo, as_json):
    """Find duplicate records, merge them into clusters, queue uncertain pairs.

    Rules: docs/dedup.md. Records are never deleted; each cluster keeps one primary record.
    Run again after a new import: only new records are compared (against all).
    """
    from .dedup import api

    if manual and undo is not None:
        raise ReviewError("use either --review or --undo, not both")
    review = get_review(ctx, "dedup")
    if undo is not None:
        out = api.undo_cluster(review, undo)
        emit(out, as_json, _dedup_undo_human)
        return
    if manual:
        from .dedup.prompts import review_pairs

        counts = review_pairs(review, err=as_json)  # --json: pairs and prompts on stderr
        emit(counts, as_json, lambda d: f"duplicate {d['duplicate']}, not {d['not']}, "
                                        f"skipped {d['skipped']}; {d['remaining']} still open")
        return
    say = (lambda msg: None) if as_json or not sys.stderr.isatty() else (
        lambda msg: click.echo(f"dedup: {msg}", err=True))
    out = api.deduplicate(review, progress=say)
    emit(out, as_json, _dedup_human)


# --- end of deduplication commands ------------------------------------------------------------


# ============================================================================================
# Screening (issue 5): `review screen`, `review conflicts`, `review simulate`
# ============================================================================================

@cli.command("screen")
@click.option("--reviewer", envvar="REVIEW_REVIEWER",
              help="Who screens (default: env REVIEW_REVIEWER, else the OS user).")
@click.option("--criteria", "criteria_path", type=click.Path(dir_okay=False),
              help="Inclusion/exclusion criteria YAML shown on `c` "
                   "[default: screening/criteria.yaml next to the db, else in the cwd].")
@click.option("--import", "import_path", type=click.Path(dir_okay=False),
              help="Load decisions from a CSV (record_id|source_id|pmid|doi, decision, "
                   "[reviewer], [note]) instead of screening; one transaction.")
@click.option("--stop", type=click.Choice(["none", "heuristic", "buscar"]), default="none",
              show_default=True, help="Stopping rule; when it is met the remaining records are "
                                      "recorded as excluded by automation.")
@click.option("--stop-after", type=click.IntRange(min=1), default=50, show_default=True,
              help="Consecutive excludes that stop (heuristic) or start the random sample "
                   "(buscar).")
@click.option("--target-recall", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True, help="BUSCAR recall target.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True, help="BUSCAR confidence level.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random state of the model and of the BUSCAR sample.")
@json_option
@click.pass_context
def screen_cmd(ctx, reviewer, criteria_path, import_path, stop, stop_after, target_recall,
               confidence, seed, as_json):
    """Title/abstract screening, one record at a time, in the order the model ranks them.

    Keys: i include, e exclude, m maybe, u undo, n note, c criteria, ? help, q quit. Every
    decision is saved before the next record is shown; run again to resume. With --json the
    prompts go to stderr and one JSON object of counts is printed at the end.
    """
    from .fulltext import criteria_path_for
    from .screening.decisions import import_decisions
    from .screening.prompts import run
    from .screening.queue import ScreeningSession
    from .store import default_actor

    reviewer = reviewer or default_actor()
    review = get_review(ctx, "screen")
    if import_path:
        out = import_decisions(review, import_path, reviewer)
        out = {"file": import_path, **out}
        emit(out, as_json, lambda d: (
            f"{d['file']}: {d['rows']} rows, {d['decisions']} decisions saved "
            f"(include {d['include']}, exclude {d['exclude']}, maybe {d['maybe']})"))
        return
    n = review.db["records"].count
    if n > 2000:  # features for a large review take seconds; say why nothing shows yet
        click.echo(f"preparing the ranking of {n} records ...", err=True)
    session = ScreeningSession(review, reviewer, stop=stop, stop_after=stop_after,
                               target_recall=target_recall, confidence=confidence, seed=seed)
    out = run(session, criteria_path=criteria_path or str(criteria_path_for(ctx.obj["db"])),
              err=as_json)
    if as_json:
        emit(out, True)


@cli.command("conflicts")
@click.option("--resolve", "record_id", type=int, help="Resolve this record (its id).")
@click.option("--decision", type=click.Choice(["include", "exclude"]),
              help="The resolution (with --resolve).")
@click.option("--note", help="Why (with --resolve).")
@click.option("--reviewer", envvar="REVIEW_REVIEWER",
              help="Who resolves (default: env REVIEW_REVIEWER, else the OS user).")
@json_option
@click.pass_context
def conflicts_cmd(ctx, record_id, decision, note, reviewer, as_json):
    """Disagreements between reviewers and maybes, with Cohen's kappa; --resolve records a
    resolution that overrides the reviewers' decisions."""
    from .screening.agreement import conflicts
    from .screening.decisions import resolve
    from .store import default_actor

    review = get_review(ctx, "conflicts")
    if record_id is not None or decision is not None:
        if record_id is None or decision is None:
            raise ReviewError("--resolve RECORD and --decision include|exclude go together")
        who = reviewer or default_actor()
        row_id = resolve(review, record_id, decision, who, note)
        emit({"record_id": record_id, "decision": decision, "reviewer": who, "note": note,
              "decision_id": row_id}, as_json,
             lambda d: f"record {d['record_id']}: resolved as {d['decision']} by {d['reviewer']}")
        return
    emit(conflicts(review), as_json, _format_conflicts)


def _format_conflicts(d: dict) -> str:
    lines = []
    for label, items in (("conflicts", d["conflicts"]), ("maybes", d["maybes"])):
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
    return "\n".join(lines)


# review simulate
@cli.command("simulate")
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
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
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

    from .screening.simulate import read_labelled_csv, simulate, write_ranking

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


# --- end of screening commands ----------------------------------------------------------------


# ============================================================================================
# Full text and extraction (issue 6): `review fulltext`, `review link`, `review extract`
# ============================================================================================

def _terminal(err: bool):
    """(ask, say) for prompt loops; on stderr when stdout carries --json.

    ``ask(prompt)`` returns one line, or None at the end of piped input (loops quit then)."""
    def ask(message: str) -> str | None:
        try:
            return click.prompt(message, default="", show_default=False, prompt_suffix=": ",
                                err=err)
        except click.exceptions.Abort:
            if sys.stdin is not None and not sys.stdin.isatty():
                click.echo("", err=err)
                return None
            raise

    def say(text: str) -> None:
        click.echo(text, err=err)

    return ask, say


def _reasons(review, criteria):
    from .fulltext import default_criteria_path, load_criteria

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
    from .fulltext import RESOLVE_HINT, describe_decision

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


@cli.command("fulltext")
@click.option("--reviewer", help="Who decides (default: env REVIEW_REVIEWER or the OS user).")
@click.option("--criteria", type=click.Path(dir_okay=False),
              help="Criteria YAML with fulltext_reasons (default: screening/criteria.yaml "
                   "beside the store).")
@click.option("--import", "import_file", type=click.Path(dir_okay=False),
              help="Import decisions from a CSV (record_id|source_id|pmid|doi, status, "
                   "decision, reason, reviewer, note). The same file content twice adds "
                   "nothing.")
@click.option("--record", "record_ref", help="Decide on one report (record id, pmid:N, doi:...).")
@click.option("--decision", type=click.Choice(["include", "exclude", "not_retrieved"]),
              help="With --record: the decision.")
@click.option("--reason", help="With --record --decision exclude: the reason (text or its "
                               "number).")
@click.option("--note", help="With --record: a note.")
@click.option("--resolve", is_flag=True,
              help="With --record: record an adjudicated decision (overrides reviewers'; "
                   "audited).")
@click.option("--summary", is_flag=True, help="Print the full-text counts (PRISMA) and the "
                                              "reports in conflict.")
@click.option("--conflicts", "list_conflicts", is_flag=True,
              help="List the reports reviewers disagree on, with each reviewer's decision and "
                   "reason, and any resolution.")
@json_option
@click.pass_context
def fulltext_cmd(ctx, reviewer, criteria, import_file, record_ref, decision, reason, note,
                 resolve, summary, list_conflicts, as_json):
    """Full-text eligibility: assess each report included or maybed at title/abstract.

    \b
    Without options, prompts report by report. Keys:
      i include          e exclude, then a reason (its number or text)
      x not retrieved    n note for the next decision
      s skip             u undo your last decision
      c show criteria    q quit (also end of input)
      ? help and the numbered reasons

    \b
    Other modes (one at a time):
      --record REF --decision D [--reason R] [--note T] [--resolve]
      --import FILE.csv   --summary   --conflicts

    Reviewers who disagree leave a report in conflict: list them with --conflicts and
    resolve with --record REF --decision D --resolve.
    """
    from . import fulltext as ft
    from .store import default_actor

    modes = [m for m, on in (("--summary", summary), ("--conflicts", list_conflicts),
                             ("--import", import_file), ("--record", record_ref)) if on]
    if len(modes) > 1:
        raise ReviewError(f"choose one of {', '.join(modes)}")
    if not record_ref:
        given = [o for o, on in (("--decision", decision), ("--reason", reason),
                                 ("--note", note), ("--resolve", resolve)) if on]
        if given:
            raise ReviewError(f"{'/'.join(given)} go{'es' if len(given) == 1 else ''} with "
                              "--record REF")
    if summary or list_conflicts:
        given = [o for o, on in (("--reviewer", reviewer), ("--criteria", criteria)) if on]
        if given:
            raise ReviewError(f"{'/'.join(given)} do{'es' if len(given) == 1 else ''} not go "
                              f"with {modes[0]} (it lists every reviewer's decisions)")
    review = get_review(ctx, "fulltext")
    reviewer = reviewer or default_actor()
    if summary:
        out = ft.fulltext_counts(review)
        open_conflicts = ft.fulltext_conflicts(review)
        review.close()
        emit(out, as_json, lambda d: "\n".join(filter(None, [
            _ft_counts_text(d), _ft_conflicts_text(open_conflicts, unresolved_only=True)])))
        return
    if list_conflicts:
        out = ft.fulltext_conflicts(review)
        review.close()
        emit(out, as_json, _ft_conflicts_text)
        return
    if import_file:
        reasons = _reasons(review, criteria)
        out = ft.import_fulltext_csv(review, import_file, reasons=reasons, reviewer=reviewer)
        out.update(counts=ft.fulltext_counts(review))
        review.close()
        emit(out, as_json, lambda d: (
            f"{d['file']}: {d['message']}" if d["already_imported"] else
            f"{d['file']}: {d['imported']} decisions imported") + "\n" + _ft_counts_text(
                d["counts"]))
        return
    if record_ref:
        if not decision:
            raise ReviewError("--record needs --decision include|exclude|not_retrieved")
        if reason and decision != "exclude":
            raise ReviewError("--reason goes with --decision exclude")
        reasons = _reasons(review, criteria) if decision == "exclude" else None
        rid = ft.require_report(review, record_ref, record=f"record {record_ref}")
        status = "not_retrieved" if decision == "not_retrieved" else "assessed"
        save = ft.resolve_fulltext if resolve else ft.record_fulltext
        with review.atomic():
            save(review, rid, status, None if status != "assessed" else decision, reason,
                 reviewer=reviewer, reasons=reasons, note=note)
        final = ft.final_fulltext(review)[rid]
        # "decision" is the report's final full-text decision after this one is saved (a
        # conflict when reviewers now disagree)
        out = {"record_id": rid, "status": status, "reviewer": reviewer, "resolution": resolve,
               "decision": final}
        review.close()
        emit(out, as_json, lambda d: (
            f"record {d['record_id']}: {'resolved' if d['resolution'] else 'saved'} "
            f"{_describe_saved(status, decision, reason, reasons)} by {d['reviewer']}; "
            + ("now in conflict with another reviewer (see `review fulltext --conflicts`)"
               if d["decision"]["status"] == "conflict" else
               f"full-text decision now: {ft.describe_decision(d['decision'])}")))
        return
    crit = ft.load_criteria(criteria or ft.default_criteria_path(review))
    ask, say = _terminal(as_json)
    out = ft.run_fulltext(review, reviewer, crit["fulltext_reasons"], ask=ask, echo=say,
                          criteria=crit)
    out.update(counts=ft.fulltext_counts(review))
    review.close()
    emit(out, as_json, lambda d: (
        f"{'quit' if d['quit'] else 'done'}: {d['decided']} decision(s) saved this session"
        + (f", {d['undone']} undone" if d["undone"] else "") + "\n"
        + _ft_counts_text(d["counts"])))


def _describe_saved(status, decision, reason, reasons) -> str:
    """The decision the user just gave, in words (the reason as the criteria spell it)."""
    from .fulltext import describe_decision, match_reason

    if reason and reasons:
        reason = match_reason(reason, reasons) or reason
    return describe_decision({"status": status, "decision": decision, "reason": reason})


@cli.command("link")
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
    from . import fulltext as ft

    review = get_review(ctx, "link")
    with review.atomic():
        label = ft.link_report(review, report, study)
    rid = ft.resolve_record(review, report)
    links = ft.report_links(review)
    members = [r for r in ft.fulltext_reports(review) if ft.study_of(review, r, links) == label]
    final = ft.final_fulltext(review)
    review.close()
    if final[rid]["decision"] != "include":
        state = {"exclude": "excluded", "not_retrieved": "not retrieved",
                 "conflict": "in conflict", "sought": "not decided yet"}.get(
                     final[rid]["decision"] or final[rid]["status"])
        click.echo(f"review: note: report {rid} is {state} at full text: the link is kept, "
                   "but only included reports count for a study", err=True)
    emit({"report": rid, "study": label, "reports": members}, as_json,
         lambda d: f"report {d['report']} -> study {d['study']} (reports "
                   f"{', '.join(map(str, d['reports']))})")


@cli.command("extract")
@click.argument("study", required=False)
@click.option("--form", "form_name", help="Form name (extraction/forms/NAME.yaml) or path.")
@click.option("--extractor", help="Who extracts (default: env REVIEW_REVIEWER or the OS user).")
@click.option("--import", "import_file", type=click.Path(dir_okay=False),
              help="Bulk entry from a long CSV: study, field, value[, instance, extractor, "
                   "quote, page, note].")
@click.option("--compare", is_flag=True, help="List every disagreement between extractors.")
@click.option("--resolve", is_flag=True,
              help="Record adjudicated values (prompts per disagreement, or --field/--value).")
@click.option("--field", "field_name", help="With --resolve STUDY: the field.")
@click.option("--value", help="With --resolve STUDY --field: the adjudicated value.")
@click.option("--instance", help="The arm or time point of an arm/timepoint-level field.")
@click.option("--note", help="With --resolve: why.")
@click.option("--export", "export_file", type=click.Path(dir_okay=False),
              help="Write a tidy CSV of the extracted data (one row per study).")
@click.option("--outcome", help="With --export: the pooling table of this outcome.")
@click.option("--no-source", is_flag=True, help="Do not ask for a quote/page after each value.")
@json_option
@click.pass_context
def extract_cmd(ctx, study, form_name, extractor, import_file, compare, resolve, field_name,
                value, instance, note, export_file, outcome, no_source, as_json):
    """Extract data from an included STUDY with a form, field by field (or import, compare,
    resolve, export)."""
    from .extraction import compare as cmp
    from .extraction import export as ex
    from .extraction.entries import import_values_csv
    from .extraction.forms import find_form
    from .extraction.prompts import run_entry
    from .fulltext import included_studies, resolve_study
    from .store import default_actor

    modes = [m for m, on in (("--import", import_file), ("--compare", compare),
                             ("--resolve", resolve), ("--export", export_file)) if on]
    if len(modes) > 1:
        raise ReviewError(f"choose one of {', '.join(modes)}")
    if outcome and not export_file:
        raise ReviewError("--outcome goes with --export FILE.csv")
    if study and (import_file or compare or export_file):
        raise ReviewError("STUDY goes with field-by-field entry or --resolve, not with "
                          f"{modes[0]}")
    if (field_name or value is not None or note) and not resolve:
        raise ReviewError("--field/--value/--note go with --resolve")
    review = get_review(ctx, "extract")
    extractor = extractor or default_actor()
    ask, say = _terminal(as_json)
    if export_file:
        form = None
        if form_name:
            form = find_form(review, form_name)
        df = ex.export_table(review, outcome=outcome, form=form)
        df.to_csv(export_file, index=False, lineterminator="\n")
        out = {"file": export_file, "rows": len(df), "columns": list(df.columns),
               "form": df.attrs.get("form")}
        if outcome:
            out.update(outcome=outcome, measure=df.attrs["measure"],
                       left_out=df.attrs["notes"],
                       pool=f"review pool {export_file} {df.attrs['pool_args']}")
            for n in df.attrs["notes"]:
                click.echo(f"note: {n}", err=True)
        review.close()
        emit(out, as_json, lambda d: f"wrote {d['rows']} rows to {d['file']}"
             + (f"\npool with: {d['pool']}" if "pool" in d else ""))
        return
    form = find_form(review, form_name)
    if import_file:
        out = import_values_csv(review, import_file, form, extractor=extractor)
    elif compare:
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
        review.close()
        emit(out, as_json, human)
        return
    elif resolve:
        if study or field_name or value is not None:
            if not (study and field_name and value is not None):
                raise ReviewError("--resolve with a value needs STUDY --field F --value V")
            with review.atomic():
                cmp.resolve(review, form, study, field_name, value, extractor,
                            instance=instance, note=note)
            out = {"study": study, "field": field_name, "value": value, "resolved_by": extractor}
        else:
            out = cmp.run_resolve(review, form, extractor, ask=ask, echo=say)
    else:
        if not study:
            raise ReviewError("name the STUDY to extract (or use --import/--compare/--resolve/"
                              "--export)")
        label = resolve_study(review, study, included_studies(review))
        if label is None:
            raise ReviewError(f"{study!r} is not an included study (include its report at full "
                              "text first)")
        out = run_entry(review, form, label, extractor, ask=ask, echo=say,
                        ask_source=not no_source)
        out.update(study=label, form=form.name, extractor=extractor)
    review.close()
    emit(out, as_json, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))


# --- end of full-text and extraction commands -------------------------------------------------


# ============================================================================================
# Pooling (issue 7): `review pool`
# ============================================================================================
from .pooling.registry import MEASURES, METHODS, input_roles  # noqa: E402  (no numpy import)


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


@cli.command("pool")
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
@click.option("--forest", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write a forest plot (.png, .svg or .pdf).")
@json_option
@click.pass_context
def pool_cmd(ctx, file, outcome, measure, r, study, method, knha, level, by, moderators, forest,
             as_json, **columns):
    """Pool studies from FILE.csv (one row per study): effect sizes, random-effects model,
    subgroups, meta-regression and a forest plot; numbers as R metafor."""
    import pandas as pd

    from .pooling.api import pool_table
    from .pooling.forest import FORMATS

    if (file is None) == (outcome is None):
        raise ReviewError("give either FILE.csv or --outcome NAME")
    if forest and os.path.splitext(forest)[1].lower() not in FORMATS:
        raise ReviewError("--forest must end in .png, .svg or .pdf", file=forest)
    columns = {k: v for k, v in columns.items() if v is not None}
    if outcome is not None:
        from .extraction.export import outcome_table

        review = get_review(ctx, "pool")
        df = outcome_table(review, outcome)
        review.close()
        for note in df.attrs.get("notes", []):
            click.echo(f"review: note: {note}", err=True)
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
            df = pd.read_csv(file, dtype=str, encoding="utf-8-sig", skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ReviewError(f"cannot read CSV: {exc}", file=file)
        source, title = file, os.path.basename(file)
    # the forest plot is drawn inside pool_table, before anything is printed: a failure
    # leaves no half output
    out = pool_table(df, measure, study=study, method=method, knha=knha, level=level, by=by,
                     moderators=moderators, r=r, file=source, forest=forest, title=title,
                     **columns)
    emit(out, as_json, _pool_human)


# --- end of pooling commands ------------------------------------------------------------------


# ============================================================================================
# PRISMA and the worked example (issue 8): `review prisma`, `review reproduce`
# ============================================================================================
@cli.command("prisma")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "svg", "png", "pdf"]),
              default="csv", show_default=True,
              help="csv = the PRISMA2020 R package's data template; svg/png/pdf = the diagram.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Write to this file (csv/json default: stdout; diagrams need --out).")
@json_option
@click.pass_context
def prisma_cmd(ctx, fmt, out_path, as_json):
    """PRISMA 2020 flow counts derived from the store, as the R package's CSV, JSON or diagram."""
    from . import prisma
    from .flow import prisma_counts, studies_in_meta_analysis

    review = get_review(ctx, "prisma")
    counts = prisma_counts(review, studies_in_meta_analysis=studies_in_meta_analysis(review))
    review.close()
    prisma.check_invariants(counts)
    content = None  # what goes to stdout without --out (inside the JSON object with --json)
    if fmt in ("svg", "png", "pdf"):
        if not out_path:
            raise ReviewError(f"--format {fmt} needs --out FILE.{fmt}")
        prisma.draw(counts, out_path)
    elif fmt == "csv":
        if out_path:
            prisma.write_csv(counts, out_path)
        else:
            content = prisma.csv_text(counts)
            if not as_json:
                click.echo(content, nl=False)
    else:
        data = prisma.to_json(counts)
        if out_path:
            with open(out_path, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, ensure_ascii=False)
        else:
            content = data
            if not as_json:
                click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    if as_json:
        out = {"format": fmt, "out": out_path, "counts": counts}
        if content is not None:
            out["content"] = content
        emit(out, True)
    elif out_path:
        click.echo(f"wrote {out_path}", err=True)


@cli.command("reproduce")
@click.option("--out", "out_dir", default="reproduce_out", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the outputs.")
@click.option("--root", type=click.Path(file_okay=False, exists=True),
              help="The review folder (with queries/, screening/, extraction/); default: the "
                   "current folder, else the toolkit's own repository.")
@json_option
def reproduce_cmd(out_dir, root, as_json):
    """Rebuild the worked example (spinal cryoablation review) offline, end to end."""
    from pathlib import Path

    from .reproduce import FILES, reproduce

    if root is None:
        here = Path.cwd()
        repo = Path(__file__).resolve().parent.parent
        root = here if (here / FILES["ta"]).exists() else repo
    out = reproduce(root, out_dir, say=lambda s: click.echo(f"reproduce: {s}", err=True))
    emit(out, as_json, lambda d: (
        f"reproduced into {d['out']}: {d['records']} records, {d['duplicates_removed']} "
        f"duplicates, {d['studies_included']} studies, {d['pooled_outcomes']} pooled outcomes; "
        f"see {d['out']}/report.md"))


# --- end of PRISMA and reproduce commands -----------------------------------------------------


if __name__ == "__main__":  # python -m toolkit.cli
    main()
