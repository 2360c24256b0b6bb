"""`review search pubmed QUERY`: esearch with the history server, efetch in batches.

How a search runs (and resumes):
1. esearch (retmax=0) gives the Count. PubMed's esearch cannot page past 10,000 ids, so when
   Count > 10,000 the publication-date range is bisected until every part has <= 10,000.
2. Per part, esearch with ``usehistory=y`` returns WebEnv/query_key and the part's ids (stored in
   ``search_ids``, so the search knows exactly which PMIDs it must end with).
3. efetch in batches through WebEnv/query_key; each batch is parsed completely (a truncated or
   invalid batch is fetched again, never half-saved) and saved with the search's progress in one
   transaction.
4. Ids still missing (e.g. the history server changed order after a resume) are fetched by id.
5. The search is ``complete`` only if the records retrieved are exactly the first Count (and the
   date parts' counts add up to it); otherwise it is ``incomplete`` and ``warnings`` says why.
``--resume`` continues the latest unfinished search from its saved state; since records are
unique per (source, PMID), the result is exactly what a clean run gives.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import json
import time
import xml.etree.ElementTree as ET
from typing import Callable

from ..errors import ReviewError
from ..importing import save_records
from ..records import make_record
from ..sources.pubmed_xml import parse_bytes
from ..store import Review, now_iso
from .eutils import EutilsClient, TransientError

ESEARCH_MAX = 10_000
OPEN_START = "1800/01/01"
OPEN_END = "3000/12/31"


def _parse_esearch(body: bytes) -> dict:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise TransientError(f"invalid esearch XML ({exc})") from None
    if root.tag != "eSearchResult":
        raise TransientError(f"unexpected esearch root <{root.tag}>")
    err = root.find("ERROR")
    if err is not None and err.text:
        raise ReviewError(f"PubMed esearch error: {err.text}")
    count = root.findtext("Count")
    if count is None:
        raise TransientError("esearch answer without Count")
    return {
        "count": int(count),
        "webenv": root.findtext("WebEnv"),
        "query_key": root.findtext("QueryKey"),
        "ids": [e.text for e in root.findall("IdList/Id") if e.text],
        "translation": root.findtext("QueryTranslation"),
    }


def _date(s: str, *, end: bool = False) -> _dt.date:
    """A date limit as PubMed reads it: YYYY, YYYY/MM or YYYY/MM/DD ('-' also accepted). A
    partial date is the first day of its year or month as a start (``end=False``) and the last
    day of it as an end: PubMed's ``maxdate=2009`` includes all of 2009."""
    try:
        parts = [int(x) for x in s.strip().replace("-", "/").split("/")]
        if not 1 <= len(parts) <= 3:
            raise ValueError
        if len(parts) == 1:
            parts += [12, 31] if end else [1, 1]
        elif len(parts) == 2:
            parts.append(calendar.monthrange(parts[0], parts[1])[1] if end else 1)
        return _dt.date(*parts)
    except ValueError:
        raise ReviewError(f"bad date {s!r}: use YYYY, YYYY/MM or YYYY/MM/DD") from None


def _fmt(d: _dt.date) -> str:
    return f"{d.year:04d}/{d.month:02d}/{d.day:02d}"


