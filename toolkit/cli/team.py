"""Team screening: `review reviewer add|list|passwd|role|remove` (the accounts that sign in to
the web app) and `review serve` (the web app)."""

from __future__ import annotations

import sys

import click

from ..errors import ReviewError
from .common import db_path, emit, json_option, open_store
from .screening import queue_options

ROLE = click.Choice(["screener", "resolver"])


def read_password(password_stdin: bool, *, confirm: bool = True) -> str:
    """The password: one line from stdin (``--password-stdin``), else typed at a hidden prompt
    (twice). Never an option: it would show in the shell history and the process list."""
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ReviewError("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ReviewError("no terminal to type the password in; pipe it with --password-stdin")
    return click.prompt("password", hide_input=True, confirmation_prompt=confirm, err=True)


@click.group("reviewer")
def reviewer_group():
    """Reviewer accounts of this review, for signing in to `review serve`: add, list, passwd,
    role, remove. Passwords are stored as salted scrypt hashes only."""


@reviewer_group.command("add")
@click.argument("name")
@click.option("--role", type=ROLE, default="screener", show_default=True,
              help="screener screens; resolver also opens and resolves conflicts.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (one line) instead of a hidden "
                   "prompt.")
@json_option
@click.pass_context
def reviewer_add_cmd(ctx, name, role, password_stdin, as_json):
    """Add the account NAME (decisions made while signed in are NAME's)."""
    from ..screening.accounts import add_reviewer

    password = read_password(password_stdin)
    with open_store(ctx, "reviewer") as review:
        out = add_reviewer(review, name, password, role)
    emit(out, as_json, lambda d: f"reviewer {d['name']} added ({d['role']})")


@reviewer_group.command("list")
@json_option
@click.pass_context
def reviewer_list_cmd(ctx, as_json):
    """The accounts, their roles and how many live decisions each has made."""
    from ..screening.accounts import list_reviewers

    with open_store(ctx, "reviewer") as review:
        rows = list_reviewers(review)
    emit({"reviewers": rows}, as_json, lambda d: "\n".join(
        f"{r['name']}  {r['role']}  {r['decisions']} decisions  (since {r['created_at']})"
        for r in d["reviewers"]) or "no reviewer accounts (add one: review reviewer add NAME)")


@reviewer_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from standard input (one line).")
@json_option
@click.pass_context
def reviewer_passwd_cmd(ctx, name, password_stdin, as_json):
    """Set a new password for NAME (signs out NAME's browser sessions)."""
    from ..screening.accounts import get_account, set_password

    with open_store(ctx, "reviewer") as review:
        if get_account(review, name) is None:  # say so before asking for a password
            raise ReviewError(f"no reviewer account {name!r} (see `review reviewer list`)")
        out = set_password(review, name, read_password(password_stdin))
    emit(out, as_json, lambda d: f"password of {d['name']} changed; their browser sessions "
                                 "are signed out")


@reviewer_group.command("role")
@click.argument("name")
@click.argument("role", type=ROLE)
@json_option
@click.pass_context
def reviewer_role_cmd(ctx, name, role, as_json):
    """Make NAME a screener or a resolver (signs out NAME's browser sessions)."""
    from ..screening.accounts import set_role

    with open_store(ctx, "reviewer") as review:
        out = set_role(review, name, role)
    emit(out, as_json, lambda d: f"{d['name']} is now a {d['role']}")


@reviewer_group.command("remove")
@click.argument("name")
@json_option
@click.pass_context
def reviewer_remove_cmd(ctx, name, as_json):
    """Delete the account NAME; their decisions stay in the review."""
    from ..screening.accounts import remove_reviewer

    with open_store(ctx, "reviewer") as review:
        out = remove_reviewer(review, name)
    emit(out, as_json, lambda d: f"reviewer {d['name']} removed (their decisions are kept)")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address exposes the app to "
                   "the network, without TLS (a warning says so).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--criteria", "criteria_path", type=click.Path(dir_okay=False),
              help="Criteria YAML (ta_reasons, highlight, and the criteria page) "
                   "[default: screening/criteria.yaml next to the db, else in the cwd].")
@queue_options  # the same stopping rule and seed for every reviewer's queue
@click.option("--yes", "-y", is_flag=True,
              help="Required with --stop: when a reviewer's rule is met, the records left are "
                   "excluded by automation without asking (the browser has no prompt).")
@json_option
@click.pass_context
def serve_cmd(ctx, host, port, criteria_path, stop, stop_after, target_recall, confidence,
              seed, yes, as_json):
    """Screen in a browser: a local web app over this review (sign-in per reviewer, keys
    i e m u, blinding, highlighting, reasons, conflicts, progress). Ctrl+C stops it.

    With --json, one JSON object (url, host, port, records, reviewers) is printed once the
    app listens."""
    from ..fulltext import criteria_path_for
    from ..web.server import serve

    if stop != "none" and not yes:
        # `review screen` asks before automation excludes records; a browser cannot
        raise ReviewError(f"--stop {stop} in the browser excludes the records left by "
                          "automation as soon as a reviewer's rule is met, without asking; "
                          "add --yes to allow that")
    path = db_path(ctx)
    serve(path, host=host, port=port,
          criteria_path=criteria_path or str(criteria_path_for(path)),
          screening={"stop": stop, "stop_after": stop_after, "target_recall": target_recall,
                     "confidence": confidence, "seed": seed},
          ready=(lambda info: emit(info, True)) if as_json else None)


COMMANDS = [reviewer_group, serve_cmd]
