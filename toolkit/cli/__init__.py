"""The `review` command: a thin click skin over the Python API, one module per stage.

Each stage module (records, search, dedup, screening, fulltext, extraction, pooling, prisma)
defines its commands and lists them in ``COMMANDS``; this module makes the root group, adds
them in the order of a review, gives every subcommand a ``--db`` option, and turns errors into
one line (:func:`main`). Shared helpers live in :mod:`toolkit.cli.common`.
"""

from __future__ import annotations

import sys

import click

from .. import DEFAULT_DB, __version__
from ..errors import ReviewError
from . import (dedup, extraction, fulltext, overlaps, pooling, prisma, records, screening,
               search)
from .common import db_option

# The stage modules, in the order a review runs through them (the order of `review --help`).
STAGES = (records, search, dedup, screening, fulltext, overlaps, extraction, pooling, prisma)


class OrderedGroup(click.Group):
    """Lists subcommands in the order they were added (a review's order), not alphabetically."""

    def list_commands(self, ctx):
        return list(self.commands)


@click.group(cls=OrderedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", envvar="REVIEW_DB", default=DEFAULT_DB, show_default=True,
              type=click.Path(dir_okay=False),
              help="The review's SQLite file (env REVIEW_DB); may also follow the subcommand.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="review")
@click.pass_context
def cli(ctx: click.Context, db_path: str, debug: bool):
    """review: a systematic review from search to pooled result, in one SQLite file."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db_path
    ctx.obj["debug"] = debug


def _add_db_option(cmd: click.Command) -> None:
    """Give ``cmd`` and every command under it a ``--db`` option."""
    if not any(p.name == "db" for p in cmd.params):
        cmd.params.append(db_option())
    for sub in getattr(cmd, "commands", {}).values():
        _add_db_option(sub)


for _stage in STAGES:
    for _cmd in _stage.COMMANDS:
        _add_db_option(_cmd)
        cli.add_command(_cmd)


def main(argv=None) -> None:
    """Console-script entry point: runs the group and turns errors into one line + exit code
    (1 for errors, 130 for Ctrl-C after everything saved so far is kept)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = cli.main(args=argv, prog_name="review", standalone_mode=False)
    except ReviewError as exc:
        if debug:
            raise
        click.echo(f"review: error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C (and end of input) at a prompt into Abort
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            click.echo("review: interrupted; everything saved so far is kept", err=True)
            sys.exit(130)
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


__all__ = ["cli", "main", "STAGES"]
