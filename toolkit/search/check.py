"""`review search check`: does a PubMed query retrieve the studies it should? A check before
screening; nothing is written to the store.

Method (PubMed's E-utilities, as the search itself would run):
1. The query's Count (esearch, with the same publication-date limits).
2. Known studies given by DOI only are looked up in PubMed: one esearch for
   ``"doi1"[aid] OR "doi2"[aid] ...`` (``[aid]``, Article Identifier, holds the DOI), then the
   PMIDs found are fetched (efetch) and each DOI is matched to the PMID whose record carries
   exactly that DOI (case-insensitively), so a DOI that merely shares a prefix cannot match.
3. Which known PMIDs exist in PubMed: esearch ``p1[uid] OR p2[uid] ...``.
4. Which the query retrieves: esearch ``(QUERY) AND (p1[uid] OR ...)`` with the query's date
   limits; its id list is exactly the known studies the query finds, however many records the
   query retrieves in all (no paging through a large result).
5. Titles of the missed studies (efetch), so the reviewer can see what the query lacks.
Recall = retrieved / known studies that are in PubMed (a study PubMed does not hold cannot be
retrieved by any PubMed query: listed apart as ``not_in_pubmed``). Its 95 % confidence interval
is the exact Clopper-Pearson interval (scipy's ``binomtest(...).proportion_ci(method="exact")``,
R's ``binom.test``): it never covers less than its level, which suits a check whose question is
"is recall high enough", and stays defined at 100 % recall. Identifiers are sent in groups of
200 (POST, so no URL length limit).
"""

from __future__ import annotations

import os
import time

from scipy.stats import binomtest

from ..errors import ReviewError
from ..records import normalise_doi
from .eutils import EutilsClient
from .identifiers import Item, read_identifiers
from .pubmed import PubMedSearch

GROUP = 200
CONFIDENCE = 0.95


def recall_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The exact (Clopper-Pearson) confidence interval of a proportion ``k`` of ``n``."""
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


class _PubMed:
    """The few E-utilities calls the check makes."""

    def __init__(self, client: EutilsClient):
        self.search = PubMedSearch(None, client)

    def ids(self, term: str, mindate=None, maxdate=None) -> list[str]:
        return self.search.esearch(term, mindate, maxdate, retmax=10_000)["ids"]

    def fetch(self, pmids: list[str]) -> list[dict]:
        out: list[dict] = []
        for k in range(0, len(pmids), GROUP):
            out += self.search.efetch({"id": ",".join(pmids[k:k + GROUP])})
        return out


def _groups(values: list[str]):
    for k in range(0, len(values), GROUP):
        yield values[k:k + GROUP]


def _quote(doi: str) -> str:
    return '"' + doi.replace('"', "") + '"'


def check_search(query: str, known: list[Item] | str, *, mindate: str | None = None,
                 maxdate: str | None = None, email: str | None = None,
                 api_key: str | None = None, client: EutilsClient | None = None,
                 confidence: float = CONFIDENCE, on_retry=None) -> dict:
    """Which ``known`` studies (items, or the path of an identifier list) ``query`` retrieves
    from PubMed; returns the summary `review search check --json` prints."""
    t0 = time.perf_counter()
    if not query or not query.strip():
        raise ReviewError("give a QUERY to check")
    items = read_identifiers(known) if isinstance(known, (str, os.PathLike)) else list(known)
    client = client or EutilsClient(api_key=api_key, email=email, on_retry=on_retry)
    pubmed = _PubMed(client)
    first = pubmed.search.esearch(query, mindate, maxdate)
    # 2. DOIs to PMIDs (items without a PMID)
    by_doi = {i.doi: i for i in items if not i.pmid and i.doi}
    pmid_of: dict[Item, str] = {i: i.pmid for i in items if i.pmid}
    if by_doi:
        found: list[str] = []
        for group in _groups(list(by_doi)):
            found += pubmed.ids(" OR ".join(f"{_quote(d)}[aid]" for d in group))
        for art in pubmed.fetch(sorted(set(found))):
            doi = normalise_doi(art.get("doi"))
            if doi in by_doi and by_doi[doi] not in pmid_of:
                pmid_of[by_doi[doi]] = art["pmid"]
    # 3. which PMIDs PubMed holds; 4. which the query retrieves
    wanted = sorted(set(pmid_of.values()), key=int)
    exists, hits = set(), set()
    for group in _groups(wanted):
        ors = " OR ".join(f"{p}[uid]" for p in group)
        exists |= set(pubmed.ids(ors))
        hits |= set(pubmed.ids(f"({query}) AND ({ors})", mindate, maxdate))
    if not hits <= exists:  # PubMed cannot retrieve what it does not hold
        raise ReviewError("PubMed's answers disagree: the query retrieved PMIDs that the "
                             "look-up of the same PMIDs did not find; run the check again")
    retrieved, missed, absent = [], [], []
    for item in items:
        p = pmid_of.get(item)
        entry = {"id": item.label, "line": item.line, "pmid": p, "doi": item.doi}
        if p is None or p not in exists:
            absent.append(entry)
        elif p in hits:
            retrieved.append(entry)
        else:
            missed.append(entry)
    # 5. titles of what was missed
    if missed:
        arts = {a["pmid"]: a for a in pubmed.fetch([m["pmid"] for m in missed])}
        for m in missed:
            a = arts.get(m["pmid"], {})
            m.update(title=a.get("title"), year=a.get("year"))
    n, k = len(retrieved) + len(missed), len(retrieved)
    low, high = recall_interval(k, n, confidence) if n else (None, None)
    return {
        "query": query, "query_translation": first["translation"], "mindate": mindate,
        "maxdate": maxdate, "count": first["count"], "known": len(items), "in_pubmed": n,
        "n_retrieved": k, "n_missed": len(missed), "n_not_in_pubmed": len(absent),
        "recall": round(k / n, 6) if n else None,
        "recall_ci": [round(low, 6), round(high, 6)] if n else None,
        "ci_method": f"Clopper-Pearson exact, {confidence:.0%}",
        "retrieved": retrieved, "missed": missed, "not_in_pubmed": absent,
        "requests": client.requests_made, "wall_s": round(time.perf_counter() - t0, 3),
    }


def describe(out: dict) -> str:
    """Human text for `review search check`."""
    lines = [f"PubMed: {out['query']}", f"  count {out['count']}"]
    if out["recall"] is None:
        lines.append(f"  none of the {out['known']} known studies is in PubMed")
    else:
        lo, hi = out["recall_ci"]
        lines.append(f"  retrieves {out['n_retrieved']} of {out['in_pubmed']} known studies in "
                     f"PubMed: recall {out['recall']:.1%} (95% CI {lo:.1%} to {hi:.1%}, "
                     f"{out['ci_method'].split(',')[0]})")
    for m in out["missed"]:
        lines.append(f"  missed: {m['id']} (PMID {m['pmid']}, line {m['line']}): "
                     f"{m.get('title') or ''} {('(' + str(m['year']) + ')') if m.get('year') else ''}"
                     .rstrip())
    for a in out["not_in_pubmed"]:
        lines.append(f"  not in PubMed: {a['id']} (line {a['line']})")
    return "\n".join(lines)
