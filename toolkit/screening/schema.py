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
