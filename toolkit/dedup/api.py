"""Deduplication on the review store: the API that `review dedup` and later stages use.

- :func:`deduplicate` finds clusters (incrementally: only records not seen by an earlier run
  are compared, against everything in the store), keeps one primary per cluster, fills its
  missing fields from the others, queues uncertain pairs, and lets a new duplicate of an
  already-screened record inherit that record's decision.
- After any merge (a run, or 'duplicate' in the manual queue) the primary is the member with
  the strongest title/abstract decision of its own (see :func:`_reconsider_primary`), records
  the merge put with a screened record inherit its decision (:func:`_inherit`), and screened
  duplicates whose decision differs from their primary's are listed
  (:func:`decision_conflicts`).
- :func:`primary_record_ids` (the screening queue), :func:`duplicates_removed` (PRISMA),
  :func:`merged_record`, :func:`undo_cluster`, :func:`decide_pair` (the manual queue).

Nothing in ``records`` is changed or deleted; every merge, undo and decision is in ``events``.
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Callable

import numpy as np

from ..errors import ReviewError
from ..store import Review, default_actor, now_iso
from . import merge
from .blocking import candidate_pairs
from .clusters import build_clusters
from . import scorer
from .match import DUPLICATE, UNCERTAIN, FieldTrust, decide, score_pairs
from .normalise import normalise_record

RULES_VERSION = "dedup-rules-3"
WINDOW = 10

_NORM_COLUMNS = ("id", "title", "authors", "authors_raw", "year", "year_raw", "journal", "volume",
                 "issue", "pages", "doi", "doi_raw", "pmid", "pmid_raw", "abstract")


def _active_clusters(review: Review) -> dict[int, list[tuple[int, str]]]:
    """{cluster_id: [(record_id, role), ...]} for clusters not undone."""
    out: dict[int, list[tuple[int, str]]] = {}
    for r in review.db.query(
        "select m.cluster_id, m.record_id, m.role from cluster_members m "
        "join clusters c on c.id = m.cluster_id where c.undone_at is null "
        "order by m.cluster_id, m.record_id"
    ):
        out.setdefault(r["cluster_id"], []).append((r["record_id"], r["role"]))
    return out


def _last_trust(review: Review) -> FieldTrust | None:
    """The field trust of the latest run (None before the first run, or for a run recorded
    before field trust existed)."""
    row = review.db.execute("select settings from dedup_runs order by id desc limit 1").fetchone()
    settings = json.loads(row[0]) if row and row[0] else {}
    if "trust_volume" not in settings:
        return None
    return FieldTrust(volume=bool(settings["trust_volume"]), issue=bool(settings["trust_issue"]))


def _screened(review: Review) -> dict[int, str]:
    """{record_id: final decision} if screening has started, else {}."""
    if "ta_decisions" not in review.db.table_names():
        return {}
    from ..screening.decisions import final_decisions
    return final_decisions(review)


def _decision_ranks(review: Review) -> dict[int, int]:
    """{record_id: 2} for a record with a live title/abstract decision of a person (human,
    import, resolution), {record_id: 1} for one with only an automation exclusion; records
    without a live decision of their own are left out. An inherited decision is not the
    record's own (it was passed on from another member) and does not count."""
    if "ta_decisions" not in review.db.table_names():
        return {}
    out: dict[int, int] = {}
    for rid, origin in review.db.execute(
            "select distinct record_id, origin from ta_decisions "
            "where undone_at is null and origin != 'inherited'"):
        out[rid] = max(out.get(rid, 0), 1 if origin == "automation" else 2)
    return out


def _full_rows(review: Review, ids) -> dict[int, dict]:
    ids = sorted(set(int(i) for i in ids))
    out = {}
    for k in range(0, len(ids), 900):
        chunk = ids[k:k + 900]
        for r in review.db.query(
            f"select * from records where id in ({','.join('?' * len(chunk))})", chunk
        ):
            out[r["id"]] = r
    return out


class _Stale(Exception):
    """Another run, an undo or a pair decision changed the clusters while a run computed."""


def _cluster_state(review: Review) -> tuple:
    """A value that changes whenever what a run's clustering starts from changes, records
    aside (they are never changed, and records added meanwhile wait for the next run): another
    run, a cluster made, merged or undone, a pair decided."""
    return tuple(review.db.execute(sql).fetchone()[0] for sql in (
        "select coalesce(max(id), 0) from dedup_runs",
        "select coalesce(max(id), 0) from clusters",
        "select count(*) from clusters where undone_at is not null",
        "select coalesce(max(id), 0) from pair_decisions"))


