"""What every command module shares: output, the store, paths, prompts.

Conventions for every command:
- ``--json`` prints exactly one JSON object on stdout; human text otherwise.
- Progress bars (rich) and prompts go to stderr when stdout carries ``--json``.
- Errors print one line ``review: error: ...`` and exit 1; ``--debug`` shows the traceback.
- ``--db PATH`` is accepted before or after the subcommand (see :func:`db_option`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Iterator

import click
from click_default_group import DefaultGroup

from ..errors import ReviewError

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


def note(text: str) -> None:
    """A ``review: note: ...`` line on stderr (never on stdout, which may carry JSON)."""
    click.echo(f"review: note: {text}", err=True)


def warn(text: str) -> None:
    """A ``review: warning: ...`` line on stderr."""
    click.echo(f"review: warning: {text}", err=True)


# -- the store ------------------------------------------------------------------------------

def _remember_db(ctx: click.Context, param, value):
    """``--db`` given after the subcommand: it wins over the one before it (or REVIEW_DB)."""
    if value is not None:
        ctx.ensure_object(dict)["db"] = value
    return value


class StageGroup(DefaultGroup):
    """A stage's subcommands, one of them the default: `review dedup` runs `review dedup run`.
    The default also runs when only ``--db`` follows the group (`review dedup --db r.db`),
    which click-default-group alone answers with "Missing command"."""

    def parse_args(self, ctx, args):
        if self.default_if_no_args and args and _only_db(args):
            args = [*args, self.default_cmd_name]
        return super().parse_args(ctx, args)

    def format_help_text(self, ctx, formatter):
        super().format_help_text(ctx, formatter)
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(
                f"Without a subcommand: `{ctx.command_path} {self.default_cmd_name}` (its "
                f"options: `{ctx.command_path} {self.default_cmd_name} --help`).")


def _only_db(args: list[str]) -> bool:
    """Whether ``args`` are nothing but ``--db PATH`` / ``--db=PATH`` options."""
    i = 0
    while i < len(args):
        if args[i] == "--db":
            if i + 1 >= len(args):  # no value: click says so
                return False
            i += 2
        elif args[i].startswith("--db="):
            i += 1
        else:
            return False
    return True


def db_option() -> click.Option:
    """The ``--db`` option every subcommand carries, so it may follow the subcommand too."""
    return click.Option(["--db"], type=click.Path(dir_okay=False), expose_value=False,
                        callback=_remember_db, metavar="PATH",
                        help="The review's SQLite file (same as `review --db PATH ...`).")


def db_path(ctx: click.Context) -> str:
    """The store's path: ``--db`` (either place), else env REVIEW_DB, else ./review.db. Its
    folder must exist: a store is never created in a folder that is not there."""
    path = ctx.find_root().obj["db"]
    check_folder(path, what="--db")
    return path


def check_folder(path: str | os.PathLike, *, what: str) -> None:
    """Raise a clear error when the folder that should hold ``path`` does not exist."""
    parent = Path(path).expanduser().parent
    if not parent.is_dir():
        raise ReviewError(f"folder {parent} does not exist (for {what} {path}); create it first")


@contextlib.contextmanager
def open_store(ctx: click.Context, command: str) -> Iterator:
    """The review store named by ``--db``/REVIEW_DB, open for ``command``; closed on the way out
    whatever happens (an error, Ctrl-C)."""
    from ..store import open_review  # imported here: `review simulate`/`pool FILE` need no store

    review = open_review(db_path(ctx), command=command)
    try:
        yield review
    finally:
        review.close()


class OutFile(click.Path):
    """A file the command writes: its folder must exist (never created silently)."""

    def __init__(self, **kw):
        super().__init__(dir_okay=False, **kw)

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        parent = Path(value).expanduser().parent
        if not parent.is_dir():
            self.fail(f"folder {str(parent)!r} does not exist; create it first", param, ctx)
        return value


class OutDir(click.Path):
    """A folder the command writes into: created if absent, but its parent must exist."""

    def __init__(self, **kw):
        super().__init__(file_okay=False, **kw)

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        parent = Path(value).expanduser().resolve().parent
        if not parent.is_dir():
            self.fail(f"folder {str(parent)!r} does not exist; create it first", param, ctx)
        return value


# -- pooling the review's own outcomes -------------------------------------------------------

def outcome_pool_options(f):
    """--model, --unit-of-analysis and --overlap as `review pool --outcome` takes them, for
    commands that pool an extracted outcome (GRADE proposals, weights of the robvis table)."""
    f = click.option("--overlap", "overlap_policy", default="largest", show_default=True,
                     type=click.Choice(["largest", "all"]),
                     help="Overlapping cohorts, as `review pool --overlap`.")(f)
    f = click.option("--unit-of-analysis", "use_unit", metavar="UNIT",
                     help="Pool only the studies that count UNIT, as `review pool`.")(f)
    return click.option("--model", default="rma", show_default=True,
                        type=click.Choice(["rma", "glmm"]),
                        help="The pooling model, as `review pool --model` (the GLMM's studies "
                             "are weighed as the inverse-variance model weighs them).")(f)


# -- prompts --------------------------------------------------------------------------------

def terminal(err: bool):
    """(ask, say) for line-based prompt loops; on stderr when stdout carries --json.

    ``ask(prompt)`` returns one line, or None at the end of piped input (loops quit then)."""
    def ask(message: str) -> str | None:
        try:
            return click.prompt(message, default="", show_default=False, prompt_suffix=": ",
                                err=err)
        except click.exceptions.Abort as exc:
            if isinstance(exc.__context__, EOFError) or (
                    sys.stdin is not None and not sys.stdin.isatty()
                    and not isinstance(exc.__context__, KeyboardInterrupt)):
                click.echo("", err=err)
                return None
            raise

    def say(text: str) -> None:
        click.echo(text, err=err)

    return ask, say


def deprecated(old: str, new: str) -> None:
    """Say on stderr that ``old`` is an old spelling of ``new`` (kept for one release)."""
    click.echo(f"review: note: `{old}` is now `{new}`; the old spelling goes in the next "
               "release", err=True)
