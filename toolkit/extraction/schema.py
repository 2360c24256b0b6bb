"""Tables of full-text eligibility and data extraction. Append migrations; never edit applied ones.

``ft_decisions``
    One row per full-text decision on a report (a record that passed title/abstract). Rows are
    never deleted; an undo sets ``undone_at``.
``ft_study_links``
    Which study a report belongs to, when it is not its own study (``review link``).
``extraction_forms``
    The text of every extraction form used, so stored values stay interpretable when the YAML
    file changes later.
``study_overlaps``
    Two included studies whose cohorts overlap (same centre and years, a later report of an
    earlier series), recorded at full text (``review overlap``). Each side is one of the
    study's reports, so a relabelled study keeps its overlaps; a removal sets ``removed_at``.
``extraction_values``
    One row per value entered (by an extractor) or adjudicated (``origin='resolution'``). A new
    value for the same study/field/instance/extractor supersedes the old one
    (``superseded_at``), which is kept for the audit.
"""

from __future__ import annotations


def _extraction_001(db) -> None:
    db.execute(
        """
        create table ft_decisions (
            id integer primary key,
            record_id integer not null references records(id),
            reviewer text not null,
            status text not null check (status in ('sought', 'not_retrieved', 'assessed')),
            decision text check (decision in ('include', 'exclude')),
            reason text,                     -- one of the review's fulltext_reasons when excluded
            origin text not null default 'human',   -- human | import | resolution
            decided_at text not null,
            note text,
            source text,                     -- where the decision is documented (import)
            undone_at text,
            check ((status = 'assessed') = (decision is not null)),
            check ((decision = 'exclude') = (reason is not null))
        )
        """
    )
    db.execute("create index ft_decisions_record on ft_decisions(record_id)")
    db.execute(
        """
        create table ft_study_links (
            record_id integer primary key references records(id),
            study text not null,
            linked_by text not null,
            linked_at text not null
        )
        """
    )
    db.execute(
        """
        create table extraction_forms (
            name text primary key,
            yaml text not null,
            sha256 text not null,
            loaded_at text not null
        )
        """
    )
    db.execute(
        """
        create table extraction_values (
            id integer primary key,
            study text not null,
            form text not null references extraction_forms(name),
            field text not null,
            instance text not null default '',   -- '' (study level), an arm, or a time point
            extractor text not null,
            status text not null check (status in ('reported', 'not_reported')),
            value text,                      -- canonical JSON of the parsed value (null if not reported)
            raw text not null,               -- what was typed / imported
            quote text, page text,
            source text,                     -- the document the value is from (URL, citation)
            origin text not null,            -- entry | import | resolution
            note text,
            entered_at text not null,
            superseded_at text
        )
        """
    )
    db.execute(
        "create index extraction_values_key on extraction_values(study, form, field, instance)"
    )


def _overlap_001(db) -> None:
    db.execute(
        """
        create table study_overlaps (
            id integer primary key,
            record_a integer not null references records(id),   -- a report of one study
            record_b integer not null references records(id),   -- a report of the other
            note text,                       -- why they overlap (centre, years, authors)
            source text,                     -- where that is documented
            recorded_by text not null,
            recorded_at text not null,
            removed_at text
        )
        """
    )


MIGRATIONS = [
    ("extraction_001_fulltext_and_values", _extraction_001),
    ("overlap_001_study_overlaps", _overlap_001),
]