def deduplicate(review: Review, *, progress: Callable[[str], None] | None = None,
                model: "scorer.PairModel | None | str" = "shipped", attempts: int = 3) -> dict:
    """Deduplicate the store; returns the summary `review dedup --json` prints.

    Only records not compared by an earlier run are compared (against all records), so a
    later import is deduplicated against everything already there.
    ``model``: the pair scorer (:mod:`.scorer`): the shipped one, another
    :class:`scorer.PairModel` (the benchmark's leave-one-set-out refits), or None for the hand
    rules alone.

    The comparison runs without holding the store; its result is written in one transaction,
    which first checks that the clusters are still those it started from (else it computes
    again, up to ``attempts`` times) and reads the screening decisions afresh, so a decision
    saved during the run is seen when duplicates inherit decisions.
    """
    if model == "shipped":
        model = scorer.shipped()
    for _ in range(attempts - 1):
        try:
            return _deduplicate_once(review, progress, model)
        except _Stale:
            (progress or (lambda msg: None))("the clusters changed meanwhile; comparing again")
    try:
        return _deduplicate_once(review, progress, model)
    except _Stale:
        raise ReviewError("the clusters kept changing while deduplication ran (another "
                          "`review dedup` at the same time?); run it again") from None


def _deduplicate_once(review: Review, progress: Callable[[str], None] | None,
                      model) -> dict:
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    db = review.db
    state = _cluster_state(review)
    rows = list(db.query(f"select {', '.join(_NORM_COLUMNS)} from records order by id"))
    if not rows:
        raise ReviewError("no records yet; run `review import FILE` first")
    seen = {r["record_id"] for r in db.query("select record_id from dedup_seen")}
    ids = np.fromiter((r["id"] for r in rows), dtype=np.int64, count=len(rows))
    index = {int(i): k for k, i in enumerate(ids)}
    new_mask = np.fromiter((r["id"] not in seen for r in rows), dtype=bool, count=len(rows))
    n_new = int(new_mask.sum())
    if n_new == 0:
        out = summary(review)
        out.update(new_records=0, candidate_pairs=0, clusters_created=0, clusters_extended=0,
                   inherited_decisions=[], primary_changed=[],
                   wall_s=round(time.perf_counter() - t0, 3))
        return out

    say(f"normalising {len(rows)} records")
    norms = [normalise_record(r) for r in rows]
    del rows
    say("blocking")
    pairs = candidate_pairs(norms, window=WINDOW, restrict_to=new_mask if seen else None)
    say(f"scoring {len(pairs)} candidate pairs")
    decisions, trust = score_pairs(norms, pairs, prior_trust=_last_trust(review), model=model)

    existing = _active_clusters(review)
    initial = [[index[rid] for rid, _ in members if rid in index]
               for members in existing.values()]
    forbidden = set()
    for r in db.query("select record_a, record_b from pair_decisions "
                      "where decision = 'not' and origin in ('human', 'undo')"):
        a, b = index.get(r["record_a"]), index.get(r["record_b"])
        if a is not None and b is not None:
            forbidden.add((min(a, b), max(a, b)))
    say("clustering")
    uf, refused = build_clusters(norms, decisions, initial=initial, forbidden=forbidden,
                                 classify_fn=partial(decide, trust=trust, model=model))

    cluster_of = {rid: cid for cid, members in existing.items() for rid, _ in members}
    at = now_iso()
    created = extended = 0
    inherited = []
    n_dup_pairs = sum(1 for _, _, d in decisions if d.decision == DUPLICATE)
    groups = uf.clusters()
    cache = _full_rows(review, (int(ids[k]) for g in groups for k in g))  # records never change
    with review.atomic():
        if _cluster_state(review) != state:
            raise _Stale
        # under the write lock: no decision can be saved between reading these and using them
        screened = _screened(review)
        ranks = _decision_ranks(review)
        run_id = db["dedup_runs"].insert({
            "started_at": at, "records": len(norms), "new_records": n_new,
            "candidate_pairs": int(len(pairs)), "duplicate_pairs": n_dup_pairs,
            "settings": json.dumps({"rules": RULES_VERSION, "window": WINDOW,
                                    "trust_volume": trust.volume, "trust_issue": trust.issue,
                                    "pair_model": (list(model.trained_on) if model is not None
                                                   else None)}),
        }).last_pk
        rule_of = {}
        for i, j, d in decisions:
            if d.decision == DUPLICATE:
                rule_of.setdefault(int(ids[i]), d.rule)
                rule_of.setdefault(int(ids[j]), d.rule)
        next_id = (db.execute("select max(id) from clusters").fetchone()[0] or 0) + 1
        new_clusters, new_members, new_fills = [], [], []
        formed, grown, absorbed, moved = [], [], [], []  # for the audit event
        for group in groups:
            rec_ids = [int(ids[k]) for k in group]
            old = sorted({cluster_of[r] for r in rec_ids if r in cluster_of})
            added = [r for r in rec_ids if r not in cluster_of]
            if not old:  # the common case, written in bulk below
                cid, next_id = next_id, next_id + 1
                rows_ = [cache[r] for r in rec_ids]
                primary = merge.choose_primary(rows_, ranks)
                new_clusters.append({"id": cid, "primary_id": primary, "run_id": run_id,
                                     "origin": "auto", "created_at": at})
                formed.append([cid, primary, rec_ids])
                new_members += [
                    {"cluster_id": cid, "record_id": r,
                     "role": "primary" if r == primary else "duplicate",
                     "rule": None if r == primary else rule_of.get(r), "added_at": at}
                    for r in rec_ids]
                new_fills += [
                    {"cluster_id": cid, "record_id": primary, "field": f, "value": v,
                     "from_record_id": src}
                    for f, v, src in merge.fill_values(
                        cache[primary], [cache[r] for r in rec_ids if r != primary])]
                created += 1
                continue
            cid = old[0]
            for other in old[1:]:  # a new record links two earlier clusters
                db.execute("update clusters set undone_at = ?, undone_by = ? where id = ?",
                           [at, f"merged into cluster {cid}", other])
                _move_inherited(review, other, cid)
                absorbed.append([other, cid])
                added += [r for r, _ in existing[other]]
            if not added:
                continue
            _add_members(review, cid, added, rule_of, at)
            grown.append([cid, sorted(added)])
            extended += 1
            changed = _reconsider_primary(review, cid, ranks)
            if changed:
                moved.append([cid, *changed])
            _refresh_fills(review, cid)
            if any(r in ranks for r in rec_ids):
                # what was together before: each earlier cluster, each record not in one
                sides = [{r for r, _ in existing[c]} for c in old]
                sides += [{r} for r in rec_ids if r not in cluster_of]
                inherited += _inherit(review, cid, sides, screened, ranks, at)
        db["clusters"].insert_all(new_clusters, batch_size=2000)
        db["cluster_members"].insert_all(new_members, batch_size=2000)
        db["merged_fields"].insert_all(new_fills, batch_size=2000)
        if ranks:
            for cid, _, rec_ids in formed:  # none of them was in a cluster before
                if any(r in ranks for r in rec_ids):
                    inherited += _inherit(review, cid, [{r} for r in rec_ids], screened,
                                          ranks, at)

        clustered = {int(ids[k]) for g in uf.clusters() for k in g}
        open_pairs = {(r["record_a"], r["record_b"]) for r in db.query(
            "select record_a, record_b from pair_decisions")}
        uncertain_rows = []
        for i, j, d in list(decisions) + refused:
            if d.decision != UNCERTAIN or uf.find(i) == uf.find(j):
                continue
            a, b = sorted((int(ids[i]), int(ids[j])))
            if (a, b) in open_pairs:
                continue
            open_pairs.add((a, b))
            uncertain_rows.append({
                "record_a": a, "record_b": b, "decision": UNCERTAIN, "rule": d.rule,
                "score": round(float(d.score), 2), "origin": "auto", "run_id": run_id,
                "decided_at": at, "decided_by": "dedup", "status": "open"})
        db["pair_decisions"].insert_all(uncertain_rows, batch_size=1000)
        settled = settle_merged_pairs(review, f"dedup run {run_id}")
        db["dedup_seen"].insert_all(
            ({"record_id": int(ids[k]), "run_id": run_id} for k in np.flatnonzero(new_mask)),
            batch_size=5000)
        out = summary(review)
        out.update(new_records=n_new, candidate_pairs=int(len(pairs)),
                   clusters_created=created, clusters_extended=extended,
                   records_in_clusters=len(clustered),
                   uncertain_pairs_added=len(uncertain_rows), pairs_settled=len(settled),
                   inherited_decisions=inherited, primary_changed=moved, run_id=run_id)
        out["wall_s"] = round(time.perf_counter() - t0, 3)
        db.execute("update dedup_runs set wall_s = ?, uncertain_pairs = ?, clusters_created = ?,"
                   " clusters_extended = ? where id = ?",
                   [out["wall_s"], len(uncertain_rows), created, extended, run_id])
        review.log("dedup", {k: v for k, v in out.items() if k != "inherited_decisions"}
                   | {"inherited_decisions": len(inherited),
                      # what was merged, so the log alone accounts for every cluster
                      "created_clusters": formed, "extended_clusters": grown,
                      "absorbed_clusters": absorbed, "settled_pairs": settled,
                      "primary_changed": moved,
                      "inherited": [[h["record_id"], h["from_record_id"], h["decision"],
                                     h["cluster_id"]] for h in inherited]})
    return out


