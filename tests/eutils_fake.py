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

Each article has a publication date and an entrez date (``entrez``; the publication date unless
set): ``datetype=edat`` filters by the entrez date, anything else by the publication date.
``add`` puts more articles into the database (new records appearing for an update);
:func:`article_xml` writes one article from plain fields. The ``term`` is read by a small
query evaluator (:func:`match_term`): ``x[uid]``/``x[pmid]`` (PMID), ``"doi"[aid]``/``[doi]``,
``word[ti]`` (a word of the title), ``"YYYY/MM/DD"[dp] : "YYYY/MM/DD"[dp]`` (publication date
range), AND / OR / NOT and parentheses; any other term matches every article, so free-text
queries retrieve the whole corpus as before.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import re
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from xml.sax.saxutils import escape

from fake_http import misbehave, send, serve, stop

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


def article_xml(pmid: str, title: str, *, abstract: str | None = None, doi: str | None = None,
                date: dt.date = dt.date(2020, 1, 1), journal: str = "Journal of Test Records",
                authors: tuple[tuple[str, str], ...] = ()) -> bytes:
    """One <PubmedArticle> from plain fields (``authors`` as (surname, initials) pairs)."""
    abstract_xml = (f"<Abstract><AbstractText>{escape(abstract)}</AbstractText></Abstract>"
                    if abstract else "")
    authors_xml = "".join(f"<Author><LastName>{escape(s)}</LastName><Initials>{escape(i)}"
                          f"</Initials></Author>" for s, i in authors)
    if authors_xml:
        authors_xml = f"<AuthorList>{authors_xml}</AuthorList>"
    doi_xml = f'<ArticleId IdType="doi">{escape(doi)}</ArticleId>' if doi else ""
    return (f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><Journal>"
            f"<JournalIssue><PubDate><Year>{date.year}</Year><Month>{date.month:02d}</Month>"
            f"<Day>{date.day:02d}</Day></PubDate></JournalIssue><Title>{escape(journal)}</Title>"
            f"</Journal><ArticleTitle>{escape(title)}</ArticleTitle>{abstract_xml}"
            f"{authors_xml}</Article></MedlineCitation><PubmedData><ArticleIdList>"
            f'<ArticleId IdType="pubmed">{pmid}</ArticleId>{doi_xml}</ArticleIdList>'
            f"</PubmedData></PubmedArticle>").encode()


_TOKEN = re.compile(r'\(|\)|"[^"]*"(?:\[\w+\])?|[^\s()]+')


def match_term(term: str, articles: dict[str, dict]) -> set[str]:
    """The PMIDs of ``articles`` ({pmid: {"title", "doi", "date"}}) that ``term`` retrieves
    (see the module docstring for the little query language)."""
    tokens = _TOKEN.findall(term or "")
    everything = set(articles)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def split(tok):
        m = re.fullmatch(r'"?(.*?)"?(?:\[(\w+)\])?', tok)
        return m.group(1), (m.group(2) or "").lower()

    def atom():
        tok = take()
        if tok == "(":
            out = expr()
            if peek() == ")":
                take()
            return out
        value, tag = split(tok)
        if tag == "dp" and peek() == ":":
            take()
            hi, _ = split(take())
            lo_d = _parse_date(value, dt.date(1, 1, 1))
            hi_d = _parse_date(hi, dt.date(9999, 12, 31), end=True)
            return {p for p, a in articles.items() if lo_d <= a["date"] <= hi_d}
        if tag in ("uid", "pmid"):
            return {value} & everything
        if tag in ("aid", "doi"):
            return {p for p, a in articles.items() if (a["doi"] or "") == value.lower()}
        if tag == "ti":
            word = value.lower()
            return {p for p, a in articles.items()
                    if word in re.findall(r"\w+", (a["title"] or "").lower())}
        return set(everything)

    def unary():
        if peek() == "NOT":
            take()
            return everything - unary()
        return atom()

    def conj():
        out = unary()
        while peek() not in (None, ")", "OR"):
            if peek() == "AND":
                take()
            if peek() == "NOT":
                take()
                out -= unary()
            else:
                out &= unary()
        return out

    def expr():
        out = conj()
        while peek() == "OR":
            take()
            out |= conj()
        return out

    return expr() if tokens else set(everything)


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
        self.entrez: dict[str, dt.date] = {}  # entrez dates that differ from the pub date
        self._meta: dict[str, dict] = {}

    def add(self, articles) -> None:
        """Add ``(pmid, publication date, entrez date, xml bytes)`` articles to the database."""
        with self.lock:
            for pmid, pdat, edat, xml in articles:
                self.corpus.append((pmid, pdat, xml))
                self.by_pmid[pmid] = xml
                self.entrez[pmid] = edat
                self._meta.pop(pmid, None)
            self.corpus.sort(key=lambda r: (r[1], r[0]), reverse=True)

    def metadata(self) -> dict[str, dict]:
        """{pmid: {"title", "doi", "date"}} (parsed once per article, for term matching)."""
        for pmid, date, xml in self.corpus:
            if pmid not in self._meta:
                art = ET.fromstring(xml)
                doi = next((e.text for e in art.iter("ArticleId") if e.get("IdType") == "doi"),
                           None)
                self._meta[pmid] = {"title": "".join(art.find(".//ArticleTitle").itertext()),
                                    "doi": (doi or "").lower() or None, "date": date}
        return self._meta

    def take_fault(self, endpoint: str) -> str | None:
        with self.lock:
            for i, (ep, kind) in enumerate(self.faults):
                if ep in (endpoint, "any"):
                    return self.faults.pop(i)[1]
        return None

    def search_ids(self, params: dict) -> list[str]:
        term = params.get("term", "")
        if term == "nothing[ti]":
            return []
        lo = _parse_date(params.get("mindate"), dt.date(1, 1, 1))
        hi = _parse_date(params.get("maxdate"), dt.date(9999, 12, 31), end=True)
        edat = params.get("datetype") == "edat"
        hits = None
        if "[" in term:  # a field-tagged query: evaluate it (free text matches everything)
            hits = match_term(term, self.metadata())
        return [p for p, d, _ in self.corpus
                if lo <= (self.entrez.get(p, d) if edat else d) <= hi
                and (hits is None or p in hits)]

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
                if misbehave(self, fault, fake.hang_seconds):
                    return
                if endpoint == "efetch" and fake.efetch_delay:
                    time.sleep(fake.efetch_delay)
                try:
                    body = fake.esearch(params) if endpoint == "esearch" else fake.efetch(params)
                except KeyError:
                    self.send_response(400)
                    self.end_headers()
                    return
                send(self, 200, body, "text/xml", fault)

            do_GET = _serve
            do_POST = _serve

        self.server, url = serve(Handler)
        return f"{url}/entrez/eutils"

    def stop(self) -> None:
        stop(self.server)
