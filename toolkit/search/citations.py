"""`review snowball`: citation searching (backward: the works the seeds cite; forward: the works
that cite them) through OpenAlex (:mod:`toolkit.search.openalex`).

- Seeds: the included studies (every report included at full text; its DOI and PMID, from its
  duplicates too), or an identifier list (:mod:`toolkit.search.identifiers`). Each seed is
  looked up in OpenAlex by its OpenAlex id, else DOI, else PMID; seeds OpenAlex does not know
  are listed (``unresolved``).
- The works found are saved as one search of the source "Citation searching" (``searches``
  kind ``citations``), which PRISMA reports under identification via other methods. Each
  record is an OpenAlex work (source id its W id; raw: the work and which seeds led to it).
  Saving is one transaction after everything was fetched: an interrupted run saves nothing.
- Then the new records are deduplicated against the whole store (a duplicate of a screened
  record inherits its decision) and ranked for screening (:func:`toolkit.living.updates.absorb`).
  After a review update the search belongs to that update, and its new records are queued first.
- The search is ``incomplete`` when OpenAlex counted more citing works than it returned, or
  referenced works could not be fetched (``warnings`` says which).
"""

from __future__ import annotations

import json
import time

from ..errors import ReviewError
from ..flow import CITATION_SEARCHING
from ..importing import canonical_source, save_records
from ..records import make_record
from ..store import Review, now_iso
from .identifiers import Item, read_identifiers
from .openalex import OpenAlex, raw_work, work_fields, work_id


def included_seeds(review: Review) -> list[Item]:
    """The included studies' reports as seeds (record id as label), with the DOI, PMID and
    OpenAlex id of the record or of its duplicates."""
    from ..dedup.api import merged_record
    from ..fulltext import included_studies

    reports = sorted(r for rids in included_studies(review).values() for r in rids)
    if not reports:
        raise ReviewError("no included studies yet (no report is included at full text); run "
                          "`review fulltext` first, or give the seeds with --from FILE")
    out = []
    for rid in reports:
        rec = merged_record(review, rid)
        openalex = None
        for r in review.db.query("select source, source_id from records where id in (%s)"
                                 % ",".join("?" * (1 + len(rec["duplicate_ids"]))),
                                 [rid, *rec["duplicate_ids"]]):
            if r["source"] == CITATION_SEARCHING:
                openalex = openalex or work_id(r["source_id"])
        out.append(Item(pmid=rec.get("pmid"), doi=rec.get("doi"), openalex=openalex,
                        line=0, text=f"record {rid}"))
    return out


def _resolve(api: OpenAlex, seed: Item) -> dict | None:
    for kind, value in ((k, v) for k, v in (("openalex", seed.openalex), ("doi", seed.doi),
                                            ("pmid", seed.pmid)) if v):
        work = api.work(value if kind == "openalex" else f"{kind}:{value}")
        if work is not None:
            return work
    return None