def _create_cluster(review, rec_ids, ranks, run_id, origin, rule_of, at) -> int:
    rows = _full_rows(review, rec_ids)
    primary = merge.choose_primary([rows[r] for r in rec_ids], ranks)
    cid = review.db["clusters"].insert({"primary_id": primary, "run_id": run_id,
                                        "origin": origin, "created_at": at}).last_pk
    review.db["cluster_members"].insert_all([
        {"cluster_id": cid, "record_id": r, "role": "primary" if r == primary else "duplicate",
         "rule": None if r == primary else rule_of.get(r), "added_at": at} for r in rec_ids])
    return cid


def _add_members(review, cid, rec_ids, rule_of, at) -> None:
    review.db["cluster_members"].upsert_all([
        {"cluster_id": cid, "record_id": r, "role": "duplicate", "rule": rule_of.get(r),
         "added_at": at} for r in rec_ids], pk=("cluster_id", "record_id"))


def _refresh_fills(review, cid) -> None:
    """Recompute the cluster's merged fields (derived data: rebuilt from the member rows)."""
    members = [r["record_id"] for r in review.db.query(
        "select record_id from cluster_members where cluster_id = ?", [cid])]
    primary = review.db.execute("select primary_id from clusters where id = ?",
                                [cid]).fetchone()[0]
    rows = _full_rows(review, members)
    fills = merge.fill_values(rows[primary], [rows[r] for r in members if r != primary])
    review.db.execute("delete from merged_fields where cluster_id = ?", [cid])
    review.db["merged_fields"].insert_all([
        {"cluster_id": cid, "record_id": primary, "field": f, "value": v, "from_record_id": src}
        for f, v, src in fills])


