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
            undone_at text,                   -- set by `review dedup undo`; rows are kept
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


def _dedup_002(db) -> None:
    # Which cluster an inherited title/abstract decision depends on, so that undoing the
    # cluster withdraws it (the separated record goes back to the screening queue). The
    # decision itself is a ``ta_decisions`` row (origin 'inherited'); this is the link.
    db.execute(
        """
        create table dedup_inherited (
            decision_id integer primary key,  -- ta_decisions.id of the inherited decision
            record_id integer not null references records(id),       -- the record given it
            from_record_id integer not null references records(id),  -- the screened donor
            cluster_id integer not null references clusters(id)
                -- the live cluster it depends on; moved to the surviving cluster when its
                -- cluster is merged into another
        )
        """
    )
    db.execute("create index dedup_inherited_cluster on dedup_inherited(cluster_id)")
    if "ta_decisions" not in db.table_names():
        return
    # Stores written before this migration: the link was only in the note,
    # "duplicate of record {src} (cluster {cid})". Read it once here; a cluster that was
    # later merged into another ("merged into cluster N") is followed to the one that lives.
    import re

    clusters = {r[0] for r in db.execute("select id from clusters")}
    undone_by = {r[0]: r[1] for r in db.execute(
        "select id, undone_by from clusters where undone_at is not null")}
    for dec_id, rid, note in db.execute(
            "select id, record_id, note from ta_decisions where origin = 'inherited'"
    ).fetchall():
        m = re.fullmatch(r"duplicate of record (\d+) \(cluster (\d+)\)", note or "")
        if not m:
            continue
        src, cid = int(m.group(1)), int(m.group(2))
        hops = 0
        while cid in undone_by and hops < 1000:
            nxt = re.fullmatch(r"merged into cluster (\d+)", undone_by[cid] or "")
            if not nxt:
                break
            cid, hops = int(nxt.group(1)), hops + 1
        if cid not in clusters:
            continue
        db.execute("insert into dedup_inherited (decision_id, record_id, from_record_id, "
                   "cluster_id) values (?, ?, ?, ?)", [dec_id, rid, src, cid])
    # A cluster a person undid before this migration left its inherited decisions live (the
    # separated record was never screened). Withdraw them now, as `review dedup undo` does,
    # and say so in the audit log.
    stale = db.execute(
        "select t.id, t.record_id, t.decision, l.from_record_id, l.cluster_id "
        "from dedup_inherited l join ta_decisions t on t.id = l.decision_id "
        "join clusters c on c.id = l.cluster_id "
        "where t.undone_at is null and c.undone_at is not null order by t.id").fetchall()
    if not stale:
        return
    import json

    from .. import __version__
    from ..store import default_actor, now_iso

    at = now_iso()
    for k in range(0, len(stale), 900):
        chunk = [r[0] for r in stale[k:k + 900]]
        db.execute(f"update ta_decisions set undone_at = ? where id in "
                   f"({','.join('?' * len(chunk))})", [at] + chunk)
    db.execute(
        "insert into events (at, actor, command, action, details, toolkit_version) "
        "values (?, ?, ?, ?, ?, ?)",
        [at, default_actor(), "migrate", "dedup-undo-repair", json.dumps({
            "reason": "inherited decisions of clusters undone before migration "
                      "dedup_002_inherited_links are withdrawn",
            "withdrawn_decisions": [
                {"decision_id": d, "record_id": r, "decision": v, "from_record_id": f,
                 "cluster_id": c} for d, r, v, f, c in stale]}, sort_keys=True),
         __version__])


MIGRATIONS.append(("dedup_002_inherited_links", _dedup_002))


def _dedup_003(db) -> None:
    # An uncertain pair can be closed without its own decision: status 'settled' when a merge
    # (a person's 'duplicate' on another pair, or a later run) put both its records in one
    # cluster; closed_reason says which.
    db.execute("alter table pair_decisions add column closed_reason text")
    # Stores written before: pairs left open although their records already share a cluster.
    stale = db.execute(
        "select p.id, ma.cluster_id from pair_decisions p "
        "join cluster_members ma on ma.record_id = p.record_a "
        "join cluster_members mb on mb.record_id = p.record_b and mb.cluster_id = ma.cluster_id "
        "join clusters c on c.id = ma.cluster_id "
        "where p.decision = 'uncertain' and p.status = 'open' and c.undone_at is null "
        "order by p.id").fetchall()
    if not stale:
        return
    import json

    from .. import __version__
    from ..store import default_actor, now_iso

    for pid, cid in stale:
        db.execute("update pair_decisions set status = 'settled', closed_reason = ? "
                   "where id = ?",
                   [f"both records in cluster {cid} (found by migration dedup_003)", pid])
    db.execute(
        "insert into events (at, actor, command, action, details, toolkit_version) "
        "values (?, ?, ?, ?, ?, ?)",
        [now_iso(), default_actor(), "migrate", "dedup-pairs-settled", json.dumps({
            "reason": "open pairs whose records were already in one cluster",
            "pairs": [[pid, cid] for pid, cid in stale]}, sort_keys=True), __version__])


MIGRATIONS.append(("dedup_003_pair_closed_reason", _dedup_003))
