"""Commands that make a review and move records in and out: init, import, status, export."""

from __future__ import annotations

import os
import sys

import click

from ..sources import FORMAT_NAMES
from .common import OutFile, db_path, emit, json_option, open_store


@click.command("init")
@click.option("--title", help="The review's title.")
@click.option("--no-starter-files", is_flag=True,
              help="Do not write screening/criteria.yaml and extraction/forms/form.yaml.")
@json_option
@click.pass_context
def init_cmd(ctx, title, no_starter_files, as_json):
    """Create a new review store (default ./review.db) and, beside it, starter files to edit:
    screening/criteria.yaml (criteria and full-text exclusion reasons) and
    extraction/forms/form.yaml (an extraction form). Existing files are kept."""
    from pathlib import Path

    from ..starter import write_starter_files
    from ..store import create_review

    review = create_review(db_path(ctx), title=title)
    out = {"db": str(review.path), "title": title, "schema_version": review.schema_version}
    review.close()
    if not no_starter_files:
        out["starter_files"] = write_starter_files(Path(out["db"]).resolve().parent, title)

    def human(d):
        lines = [f"created {d['db']} (schema version {d['schema_version']})"]
        files = d.get("starter_files", {})
        for rel in files.get("written", []):
            lines.append(f"  wrote {rel} (a starting point: edit it)")
        for rel in files.get("kept", []):
            lines.append(f"  kept {rel} (already there)")
        return "\n".join(lines)
    emit(out, as_json, human)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(sorted(FORMAT_NAMES)),
              help="Force a format instead of detecting it.")
@click.option("--source", help="The database the export came from (PubMed, Embase, ...).")
@json_option
@click.pass_context
def import_cmd(ctx, file, fmt, source, as_json):
    """Import an export file (PubMed XML, MEDLINE/NBIB, RIS, Embase CSV, CSV) in one transaction."""
    from ..importing import import_file
    from ..progress import counter

    with open_store(ctx, "import") as review, \
            counter(f"importing {os.path.basename(file)}", quiet=as_json) as tick:
        out = import_file(review, file, fmt=fmt, source=source, progress=tick)
    emit(out, as_json, lambda d: (
        f"{d['file']}: {d['format']}, source {d['source']}: read {d['records_read']}, "
        f"added {d['records_added']}, already present {d['already_present']}"
        + (f", incomplete {d['incomplete']} (no title, abstract, DOI or PMID; imported and "
           f"counted)" if d.get("incomplete") else "")
        + (f"\n  {d['message']}" if d.get("already_imported") else "")))


@click.command("status")
@json_option
@click.pass_context
def status_cmd(ctx, as_json):
    """Records per source and search, and progress per stage."""
    from ..status import format_status, review_status

    with open_store(ctx, "status") as review:
        out = review_status(review)
    emit(out, as_json, format_status)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "ris"]), default="csv",
              show_default=True)
@click.option("--out", "out_path", type=OutFile(),
              help="Write to this file (default: stdout; with --json, inside the JSON object "
                   "as 'content').")
@json_option
@click.pass_context
def export_cmd(ctx, fmt, out_path, as_json):
    """Every record as CSV (with each stage's columns) or RIS."""
    from .. import export

    writer = export.write_csv if fmt == "csv" else export.write_ris
    with open_store(ctx, "export") as review:
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


COMMANDS = [init_cmd, import_cmd, status_cmd, export_cmd]
