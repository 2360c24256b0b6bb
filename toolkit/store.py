"""The review store: one SQLite file per review, through sqlite-utils.

Every command opens the store with :func:`open_review`, does its work inside
``review.atomic()`` (one transaction per command step) and records what it changed with
``review.log(...)`` in the append-only ``events`` table.

Schema changes are named migrations, applied once each and recorded in ``migrations``.
The core tables live in :mod:`toolkit.schema`; a stage that needs tables of its own ships
``toolkit/<stage>/schema.py`` with a ``MIGRATIONS`` list and is named in ``STAGE_SCHEMAS``.
Old files are upgraded in place when opened.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import getpass
import json
import os
import sqlite3
from pathlib import Path
from typing import Callable, Iterator

import sqlite_utils

from . import DEFAULT_DB, __version__  # noqa: F401  (DEFAULT_DB re-exported)
from .errors import ReviewError
from .stages import load_all


# Stage schema modules, applied in this order after the core schema (a name that does not
# resolve is an error: see toolkit.stages).
STAGE_SCHEMAS = (
    "toolkit.dedup.schema",
    "toolkit.screening.schema",
    "toolkit.extraction.schema",
)


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds (``REVIEW_NOW`` overrides it, for tests)."""
    fixed = os.environ.get("REVIEW_NOW")
    if fixed:
        return fixed
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def default_actor() -> str:
    """Who is acting: env ``REVIEW_REVIEWER``, else the OS user."""
    name = os.environ.get("REVIEW_REVIEWER")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return "unknown"


def all_migrations() -> list[tuple[str, Callable[[sqlite_utils.Database], None]]]:
    """Every known migration as ``(name, function)``, core first, then stages in order."""
    from . import schema

    out = list(schema.MIGRATIONS)
    for mod in load_all(STAGE_SCHEMAS):
        out.extend(mod.MIGRATIONS)
    names = [n for n, _ in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise RuntimeError(f"duplicate migration names: {sorted(dupes)}")
    return out


class Review:
    """An open review store. ``db`` is the :class:`sqlite_utils.Database`."""

    def __init__(self, db: sqlite_utils.Database, path: str | Path, command: str = "python"):
        self.db = db
        self.path = Path(path)
        self.command = command

    # -- transactions and audit --------------------------------------------------------------
    @contextlib.contextmanager
    def atomic(self) -> Iterator["Review"]:
        """One transaction (a savepoint when nested): all of the block's writes or none."""
        with self.db.atomic():
            yield self

    def log(self, action: str, details: dict | None = None, *, actor: str | None = None,
            command: str | None = None) -> int:
        """Append one event to the audit log; returns its id."""
        row = {
            "at": now_iso(),
            "actor": actor or default_actor(),
            "command": command or self.command,
            "action": action,
            "details": json.dumps(details or {}, sort_keys=True, ensure_ascii=False, default=str),
            "toolkit_version": __version__,
        }
        return self.db["events"].insert(row).last_pk

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str, default=None):
        rows = list(self.db.query("select value from meta where key = ?", [key]))
        return json.loads(rows[0]["value"]) if rows else default

    def set_meta(self, key: str, value) -> None:
        self.db["meta"].upsert({"key": key, "value": json.dumps(value)}, pk="key")

    @property
    def schema_version(self) -> int:
        return self.db.execute("select count(*) from migrations").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _connect(path: Path, new: bool = False) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    if new:
        # Records carry their source record as JSON (often several KB); large pages keep
        # them off overflow chains, which roughly doubles import speed. Must precede WAL.
        db.execute("PRAGMA page_size=65536")
    # WAL keeps readers going while a writer commits; synchronous=NORMAL is durable across
    # process crashes (kill -9), which is what a saved decision needs.
    with db.ensure_autocommit_on():
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    return db


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction; returns their names."""
    if "migrations" not in db.table_names():
        with db.atomic():
            db.execute(
                "create table if not exists migrations ("
                " name text primary key, version integer not null, applied_at text not null)"
            )
    done = {r["name"] for r in db.query("select name from migrations")}
    applied = []
    for name, fn in all_migrations():
        if name in done:
            continue
        with db.atomic():
            fn(db)
            version = db.execute("select count(*) from migrations").fetchone()[0] + 1
            db["migrations"].insert({"name": name, "version": version, "applied_at": now_iso()})
        applied.append(name)
    return applied


def create_review(path: str | Path, title: str | None = None, command: str = "init") -> Review:
    """Create a new review store at ``path`` (error if one exists) and return it open."""
    path = Path(path)
    if path.exists() and path.stat().st_size > 0:
        raise ReviewError(f"{path} already exists; use it, or choose another --db")
    db = _connect(path, new=True)
    migrate(db)
    review = Review(db, path, command)
    with review.atomic():
        review.set_meta("title", title)
        review.set_meta("created_at", now_iso())
        review.set_meta("created_by_version", __version__)
        review.log("init", {"title": title, "schema_version": review.schema_version})
    return review


def open_review(path: str | Path, command: str = "python", create: bool = False) -> Review:
    """Open an existing review store (upgrading its schema); ``create=True`` makes one if absent."""
    path = Path(path)
    if not path.exists():
        if create:
            return create_review(path, command=command)
        raise ReviewError(f"no review store at {path}; run `review init` first (or pass --db)")
    # Look read-only first: another application's SQLite file must not get our tables (nor WAL).
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in con.execute("select name from sqlite_master")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:  # not a SQLite file
        raise ReviewError(f"{path} is not a review store ({exc})") from None
    if "migrations" not in tables or "records" not in tables:
        raise ReviewError(f"{path} is not a review store (no migrations/records table)")
    db = _connect(path)
    migrate(db)
    return Review(db, path, command)
