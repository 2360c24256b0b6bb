"""A fake NCBI E-utilities server for tests (127.0.0.1 only).

It serves esearch/efetch over a corpus built from the real PubMed samples in tests/data/formats
(each sample article replicated with new PMIDs and publication dates), keeps a history server
(WebEnv/query_key), filters by publication date as PubMed does (a partial maxdate such as
"2009" or "2009/06" is the end of that year or month, a partial mindate its start), and
misbehaves on request: ``faults`` is a list of ``(endpoint, kind)`` consumed one per matching
request, kind in 429 | 500 | 503 | hang | truncate | reset; ``efetch_delay`` slows every efetch
answer; ``count_bonus`` is a list of numbers added, one per answer, to the Count of the next
esearch answers (a Count the ids do not bear out). ``log`` records (time, endpoint, params) per
request.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).parent / "data" / "formats"
TEMPLATES = ("pubmed_efetch_biopython_pubmed4.xml", "pubmed_efetch_biopython_pubmed1.xml",
             "pubmed_efetch_asreview_10articles.xml")


def _template_articles() -> list[ET.Element]:
    out = []
    for name in TEMPLATES:
        root = ET.parse(DATA / name).getroot()
        out.extend(root.findall("PubmedArticle"))
    return out


def build_corpus(n: int, start: dt.date = dt.date(2000, 1, 1), days: int = 7300,
                 first_pmid: int = 40_000_000) -> list[tuple[str, dt.date, bytes]]:
    """``n`` articles (pmid, publication date, XML bytes) spread evenly over ``days`` days."""
    # Each template is serialised once with placeholders for its PMID and publication date;
    # articles are made by replacing them (copying element trees per article is slow).
    templates = []
    for art in _template_articles():
        art = copy.deepcopy(art)
        art.find("MedlineCitation/PMID").text = "@PMID@"
        for aid in art.findall("PubmedData/ArticleIdList/ArticleId"):
            if aid.get("IdType") == "pubmed":
                aid.text = "@PMID@"
        pub = art.find("MedlineCitation/Article/Journal/JournalIssue/PubDate")
        for child in list(pub):
            pub.remove(child)
        for tag in ("Year", "Month", "Day"):
            ET.SubElement(pub, tag).text = f"@{tag}@"
        templates.append(ET.tostring(art))
    corpus = []
    for i in range(n):
        pmid = str(first_pmid + i)
        date = start + dt.timedelta(days=(i * days) // max(n, 1))
        xml = (templates[i % len(templates)].replace(b"@PMID@", pmid.encode())
               .replace(b"@Year@", str(date.year).encode())
               .replace(b"@Month@", f"{date.month:02d}".encode())
               .replace(b"@Day@", f"{date.day:02d}".encode()))
        corpus.append((pmid, date, xml))
    return corpus


def _parse_date(s: str | None, default: dt.date, *, end: bool = False) -> dt.date:
    """A mindate/maxdate as PubMed reads it (YYYY, YYYY/MM or YYYY/MM/DD): a partial date is
    the first day of its year or month as a start and the last day of it as an end (``end``):
    ``maxdate=2009`` includes all of 2009, ``maxdate=2009/06`` all of June."""
    if not s:
        return default
    parts = [int(x) for x in s.replace("-", "/").split("/")]
    if len(parts) == 1:
        parts += [12, 31] if end else [1, 1]
    elif len(parts) == 2:
        parts.append(calendar.monthrange(parts[0], parts[1])[1] if end else 1)
    return dt.date(*parts)


class FakeEutils:
    def __init__(self, n_records: int = 1200, hang_seconds: float = 4.0, **corpus_kw):
        self.corpus = build_corpus(n_records, **corpus_kw)
        # PubMed sorts search results most recent first.
        self.corpus.sort(key=lambda r: (r[1], r[0]), reverse=True)
        self.by_pmid = {p: x for p, _, x in self.corpus}
        self.faults: list[tuple[str, str]] = []
        self.log: list[tuple[float, str, dict]] = []
        self.history: dict[str, list[str]] = {}
        self.hang_seconds = hang_seconds
        self.lock = threading.Lock()
        self.max_retmax = 10_000
        self.efetch_delay = 0.0  # seconds each efetch answer waits (a slow server)
        self.count_bonus: list[int] = []  # added to the Count of the next esearch answers

    def take_fault(self, endpoint: str) -> str | None:
        with self.lock:
            for i, (ep, kind) in enumerate(self.faults):
                if ep in (endpoint, "any"):
                    return self.faults.pop(i)[1]
        return None

    def search_ids(self, params: dict) -> list[str]:
        if params.get("term") == "nothing[ti]":
            return []
        lo = _parse_date(params.get("mindate"), dt.date(1, 1, 1))
        hi = _parse_date(params.get("maxdate"), dt.date(9999, 12, 31), end=True)
        return [p for p, d, _ in self.corpus if lo <= d <= hi]

    def esearch(self, params: dict) -> bytes:
        ids = self.search_ids(params)
        retstart = int(params.get("retstart", 0))
        retmax = min(int(params.get("retmax", 20)), self.max_retmax)
        if retstart + retmax > 10_000 and retmax > 0:  # PubMed's esearch paging limit
            shown = []
        else:
            shown = ids[retstart:retstart + retmax]
        extra = ""
        if params.get("usehistory") == "y":
            with self.lock:
                webenv = f"MCID_FAKE_{len(self.history) + 1}"
                self.history[webenv] = ids
            extra = f"<QueryKey>1</QueryKey><WebEnv>{webenv}</WebEnv>"
        with self.lock:
            count = len(ids) + (self.count_bonus.pop(0) if self.count_bonus else 0)
        idlist = "".join(f"<Id>{i}</Id>" for i in shown)
        return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<eSearchResult><Count>{count}'
                f"</Count><RetMax>{len(shown)}</RetMax><RetStart>{retstart}</RetStart>{extra}"
                f"<IdList>{idlist}</IdList><QueryTranslation>{params.get('term', '')}"
                f"[All Fields]</QueryTranslation></eSearchResult>").encode()

    def efetch(self, params: dict) -> bytes:
        if params.get("id"):
            ids = [i for i in params["id"].split(",") if i in self.by_pmid]
        else:
            ids = self.history[params["WebEnv"]]
            start = int(params.get("retstart", 0))
            ids = ids[start:start + int(params.get("retmax", 20))]
        body = b"".join(self.by_pmid[i] for i in ids if i in self.by_pmid)
        return (b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet>\n<PubmedArticleSet>'
                + body + b"</PubmedArticleSet>")

    # -- serving ----------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _params(self) -> dict:
                q = urllib.parse.urlsplit(self.path).query
                if self.command == "POST":
                    n = int(self.headers.get("Content-Length") or 0)
                    q = self.rfile.read(n).decode()
                return {k: v[-1] for k, v in urllib.parse.parse_qs(q).items()}

            def _serve(self):
                endpoint = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
                endpoint = endpoint.replace(".fcgi", "")
                params = self._params()
                fake.log.append((time.monotonic(), endpoint, params))
                fault = fake.take_fault(endpoint)
                if fault in ("429", "500", "503"):
                    self.send_response(int(fault))
                    if fault == "429":
                        self.send_header("Retry-After", "0.2")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault == "hang":
                    time.sleep(fake.hang_seconds)
                    return
                if fault == "reset":
                    self.connection.close()
                    return
                if endpoint == "efetch" and fake.efetch_delay:
                    time.sleep(fake.efetch_delay)
                try:
                    body = fake.esearch(params) if endpoint == "esearch" else fake.efetch(params)
                except KeyError:
                    self.send_response(400)
                    self.end_headers()
                    return
                if fault == "truncate":
                    body = body[: len(body) // 2]
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _serve
            do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        host, port = self.server.server_address
        return f"http://{host}:{port}/entrez/eutils"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
