"""PRISMA 2020 and the worked example: `review prisma`, `review reproduce`."""

from __future__ import annotations

import json

import click

from ..errors import ReviewError
from .common import OutDir, OutFile, emit, json_option, open_store


@click.command("prisma")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "svg", "png", "pdf"]),
              default="csv", show_default=True,
              help="csv = the PRISMA2020 R package's data template; svg/png/pdf = the diagram.")
@click.option("--out", "out_path", type=OutFile(),
              help="Write to this file (csv/json default: stdout; diagrams need --out).")
@json_option
@click.pass_context
def prisma_cmd(ctx, fmt, out_path, as_json):
    """PRISMA 2020 flow counts derived from the store, as the R package's CSV, JSON or diagram."""
    from .. import prisma
    from ..flow import prisma_counts, studies_in_meta_analysis

    with open_store(ctx, "prisma") as review:
        counts = prisma_counts(review, studies_in_meta_analysis=studies_in_meta_analysis(review))
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


@click.command("reproduce")
@click.option("--out", "out_dir", default="reproduce_out", show_default=True,
              type=OutDir(), help="Folder for the outputs (created; its parent must exist).")
@click.option("--root", type=click.Path(file_okay=False, exists=True),
              help="The review folder (with queries/, screening/, extraction/); default: the "
                   "current folder, else the toolkit's own repository.")
@json_option
def reproduce_cmd(out_dir, root, as_json):
    """Rebuild the worked example (spinal cryoablation review) offline, end to end."""
    from pathlib import Path

    from ..reproduce import FILES, reproduce

    if root is None:
        here = Path.cwd()
        repo = Path(__file__).resolve().parents[2]
        root = here if (here / FILES["ta"]).exists() else repo
    out = reproduce(root, out_dir, say=lambda s: click.echo(f"reproduce: {s}", err=True))
    emit(out, as_json, lambda d: (
        f"reproduced into {d['out']}: {d['records']} records, {d['duplicates_removed']} "
        f"duplicates, {d['studies_included']} studies, {d['pooled_outcomes']} pooled outcomes; "
        f"see {d['out']}/report.md"))


COMMANDS = [prisma_cmd, reproduce_cmd]
