"""The normalised record and its field normalisers.

Every importer yields plain dicts of *raw* fields; :func:`make_record` turns one into the row
stored in ``records``: normalised ``doi``, ``pmid``, ``authors``, ``year`` with the raw value
kept beside each (``doi_raw``, ...), and the whole source record as JSON in ``raw``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any, Iterable

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*|doi\s+)", re.I)
_DOI_SHAPE = re.compile(r"10\.\d{4,9}/\S+")


def normalise_doi(raw: Any) -> str | None:
    """DOI in lower case without URL/"doi:" prefix; None if there is no DOI-shaped text."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    text = _DOI_PREFIX.sub("", text)
    m = _DOI_SHAPE.search(text)
    if not m:
        return None
    doi = m.group(0).rstrip(".,;")
    return doi.lower()


def normalise_pmid(raw: Any) -> str | None:
    """PMID as digits only ("PMID: 123" -> "123"); None if it has no digits."""
    if raw is None:
        return None
    digits = re.sub(r"\D", "", str(raw))
    return digits.lstrip("0") or None if digits else None


def normalise_year(raw: Any) -> int | None:
    """The first plausible 4-digit year (1800-2199) in the text, else None."""
    if raw is None:
        return None
    if isinstance(raw, int):
        return raw if 1800 <= raw <= 2199 else None
    m = re.search(r"(?<!\d)(1[89]\d\d|2[01]\d\d)(?!\d)", str(raw))
    return int(m.group(1)) if m else None


def _initials(given: str) -> str:
    """'Douglas G.' -> 'DG'; 'D.G.' -> 'DG'; 'Jean-Pierre' -> 'JP'."""
    parts = [p for p in re.split(r"[\s.\-]+", given) if p]
    out = []
    for p in parts:
        if p.isupper() and len(p) <= 3 and p.isalpha():
            out.append(p)  # already initials: 'DG'
        else:
            out.append(p[0].upper())
    return "".join(out)


def normalise_author(name: str) -> str | None:
    """One author name as "Surname, Initials" ("Surname" alone if no given names are known)."""
    name = re.sub(r"\s+", " ", name).strip().strip(";,")
    if not name:
        return None
    if "," in name:  # "Adler, Douglas G." / "Adler, D.G."
        surname, given = name.split(",", 1)
        surname, given = surname.strip(), given.strip()
    else:
        tokens = name.split(" ")
        # "Adler D.G." / "Liu R" (surname first, initials last) is the MEDLINE/Embase style;
        # "Douglas G. Adler" (given names first) otherwise.
        last = tokens[-1]
        if len(tokens) > 1 and re.fullmatch(r"(?:[A-Z]\.?-?){1,4}", last):
            surname, given = " ".join(tokens[:-1]), last
        elif len(tokens) > 1:
            surname, given = tokens[-1], " ".join(tokens[:-1])
        else:
            surname, given = name, ""
    ini = _initials(given) if given else ""
    return f"{surname}, {ini}" if ini else surname


def split_authors(raw: str) -> list[str]:
    """Split a one-string author list ("A B.; C D." or "Liu R., Adler D.G.") into names."""
    raw = raw.strip()
    if not raw:
        return []
    if ";" in raw:
        return [p for p in (x.strip() for x in raw.split(";")) if p]
    # "Liu R., Adler D.G." — commas separate authors when names carry no inner comma.
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if len(parts) > 1 and all(" " in p for p in parts):
        return parts
    if " and " in raw:
        return [p.strip() for p in raw.split(" and ") if p.strip()]
    return [raw]


def normalise_authors(raw: Any) -> list[str]:
    """Authors as a list of "Surname, Initials" from a list or a one-string author list."""
    if raw is None:
        return []
    names = raw if isinstance(raw, (list, tuple)) else split_authors(str(raw))
    out = []
    for n in names:
        a = normalise_author(str(n))
        if a:
            out.append(a)
    return out


def clean_text(value: Any) -> str | None:
    """Strip and collapse whitespace (NFC); None for empty."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value if v)
    text = str(value).strip()
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if _NEEDS_SPACE_FIX.search(text):
        text = _SPACES.sub(" ", text)
    return text or None


_NEEDS_SPACE_FIX = re.compile(r"\s\s|[\t\n\r\f\v\xa0]")
_SPACES = re.compile(r"\s+")


def content_id(fields: dict) -> str:
    """A stable id for a record that has none: a hash of its bibliographic content."""
    key = json.dumps(
        [clean_text(fields.get(k)) for k in ("title", "authors", "year", "journal", "volume",
                                             "pages", "doi")],
        ensure_ascii=False,
    )
    return "h:" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [t for t in (str(v).strip() for v in value if v) if t]
    return [p for p in (clean_text(x) for x in re.split(r"[;\n]", str(value))) if p]


def make_record(fields: dict, *, source: str, raw: dict | None = None) -> dict:
    """The ``records`` row for one importer record.

    ``fields`` keys: source_id, pmid, doi, title, abstract, authors (list or string), journal,
    year, volume, issue, pages, keywords, language, publication_types. ``raw`` is the source
    record as parsed (stored as JSON); defaults to ``fields``.
    """
    authors_raw = fields.get("authors")
    authors = normalise_authors(authors_raw)
    source_id = clean_text(fields.get("source_id")) or content_id(fields)
    return {
        "source": source,
        "source_id": source_id,
        "pmid": normalise_pmid(fields.get("pmid")),
        "pmid_raw": clean_text(fields.get("pmid")),
        "doi": normalise_doi(fields.get("doi")),
        "doi_raw": clean_text(fields.get("doi")),
        "title": clean_text(fields.get("title")),
        "abstract": clean_text(fields.get("abstract")),
        "authors": json.dumps(authors, ensure_ascii=False),
        "authors_raw": json.dumps(authors_raw, ensure_ascii=False)
        if isinstance(authors_raw, (list, tuple)) else clean_text(authors_raw),
        "journal": clean_text(fields.get("journal")),
        "year": normalise_year(fields.get("year")),
        "year_raw": clean_text(fields.get("year")),
        "volume": clean_text(fields.get("volume")),
        "issue": clean_text(fields.get("issue")),
        "pages": clean_text(fields.get("pages")),
        "keywords": json.dumps(_as_list(fields.get("keywords")), ensure_ascii=False),
        "language": clean_text(fields.get("language")),
        "publication_types": json.dumps(_as_list(fields.get("publication_types")),
                                        ensure_ascii=False),
        # key order is the parser's, which is deterministic for a given file
        "raw": json.dumps(raw if raw is not None else fields, ensure_ascii=False, default=str),
    }


RECORD_COLUMNS = ("id", "source", "source_id", "pmid", "doi", "title", "abstract", "authors",
                  "journal", "year", "volume", "issue", "pages", "keywords", "language",
                  "publication_types")


def iter_records(db, ids: Iterable[int] | None = None):
    """Stored records as dicts with JSON list fields decoded, in id order."""
    sql = "select * from records"
    params: list = []
    if ids is not None:
        ids = list(ids)
        sql += f" where id in ({','.join('?' * len(ids))})"
        params = ids
    for row in db.query(sql + " order by id", params):
        for k in ("authors", "keywords", "publication_types"):
            row[k] = json.loads(row[k]) if row.get(k) else []
        yield row