class PubMedSearch:
    """One PubMed search run against the store (see module docstring)."""

    def __init__(self, review: Review, client: EutilsClient, progress: Callable | None = None):
        self.review = review
        self.client = client
        self.progress = progress or (lambda **kw: None)

    # -- E-utilities calls ----------------------------------------------------------------
    def esearch(self, query: str, mindate: str | None, maxdate: str | None, *,
                retmax: int = 0, history: bool = False) -> dict:
        params = {"db": "pubmed", "term": query, "retmax": retmax, "retmode": "xml"}
        if mindate or maxdate:
            params.update(datetype="pdat", mindate=mindate or OPEN_START,
                          maxdate=maxdate or OPEN_END)
        if history:
            params["usehistory"] = "y"
        result = {}

        def validate(body):
            result.update(_parse_esearch(body))

        self.client.get("esearch.fcgi", params, validate=validate, post=True)
        return result

    def efetch(self, params: dict) -> list[dict]:
        articles: list[dict] = []

        def validate(body):
            try:
                articles[:] = parse_bytes(body, "efetch batch")
            except ReviewError as exc:  # truncated or invalid XML: fetch this batch again
                raise TransientError(str(exc)) from None

        self.client.get("efetch.fcgi", {"db": "pubmed", "retmode": "xml", **params},
                        validate=validate, post=True)
        return articles

    # -- planning ---------------------------------------------------------------------------
    def plan_parts(self, query: str, mindate: str | None, maxdate: str | None,
                   total: int) -> list[dict]:
        """Date ranges covering [mindate, maxdate] with <= 10,000 records each.

        A partial ``maxdate`` ("2009", "2009/06") is the end of that year or month and a partial
        ``mindate`` its start, as PubMed reads them (the first esearch sent them as given)."""
        if total <= ESEARCH_MAX:
            return [{"mindate": mindate, "maxdate": maxdate, "count": total}]
        lo = _date(mindate or OPEN_START)
        hi = _date(maxdate or OPEN_END, end=True)
        parts: list[dict] = []
        stack = [(lo, hi)]
        while stack:
            a, b = stack.pop()
            n = self.esearch(query, _fmt(a), _fmt(b))["count"]
            if n == 0:
                continue
            if n <= ESEARCH_MAX:
                parts.append({"mindate": _fmt(a), "maxdate": _fmt(b), "count": n})
                continue
            if a >= b:
                raise ReviewError(f"more than {ESEARCH_MAX} records on the single publication "
                                  f"date {_fmt(a)}; narrow the query")
            mid = a + (b - a) // 2
            stack.append((mid + _dt.timedelta(days=1), b))  # popped second: keeps date order
            stack.append((a, mid))
        return parts

    # -- the run ----------------------------------------------------------------------------
    def start(self, query: str, mindate=None, maxdate=None, batch_size: int = 500) -> int:
        for limit in (mindate, maxdate):  # a bad date fails here, before anything is stored
            if limit:
                _date(limit)
        first = self.esearch(query, mindate, maxdate)
        state = {"query": query, "mindate": mindate, "maxdate": maxdate,
                 "batch_size": batch_size, "parts": None}
        with self.review.atomic():
            search_id = self.review.db["searches"].insert({
                "kind": "search", "database": "PubMed", "query": query,
                "query_translation": first["translation"], "run_at": now_iso(),
                "mindate": mindate, "maxdate": maxdate, "count_reported": first["count"],
                "count_retrieved": 0, "file_name": None, "file_sha256": None, "format": None,
                "status": "running", "state": json.dumps(state),
            }).last_pk
            self.review.log("search-start", {"search_id": search_id, "query": query,
                                             "count": first["count"], "mindate": mindate,
                                             "maxdate": maxdate})
        return search_id

    def run(self, search_id: int) -> dict:
        db = self.review.db
        row = db["searches"].get(search_id)
        state = json.loads(row["state"])
        query, batch = state["query"], int(state["batch_size"])
        added = present = 0
        if state["parts"] is None:
            parts = self.plan_parts(query, state["mindate"], state["maxdate"],
                                    row["count_reported"])
            for p in parts:
                p.update(fetched=0, ids_saved=False)
            state["parts"] = parts
            planned = sum(p["count"] for p in parts)
            if planned != row["count_reported"]:
                # the date parts do not cover what the first esearch counted (or PubMed
                # changed in between): the run cannot be complete, and must say so
                state.setdefault("warnings", []).append(
                    f"the {len(parts)} date part(s) hold {planned} records but PubMed's Count "
                    f"for the whole search is {row['count_reported']}")
            self._save_state(search_id, state)
        for i, part in enumerate(state["parts"]):
            if part["fetched"] >= part["count"] and part["ids_saved"]:
                continue
            # A fresh history entry for this part (WebEnv expires; a resume needs a new one).
            hist = self.esearch(query, part["mindate"], part["maxdate"],
                                retmax=ESEARCH_MAX, history=True)
            with self.review.atomic():
                if not part["ids_saved"]:
                    db.conn.executemany(
                        "insert or ignore into search_ids (search_id, part, position, source_id) "
                        "values (?, ?, ?, ?)",
                        [(search_id, i, k, pmid) for k, pmid in enumerate(hist["ids"])])
                    part["ids_saved"] = True
                if hist["count"] != part["count"]:
                    part["count"] = hist["count"]  # the database changed since planning
                self._save_state(search_id, state)
            while part["fetched"] < part["count"]:
                arts = self.efetch({"WebEnv": hist["webenv"], "query_key": hist["query_key"],
                                    "retstart": part["fetched"], "retmax": batch})
                with self.review.atomic():
                    a, p = self._save_batch(search_id, arts)
                    added += a
                    present += p
                    # retstart counts positions in the history list, whatever came back for them
                    part["fetched"] = min(part["count"], part["fetched"] + batch)
                    self._save_state(search_id, state)
                self.progress(done=self._linked(search_id), total=row["count_reported"])
        # Fill gaps: expected ids not yet linked to this search.
        missing = self.missing_ids(search_id)
        for k in range(0, len(missing), batch):
            arts = self.efetch({"id": ",".join(missing[k:k + batch])})
            with self.review.atomic():
                a, p = self._save_batch(search_id, arts)
                added += a
                present += p
        missing = self.missing_ids(search_id)
        retrieved = self._linked(search_id)
        warnings = list(state.get("warnings", []))
        if retrieved != row["count_reported"]:
            warnings.append(f"retrieved {retrieved} of {row['count_reported']} records "
                            f"(PubMed's Count); the search is incomplete")
        if missing:
            warnings.append(f"{len(missing)} PMID(s) listed by esearch could not be fetched: "
                            + ", ".join(missing[:50]) + (" ..." if len(missing) > 50 else ""))
        complete = not warnings
        with self.review.atomic():
            db["searches"].update(search_id, {
                "count_retrieved": retrieved,
                "status": "complete" if complete else "incomplete"})
            self.review.log("search-complete", {"search_id": search_id, "retrieved": retrieved,
                                                "added": added, "missing": missing[:1000],
                                                "status": "complete" if complete
                                                else "incomplete", "warnings": warnings})
        return {"search_id": search_id, "query": query,
                "query_translation": row["query_translation"],
                "count": row["count_reported"], "retrieved": retrieved, "added": added,
                "already_present": present, "parts": len(state["parts"]),
                "missing_pmids": missing, "complete": complete, "warnings": warnings,
                "requests": self.client.requests_made}

    # -- helpers ----------------------------------------------------------------------------
    def _save_batch(self, search_id: int, articles: list[dict]) -> tuple[int, int]:
        start = self.review.db.execute(
            "select count(*) from record_searches where search_id = ?", [search_id]).fetchone()[0]
        rows = [make_record(a, source="PubMed") for a in articles]
        return save_records(self.review, search_id, rows, start_position=start)

    def _save_state(self, search_id: int, state: dict) -> None:
        self.review.db["searches"].update(search_id, {"state": json.dumps(state)})

    def _linked(self, search_id: int) -> int:
        return self.review.db.execute(
            "select count(*) from record_searches where search_id = ?", [search_id]).fetchone()[0]

    def missing_ids(self, search_id: int) -> list[str]:
        return [r[0] for r in self.review.db.execute(
            "select si.source_id from search_ids si where si.search_id = ? and not exists ("
            " select 1 from record_searches rs join records r on r.id = rs.record_id"
            " where rs.search_id = si.search_id and r.source = 'PubMed'"
            " and r.source_id = si.source_id) order by si.part, si.position", [search_id])]