def _reconsider_primary(review, cid, ranks) -> tuple[int, int] | None:
    """After records joined cluster ``cid``: if a member carries a stronger title/abstract
    decision of its own than the primary (``ranks``, :func:`_decision_ranks`: a person's
    decision over an automation exclusion over none), the primary becomes that member (among
    equals the most complete, then the lowest id), so the screened record stays what screening
    sees and its decision stays in the pool. On a tie the primary stays (both screened: the
    other keeps its decision as a screened duplicate, see :func:`decision_conflicts`).
    Returns ``(old, new)`` when the primary changed."""
    primary = review.db.execute("select primary_id from clusters where id = ?",
                                [cid]).fetchone()[0]
    if not ranks:
        return None
    members = [r[0] for r in review.db.execute(
        "select record_id from cluster_members where cluster_id = ?", [cid])]
    best = max(ranks.get(r, 0) for r in members)
    if ranks.get(primary, 0) >= best:
        return None
    rows = _full_rows(review, [r for r in members if ranks.get(r, 0) == best])
    new = merge.choose_primary(list(rows.values()), ranks)
    rule = review.db.execute("select rule from cluster_members where cluster_id = ? and "
                             "record_id = ?", [cid, new]).fetchone()[0]
    review.db.execute("update clusters set primary_id = ? where id = ?", [new, cid])
    # the old primary is linked as the new primary was ('primary-changed' if that is unknown,
    # e.g. the primary of an absorbed cluster)
    review.db.execute("update cluster_members set role = 'duplicate', rule = ? "
                      "where cluster_id = ? and record_id = ?",
                      [rule or "primary-changed", cid, primary])
    review.db.execute("update cluster_members set role = 'primary', rule = null "
                      "where cluster_id = ? and record_id = ?", [cid, new])
    return primary, new


