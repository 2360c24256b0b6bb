"""`review update` and `review import --update`: a new version of the review from what appeared
since the last one.

- An update is a row of ``updates``; its id is the version (0 is the original review). A
  version lasts until the next update starts: every search and import made while an update is
  the latest carries its id (``searches.update_id``, set by a trigger of the schema), however
  it was made (`review import` without ``--update`` too).
- :func:`run_update` starts an update and re-runs every saved PubMed search
  (:func:`saved_searches`) over the entrez dates since it last ran: PubMed's ``datetype=edat``,
  from the day before its last run (entrez dates are US Eastern days, the store's clock is UTC;
  the overlap is recognised as already present) to today, or from ``since``. A saved search's
  publication-date lower limit is kept as a ``[dp]`` range in the term; its upper limit is not
  (it was the previous version's cut-off: records published before it but added to PubMed since
  are exactly what an update must find). An interrupted update is continued by running it again.
- :func:`import_update` imports a new export of a database without an API (Embase) into the
  latest update (starting one when there is none): records already stored (same source and id)
  are linked, not added, and counted as already there.
- Then :func:`absorb_update` deduplicates the new records against everything stored (a new
  record that duplicates a screened one inherits its decision: listed), re-fits the screening
  model on every title/abstract label so far and ranks the update's records still to screen;
  the screening queue shows them first (:func:`toolkit.screening.queue.queued_first`).
"""

from __future__ import annotations

import datetime as _dt
import json
import time

from ..errors import ReviewError
from ..importing import import_file
from ..search.eutils import EutilsClient
from ..search.pubmed import PubMedSearch, _date, _fmt, mark_interrupted
from ..store import Review, now_iso

FINISHED = ("complete", "incomplete")


def latest_update(review: Review) -> dict | None:
    rows = list(review.db.query("select * from updates order by id desc limit 1"))
    return rows[0] if rows else None


def saved_searches(review: Review) -> list[dict]:
    """The saved PubMed searches: one per distinct (query, publication-date lower limit) of the
    searches run with `review search pubmed` (re-runs excluded), in order of first run, each
    with ``last_run`` (its latest finished run, re-runs included) and ``runs``."""
    out: dict[tuple, dict] = {}
    for row in review.db.query(
            "select * from searches where kind = 'search' and database = 'PubMed' "
            "and rerun_of is null order by id"):
        key = (row["query"], row["mindate"])
        s = out.setdefault(key, {"id": row["id"], "query": row["query"],
                                 "mindate": row["mindate"], "ids": []})
        s["ids"].append(row["id"])
    result = []
    for s in out.values():
        marks = ",".join("?" * len(s["ids"]))
        runs = list(review.db.query(
            f"select id, run_at, status from searches where id in ({marks}) or rerun_of in "
            f"({marks}) order by id", s["ids"] * 2))
        finished = [r for r in runs if r["status"] in FINISHED]
        s["last_run"] = max((r["run_at"] for r in finished), default=None)
        s["runs"] = len(runs)
        s["unfinished"] = [r["id"] for r in runs if r["status"] not in FINISHED]
        result.append(s)
    return result


def window_start(last_run: str) -> str:
    """The entrez-date window's first day for a search last run at ``last_run`` (UTC ISO):
    the day before (entrez dates are US Eastern days, up to a day behind UTC)."""
    day = _dt.date.fromisoformat(last_run[:10]) - _dt.timedelta(days=1)
    return _fmt(day)


def update_term(query: str, mindate: str | None) -> str:
    """The term an update sends: the saved query, with its publication-date lower limit (if it
    had one) as a ``[dp]`` range, since ``datetype`` now limits entrez dates."""
    if not mindate:
        return query
    return f'({query}) AND ("{_fmt(_date(mindate))}"[dp] : "3000/12/31"[dp])'


def _start_update(review: Review, *, since: str | None, until: str | None,
                  started_by: str) -> int:
    with review.atomic():
        uid = review.db["updates"].insert({"started_at": now_iso(), "since": since,
                                           "until": until, "status": "running",
                                           "started_by": started_by}).last_pk
        review.log("update-start", {"update_id": uid, "since": since, "until": until,
                                    "started_by": started_by})
    return uid


