"""The OpenAlex API (https://api.openalex.org): works by DOI, PMID or OpenAlex id, the works a
work cites (``referenced_works``) and the works that cite it (``filter=cites:W...``).

- One work: ``GET /works/doi:10.x/y``, ``/works/pmid:123`` or ``/works/W123`` (free of credit);
  HTTP 404 means OpenAlex does not know it.
- Many works: ``GET /works?filter=openalex:W1|W2|...`` with at most 50 ids per request.
- Citing works: ``GET /works?filter=cites:W1`` with cursor paging (``cursor=*``, then
  ``meta.next_cursor`` until it is null or a page is empty), ``per_page=100``.
Every request carries ``mailto`` (OpenAlex's polite pool) when an e-mail is given, and
``api_key`` when one is (OpenAlex asks for a free key since 2026; without one the daily
allowance is small). The base URL is OpenAlex's unless ``REVIEW_OPENALEX_URL`` overrides it;
HTTP behaviour (retries, fail-fast without network) is :class:`~toolkit.search.http.PoliteClient`'s.
"""

from __future__ import annotations

import json
import os
import re

from .http import PoliteClient, TransientError

OPENALEX_BASE = "https://api.openalex.org"
IDS_PER_REQUEST = 50
PER_PAGE = 100
# The fields read from a work (``select``): less to transfer, and what is stored as its raw record.
FIELDS = ("id", "doi", "ids", "title", "display_name", "publication_year", "publication_date",
          "type", "language", "primary_location", "authorships", "biblio",
          "abstract_inverted_index", "referenced_works", "cited_by_count")
_WORK_ID = re.compile(r"(?:https?://openalex\.org/)?(W\d+)$", re.I)


def base_url() -> str:
    return os.environ.get("REVIEW_OPENALEX_URL", OPENALEX_BASE).rstrip("/")


def work_id(value: str | None) -> str | None:
    """"https://openalex.org/W123" or "W123" -> "W123"; None if it is not a work id."""
    m = _WORK_ID.search((value or "").strip())
    return m.group(1).upper() if m else None


def _json(body: bytes, *, listing: bool) -> dict:
    """The parsed answer; a truncated or malformed one raises :class:`TransientError`
    (fetched again)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TransientError(f"invalid JSON from OpenAlex ({exc})") from None
    if not isinstance(data, dict):
        raise TransientError("OpenAlex answered JSON that is not an object")
    if listing and not (isinstance(data.get("results"), list)
                        and isinstance(data.get("meta"), dict)):
        raise TransientError("OpenAlex list answer without results/meta")
    if not listing and not work_id(data.get("id")):
        raise TransientError("OpenAlex work answer without an id")
    return data


class OpenAlex:
    """Read works from OpenAlex (see the module docstring)."""

    def __init__(self, email: str | None = None, api_key: str | None = None,
                 client: PoliteClient | None = None, on_retry=None):
        params = {"mailto": email or None, "api_key": api_key or None}
        self.client = client or PoliteClient(base_url(), "OpenAlex", "REVIEW_OPENALEX",
                                             min_interval=0.1)
        self.client.on_retry = self.client.on_retry or on_retry
        self.client.default_params.update({k: v for k, v in params.items() if v})
        self.warnings: list[str] = []

    def _get(self, path: str, params: dict | None = None, *, listing: bool,
             missing_ok: bool = False) -> dict | None:
        data: dict = {}

        def validate(body):
            data.update(_json(body, listing=listing))

        body = self.client.get(path, params, validate=validate, missing_ok=missing_ok)
        return None if body is None else data

    def work(self, ref: str) -> dict | None:
        """One work by ``doi:10.x/y``, ``pmid:123`` or ``W123``; None if OpenAlex lacks it."""
        return self._get(f"works/{ref}", {"select": ",".join(FIELDS)}, listing=False,
                         missing_ok=True)

    def works(self, ids: list[str]) -> list[dict]:
        """The works with these OpenAlex ids (those OpenAlex still has), in batches."""
        out = []
        for k in range(0, len(ids), IDS_PER_REQUEST):
            chunk = ids[k:k + IDS_PER_REQUEST]
            data = self._get("works", {"filter": "openalex:" + "|".join(chunk),
                                       "per_page": IDS_PER_REQUEST,
                                       "select": ",".join(FIELDS)}, listing=True)
            out.extend(data["results"])
        return out

    def citing(self, wid: str) -> tuple[list[dict], int]:
        """Every work that cites ``wid`` (cursor paging) and the count OpenAlex reported."""
        works: dict[str, dict] = {}
        cursor, seen, count = "*", set(), 0
        while cursor:
            data = self._get("works", {"filter": f"cites:{wid}", "per_page": PER_PAGE,
                                       "cursor": cursor, "select": ",".join(FIELDS)},
                             listing=True)
            count = int(data["meta"].get("count") or 0)
            for w in data["results"]:
                wid_ = work_id(w.get("id"))
                if wid_:
                    works.setdefault(wid_, w)
            seen.add(cursor)
            cursor = data["meta"].get("next_cursor")
            if not data["results"]:
                break
            if cursor in seen:  # a server repeating a cursor would page forever
                self.warnings.append(f"OpenAlex repeated a cursor while paging the works "
                                     f"citing {wid}; stopped there")
                break
        if len(works) < count:
            self.warnings.append(f"OpenAlex counted {count} works citing {wid} but "
                                 f"{len(works)} were retrieved")
        return list(works.values()), count


def abstract_text(inverted: dict | None) -> str | None:
    """The abstract from OpenAlex's inverted index ({word: [positions]})."""
    if not inverted:
        return None
    at = {}
    for word, positions in inverted.items():
        for p in positions:
            at[int(p)] = word
    return " ".join(at[k] for k in sorted(at)) or None


def work_fields(work: dict) -> dict:
    """The record fields (:func:`toolkit.records.make_record`) of one OpenAlex work."""
    biblio = work.get("biblio") or {}
    first, last = biblio.get("first_page"), biblio.get("last_page")
    pages = f"{first}-{last}" if first and last and first != last else (first or None)
    source = ((work.get("primary_location") or {}).get("source") or {})
    ids = work.get("ids") or {}
    return {
        "source_id": work_id(work.get("id")),
        "title": work.get("title") or work.get("display_name"),
        "abstract": abstract_text(work.get("abstract_inverted_index")),
        "authors": [a["author"]["display_name"] for a in work.get("authorships") or []
                    if (a.get("author") or {}).get("display_name")],
        "year": work.get("publication_year"),
        "doi": work.get("doi") or ids.get("doi"),
        "pmid": ids.get("pmid"),
        "journal": source.get("display_name"),
        "volume": biblio.get("volume"),
        "issue": biblio.get("issue"),
        "pages": pages,
        "language": work.get("language"),
        "publication_types": [work["type"]] if work.get("type") else [],
    }


def raw_work(work: dict) -> dict:
    """What is kept as the record's raw source: the work without its inverted abstract (the
    text is in ``abstract``)."""
    return {k: v for k, v in work.items() if k != "abstract_inverted_index"}