def _inherit(review, cid, sides, screened, ranks, at) -> list[dict]:
    """A merge put the groups ``sides`` (sets of record ids: what was together before) into
    cluster ``cid``. Each member the merge put with the cluster's screened record (the primary
    when it has a decision of its own) and that has no title/abstract decision inherits that
    record's decision (``dedup_inherited`` links it to the cluster, so undoing it withdraws
    the decision). Members already with the donor before the merge are left as they were."""
    if not ranks:
        return []
    members = [(r["record_id"], r["role"]) for r in review.db.query(
        "select record_id, role from cluster_members where cluster_id = ? "
        "order by role = 'primary' desc, record_id", [cid])]
    donors = [(rid, screened[rid]) for rid, _ in members
              if ranks.get(rid) and screened.get(rid) not in (None, "conflict")]
    if not donors:
        return []
    src, decision = donors[0]
    with_donor = next((set(side) for side in sides if src in side), {src})
    from ..screening.decisions import record_decision
    out = []
    for rid, _ in members:
        if rid not in with_donor and rid not in screened:
            dec_id = record_decision(review, rid, decision, "dedup", origin="inherited",
                                     note=f"duplicate of record {src} (cluster {cid})")
            review.db["dedup_inherited"].insert({"decision_id": dec_id, "record_id": rid,
                                                 "from_record_id": src, "cluster_id": cid})
            out.append({"record_id": rid, "from_record_id": src, "decision": decision,
                        "cluster_id": cid})
    return out


def _move_inherited(review, from_cid, to_cid) -> None:
    """Cluster ``from_cid`` was merged into ``to_cid``: its inherited decisions now depend on
    ``to_cid`` (undoing that withdraws them)."""
    review.db.execute("update dedup_inherited set cluster_id = ? where cluster_id = ?",
                      [to_cid, from_cid])


def _withdraw_inherited(review, cid, at) -> list[dict]:
    """Mark undone the live inherited decisions that depend on cluster ``cid``."""
    if "ta_decisions" not in review.db.table_names():
        return []
    rows = list(review.db.query(
        "select t.id as decision_id, t.record_id, t.decision, l.from_record_id "
        "from dedup_inherited l join ta_decisions t on t.id = l.decision_id "
        "where l.cluster_id = ? and t.undone_at is null order by t.id", [cid]))
    if rows:
        review.db.execute(
            f"update ta_decisions set undone_at = ? where id in ({','.join('?' * len(rows))})",
            [at] + [r["decision_id"] for r in rows])
    return rows


# --- queries other stages use --------------------------------------------------------------

def live_inherited(review: Review) -> list[dict]:
    """The live decisions deduplication gave duplicates of screened records, in order:
    {record_id, from_record_id, decision, cluster_id}."""
    if "dedup_inherited" not in review.db.table_names():
        return []
    return list(review.db.query(
        "select t.record_id, l.from_record_id, t.decision, l.cluster_id "
        "from dedup_inherited l join ta_decisions t on t.id = l.decision_id "
        "where t.undone_at is null order by t.id"))


def duplicates_removed(review: Review) -> int:
    """Records merged into another (PRISMA's "duplicate records removed")."""
    return review.db.execute(
        "select count(*) from cluster_members m join clusters c on c.id = m.cluster_id "
        "where c.undone_at is null and m.role = 'duplicate'").fetchone()[0]


def primary_record_ids(review: Review) -> list[int]:
    """Ids of the records not merged into another, ascending (what screening sees)."""
    return [r[0] for r in review.db.execute(
        "select id from records where id not in (select m.record_id from cluster_members m "
        "join clusters c on c.id = m.cluster_id where c.undone_at is null "
        "and m.role = 'duplicate') order by id")]


def decision_conflicts(review: Review, cluster_id: int | None = None) -> list[dict]:
    """Screened duplicates whose title/abstract decision differs from their primary's.

    A member other than the primary that carries a live decision of its own (e.g. both
    clusters of a merge had been screened: the surviving primary stays, the other keeps its
    decision) and whose final decision is not the primary's, unless the primary has a
    resolution made after the two were put in one cluster (`review conflicts resolve`).
    Each item: {cluster_id, primary_id, primary_decision (None if the primary has none),
    record_id, decision}; ordered by cluster and record."""
    db = review.db
    if "ta_decisions" not in db.table_names():
        return []
    sql = ("select c.id, c.primary_id, m.record_id, max(m.added_at, mp.added_at) "
           "from clusters c join cluster_members m on m.cluster_id = c.id "
           "join cluster_members mp on mp.cluster_id = c.id and mp.record_id = c.primary_id "
           "where c.undone_at is null and m.record_id != c.primary_id and m.record_id in "
           "(select record_id from ta_decisions where undone_at is null "
           "and origin != 'inherited')")
    args: list = []
    if cluster_id is not None:
        sql += " and c.id = ?"
        args.append(cluster_id)
    rows = db.execute(sql + " order by c.id, m.record_id", args).fetchall()
    if not rows:
        return []
    final = _screened(review)
    resolved: dict[int, str] = {}
    for rid, at in db.execute("select record_id, max(decided_at) from ta_decisions "
                              "where origin = 'resolution' and undone_at is null "
                              "group by record_id"):
        resolved[rid] = at
    out = []
    for cid, primary, rid, met in rows:
        if final.get(rid) == final.get(primary):
            continue
        if primary in resolved and resolved[primary] >= met:
            continue
        out.append({"cluster_id": cid, "primary_id": primary,
                    "primary_decision": final.get(primary), "record_id": rid,
                    "decision": final.get(rid)})
    return out


