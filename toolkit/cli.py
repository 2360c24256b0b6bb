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
from .store import DEFAULT_DB, create_review, open_review

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
        sys.exit(exc.exit_code if exc.exit_code else 1)
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
    review = create_review(ctx.obj["db"], title=title)
    out = {"db": str(review.path), "title": title, "schema_version": review.schema_version}
    review.close()
    emit(out, as_json, lambda d: f"created {d['db']} (schema version {d['schema_version']})")


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(sorted(__import__("toolkit.importing",
              fromlist=["FORMATS"]).FORMATS)), help="Force a format instead of detecting it.")
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
        + (" (this file was imported before; nothing added)" if d.get("already_imported") else "")))


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
              help="Write to this file (default: stdout).")
@json_option
@click.pass_context
def export_cmd(ctx, fmt, out_path, as_json):
    """Every record as CSV (with each stage's columns) or RIS."""
    from . import export

    if as_json and not out_path:
        raise ReviewError("--json needs --out FILE (stdout carries the JSON summary)")
    review = get_review(ctx, "export")
    writer = export.write_csv if fmt == "csv" else export.write_ris
    if out_path:
        with open(out_path, "w", encoding="utf-8", newline="") as fh:
            n = writer(review, fh)
        emit({"out": out_path, "format": fmt, "records": n}, as_json,
             lambda d: f"wrote {d['records']} records to {d['out']}")
    else:
        writer(review, sys.stdout)


# --- end of foundation commands ---------------------------------------------------------------


# ============================================================================================
# Deduplication (issue 4): `review dedup`
# ============================================================================================

# --- end of deduplication commands ------------------------------------------------------------


# ============================================================================================
# Screening (issue 5): `review screen`, `review conflicts`, `review simulate`
# ============================================================================================

def _criteria_default(db_path: str) -> str:
    """screening/criteria.yaml next to the review's db file, else in the working directory."""
    from pathlib import Path

    beside = Path(db_path).resolve().parent / "screening" / "criteria.yaml"
    return str(beside if beside.is_file() else Path("screening") / "criteria.yaml")


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
    session = ScreeningSession(review, reviewer, stop=stop, stop_after=stop_after,
                               target_recall=target_recall, confidence=confidence, seed=seed)
    out = run(session, criteria_path=criteria_path or _criteria_default(ctx.obj["db"]),
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


# --- end of screening commands ----------------------------------------------------------------


# ============================================================================================
# Full text and extraction (issue 6): `review fulltext`, `review link`, `review extract`
# ============================================================================================

# --- end of full-text and extraction commands -------------------------------------------------


# ============================================================================================
# Pooling (issue 7): `review pool`
# ============================================================================================

# --- end of pooling commands ------------------------------------------------------------------


# ============================================================================================
# PRISMA and the worked example (issue 8): `review prisma`, `review reproduce`
# ============================================================================================

# --- end of PRISMA and reproduce commands -----------------------------------------------------


if __name__ == "__main__":  # python -m toolkit.cli
    main()