def run_update(review: Review, *, since: str | None = None, email: str | None = None,
               api_key: str | None = None, batch_size: int = 500,
               client: EutilsClient | None = None, progress=None, on_retry=None,
               seed: int = 0) -> dict:
    """Start an update (or continue the interrupted one) and re-run the saved PubMed searches
    over the entrez dates since each last ran; then :func:`absorb_update`. Returns the summary
    `review update --json` prints. ``on_retry(message)`` hears of each retried request."""
    t0 = time.perf_counter()
    if since:
        _date(since)  # a bad date fails before anything is stored
    saved = saved_searches(review)
    for s in saved:
        originals = [i for i in s["unfinished"] if i in s["ids"]]
        if originals:
            raise ReviewError(f"search #{originals[0]} ({s['query']!r}) is unfinished; run "
                              f"`review search pubmed --resume` first")
        if s["last_run"] is None:
            raise ReviewError(f"search #{s['id']} ({s['query']!r}) never finished")
    upd = latest_update(review)
    resume = (upd is not None and upd["status"] in ("running", "interrupted")
              and upd["started_by"] == "update")
    if resume:
        if since and since != upd["since"]:
            raise ReviewError(f"update {upd['id']} is unfinished; run `review update` without "
                              f"--since to continue it")
        uid, since, until = upd["id"], upd["since"], upd["until"]
    else:
        until = _fmt(_dt.date.fromisoformat(now_iso()[:10]))
        uid = _start_update(review, since=since, until=until, started_by="update")
    client = client or EutilsClient(api_key=api_key, email=email, on_retry=on_retry)
    runner = PubMedSearch(review, client, progress)
    results, search_ids = [], []
    for s in saved:
        rows = list(review.db.query(
            "select id, status from searches where update_id = ? and rerun_of = ? "
            "order by id desc limit 1", [uid, s["id"]]))
        if rows and rows[0]["status"] in FINISHED:
            sid = rows[0]["id"]
            results.append(_finished_summary(review, sid))
            search_ids.append(sid)
            continue
        sid = rows[0]["id"] if rows else None
        try:
            if sid is None:  # its first esearch (the count) may fail too: offline, a 5xx
                mindate = since or window_start(s["last_run"])
                sid = runner.start(update_term(s["query"], s["mindate"]), mindate, until,
                                   batch_size, datetype="edat",
                                   columns={"query": s["query"], "update_id": uid,
                                            "rerun_of": s["id"]})
            out = runner.run(sid)
        except BaseException as exc:  # an error, Ctrl-C: what was saved stays, resumable
            if sid is not None:
                mark_interrupted(review, sid, str(exc) if isinstance(exc, ReviewError)
                                 else type(exc).__name__)
            with review.atomic():
                review.db["updates"].update(uid, {"status": "interrupted"})
            if isinstance(exc, ReviewError):
                raise ReviewError(f"{exc}; update {uid} is saved as interrupted: `review "
                                  f"update` continues it") from None
            raise
        out["saved_search_id"] = s["id"]
        results.append({k: out[k] for k in ("search_id", "saved_search_id", "query", "count",
                                            "retrieved", "added", "already_present",
                                            "complete", "warnings")}
                       | {"query": s["query"], "term": out["query"]})
        search_ids.append(sid)
    absorbed = absorb_update(review, uid, seed=seed)
    warnings = [w for r in results for w in r["warnings"]]
    complete = all(r["complete"] for r in results)
    with review.atomic():
        review.db["updates"].update(uid, {"status": "complete" if complete else "incomplete"})
        out = {"update_id": uid, "since": since, "until": until, "continued": resume,
               "saved_searches": len(saved), "searches": results,
               "records_found": sum(r["retrieved"] for r in results),
               "records_added": sum(r["added"] for r in results),
               "already_present": sum(r["already_present"] for r in results),
               **absorbed, "complete": complete, "warnings": warnings}
        review.log("update", _loggable(out))
    if not saved:
        out["message"] = ("no saved PubMed searches to re-run; add new exports to this update "
                          "with `review import --update FILE`")
    out["requests"] = client.requests_made
    out["wall_s"] = round(time.perf_counter() - t0, 3)
    return out


def _finished_summary(review: Review, search_id: int) -> dict:
    """The summary of a re-run finished before an interrupted update was continued."""
    row = review.db["searches"].get(search_id)
    state = json.loads(row["state"])
    return {"search_id": search_id, "saved_search_id": row["rerun_of"], "query": row["query"],
            "term": state["query"], "count": row["count_reported"],
            "retrieved": row["count_retrieved"], "added": None, "already_present": None,
            "complete": row["status"] == "complete",
            "warnings": list(state.get("warnings", []))}