def summary(review: Review) -> dict:
    """Counts of the current deduplication state (and the screening decision conflicts
    within clusters, :func:`decision_conflicts`)."""
    db = review.db
    return {
        "records": db.execute("select count(*) from records").fetchone()[0],
        "clusters": db.execute("select count(*) from clusters where undone_at is null"
                               ).fetchone()[0],
        "duplicates_removed": duplicates_removed(review),
        "uncertain_pairs": db.execute(
            "select count(*) from pair_decisions where decision = 'uncertain' "
            "and status = 'open'").fetchone()[0],
        "decision_conflicts": decision_conflicts(review),
    }


def status(review: Review) -> dict:
    """The line `review status` shows for this stage."""
    if not review.db.execute("select count(*) from dedup_runs").fetchone()[0]:
        return {}
    s = summary(review)
    line = (f"{s['clusters']} clusters, {s['duplicates_removed']} duplicates removed, "
            f"{s['uncertain_pairs']} uncertain pairs open")
    n = len(s["decision_conflicts"])
    if n:
        line += (f", {n} screening decision conflict{'s' if n > 1 else ''} in clusters "
                 f"(see `review conflicts`)")
    return {"dedup": line}


def cluster_of(review: Review, record_id: int) -> int | None:
    """The active cluster holding ``record_id``, or None."""
    row = review.db.execute(
        "select m.cluster_id from cluster_members m join clusters c on c.id = m.cluster_id "
        "where c.undone_at is null and m.record_id = ?", [record_id]).fetchone()
    return row[0] if row else None


def merged_record(review: Review, record_id: int) -> dict:
    """The record as screening should see it: its own row plus the fields its cluster's
    duplicates supply (``merged_from`` names their source records; ``cluster_id``,
    ``duplicate_ids`` list the cluster)."""
    rows = list(review.db.query("select * from records where id = ?", [record_id]))
    if not rows:
        raise ReviewError(f"no record {record_id}", record=record_id)
    cid = cluster_of(review, record_id)
    fills = []
    if cid is not None:
        fills = list(review.db.query(
            "select field, value, from_record_id from merged_fields "
            "where cluster_id = ? and record_id = ?", [cid, record_id]))
    out = merge.apply_fills(rows[0], fills)
    out["cluster_id"] = cid
    out["duplicate_ids"] = [r[0] for r in review.db.execute(
        "select record_id from cluster_members where cluster_id = ? and role = 'duplicate' "
        "order by record_id", [cid])] if cid is not None else []
    return out


def undo_cluster(review: Review, cluster_id: int, *, actor: str | None = None) -> dict:
    """Split a cluster back into its records; they are remembered as not duplicates.

    Title/abstract decisions the cluster's records inherited from a screened member are
    withdrawn (marked undone, listed in the result and the event as ``withdrawn_decisions``):
    the separated records go back to the screening queue."""
    row = review.db.execute("select undone_at from clusters where id = ?",
                            [cluster_id]).fetchone()
    if row is None:
        raise ReviewError(f"no cluster {cluster_id}; see `review dedup --json` or the export's "
                          f"cluster_id column")
    if row[0] is not None:
        raise ReviewError(f"cluster {cluster_id} was already undone ({row[0]})")
    members = [r[0] for r in review.db.execute(
        "select record_id from cluster_members where cluster_id = ? order by record_id",
        [cluster_id])]
    at, who = now_iso(), actor or default_actor()
    with review.atomic():
        if review.db.execute("update clusters set undone_at = ?, undone_by = ? where id = ? "
                             "and undone_at is null", [at, who, cluster_id]).rowcount != 1:
            raise ReviewError(f"cluster {cluster_id} was undone meanwhile (another process)")
        review.db["pair_decisions"].insert_all([
            {"record_a": a, "record_b": b, "decision": "not", "rule": f"undo cluster {cluster_id}",
             "score": None, "origin": "undo", "run_id": None, "decided_at": at,
             "decided_by": who, "status": "decided"}
            for k, a in enumerate(members) for b in members[k + 1:]])
        withdrawn = _withdraw_inherited(review, cluster_id, at)
        review.log("dedup-undo", {"cluster_id": cluster_id, "records": members,
                                  "withdrawn_decisions": withdrawn}, actor=who)
    return {"cluster_id": cluster_id, "records": members, "undone_at": at,
            "withdrawn_decisions": withdrawn}


