"""A fake OpenAlex API for tests (127.0.0.1 only).

It serves ``/works/{W id | doi:... | pmid:...}``, ``/works?filter=openalex:W1|W2`` and
``/works?filter=cites:W1`` with cursor paging (``cursor=*``, then opaque ``next_cursor``s,
``per_page``) over the works given to it (:func:`make_work`), and misbehaves on request:
``faults`` is a list of kinds consumed one per request — 429 (with Retry-After: 0.2) | 500 |
503 | truncate (the JSON cut in half) | hang | reset (connection closed without an answer) |
repeat_cursor (a page whose next_cursor is the one just used). ``count_bonus`` is added to
``meta.count`` of citing lists (a count the pages do not bear out). ``log`` records
(time, path, params) per request.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from fake_http import misbehave, send, serve, stop


def make_work(n: int, title: str, *, abstract: str | None = None, doi: str | None = None,
              pmid: str | None = None, refs: tuple[int, ...] = (), year: int = 2015,
              authors: tuple[str, ...] = ("Ada Lovelace",), journal: str = "Test Journal"
              ) -> dict:
    """An OpenAlex work W{n} (OpenAlex's JSON shape; ``refs`` are the works it cites)."""
    words = (abstract or "").split()
    inverted: dict[str, list[int]] = {}
    for k, w in enumerate(words):
        inverted.setdefault(w, []).append(k)
    ids = {"openalex": f"https://openalex.org/W{n}"}
    if doi:
        ids["doi"] = f"https://doi.org/{doi}"
    if pmid:
        ids["pmid"] = f"https://pubmed.ncbi.nlm.nih.gov/{pmid}"
    return {
        "id": f"https://openalex.org/W{n}", "doi": ids.get("doi"), "ids": ids,
        "title": title, "display_name": title, "publication_year": year,
        "publication_date": f"{year}-01-01", "type": "article", "language": "en",
        "primary_location": {"source": {"display_name": journal}},
        "authorships": [{"author": {"display_name": a}} for a in authors],
        "biblio": {"volume": str(n % 40 + 1), "issue": "2", "first_page": str(n),
                   "last_page": str(n + 9)},
        "abstract_inverted_index": inverted or None,
        "referenced_works": [f"https://openalex.org/W{r}" for r in refs],
        "cited_by_count": 0, "related_works": ["https://openalex.org/W1"],
    }


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    if cursor == "*":
        return 0
    return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1])


class FakeOpenAlex:
    def __init__(self, works: list[dict], hang_seconds: float = 4.0):
        self.works = {w["id"].rsplit("/", 1)[1]: w for w in works}
        self.faults: list[str] = []
        self.log: list[tuple[float, str, dict]] = []
        self.lock = threading.Lock()
        self.hang_seconds = hang_seconds
        self.count_bonus = 0
        self.max_ids = 50  # OpenAlex's limit of values OR-ed in one filter

    def by_key(self, key: str) -> dict | None:
        if key.startswith("doi:"):
            doi = key[4:].lower()
            return next((w for w in self.works.values()
                         if (w["doi"] or "").lower().endswith("/" + doi) or
                         (w["doi"] or "").lower() == "https://doi.org/" + doi), None)
        if key.startswith("pmid:"):
            return next((w for w in self.works.values()
                         if w["ids"].get("pmid", "").rsplit("/", 1)[-1] == key[5:]), None)
        return self.works.get(key.upper())

    def citing(self, wid: str) -> list[dict]:
        url = f"https://openalex.org/{wid}"
        return sorted((w for w in self.works.values() if url in w["referenced_works"]),
                      key=lambda w: int(w["id"].rsplit("W", 1)[1]))

    def answer(self, path: str, params: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/", 1)
        if parts[0] != "works":
            return 404, {"error": "not found"}
        if len(parts) == 2:
            work = self.by_key(urllib.parse.unquote(parts[1]))
            return (200, work) if work else (404, {"error": "Work not found"})
        flt = params.get("filter", "")
        per_page = int(params.get("per_page", 25))
        if per_page > 200:
            return 400, {"error": "per_page too large"}
        if flt.startswith("openalex:"):
            ids = flt[len("openalex:"):].split("|")
            if len(ids) > self.max_ids:
                return 400, {"error": f"at most {self.max_ids} values per filter"}
            found = [self.works[i] for i in ids if i in self.works]
            return 200, {"meta": {"count": len(found), "per_page": per_page},
                         "results": found[:per_page]}
        if flt.startswith("cites:"):
            citing = self.citing(flt[len("cites:"):])
            if "cursor" not in params:
                return 200, {"meta": {"count": len(citing)}, "results": citing[:per_page]}
            start = _offset(params["cursor"])
            page = citing[start:start + per_page]
            nxt = _cursor(start + per_page) if page else None
            return 200, {"meta": {"count": len(citing) + self.count_bonus,
                                  "per_page": per_page, "next_cursor": nxt},
                         "results": page}
        return 400, {"error": f"unknown filter {flt!r}"}

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
                fake.log.append((time.monotonic(), url.path, params))
                with fake.lock:
                    fault = fake.faults.pop(0) if fake.faults else None
                if misbehave(self, fault, fake.hang_seconds):
                    return
                status, data = fake.answer(url.path, params)
                if fault == "repeat_cursor" and data.get("meta", {}).get("next_cursor"):
                    data["meta"]["next_cursor"] = params.get("cursor")
                send(self, status, json.dumps(data).encode(), "application/json", fault)

        self.server, url = serve(Handler)
        return url

    def stop(self) -> None:
        stop(self.server)