def import_update(review: Review, path, *, fmt: str | None = None, source: str | None = None,
                  progress=None, seed: int = 0) -> dict:
    """Import a new export into the latest update (starting one if there is none), then
    :func:`absorb_update`. Returns the summary `review import --update --json` prints."""
    t0 = time.perf_counter()
    tagged: dict = {}

    def tag(search_id: int | None) -> None:
        # runs in the import's short publishing transaction: the latest update is read under
        # the write lock, so two imports at once join one update instead of starting two
        upd = latest_update(review)
        uid = (_start_update(review, since=None, until=None, started_by="import")
               if upd is None else upd["id"])
        if search_id is not None:
            review.db["searches"].update(search_id, {"update_id": uid})
        if upd is None:
            review.db["updates"].update(uid, {"status": "complete"})
        tagged.update(uid=uid, started=upd is None)

    # not inside review.atomic(): the file is read without holding the store
    out = import_file(review, path, fmt=fmt, source=source, progress=progress, on_publish=tag)
    if not tagged:  # the same bytes were imported before: nothing new, still one update
        with review.atomic():
            tag(None)
    uid, started = tagged["uid"], tagged["started"]
    out["update_id"] = uid
    out["update_started"] = started
    out.update(absorb_update(review, uid, seed=seed))
    with review.atomic():
        review.log("import-update", _loggable(out))
    out["wall_s"] = round(time.perf_counter() - t0, 3)
    return out


def new_records(review: Review, update_id: int) -> list[int]:
    """Records the update found first: linked to its searches and to none of an earlier
    version (the original review or an earlier update)."""
    return [r[0] for r in review.db.execute(
        "select distinct rs.record_id from record_searches rs join searches s "
        "on s.id = rs.search_id where s.update_id = ? and not exists ("
        " select 1 from record_searches r2 join searches s2 on s2.id = r2.search_id"
        " where r2.record_id = rs.record_id and coalesce(s2.update_id, 0) < ?) "
        "order by rs.record_id", [update_id, update_id])]


def absorb_update(review: Review, update_id: int, *, seed: int = 0) -> dict:
    """:func:`absorb` the records update ``update_id`` found first."""
    return absorb(review, new_records(review, update_id), seed=seed)


def absorb(review: Review, new: list[int], *, seed: int = 0) -> dict:
    """After records ``new`` arrived: deduplicate the store (new records against everything),
    list the new records that duplicate stored ones (with the decision each inherited) and
    rank those still to screen by the screening model re-fitted on every title/abstract label
    so far."""
    from ..dedup.api import deduplicate, live_inherited
    from ..screening.queue import records_to_screen

    if not new:
        return {"new_records": 0, "duplicates_of_stored": [], "duplicates_within_update": 0,
                "inherited_decisions": [], "uncertain_pairs": 0, "queued": [],
                "model": None}
    dedup = deduplicate(review)
    new_set = set(new)
    primary_of = {r["record_id"]: r["primary_id"] for r in review.db.query(
        "select m.record_id, c.primary_id from cluster_members m join clusters c "
        "on c.id = m.cluster_id where c.undone_at is null and m.role = 'duplicate'")}
    # read from the store, not from this dedup run: a duplicate may have inherited its
    # decision in an earlier run (an earlier import into the same update)
    inherited = {h["record_id"]: h for h in live_inherited(review) if h["record_id"] in new_set}
    of_stored, within = [], 0
    for rid in new:
        primary = primary_of.get(rid)
        if primary is None:
            continue
        if primary in new_set:
            within += 1
            continue
        h = inherited.get(rid)
        of_stored.append({"record_id": rid, "duplicate_of": primary,
                          "inherited": h["decision"] if h else None,
                          "from_record_id": h["from_record_id"] if h else None})
    pool = records_to_screen(review)
    decided = {r[0] for r in review.db.execute(
        "select distinct record_id from ta_decisions where undone_at is null")}
    queue = [rid for rid in pool if rid in new_set and rid not in decided]
    ranked, model = rank_for_screening(review, pool, queue, seed=seed)
    return {"new_records": len(new), "duplicates_of_stored": of_stored,
            "duplicates_within_update": within,
            "inherited_decisions": [inherited[r] for r in sorted(inherited)],
            "uncertain_pairs": dedup["uncertain_pairs"], "queued": ranked, "model": model}


def training_labels(review: Review, pool: list[int]) -> dict[int, int]:
    """{record id: 1 include / 0 exclude} of the pool's records with a final title/abstract
    decision of a person (any reviewer, imports, resolutions, inherited); maybes, conflicts
    and automation exclusions are not labels."""
    from ..screening.decisions import final_decisions, live_origins

    origins = live_origins(review)
    final = final_decisions(review)
    members = set(pool)
    return {rid: int(d == "include") for rid, d in final.items()
            if rid in members and d in ("include", "exclude")
            and origins.get(rid) != {"automation"}}


