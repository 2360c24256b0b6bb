"""Tables of deduplication. Append migrations; never edit applied ones.

Nothing here changes ``records``: a merge is a cluster row plus member rows, and the values a
primary record gains from its duplicates live in ``merged_fields`` with their provenance.
"""

from __future__ import annotations


def _dedup_001(db) -> None:
    db.execute(
        """
        create table dedup_runs (
            id integer primary key,
            started_at text not null,
            wall_s real,
            records integer not null,        -- records in the store at the run
            new_records integer not null,    -- records not seen by an earlier run
            candidate_pairs integer,
            duplicate_pairs integer,
            uncertain_pairs integer,
            clusters_created integer,
            clusters_extended integer,
            settings text                    -- JSON: rules version, window
        )
        """
    )
    db.execute(
        """
        create table dedup_seen (            -- records compared by some run (incremental runs
            record_id integer primary key references records(id),   -- compare only new ones)
            run_id integer not null references dedup_runs(id)
        )
        """
    )
    db.execute(
        """
        create table clusters (
            id integer primary key,
            primary_id integer not null references records(id),
            run_id integer references dedup_runs(id),   -- null for a manual merge
            origin text not null,             -- auto | manual
            created_at text not null,
            undone_at text,                   -- set by `review dedup --undo`; rows are kept
            undone_by text
        )
        """
    )
    db.execute(
        """
        create table cluster_members (
            cluster_id integer not null references clusters(id),
            record_id integer not null references records(id),
            role text not null check (role in ('primary', 'duplicate')),
            rule text,                        -- the rule that linked it (see docs/dedup.md)
            added_at text not null,
            primary key (cluster_id, record_id)
        )
        """
    )
    db.execute("create index cluster_members_record on cluster_members(record_id)")
    db.execute(
        """
        create table merged_fields (          -- values the primary lacks, taken from a member
            cluster_id integer not null references clusters(id),
            record_id integer not null references records(id),      -- the primary
            field text not null,
            value text not null,
            from_record_id integer not null references records(id),
            primary key (cluster_id, field)
        )
        """
    )
    db.execute(
        """
        create table pair_decisions (         -- uncertain pairs and every human decision
            id integer primary key,
            record_a integer not null references records(id),
            record_b integer not null references records(id),   -- record_a < record_b
            decision text not null check (decision in ('duplicate', 'not', 'uncertain')),
            rule text not null,
            score real,
            origin text not null,             -- auto | human | undo
            run_id integer references dedup_runs(id),
            decided_at text not null,
            decided_by text,
            status text not null default 'open' -- uncertain: open | decided; others: decided
        )
        """
    )
    db.execute("create index pair_decisions_pair on pair_decisions(record_a, record_b)")
    db.execute("create index pair_decisions_status on pair_decisions(decision, status)")


MIGRATIONS = [
    ("dedup_001_tables", _dedup_001),
]
