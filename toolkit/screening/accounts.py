"""Reviewer accounts of a review, for signing in to `review serve` (`review reviewer ...`).

Accounts live in the review's store (table ``reviewer_accounts``): a name (the ``reviewer`` of
the decisions made while signed in), a role and a password hash. Passwords are hashed with
scrypt (werkzeug's ``generate_password_hash``: salted, N=2^15, r=8, p=1) and never stored or
logged in the clear. Roles: ``screener`` screens; ``resolver`` also sees conflicts, opens them
(ends blinding) and resolves them.

Every change is logged (``reviewer.add``, ``reviewer.passwd``, ``reviewer.role``,
``reviewer.remove``; no hash in the log). A password or role change, or signing out, draws a
new random ``session_epoch`` for the account, which signs out every browser session signed in
before it; removal deletes it (an account added again under the name gets a random one too).
"""

from __future__ import annotations

import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import ReviewError
from ..store import Review, now_iso

ROLES = ("screener", "resolver")
MIN_PASSWORD = 8
# reviewer names of decisions no person made: stopping-rule exclusions, decisions inherited
# by deduplication
RESERVED = {"automation", "dedup"}
# checked against when the name is unknown, so a wrong name costs as long as a wrong password
_DUMMY_HASH = generate_password_hash("not a password of anyone", method="scrypt")


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ReviewError("a reviewer needs a name")
    if len(name) > 64 or any(not (c.isalnum() or c in "._-@") for c in name):
        raise ReviewError(f"reviewer name {name!r}: use at most 64 letters, digits and . _ - @")
    if name.casefold() in RESERVED:
        raise ReviewError(f"{name!r} is reserved (it names decisions no person made)")
    return name


def _check_password(password: str) -> None:
    if password is None or len(password) < MIN_PASSWORD:
        raise ReviewError(f"the password needs at least {MIN_PASSWORD} characters")
    if password != password.strip("\r\n"):
        raise ReviewError("the password ends in a line break")


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ReviewError(f"role {role!r}: choose {' or '.join(ROLES)}")
    return role


def get_account(review: Review, name: str) -> dict | None:
    """The account row of ``name`` (with its hash), or None."""
    rows = list(review.db.query("select * from reviewer_accounts where name = ?", [name]))
    return rows[0] if rows else None


def _require(review: Review, name: str) -> dict:
    row = get_account(review, name)
    if row is None:
        raise ReviewError(f"no reviewer account {name!r} (see `review reviewer list`)")
    return row


def add_reviewer(review: Review, name: str, password: str, role: str = "screener") -> dict:
    """Create an account; returns it (without the hash)."""
    name = _check_name(name)
    _check_role(role)
    _check_password(password)
    # names differing only in case would be two reviewers in the decisions but one person
    # (casefold, not SQLite's lower(), which folds ASCII letters only: "Änn" is "änn")
    clash = [other for (other,) in review.db.execute("select name from reviewer_accounts")
             if other.casefold() == name.casefold()]
    if clash:
        raise ReviewError(f"reviewer {clash[0]!r} already has an account")
    at = now_iso()
    with review.atomic():
        review.db["reviewer_accounts"].insert({
            "name": name, "role": role, "password_hash": generate_password_hash(password),
            "created_at": at, "updated_at": at, "session_epoch": _new_epoch(None)})
        review.log("reviewer.add", {"name": name, "role": role})
    return public(get_account(review, name))


def set_password(review: Review, name: str, password: str) -> dict:
    """Replace the password (signs out the account's browser sessions)."""
    row = _require(review, name)
    _check_password(password)
    with review.atomic():
        review.db["reviewer_accounts"].update(name, {
            "password_hash": generate_password_hash(password), "updated_at": now_iso(),
            "session_epoch": _new_epoch(row)})
        review.log("reviewer.passwd", {"name": name})
    return public(get_account(review, name))


def set_role(review: Review, name: str, role: str) -> dict:
    """Change the role (signs out the account's browser sessions)."""
    row = _require(review, name)
    _check_role(role)
    with review.atomic():
        review.db["reviewer_accounts"].update(name, {
            "role": role, "updated_at": now_iso(), "session_epoch": _new_epoch(row)})
        review.log("reviewer.role", {"name": name, "role": role, "was": row["role"]})
    return public(get_account(review, name))


def end_sessions(review: Review, name: str) -> None:
    """Sign the account out of every browser session (`Sign out` in the web app); nothing
    happens for an account that no longer exists."""
    row = get_account(review, name)
    if row is None:
        return
    with review.atomic():
        review.db["reviewer_accounts"].update(name, {"session_epoch": _new_epoch(row)})
        review.log("web.sign_out", {}, actor=name)


def _new_epoch(row: dict | None) -> int:
    """A session epoch no earlier cookie holds: random, not a counter, so an account removed
    and added again under the same name does not revive the old account's sessions."""
    while True:
        epoch = secrets.randbelow(2 ** 53)  # exact in JSON (the session cookie)
        if row is None or epoch != row["session_epoch"]:
            return epoch


def remove_reviewer(review: Review, name: str) -> dict:
    """Delete the account; the reviewer's decisions stay (they are the review's record)."""
    row = _require(review, name)
    with review.atomic():
        review.db["reviewer_accounts"].delete(name)
        review.log("reviewer.remove", {"name": name, "role": row["role"]})
    return public(row)


def list_reviewers(review: Review) -> list[dict]:
    """Every account (no hashes), by name, with the reviewer's live decision count."""
    counts = dict(review.db.execute(
        "select reviewer, count(*) from ta_decisions where undone_at is null and "
        "origin in ('human', 'resolution') group by reviewer").fetchall())
    return [dict(public(r), decisions=counts.get(r["name"], 0)) for r in review.db.query(
        "select * from reviewer_accounts order by name")]


def verify(review: Review, name: str, password: str) -> dict | None:
    """The account if ``password`` is its password, else None (same work either way)."""
    row = get_account(review, (name or "").strip())
    ok = check_password_hash(row["password_hash"] if row else _DUMMY_HASH, password or "")
    return public(row) if row and ok else None


def public(row: dict) -> dict:
    """An account row without its password hash."""
    return {k: v for k, v in row.items() if k != "password_hash"}
