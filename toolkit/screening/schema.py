"""Tables of title/abstract screening. Append migrations; never edit applied ones."""

from __future__ import annotations


def _screening_001(db) -> None:
    db.execute(
        """
        create table ta_decisions (
            id integer primary key,
            record_id integer not null references records(id),
            reviewer text not null,
            decision text not null check (decision in ('include', 'exclude', 'maybe')),
            origin text not null default 'human',
                -- human | import (review screen --import) | automation (stopping rule)
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