def settle_merged_pairs(review: Review, why: str) -> list[list[int]]:
    """Close every open uncertain pair whose two records are now in one live cluster
    (status 'settled', ``closed_reason`` naming the cluster and ``why``); the caller holds the
    transaction. Returns ``[[pair_id, cluster_id], ...]``."""
    rows = review.db.execute(
        "select p.id, ma.cluster_id from pair_decisions p "
        "join cluster_members ma on ma.record_id = p.record_a "
        "join cluster_members mb on mb.record_id = p.record_b and mb.cluster_id = ma.cluster_id "
        "join clusters c on c.id = ma.cluster_id "
        "where p.decision = 'uncertain' and p.status = 'open' and c.undone_at is null "
        "order by p.id").fetchall()
    for pid, cid in rows:
        review.db.execute(
            "update pair_decisions set status = 'settled', closed_reason = ? where id = ?",
            [f"both records in cluster {cid} ({why})", pid])
    return [[pid, cid] for pid, cid in rows]


def open_pairs(review: Review) -> list[dict]:
    """Uncertain pairs waiting for a person, most similar first."""
    return list(review.db.query(
        "select id, record_a, record_b, rule, score from pair_decisions "
        "where decision = 'uncertain' and status = 'open' order by score desc, id"))


def decide_pair(review: Review, pair_id: int, decision: str, *, actor: str | None = None
                ) -> dict:
    """Save a person's decision on an open uncertain pair. One transaction.

    'duplicate' merges the two records' clusters (:func:`_manual_merge`: the primary, inherited
    decisions and screening conflicts as after a run) and closes (status 'settled') every other
    open pair whose records are now in one cluster, listed as ``settled_pairs``
    (``[[pair_id, cluster_id], ...]``); it is refused when the merged cluster would hold two
    records a person declared not duplicates (a 'not' in the queue, or an undone cluster).
    'not' keeps them apart for good; it is refused when the two records are already in one
    cluster (split it with :func:`undo_cluster`). A pair that is not open (decided or
    settled) is refused."""
    if decision not in ("duplicate", "not"):
        raise ReviewError(f"decision must be 'duplicate' or 'not', not {decision!r}")
    rows = list(review.db.query("select * from pair_decisions where id = ?", [pair_id]))
    if not rows or rows[0]["decision"] != "uncertain":
        raise ReviewError(f"no uncertain pair {pair_id}")
    p = rows[0]
    if p["status"] != "open":
        why = f": {p['closed_reason']}" if p.get("closed_reason") else ""
        raise ReviewError(f"pair {pair_id} is not open (it is {p['status']}{why}); a pair "
                          f"is decided once")
    a, b = p["record_a"], p["record_b"]
    if decision == "not":
        ca = cluster_of(review, a)
        if ca is not None and ca == cluster_of(review, b):
            raise ReviewError(f"records {a} and {b} are already in one cluster ({ca}); to "
                              f"separate them, undo it: `review dedup undo {ca}`")
    else:
        _refuse_merge_against_not(review, a, b)
    at, who = now_iso(), actor or default_actor()
    out = {"pair_id": pair_id, "record_a": a, "record_b": b, "decision": decision}
    with review.atomic():
        if review.db.execute("update pair_decisions set status = 'decided' where id = ? and "
                             "status = 'open'", [pair_id]).rowcount != 1:
            raise ReviewError(f"pair {pair_id} was decided meanwhile (another process); a pair "
                              "is decided once")
        review.db["pair_decisions"].insert({
            "record_a": a, "record_b": b, "decision": decision, "rule": "manual",
            "score": p["score"], "origin": "human", "run_id": None, "decided_at": at,
            "decided_by": who, "status": "decided"})
        if decision == "duplicate":
            out.update(_manual_merge(review, a, b, at))
            out["settled_pairs"] = settle_merged_pairs(
                review, f"pair {pair_id} decided duplicate")
        review.log("dedup-pair", out, actor=who)
    return out


