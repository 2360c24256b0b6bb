"""Reviewer accounts (passwords hashed with scrypt) and blinding of dual screening."""

from __future__ import annotations

import json

import pytest

from screen_helpers import build_review
from toolkit.errors import ReviewError
from toolkit.screening import accounts, blinding
from toolkit.screening.decisions import save_decision


@pytest.fixture
def review(tmp_path):
    r = build_review(tmp_path / "r.db", n=6)
    yield r
    r.close()


def test_add_and_verify_keeps_only_a_salted_scrypt_hash(review):
    out = accounts.add_reviewer(review, "ann", "correct horse", role="resolver")
    assert out["name"] == "ann" and out["role"] == "resolver" and "password_hash" not in out
    stored = review.db["reviewer_accounts"].get("ann")["password_hash"]
    assert stored.startswith("scrypt:") and "correct horse" not in stored
    accounts.add_reviewer(review, "bob", "correct horse")
    # the same password, another salt: another hash
    assert review.db["reviewer_accounts"].get("bob")["password_hash"] != stored
    assert accounts.verify(review, "ann", "correct horse")["name"] == "ann"
    assert accounts.verify(review, "ann", "correct horsE") is None
    assert accounts.verify(review, "nobody", "correct horse") is None
    logged = [json.loads(r["details"]) for r in review.db.query(
        "select details from events where action like 'reviewer.%'")]
    assert logged == [{"name": "ann", "role": "resolver"}, {"name": "bob", "role": "screener"}]
    assert all("hash" not in json.dumps(e) and "horse" not in json.dumps(e) for e in logged)


@pytest.mark.parametrize("name, password, role, message", [
    ("", "long enough", "screener", "needs a name"),
    ("ann smith", "long enough", "screener", "at most 64 letters"),
    ("automation", "long enough", "screener", "reserved"),
    ("Dedup", "long enough", "screener", "reserved"),  # the reviewer of inherited decisions
    ("ann", "short", "screener", "at least 8"),
    ("ann", "long enough", "admin", "choose screener or resolver"),
])
def test_bad_accounts_are_refused(review, name, password, role, message):
    with pytest.raises(ReviewError, match=message):
        accounts.add_reviewer(review, name, password, role)
    assert review.db["reviewer_accounts"].count == 0


def test_names_are_unique_ignoring_case(review):
    accounts.add_reviewer(review, "Ann", "long enough")
    with pytest.raises(ReviewError, match="'Ann' already has an account"):
        accounts.add_reviewer(review, "ann", "long enough")
    accounts.add_reviewer(review, "änn", "long enough")  # beyond ASCII: casefolded
    with pytest.raises(ReviewError, match="'änn' already has an account"):
        accounts.add_reviewer(review, "ÄNN", "long enough")


def test_passwd_role_and_remove_change_the_session_epoch(review):
    epochs = [accounts.add_reviewer(review, "ann", "first password")["session_epoch"]]
    epochs.append(accounts.set_password(review, "ann", "second password")["session_epoch"])
    assert accounts.verify(review, "ann", "first password") is None
    assert accounts.verify(review, "ann", "second password") is not None
    epochs.append(accounts.set_role(review, "ann", "resolver")["session_epoch"])
    accounts.end_sessions(review, "ann")  # signing out in the web app
    epochs.append(accounts.get_account(review, "ann")["session_epoch"])
    assert len(set(epochs)) == 4  # every change signs the old sessions out
    save_decision(review, 1, "include", "ann", seen=None)
    assert [(a["name"], a["role"], a["decisions"]) for a in accounts.list_reviewers(review)] \
        == [("ann", "resolver", 1)]
    accounts.remove_reviewer(review, "ann")
    assert accounts.get_account(review, "ann") is None
    assert review.db["ta_decisions"].count == 1  # the decisions stay
    # added again under the same name: none of the old account's epochs (sessions) is valid
    assert accounts.add_reviewer(review, "ann", "third password")["session_epoch"] not in epochs
    accounts.remove_reviewer(review, "ann")
    with pytest.raises(ReviewError, match="no reviewer account 'ann'"):
        accounts.set_password(review, "ann", "third password")


def test_blinding_is_on_until_a_resolver_opens_and_is_logged(review):
    assert blinding.blinding_state(review)["blinded"] is True
    for rid in (1, 2):
        save_decision(review, rid, "include", "ann", seen=None)
    save_decision(review, 2, "exclude", "bob", seen=None)
    save_decision(review, 3, "exclude", "bob", seen=None)
    assert blinding.decided_by_several(review) == 1
    s = blinding.open_conflicts(review, "rita")
    assert s["blinded"] is False and s["opened_by"] == "rita"
    blinding.open_conflicts(review, "rita")  # opening twice logs once
    assert blinding.close_conflicts(review, "rita")["blinded"] is True
    actions = [r[0] for r in review.db.execute(
        "select action from events where action like 'screen.conflicts_%' order by id")]
    assert actions == ["screen.conflicts_opened", "screen.conflicts_closed"]
