"""RIS (Embase, Scopus, EndNote, ...). Records are framed here (TY ... ER, with line numbers for
errors, streaming) and each record's tags are mapped by rispy."""

from __future__ import annotations

import re
from typing import Iterator

import rispy

from ..errors import ReviewError
from . import RawRecord
from .text import open_text

_TAG = re.compile(r"^([A-Z][A-Z0-9])  -( (.*))?$")


def _first(v):
    if isinstance(v, list):
        return v[0] if v else None
    return v


def ris_fields(rec: dict) -> dict:
    """Record fields from one rispy record dict."""
    unknown = rec.get("unknown_tag") or {}
    authors = (rec.get("authors") or []) + (rec.get("first_authors") or [])
    sp, ep = rec.get("start_page"), rec.get("end_page")
    pages = f"{sp}-{ep}" if sp and ep else (sp or ep)
    accession = rec.get("accession_number") or _first(unknown.get("U2")) or rec.get("id")
    abstract = rec.get("abstract") or rec.get("notes_abstract")
    return {
        "source_id": accession,
        "pmid": _first(unknown.get("PM")) or rec.get("pubmed_id"),
        "doi": rec.get("doi"),
        "title": rec.get("primary_title") or rec.get("title") or rec.get("translated_title"),
        "abstract": abstract,
        "authors": authors,
        "journal": rec.get("journal_name") or rec.get("secondary_title")
        or rec.get("alternate_title3") or rec.get("alternate_title1"),
        "journal_abbrev": rec.get("alternate_title3") or rec.get("alternate_title2")
        or rec.get("alternate_title1"),
        "year": rec.get("publication_year") or rec.get("year") or rec.get("date"),
        "volume": rec.get("volume"),
        "issue": rec.get("number"),
        "pages": pages,
        "keywords": rec.get("keywords") or [],
        "language": rec.get("language"),
        "publication_types": [t for t in (rec.get("type_of_work"), rec.get("type_of_reference"))
                              if t],
    }


def _parse_record(lines: list[str]) -> dict:
    rec = rispy.RisParser().parse_lines(iter(lines + ["ER  - "]))
    return rec[0] if rec else {}


def read(path) -> Iterator[RawRecord]:
    name = str(path)
    n = 0
    current: list[str] | None = None
    start_line = 0
    with open_text(path) as lines:
        for lineno, line in lines:
            line = line.rstrip("\r\n")
            m = _TAG.match(line)
            tag = m.group(1) if m else None
            if current is None:
                if tag == "TY":
                    current, start_line = [line], lineno
                elif tag is not None:
                    raise ReviewError(f"line {lineno}: tag {tag} outside a record "
                                      f"(a record must start with 'TY  - ')", file=name,
                                      record=f"record {n + 1}")
                elif line.strip():
                    raise ReviewError(f"line {lineno}: not RIS (expected 'TY  - ' to start a "
                                      f"record, found {line[:40]!r})", file=name,
                                      record=f"record {n + 1}")
                continue
            if tag == "ER":
                n += 1
                rec = _parse_record(current)
                fields = ris_fields(rec)
                db = rec.get("name_of_database")
                yield RawRecord(fields=fields, raw=_jsonable(rec),
                                where=f"record {n} (line {start_line})", source=db)
                current = None
            elif tag == "TY":
                raise ReviewError(f"line {lineno}: new 'TY' before the 'ER' closing the record "
                                  f"that starts at line {start_line}", file=name,
                                  record=f"record {n + 1}")
            else:
                current.append(line)
    if current is not None:
        raise ReviewError(f"record starting at line {start_line} has no closing 'ER  - '",
                          file=name, record=f"record {n + 1}")
    if n == 0:
        raise ReviewError("no RIS records (no 'TY  - ' line)", file=name)


def _jsonable(rec: dict) -> dict:
    out = {}
    for k, v in rec.items():
        if k == "unknown_tag":
            v = {t: list(vals) for t, vals in v.items()}
        out[k] = v
    return out
