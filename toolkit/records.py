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
import urllib.parse
from typing import Any, Iterable

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.|www\.)?doi\.org/|doi:\s*|doi\s+)", re.I)
_DOI_SHAPE = re.compile(r"10\.\d{4,9}/\S+")
_PMID_DIGITS = re.compile(r"\d+")
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|2[01]\d\d)(?!\d)")

# json.dumps builds a new encoder for every call with non-default options; records need
# several dumps each, so the encoders are made once.
_dumps = json.JSONEncoder(ensure_ascii=False).encode
_dumps_raw = json.JSONEncoder(ensure_ascii=False, default=str).encode


def normalise_doi(raw: Any) -> str | None:
    """DOI in lower case without URL/"doi:" prefix or trailing punctuation; None if there is no
    DOI-shaped text ("https://doi.org/10.1002%2FX." -> "10.1002/x")."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    text = _DOI_PREFIX.sub("", text)
    if "%" in text:  # URL-encoded ("10.1002%2Fcncr.20369")
        text = urllib.parse.unquote(text)
    m = _DOI_SHAPE.search(text)
    if not m:
        return None
    doi = m.group(0)
    while True:  # sentence punctuation and unbalanced closing brackets are not part of a DOI
        stripped = doi.rstrip(".,;:")
        for close, open_ in ((")", "("), ("]", "[")):
            if stripped.endswith(close) and stripped.count(close) > stripped.count(open_):
                stripped = stripped[:-1]
        if stripped == doi:
            break
        doi = stripped
    return doi.lower()


def normalise_pmid(raw: Any) -> str | None:
    """PMID as digits only: the first run of digits ("PMID: 123" -> "123"); None if none."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text.isdigit():
        m = _PMID_DIGITS.search(text)
        if not m:
            return None
        text = m.group(0)
    return text.lstrip("0") or None


def normalise_year(raw: Any) -> int | None:
    """The first plausible 4-digit year (1800-2199) in the text ("Spring 1990" -> 1990), else
    None."""
    if raw is None:
        return None
    if isinstance(raw, int):
        return raw if 1800 <= raw <= 2199 else None
    text = str(raw)
    if len(text) == 4 and text.isdigit():
        year = int(text)
        return year if 1800 <= year <= 2199 else None
    m = _YEAR.search(text)
    return int(m.group(1)) if m else None


_INITIALS_TOKEN = re.compile(r"(?:[A-Z]\.?-?){1,4}")
_NORMALISED_AUTHOR = re.compile(r"[^,;\s](?:[^,;]*[^,;\s])?, [A-Z]{1,4}")
_SURNAME_INITIALS = re.compile(r"([^\W\d_][^\s,;.]*) ((?:[A-Z]\.?-?){1,4})")
_PARTICLES = frozenset({"van", "von", "der", "den", "de", "del", "della", "di", "da", "du",
                        "dos", "das", "le", "la", "ter", "ten", "zu", "af", "bin", "al", "el"})
# Words that mark a collective (group) author, which has no surname and initials.
_COLLECTIVE = re.compile(
    r"\b(?:group|groups|consortium|collaborat\w*|committee|team|investigators?|society|"
    r"association|network|task force|council|organi[sz]ation|institute|study|trial|panel|"
    r"foundation|alliance|registry|programme|program|working|writing|members|authors)\b",
    re.I)
_CONNECTORS = frozenset({"of", "for", "on", "the", "and", "in", "&", "und", "et"})


def _initials(given: str) -> str:
    """'Douglas G.' -> 'DG'; 'D.G.' -> 'DG'; 'Jean-Pierre' -> 'JP'."""
    out = []
    for p in re.split(r"[^\w']+", given):
        if p.isupper() and len(p) <= 4 and p.isalpha():
            out.append(p)  # already initials: 'DG'
        else:
            if p[:1].isalpha():  # not "", "'" or "2nd"
                out.append(p[0].upper())
    return "".join(out)


def is_collective_name(name: str) -> bool:
    """True for a group author ("ESPGHAN Working Group", "Canadian Task Force on ...")."""
    tokens = name.replace(",", " ").split()
    if "," in name:  # "Surname, Given": a group only if long and named as one
        return len(tokens) > 3 and bool(_COLLECTIVE.search(name))
    return (len(tokens) > 4 or bool(_COLLECTIVE.search(name))
            or any(t in _CONNECTORS for t in tokens))