def rank_for_screening(review: Review, pool: list[int], queue: list[int], *,
                       seed: int = 0) -> tuple[list[dict], dict | None]:
    """The ``queue`` records ranked by the screening model (TF-IDF over the pool, fitted on
    :func:`training_labels`): [{record_id, rank, score, title}] best first, and the model's
    {version, labels, includes}. Without labels of both kinds the order is the store's."""
    from ..screening.model import ActiveLearner, record_text

    if not queue:
        return [], None
    pos = {rid: i for i, rid in enumerate(pool)}
    rows = {r["id"]: r for r in review.db.query("select id, title, abstract from records")
            if r["id"] in pos}
    learner = ActiveLearner(random_state=seed)
    labels = training_labels(review, pool)
    try:
        learner.fit_features([record_text(rows[rid]["title"], rows[rid]["abstract"])
                              for rid in pool])
        ids = sorted(labels)
        learner.fit([pos[r] for r in ids], [labels[r] for r in ids])
        scores = learner.scores()
    except ValueError:  # no words at all in the pool
        scores = [0.0] * len(pool)
    fitted = getattr(learner, "model_", None) is not None
    order = sorted(queue, key=lambda r: (-float(scores[pos[r]]), r))
    ranked = [{"record_id": rid, "rank": k + 1,
               "score": round(float(scores[pos[rid]]), 6) if fitted else None,
               "title": rows[rid]["title"]} for k, rid in enumerate(order)]
    model = {"version": learner.version, "labels": len(labels),
             "includes": sum(labels.values()), "fitted": fitted}
    return ranked, model


def status(review: Review) -> dict:
    """`review status` hook: the review's updates, and what the latest left to screen."""
    upd = latest_update(review)
    if upd is None:
        return {}
    new = new_records(review, upd["id"])
    from ..screening.queue import queued_first, records_to_screen

    first = queued_first(review)
    decided = {r[0] for r in review.db.execute(
        "select distinct record_id from ta_decisions where undone_at is null")}
    left = sum(1 for r in records_to_screen(review) if r in first and r not in decided)
    return {"updates": (f"{upd['id']} update{'s' if upd['id'] > 1 else ''}; the latest "
                        f"started {upd['started_at'][:10]} ({upd['status']}): {len(new)} new "
                        f"records, {left} still to screen (queued first)")}


def _loggable(out: dict) -> dict:
    """The summary for the audit log: lists of records as ids (titles left out)."""
    log = dict(out)
    if "queued" in log:
        log["queued"] = [q["record_id"] for q in log["queued"]]
    return log


def describe(out: dict) -> str:
    """Human text for `review update` / `review import --update`."""
    lines = []
    if "searches" in out:
        lines.append(f"update {out['update_id']}: entrez dates "
                     f"{out['since'] or 'since each search last ran'} to {out['until']}"
                     + (" (continued)" if out.get("continued") else ""))
        for s in out["searches"]:
            lines.append(f"  #{s['search_id']} {s['query']}: count {s['count']}, retrieved "
                         f"{s['retrieved']}, added {s['added']}, already present "
                         f"{s['already_present']}")
        if out.get("message"):
            lines.append(f"  {out['message']}")
    else:
        lines.append(f"{out['file']}: {out['format']}, source {out['source']}, into update "
                     f"{out['update_id']}" + (" (started)" if out["update_started"] else "")
                     + f": read {out['records_read']}, added {out['records_added']}, already "
                     f"there {out['already_present']}")
        if out.get("already_imported"):
            lines.append(f"  {out['message']}")
    lines.append(f"new in update {out['update_id']} so far: {out['new_records']} records; "
                 "duplicates of stored records: "
                 f"{len(out['duplicates_of_stored'])}; duplicates among the new: "
                 f"{out['duplicates_within_update']}")
    for d in out["duplicates_of_stored"]:
        what = (f"inherits '{d['inherited']}' from record {d['from_record_id']}"
                if d["inherited"] else "no decision to inherit")
        lines.append(f"  record {d['record_id']} duplicates record {d['duplicate_of']}: {what}")
    m = out.get("model")
    if out["queued"]:
        how = (f"ranked by the screening model fitted on {m['labels']} labels "
               f"({m['includes']} includes)" if m and m["fitted"] else "in store order (the "
               "model needs includes and excludes to rank)")
        lines.append(f"{len(out['queued'])} new records queued first in `review screen`, "
                     f"{how}")
        for q in out["queued"][:5]:
            lines.append(f"  {q['rank']}. record {q['record_id']}: {q['title']}")
    else:
        lines.append("nothing new to screen")
    if out.get("uncertain_pairs"):
        lines.append("decide uncertain duplicate pairs with `review dedup --review`")
    return "\n".join(lines)

