"""Tables of risk-of-bias appraisal. Append migrations; never edit applied ones.

``appraisal_tools``
    The text of every appraisal template used (so stored answers stay interpretable).
``appraisal_entries``
    One row per answer an assessor gave: a signalling question's answer, a domain's
    judgement (a checklist item's answer, or an override of a derived judgement, with its
    ``reason``) or the overall judgement; or an adjudicated value (``origin='resolution'``).
    A new answer to the same study/tool/item by the same assessor supersedes the old one
    (``superseded_at``), which is kept for the audit. Derived judgements are not stored.
"""

from __future__ import annotations


def _appraisal_001(db) -> None:
    db.execute(
        """
        create table appraisal_tools (
            name text primary key,
            yaml text not null,
            sha256 text not null,
            version text,
            loaded_at text not null
        )
        """
    )
    db.execute(
        """
        create table appraisal_entries (
            id integer primary key,
            study text not null,
            tool text not null references appraisal_tools(name),
            item text not null,              -- a question id, a domain id, or 'overall'
            assessor text not null,
            value text not null,             -- the answer as the tool spells it
            reason text,                     -- why a derived judgement is overridden
            support text,                    -- the supporting quote
            source text,                     -- where the quote is from (URL, citation, page)
            origin text not null check (origin in ('entry', 'import', 'resolution')),
            note text,
            entered_at text not null,
            superseded_at text
        )
        """
    )
    db.execute("create index appraisal_entries_key on appraisal_entries(study, tool, item)")



def _appraisal_002(db) -> None:
    db.execute(
        """
        create table grade_ratings (
            id integer primary key,
            outcome text not null,
            tool text,                       -- the appraisal tool risk of bias was read from
            start text not null check (start in ('high', 'low')),
            proposal text not null,          -- JSON: what the toolkit proposed, with its numbers
            levels text not null,            -- JSON: {domain: levels down (negative) or up}
            reasons text not null,           -- JSON: {domain: the reviewer's reason}
            certainty text not null check (certainty in ('high', 'moderate', 'low',
                                                         'very low')),
            rater text not null,
            note text,
            rated_at text not null,
            superseded_at text
        )
        """
    )


MIGRATIONS = [
    ("appraisal_001_tools_and_entries", _appraisal_001),
    ("appraisal_002_grade_ratings", _appraisal_002),
]