def _side(review: Review, record_id: int) -> tuple[int | None, list[int]]:
    """(cluster id or None, the records that are together with ``record_id``)."""
    cid = cluster_of(review, record_id)
    if cid is None:
        return None, [record_id]
    return cid, [r[0] for r in review.db.execute(
        "select record_id from cluster_members where cluster_id = ? order by record_id",
        [cid])]


def _refuse_merge_against_not(review: Review, a: int, b: int) -> None:
    """Raise if merging the clusters of ``a`` and ``b`` would put together two records a
    person declared not duplicates ('not' in the queue, or split by `--undo`), naming that
    decision; the mirror of refusing 'not' inside a cluster."""
    (ca, side_a), (cb, side_b) = _side(review, a), _side(review, b)
    if ca is not None and ca == cb:
        return
    qa, qb = ",".join("?" * len(side_a)), ",".join("?" * len(side_b))
    row = review.db.execute(
        f"select id, record_a, record_b, rule, origin, decided_by, decided_at "
        f"from pair_decisions where decision = 'not' and origin in ('human', 'undo') and "
        f"((record_a in ({qa}) and record_b in ({qb})) or "
        f"(record_a in ({qb}) and record_b in ({qa}))) order by id limit 1",
        side_a + side_b + side_b + side_a).fetchone()
    if row is None:
        return
    _, x, y, rule, origin, who, when = row
    if origin == "undo":
        undone = rule.removeprefix("undo cluster ").strip()
        why = f"were separated by undoing cluster {undone} ({who}, {when})"
    else:
        queued = review.db.execute(
            "select id from pair_decisions where decision = 'uncertain' and record_a = ? and "
            "record_b = ? order by id limit 1", [x, y]).fetchone()
        ref = f"pair {queued[0]}, " if queued else ""
        why = f"were declared not duplicates ({ref}{who}, {when})"
    # which cluster(s) carry x or y to this merge (the ones a person could undo instead)
    via = [c for c, side in ((ca, side_a), (cb, side_b)) if c is not None
           and (x in side or y in side) and not {x, y} <= set(side)]
    way = (f"; if a record does not belong in its cluster, undo that cluster first ("
           + ", ".join(f"`review dedup undo {c}`" for c in via) + ")") if via else ""
    raise ReviewError(
        f"records {x} and {y} {why}; 'duplicate' on records {a} and {b} would put them in one "
        f"cluster. Answer 'not' for this pair{way}")


def _manual_merge(review: Review, a: int, b: int, at: str) -> dict:
    """Merge the clusters of ``a`` and ``b`` (the caller holds the transaction): the older
    cluster survives; refused (:func:`_refuse_merge_against_not`) against a person's 'not'.
    As after a run, the primary is reconsidered (a screened record is the primary), records
    the merge put with a screened record inherit its decision, and screened duplicates that
    disagree with the primary are listed. Returns {cluster_id, primary_changed ([cluster_id,
    old, new] or None), inherited_decisions, decision_conflicts}."""
    _refuse_merge_against_not(review, a, b)
    (ca, side_a), (cb, side_b) = _side(review, a), _side(review, b)
    if ca is not None and ca == cb:
        return {"cluster_id": ca, "primary_changed": None, "inherited_decisions": [],
                "decision_conflicts": decision_conflicts(review, ca)}
    ranks = _decision_ranks(review)
    changed = None
    if ca is None and cb is None:
        cid = _create_cluster(review, [a, b], ranks, None, "manual",
                              {a: "manual", b: "manual"}, at)
    else:
        cid = min(c for c in (ca, cb) if c is not None)
        other = cb if cid == ca else ca
        added = []
        if other is not None:
            review.db.execute("update clusters set undone_at = ?, undone_by = ? where id = ?",
                              [at, f"merged into cluster {cid}", other])
            _move_inherited(review, other, cid)
            added = [r[0] for r in review.db.execute(
                "select record_id from cluster_members where cluster_id = ?", [other])]
        else:
            added = [b if ca == cid else a]
        _add_members(review, cid, added, {r: "manual" for r in added}, at)
        moved = _reconsider_primary(review, cid, ranks)
        changed = [cid, *moved] if moved else None
    _refresh_fills(review, cid)
    inherited = _inherit(review, cid, [set(side_a), set(side_b)], _screened(review), ranks, at)
    return {"cluster_id": cid, "primary_changed": changed, "inherited_decisions": inherited,
            "decision_conflicts": decision_conflicts(review, cid)}