def normalise_author(name: str) -> str | None:
    """One author name as "Surname, Initials" ("Surname" alone if no given names are known).

    Accepts "Adler, Douglas G.", "Adler, D.G.", "Adler DG", "Adler D.G.", "D. G. Adler" and
    "Ludwig van Beethoven" ("van Beethoven, L"); a collective name ("PLCO Study Group") is kept
    as written."""
    if "," in name:
        if _NORMALISED_AUTHOR.fullmatch(name):  # already "Surname, Initials" (PubMed XML)
            return name
    else:
        m = _SURNAME_INITIALS.fullmatch(name)  # "Adler D.G." (Embase, MEDLINE AU): common
        if m and not _COLLECTIVE.search(m[1]):
            return f"{m[1]}, {m[2].replace('.', '').replace('-', '')}"
    name = clean_text(name)
    name = name.strip(";, ") if name else None
    if not name:
        return None
    if is_collective_name(name):
        return name
    if "," in name:  # "Adler, Douglas G." / "Adler, D.G."
        surname, given = name.split(",", 1)
        surname, given = surname.strip(" ;"), given.strip()
    else:
        tokens = name.split(" ")
        # "Adler D.G." / "Liu R" (surname first, initials last) is the MEDLINE/Embase style;
        # "Douglas G. Adler" (given names first) otherwise.
        k = len(tokens)  # trailing initials ("Adler D. G.")
        while k > 1 and _INITIALS_TOKEN.fullmatch(tokens[k - 1]):
            k -= 1
        if k < len(tokens):
            surname, given = " ".join(tokens[:k]), " ".join(tokens[k:])
        elif len(tokens) > 1:
            k = len(tokens) - 1  # the surname, with particles before it ("van der Berg")
            while k > 0 and tokens[k - 1] in _PARTICLES:
                k -= 1
            surname, given = " ".join(tokens[k:]), " ".join(tokens[:k])
        else:
            surname, given = name, ""
    ini = _initials(given) if given else ""
    return f"{surname}, {ini}" if ini else surname


_INITIALS_PART = re.compile(r"(?:[A-Z]\.?\s?-?){1,4}")


def split_authors(raw: str) -> list[str]:
    """Split a one-string author list ("A B.; C D.", "Liu R., Adler D.G." or
    "Smith, J., Doe, A.") into names."""
    raw = raw.strip()
    if not raw:
        return []
    if ";" in raw:
        return [p for p in (x.strip() for x in raw.split(";")) if p]
    if "\n" in raw:
        return [p for p in (x.strip() for x in raw.split("\n")) if p]
    # "Liu R., Adler D.G." — commas separate authors when names carry no inner comma.
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if len(parts) > 1 and all(" " in p for p in parts):
        return parts
    # "Smith, J., Doe, A." — surname, initials, surname, initials.
    if len(parts) > 2 and len(parts) % 2 == 0 and all(
            _INITIALS_PART.fullmatch(p) for p in parts[1::2]):
        return [f"{s}, {i}" for s, i in zip(parts[::2], parts[1::2])]
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
        a = normalise_author(n if isinstance(n, str) else str(n))
        if a:
            out.append(a)
    return out


def clean_text(value: Any) -> str | None:
    """Strip and collapse whitespace (NFC); None for empty."""
    if value is None:
        return None
    if type(value) is not str:
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value if v)
        else:
            value = str(value)
    text = value.strip()
    if not text:
        return None
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    # Tabs, newlines and non-breaking spaces are not printable: two C-speed checks find
    # every text that needs its whitespace collapsed.
    if "  " in text or not text.isprintable():
        text = " ".join(text.split())  # str.split() splits on exactly what regex \s matches
    return text


def content_id(fields: dict) -> str:
    """A stable id for a record that has none: a hash of its bibliographic content."""
    key = json.dumps(
        [clean_text(fields.get(k)) for k in ("title", "authors", "year", "journal", "volume",
                                             "pages", "doi")],
        ensure_ascii=False,
    )
    return "h:" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


_LIST_SPLIT = re.compile(r"[;\n]")


def _as_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, (list, tuple)):
        try:
            return [t for t in map(str.strip, value) if t]
        except TypeError:  # not all strings
            return [t for t in (str(v).strip() for v in value if v) if t]
    return [p for p in (clean_text(x) for x in _LIST_SPLIT.split(str(value))) if p]


def make_record(fields: dict, *, source: str, raw: dict | None = None) -> dict:
    """The ``records`` row for one importer record.

    ``incomplete`` is 1 for a record with no title, abstract, DOI or PMID (a database returned
    it, so it is imported and counted; screening and deduplication have little to go on).

    ``fields`` keys: source_id, pmid, doi, title, abstract, authors (list or string), journal,
    year, volume, issue, pages, keywords, language, publication_types. ``raw`` is the source
    record as parsed (stored as JSON); defaults to ``fields``.
    """
    get = fields.get
    authors_raw = get("authors")
    pmid_raw = clean_text(get("pmid"))
    doi_raw = clean_text(get("doi"))
    year = get("year")
    year_raw = clean_text(year)
    source_id = clean_text(get("source_id")) or content_id(fields)
    return {
        "source": source,
        "source_id": source_id,
        "pmid": normalise_pmid(pmid_raw),
        "pmid_raw": pmid_raw,
        "doi": normalise_doi(doi_raw),
        "doi_raw": doi_raw,
        "title": clean_text(get("title")),
        "abstract": clean_text(get("abstract")),
        "authors": _dumps(normalise_authors(authors_raw)),
        "authors_raw": _dumps(authors_raw)
        if isinstance(authors_raw, (list, tuple)) else clean_text(authors_raw),
        "journal": clean_text(get("journal")),
        "year": normalise_year(year if isinstance(year, int) else year_raw),
        "year_raw": year_raw,
        "volume": clean_text(get("volume")),
        "issue": clean_text(get("issue")),
        "pages": clean_text(get("pages")),
        "keywords": _dumps(_as_list(get("keywords"))),
        "language": clean_text(get("language")),
        "publication_types": _dumps(_as_list(get("publication_types"))),
        # key order is the parser's, which is deterministic for a given file
        "raw": _dumps_raw(raw if raw is not None else fields),
        "incomplete": 0 if (clean_text(get("title")) or clean_text(get("abstract")) or doi_raw
                            or pmid_raw) else 1,
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
