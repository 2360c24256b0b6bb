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
