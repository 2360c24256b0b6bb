"""Tables of title/abstract screening. Append migrations; never edit applied ones."""

from __future__ import annotations

import json


def _screening_001(db) -> None:
    db.execute(
        """
        create table ta_decisions (
            id integer primary key,
            record_id integer not null references records(id),
            reviewer text not null,
            decision text not null check (decision in ('include', 'exclude', 'maybe')),
            origin text not null default 'human',
                -- human | import (review screen import) | automation (stopping rule)
                -- | inherited (a new duplicate of a screened record) | resolution (conflict resolved)
            decided_at text not null,
            score real,                      -- the model's relevance score when shown
            rank integer,                    -- the record's rank in the queue when shown
            model_version text,
            note text,
            undone_at text                   -- set by undo; the row is kept for the audit
        )
        """
    )
    db.execute("create index ta_decisions_record on ta_decisions(record_id)")


MIGRATIONS = [
    ("screening_001_ta_decisions", _screening_001),
]


def _screening_002(db) -> None:
    # Per-reviewer queues look up "what has this reviewer decided" on every session start.
    db.execute("create index ta_decisions_reviewer on ta_decisions(reviewer, record_id)")
    # One row per stopping-rule run of a reviewer: the BUSCAR random sample (its urn and draw
    # order, so a resumed session continues the same sample) and the outcome.
    db.execute(
        """
        create table ta_stopping (
            id integer primary key,
            reviewer text not null,
            rule text not null,              -- heuristic | buscar
            params text not null,            -- JSON: stop_after, target_recall, confidence, seed
            state text not null,             -- sampling | stopped
            started_at text not null,
            first_decision_id integer not null,  -- decisions with a larger id belong to this run
            n_screened_before integer,       -- BUSCAR: records screened before the sample (N_AL)
            r_before integer,                -- BUSCAR: includes found before the sample (r_AL)
            urn_size integer,                -- BUSCAR: unscreened records when sampling began
            sample_order text,               -- BUSCAR: JSON list of record ids, the random draw
            stopped_at text,
            p_value real,                    -- BUSCAR: p of H0 "recall < target" at the stop
            n_automation integer             -- records excluded by automation at the stop
        )
        """
    )


MIGRATIONS.append(("screening_002_stopping", _screening_002))


def _screening_003(db) -> None:
    # Automation exclusions stand in for the reviewer whose stopping rule fired: they leave that
    # reviewer's queue only, so a second reviewer still screens every record independently.
    # ta_stopping.state gains 'abandoned' (a BUSCAR sample that stopped being a random sample
    # of the remainder) and 'undone' (the decision that fired the rule was undone).
    db.execute("alter table ta_decisions add column stopping_id integer "
               "references ta_stopping(id)")
    backfill_automation_owner(db)


def backfill_automation_owner(db) -> None:
    """Link automation exclusions written before ``stopping_id`` existed to their stopping run,
    from the run's audit event (which names the run and its records)."""
    for _, details in db.execute(
            "select id, details from events where action = 'screen.automation_exclude' "
            "order by id").fetchall():
        d = json.loads(details)
        sid, ids = d.get("stopping_id"), d.get("record_ids") or []
        if sid is None:
            continue
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            db.execute(
                "update ta_decisions set stopping_id = ? where origin = 'automation' and "
                f"stopping_id is null and record_id in ({','.join('?' * len(chunk))})",
                [sid, *chunk])


MIGRATIONS.append(("screening_003_automation_owner", _screening_003))


def _screening_team_001(db) -> None:
    # A title/abstract exclusion may carry one reason from ``ta_reasons`` in the criteria file.
    db.execute("alter table ta_decisions add column reason text")


MIGRATIONS.append(("screening_team_001_ta_reason", _screening_team_001))


def _screening_team_002(db) -> None:
    # Per-review reviewer accounts of `review serve` (`review reviewer add`). Passwords are kept
    # only as salted scrypt hashes; session_epoch is bumped whenever the password or role
    # changes, which signs out every browser session signed in before.
    db.execute(
        """
        create table reviewer_accounts (
            name text primary key,
            role text not null check (role in ('screener', 'resolver')),
            password_hash text not null,
            created_at text not null,
            updated_at text not null,
            session_epoch integer not null default 0
        )
        """
    )


MIGRATIONS.append(("screening_team_002_reviewer_accounts", _screening_team_002))


def _concurrency_001_claims(db) -> None:
    # The record each screening session has on screen, per reviewer: another session of the
    # same reviewer skips it until it is decided, released or the claim expires. Claims are
    # only a courtesy (no wasted reading); the guarantee is the compare-and-set on save.
    db.execute(
        """
        create table ta_claims (
            reviewer text not null,
            record_id integer not null references records(id),
            session text not null,           -- the claiming session (random id)
            claimed_at text not null,
            expires_at real not null,        -- Unix time; an expired claim is ignored
            primary key (reviewer, record_id)
        )
        """
    )
    db.execute("create index ta_claims_session on ta_claims(session)")


MIGRATIONS.append(("concurrency_001_ta_claims", _concurrency_001_claims))