def mark_interrupted(review: Review, search_id: int, why: str) -> None:
    """Record that a search stopped before its end (an error, Ctrl-C): status `interrupted`,
    so `review status` does not show it running and `--resume` continues it."""
    with review.atomic():
        review.db["searches"].update(search_id, {"status": "interrupted"})
        review.log("search-interrupted", {"search_id": search_id, "why": why})


def latest_unfinished(review: Review) -> int:
    rows = list(review.db.query(
        "select id from searches where kind = 'search' and database = 'PubMed' "
        "and status != 'complete' order by id desc limit 1"))
    if not rows:
        raise ReviewError("no unfinished PubMed search to resume")
    return rows[0]["id"]


def search_pubmed(review: Review, query: str | None = None, *, mindate=None, maxdate=None,
                  batch_size: int = 500, email=None, api_key=None, resume: bool = False,
                  client: EutilsClient | None = None, progress=None, on_retry=None) -> dict:
    """Run (or ``resume``) a PubMed search into the store; returns the `--json` summary.

    ``on_retry(message)`` hears of each retry of a request. A search that stops before its end
    is saved as `interrupted` and the error says how to continue it."""
    t0 = time.perf_counter()
    if batch_size < 1 or batch_size > 10_000:
        raise ReviewError("--batch-size must be between 1 and 10000")
    client = client or EutilsClient(api_key=api_key, email=email, on_retry=on_retry)
    runner = PubMedSearch(review, client, progress)
    if resume:
        search_id = latest_unfinished(review)
        if query and review.db["searches"].get(search_id)["query"] != query:
            raise ReviewError(f"the unfinished search #{search_id} has another query; "
                              f"run `review search pubmed --resume` without QUERY")
    else:
        if not query:
            raise ReviewError("give a QUERY (or --resume)")
        search_id = runner.start(query, mindate, maxdate, batch_size)
    try:
        out = runner.run(search_id)
    except ReviewError as exc:
        mark_interrupted(review, search_id, str(exc))
        raise ReviewError(f"{exc}; the search (#{search_id}) is saved as interrupted: "
                          "`review search pubmed --resume` continues it") from None
    except BaseException as exc:  # Ctrl-C, or a bug: what was saved stays, and resumable
        mark_interrupted(review, search_id, type(exc).__name__)
        raise
    out["wall_s"] = round(time.perf_counter() - t0, 3)
    return out
