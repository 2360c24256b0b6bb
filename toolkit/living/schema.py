"""Tables of review updates (living reviews). Append migrations; never edit applied ones."""

from __future__ import annotations


def _living_001(db) -> None:
    # One row per update of the review (a new version): `review update` starts one, and so
    # does `review import --update` when there is none yet. Version 0 is the original review.
    db.execute(
        """
        create table updates (
            id integer primary key,          -- the version number of the update (1, 2, ...)
            started_at text not null,
            since text,                      -- --since as given (entrez date), else null
            until text,                      -- the entrez-date window's end (the run's date)
            status text not null,            -- running | interrupted | complete | incomplete
            started_by text not null         -- update | import
        )
        """
    )
    # The searches and imports of an update carry its id (null: the original review); a saved
    # PubMed search re-run by `review update` points to the search it re-runs.
    db.execute("alter table searches add column update_id integer references updates(id)")
    db.execute("alter table searches add column rerun_of integer references searches(id)")
    db.execute("create index searches_update on searches(update_id)")
    # A version lasts until the next update starts: whatever is searched or imported while
    # an update exists belongs to the latest one, however it was added.
    db.execute(
        "create trigger searches_in_latest_update after insert on searches "
        "when new.update_id is null and exists (select 1 from updates) "
        "begin update searches set update_id = (select max(id) from updates) "
        "where id = new.id; end")


MIGRATIONS = [
    ("living_001_updates", _living_001),
]