def snowball(review: Review, *, backward: bool = True, forward: bool = True,
             seeds: str = "included", email: str | None = None, api_key: str | None = None,
             api: OpenAlex | None = None, progress=None, on_retry=None,
             seed: int = 0) -> dict:
    """Chase the citations of ``seeds`` ("included", or the path of an identifier list) into
    the store; returns the summary `review snowball --json` prints."""
    from ..living.updates import absorb, latest_update

    t0 = time.perf_counter()
    if not (backward or forward):
        raise ReviewError("choose --backward, --forward or both")
    say = progress or (lambda msg: None)
    items = included_seeds(review) if seeds == "included" else read_identifiers(seeds)
    api = api or OpenAlex(email=email, api_key=api_key, on_retry=on_retry)
    resolved: dict[str, str] = {}  # seed label -> W id
    works: dict[str, dict] = {}
    found_by: dict[str, list[list[str]]] = {}
    unresolved = []
    refs: dict[str, list[str]] = {}
    say(f"looking up {len(items)} seeds in OpenAlex")
    for item in items:
        work = _resolve(api, item)
        if work is None:
            unresolved.append(item.label)
            continue
        wid = work_id(work["id"])
        resolved[item.label] = wid
        refs[wid] = [w for w in map(work_id, work.get("referenced_works") or []) if w]
    if not resolved:
        raise ReviewError(f"none of the {len(items)} seeds is in OpenAlex ("
                          + ", ".join(unresolved[:10]) + (" ..." if len(unresolved) > 10 else "")
                          + "); nothing saved")
    warnings: list[str] = []
    n_backward = n_forward = 0
    if backward:
        wanted = sorted({w for ws in refs.values() for w in ws}, key=lambda w: int(w[1:]))
        say(f"fetching {len(wanted)} referenced works")
        got = {work_id(w["id"]): w for w in api.works(wanted) if work_id(w.get("id"))}
        lost = [w for w in wanted if w not in got]
        if lost:
            warnings.append(f"{len(lost)} referenced work(s) could not be fetched from OpenAlex: "
                            + ", ".join(lost[:20]) + (" ..." if len(lost) > 20 else ""))
        for label, wid in resolved.items():
            for ref in refs[wid]:
                if ref in got:
                    works.setdefault(ref, got[ref])
                    found_by.setdefault(ref, []).append([label, "backward"])
        n_backward = len(got)
    if forward:
        citing_all = set()
        for label, wid in resolved.items():
            say(f"fetching the works citing {wid}")
            citing, _ = api.citing(wid)
            for w in citing:
                cid = work_id(w["id"])
                works.setdefault(cid, w)
                found_by.setdefault(cid, []).append([label, "forward"])
                citing_all.add(cid)
        n_forward = len(citing_all)
    warnings += api.warnings
    directions = [d for d, on in (("backward", backward), ("forward", forward)) if on]
    upd = latest_update(review)
    with review.atomic():
        source = canonical_source(review, CITATION_SEARCHING)
        what = "included studies" if seeds == "included" else str(seeds)
        search_id = review.db["searches"].insert({
            "kind": "citations", "database": source,
            "query": f"{' and '.join(directions)} citations of {len(resolved)} seeds "
                     f"({what}) in OpenAlex",
            "query_translation": None, "run_at": now_iso(), "mindate": None, "maxdate": None,
            "count_reported": len(works), "count_retrieved": len(works), "file_name": None,
            "file_sha256": None, "format": "openalex",
            "status": "incomplete" if warnings else "complete",
            "state": json.dumps({"seeds": resolved, "unresolved": unresolved,
                                 "directions": directions, "warnings": warnings}),
            "update_id": upd["id"] if upd else None,
        }).last_pk
        order = sorted(works, key=lambda w: int(w[1:]))
        rows = [make_record(work_fields(works[w]), source=source,
                            raw={"openalex": raw_work(works[w]), "found_by": found_by[w]})
                for w in order]
        added, present = save_records(review, search_id, rows)
        review.log("snowball", {"search_id": search_id, "seeds": len(items),
                                "resolved": len(resolved), "unresolved": unresolved,
                                "directions": directions, "works": len(works),
                                "added": added, "already_present": present,
                                "warnings": warnings})
    new = [r[0] for r in review.db.execute(
        "select rs.record_id from record_searches rs where rs.search_id = ? and not exists ("
        " select 1 from record_searches r2 where r2.record_id = rs.record_id"
        " and r2.search_id != rs.search_id) order by rs.record_id", [search_id])]
    out = {"search_id": search_id, "update_id": upd["id"] if upd else None,
           "directions": directions, "seeds": len(items), "resolved": len(resolved),
           "unresolved": unresolved, "backward_works": n_backward, "forward_works": n_forward,
           "works": len(works), "records_added": added, "already_present": present,
           **absorb(review, new, seed=seed), "complete": not warnings, "warnings": warnings,
           "requests": api.client.requests_made,
           "wall_s": round(time.perf_counter() - t0, 3)}
    return out


def describe(out: dict) -> str:
    """Human text for `review snowball`."""
    lines = [f"citation searching ({' and '.join(out['directions'])}) in OpenAlex: "
             f"{out['resolved']} of {out['seeds']} seeds found"]
    if out["unresolved"]:
        lines.append("  not in OpenAlex: " + ", ".join(out["unresolved"]))
    lines.append(f"  {out['backward_works']} referenced works, {out['forward_works']} citing "
                 f"works: {out['works']} in all; added {out['records_added']}, already present "
                 f"{out['already_present']}")
    lines.append(f"  new records: {out['new_records']}; duplicates of stored records: "
                 f"{len(out['duplicates_of_stored'])} "
                 f"({len(out['inherited_decisions'])} inherit a screening decision); to "
                 f"screen: {len(out['queued'])}")
    return "\n".join(lines)
