"""Core tables of the review store (see docs/schema.md). Append new migrations; never edit old ones."""

from __future__ import annotations

import sqlite_utils


def _core_001(db: sqlite_utils.Database) -> None:
    db.execute("create table meta (key text primary key, value text)")
    db.execute(
        """
        create table searches (
            id integer primary key,
            kind text not null,              -- 'search' (E-utilities) or 'import' (a file)
            database text not null,          -- PubMed, Embase, ...
            query text,                      -- the query as the user gave it
            query_translation text,          -- as the source reports it (esearch QueryTranslation)
            run_at text not null,
            mindate text, maxdate text,      -- date limits, as given
            count_reported integer,          -- esearch Count (searches) or records in the file (imports)
            count_retrieved integer,         -- records actually saved / linked
            file_name text, file_sha256 text, format text,
            status text not null,            -- running | complete | incomplete
            state text                       -- JSON: resumable state (WebEnv, parts, ...)
        )
        """
    )
    db.execute(
        """
        create table records (
            id integer primary key,
            source text not null,            -- database the record came from (PubMed, Embase, ...)
            source_id text not null,         -- its id there (PMID, Embase accession, CSV id, or a content hash)
            pmid text, pmid_raw text,
            doi text, doi_raw text,
            title text, abstract text,
            authors text,                    -- JSON list of "Surname, Initials"
            authors_raw text,
            journal text,
            year integer, year_raw text,
            volume text, issue text, pages text,
            keywords text,                   -- JSON list
            language text,
            publication_types text,          -- JSON list
            raw text not null,               -- the source record as JSON
            added_at text not null,
            unique (source, source_id)
        )
        """
    )
    db.execute("create index records_pmid on records(pmid)")
    db.execute("create index records_doi on records(doi)")
    db.execute(
        """
        create table record_searches (
            record_id integer not null references records(id),
            search_id integer not null references searches(id),
            position integer,                -- order within the search result / file
            primary key (record_id, search_id)
        )
        """
    )
    db.execute("create index record_searches_search on record_searches(search_id)")
    db.execute(
        """
        create table events (
            id integer primary key,
            at text not null, actor text not null, command text not null,
            action text not null, details text not null, toolkit_version text not null
        )
        """
    )
    # The audit log is append-only.
    db.execute(
        "create trigger events_no_update before update on events "
        "begin select raise(abort, 'events is append-only'); end"
    )
    db.execute(
        "create trigger events_no_delete before delete on events "
        "begin select raise(abort, 'events is append-only'); end"
    )


def _core_002(db: sqlite_utils.Database) -> None:
    # The ids an E-utilities search reported (esearch IdList per date part), so a search can
    # resume and can name the PMIDs it could not retrieve.
    db.execute(
        """
        create table search_ids (
            search_id integer not null references searches(id),
            part integer not null,
            position integer not null,
            source_id text not null,
            primary key (search_id, source_id)
        )
        """
    )


def _incomplete_001(db: sqlite_utils.Database) -> None:
    # Records with no title, abstract, DOI or PMID are imported (a database returned them,
    # PRISMA counts them) and marked; stores written before could not hold any.
    db.execute("alter table records add column incomplete integer not null default 0")


MIGRATIONS = [
    ("core_001_tables", _core_001),
    ("core_002_search_ids", _core_002),
    ("incomplete_001_records_flag", _incomplete_001),
]
