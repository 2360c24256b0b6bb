"""Claims: the record a screening session has on screen, so another session of the same
reviewer (a second terminal, a second browser tab) shows a different record.

A claim is a courtesy, not the guarantee: it expires (:data:`CLAIM_TTL_S`), a session that
cannot take one (the store is busy) shows its record anyway, and a claim never blocks a
different reviewer (dual screening stays blinded and independent). What makes two live
decisions by one reviewer on one record impossible is the compare-and-set of
:func:`toolkit.screening.decisions.save_decision`.
"""

from __future__ import annotations

import os
import secrets
import socket
import time

from ..store import Review, StoreBusy, now_iso

# Long enough to read a long abstract and think; short enough that the records a crashed or
# abandoned window had on screen come back to the reviewer's other windows soon.
CLAIM_TTL_S = 600.0
# A claim is not worth holding a card back for: wait this long for the store, silently.
CLAIM_WAIT_S = 2.0


def new_session_id() -> str:
    """A session id naming its host and process, so claims of a process that died on this host
    are ignored at once rather than when they expire."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"


def _dead(session: str) -> bool:
    host, _, rest = session.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by another user
        return False
    return False


def claimed_elsewhere(review: Review, reviewer: str, session: str) -> set[int]:
    """Records on screen in the reviewer's other live sessions (unexpired claims of processes
    that are still running)."""
    return {rid for rid, other in review.db.execute(
        "select record_id, session from ta_claims where reviewer = ? and session != ? and "
        "expires_at > ?", [reviewer, session, time.time()]) if not _dead(other)}


def claim(review: Review, reviewer: str, record_id: int, session: str, *, seen: int | None,
          ttl_s: float = CLAIM_TTL_S, force: bool = False) -> bool | None:
    """Claim ``record_id`` for ``session`` (dropping the session's earlier claim), if the
    reviewer's live decision on it is still ``seen`` (the row id the session knows, None for
    undecided): a record another session decided a moment ago is not claimed.

    Returns True when claimed, False when another live session of the reviewer holds it (with
    ``force`` the claim is taken over) or decided it, None when the store stayed busy (nothing
    claimed)."""
    now = time.time()
    try:
        with review.atomic(wait=CLAIM_WAIT_S, quiet=True):
            current = review.db.execute(
                "select max(id) from ta_decisions where reviewer = ? and record_id = ? and "
                "undone_at is null and origin in ('human', 'import')",
                [reviewer, record_id]).fetchone()[0]
            if current != seen:
                return False
            row = review.db.execute(
                "select session, expires_at from ta_claims where reviewer = ? and record_id = ?",
                [reviewer, record_id]).fetchone()
            if row and row[0] != session and row[1] > now and not force and not _dead(row[0]):
                return False
            review.db.execute("delete from ta_claims where session = ?", [session])
            review.db.execute(
                "insert or replace into ta_claims (reviewer, record_id, session, claimed_at, "
                "expires_at) values (?, ?, ?, ?, ?)",
                [reviewer, record_id, session, now_iso(), now + ttl_s])
    except StoreBusy:
        return None
    return True


def release(review: Review, session: str, record_id: int | None = None) -> None:
    """Drop the session's claims (on ``record_id`` only, if given). The caller may hold the
    transaction (a decision releases its record in the decision's transaction)."""
    sql, args = "delete from ta_claims where session = ?", [session]
    if record_id is not None:
        sql, args = sql + " and record_id = ?", args + [record_id]
    try:
        with review.atomic(wait=CLAIM_WAIT_S, quiet=True):
            review.db.execute(sql, args)
    except StoreBusy:
        pass  # the claims expire on their own
