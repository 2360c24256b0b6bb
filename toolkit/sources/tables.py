"""CSV exports: Embase.com CSV (classic and new-page, with line breaks inside abstracts) and
generic CSV with columns matched case-insensitively; comma, semicolon or tab separated."""

from __future__ import annotations

import csv
import re
import sys
import urllib.parse
from typing import Iterator

from ..csvdialect import delimiter_of_file
from ..errors import ReviewError
from . import RawRecord
from .text import check_not_binary, encoding_error

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

# Generic column names (lower case) -> record field. First match wins.
GENERIC_COLUMNS = {
    "title": ("title", "primary_title", "article title", "ti"),
    "abstract": ("abstract", "ab", "notes_abstract"),
    "authors": ("authors", "author", "author names", "au", "author full names"),
    "year": ("year", "publication year", "py", "publication_year", "pubyear"),
    "doi": ("doi",),
    "pmid": ("pmid", "pubmed id", "pubmed_id", "medline pmid"),
    "journal": ("journal", "source title", "journal title", "secondary_title", "journal_name",
                "so"),
    "volume": ("volume", "vl"),
    "issue": ("issue", "number"),
    "pages": ("pages", "page", "pg"),
    "keywords": ("keywords", "author keywords", "kw"),
    "language": ("language", "language of article"),
    "publication_types": ("publication type", "publication_type", "publication_types",
                          "document type", "type"),
    # source_id before id: a CSV written by `review export` has both (id is the store's own)
    "source_id": ("record_id", "source_id", "id", "embase accession number", "accession number",
                  "key"),
}

EMBASE_MARKERS = {"author names", "emtree medical index terms", "emtree drug index terms",
                  "embase accession number"}

_EMBASE_SOURCE = re.compile(
    r"^(?P<journal>.*?)\s*\((?P<year>\d{4})\)\s*(?P<volume>[^:(\s]*)(?::(?P<issue>[^\s(]*))?"
    r"\s*(?:\((?P<pages>[^)]*)\))?")


def parse_embase_source(text: str) -> dict:
    """'Cancer (2004) 102:4 (253-258). Date of Publication: ...' -> journal/year/volume/..."""
    m = _EMBASE_SOURCE.match(text or "")
    if not m:
        return {"journal": text or None}
    return {k: (v or None) for k, v in m.groupdict().items()}


def _doi_from_openurl(url: str | None) -> str | None:
    if not url:
        return None
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    for v in q.get("id", []):
        if v.startswith("doi:"):
            return v[4:]
    return None


def read(path, embase: bool | None = None) -> Iterator[RawRecord]:
    """Stream the rows of a CSV export; ``embase`` forces (or forbids) the Embase mapping."""
    name = str(path)
    check_not_binary(path)
    try:
        yield from _read(path, name, embase)
    except UnicodeDecodeError:
        raise encoding_error(name) from None


def _read(path, name, embase):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        delimiter = delimiter_of_file(fh)
        # strict: a malformed quote (an unclosed one swallows the rest of the file) is an error
        reader = csv.DictReader(fh, delimiter=delimiter, strict=True)
        try:
            header = reader.fieldnames or []
        except csv.Error as exc:
            raise ReviewError(f"malformed CSV header: {exc}", file=name, record="line 1") from None
        lower: dict[str, str] = {}
        for h in header:
            key = (h or "").strip().lower()
            if not key:
                continue
            if key in lower:  # a dict row keeps one of them: the other's cells would be lost
                also = "" if lower[key] == h else f" (as {lower[key]!r}: names are matched " \
                                                  f"case-insensitively)"
                raise ReviewError(f"the header names this column twice{also}; rename or drop "
                                  f"one, or its cells would be lost", file=name,
                                  record="line 1", column=h.strip())
            lower[key] = h
        is_embase = embase if embase is not None else bool(EMBASE_MARKERS & set(lower))
        colmap = {}
        for field, names in GENERIC_COLUMNS.items():
            for n_ in names:
                if n_ in lower:
                    colmap[field] = lower[n_]
                    break
        if "title" not in colmap:
            raise ReviewError(f"no title column (columns: {', '.join(header[:12])}); "
                              f"a CSV import needs at least a 'title' column", file=name,
                              record="line 1")
        row_no = 0
        while True:
            start_line = reader.reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                stop = reader.reader.line_num  # DictReader's own line_num lags on an error
                if "unexpected end of data" in str(exc):
                    why = (f"a quote opened in this row is never closed (the quoted cell runs "
                           f"to the end of the file, line {stop})")
                else:
                    why = f"{exc} (line {stop})"
                raise ReviewError(f"malformed CSV: {why}", file=name,
                                  record=f"row {row_no + 1} (line {start_line})") from None
            row_no += 1
            if None in row:
                raise ReviewError(f"row {row_no} has more cells than the header has columns",
                                  file=name, record=f"row {row_no} (line {reader.line_num})")
            fields = {f: row.get(c) for f, c in colmap.items()}
            fields = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
            if is_embase:
                if not fields.get("abstract") and lower.get("original abstract"):
                    fields["abstract"] = row.get(lower["original abstract"])
                src = row.get(lower.get("source", ""), "") if "source" in lower else ""
                if src:
                    parsed = parse_embase_source(src)
                    for k, v in parsed.items():
                        if v and not fields.get(k):
                            fields[k] = v
                if not fields.get("doi") and "open url link" in lower:
                    fields["doi"] = _doi_from_openurl(row.get(lower["open url link"]))
                kw = [row.get(lower[c]) for c in ("emtree medical index terms",
                                                 "emtree drug index terms") if c in lower]
                if kw and not fields.get("keywords"):
                    fields["keywords"] = ";".join(k for k in kw if k)
            # A row with no title, abstract, DOI or PMID is still a record the database
            # returned (imported and marked incomplete); a row with nothing in any cell is not.
            if not any(v and v.strip() for v in row.values() if isinstance(v, str)):
                raise ReviewError("row is empty (every cell is blank)", file=name,
                                  record=f"row {row_no} (line {reader.line_num})")
            yield RawRecord(fields=fields, raw=dict(row),
                            where=f"row {row_no} (line {reader.line_num})",
                            source="Embase" if is_embase else None)
        if row_no == 0:
            raise ReviewError("CSV has a header but no rows", file=name)
