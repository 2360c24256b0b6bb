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
import sys
import time
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
    "toolkit.appraisal.schema",
    "toolkit.living.schema",
)


# How long a writer waits for another process's write transaction before giving up. After the
# long writers were split (an import parses and checks its file into a staging table and
# publishes it in one short transaction; see docs/screening.md, "Several reviewers at once"),
# the longest write transaction of any command is a few seconds on 100,000 records; a minute is
# far beyond that, so a legitimate writer always finishes within it, and short enough that a
# stuck holder (a process paused inside a transaction, an `sqlite3` shell left in BEGIN) is
# reported instead of hanging a reviewer's session. ``REVIEW_LOCK_WAIT`` (seconds) overrides it.
LOCK_WAIT_S = 60.0
# Waits shorter than this pass silently (another reviewer's decision takes milliseconds); after
# it, "waiting for the store…" is said once on stderr.
QUIET_WAIT_S = 0.3


class StoreBusy(ReviewError):
    """Another process held the store's write lock for longer than the wait allowed; nothing of
    the transaction that waited was written."""


def lock_wait_s() -> float:
    """The bound on waiting for the write lock: env ``REVIEW_LOCK_WAIT`` (seconds), else
    :data:`LOCK_WAIT_S`."""
    value = os.environ.get("REVIEW_LOCK_WAIT")
    if value:
        try:
            seconds = float(value)
        except ValueError:
            raise ReviewError(f"REVIEW_LOCK_WAIT={value!r} is not a number of seconds") from None
        if seconds >= 0:
            return seconds
        raise ReviewError(f"REVIEW_LOCK_WAIT={value!r} is negative")
    return LOCK_WAIT_S


def say_waiting(message: str) -> None:
    """The default way a waiting writer tells the person: one line on stderr."""
    print(f"review: {message}", file=sys.stderr, flush=True)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database, path: Path, *, wait: float | None = None,
                      on_wait: Callable[[str], None] | None = say_waiting,
                      held: list | None = None) -> Iterator[None]:
    """One write transaction that takes the write lock when it begins (``BEGIN IMMEDIATE``).

    Taking the lock first means every read inside the block sees the data the block's writes
    will be committed over: a check-then-write (is this record still undecided?) cannot be
    overtaken by another process between the check and the write, and a transaction never
    fails half-way with "database is locked" when it upgrades from reading to writing.
    While another process holds the lock this waits, saying so once through ``on_wait`` after
    :data:`QUIET_WAIT_S`, up to ``wait`` seconds (default :func:`lock_wait_s`), then raises
    :class:`StoreBusy` having written nothing. Inside an open transaction it is a savepoint.
    ``held`` (a list) gets the seconds the lock was held appended, for benchmarks."""
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield
        return
    bound = lock_wait_s() if wait is None else wait
    t0 = time.monotonic()
    told = False
    try:
        while True:
            left = bound - (time.monotonic() - t0)
            # a short first slice, so the line comes quickly; then one-second slices
            slice_s = QUIET_WAIT_S if not told else 1.0
            conn.execute(f"PRAGMA busy_timeout = {max(1, int(min(slice_s, left) * 1000))}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            waited = time.monotonic() - t0
            if waited >= bound:
                raise StoreBusy(
                    f"the store {path.name} stayed busy for {waited:.0f} s (another process "
                    f"holds its write lock); nothing was written. Try again when that process "
                    f"has finished (REVIEW_LOCK_WAIT sets how long to wait)")
            if not told and on_wait is not None:
                on_wait(f"waiting for the store\u2026 (another process is writing to "
                        f"{path.name}; up to {bound:.0f} s)")
            told = True
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if told and on_wait is not None:
        on_wait(f"the store is free again after {time.monotonic() - t0:.1f} s")
    got = time.monotonic()
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if held is not None:
        held.append(time.monotonic() - got)


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
        # how a writer that waits for another process says so (the web app may log instead)
        self.on_wait: Callable[[str], None] | None = say_waiting
        self.lock_held_s: list[float] = []  # seconds each write transaction held the lock

    # -- transactions and audit --------------------------------------------------------------
    @contextlib.contextmanager
    def atomic(self, *, wait: float | None = None, quiet: bool = False) -> Iterator["Review"]:
        """One transaction (a savepoint when nested): all of the block's writes or none.

        The outermost block takes the write lock as it begins and waits for another process's
        write transaction (see :func:`write_transaction`: a line on stderr after a moment, at
        most ``wait`` seconds, default :func:`lock_wait_s`, then :class:`StoreBusy`);
        ``quiet`` waits without the line."""
        with write_transaction(self.db, self.path, wait=wait,
                               on_wait=None if quiet else self.on_wait,
                               held=self.lock_held_s):
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


# Statements outside :meth:`Review.atomic` (reads; the odd single write) wait this long for a
# lock; the same bound as a transaction, so nothing dies early with "database is locked".
BUSY_TIMEOUT_MS = int(LOCK_WAIT_S * 1000)


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
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db


def migrate(db: sqlite_utils.Database, path: Path | None = None) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction; returns their names.

    Another process may be migrating the same file at the same moment: each migration is
    applied under the write lock after checking that it is still missing."""
    path = Path(path or db.conn.execute("pragma database_list").fetchone()[2] or "store")
    if "migrations" not in db.table_names():
        with write_transaction(db, path):
            db.execute(
                "create table if not exists migrations ("
                " name text primary key, version integer not null, applied_at text not null)"
            )
    done = {r["name"] for r in db.query("select name from migrations")}
    applied = []
    for name, fn in all_migrations():
        if name in done:
            continue
        with write_transaction(db, path):
            if db.execute("select 1 from migrations where name = ?", [name]).fetchone():
                continue  # another process applied it while this one waited
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
    migrate(db, path)
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
    migrate(db, path)
    return Review(db, path, command)
