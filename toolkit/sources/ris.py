"""RIS (Embase, Scopus, EndNote, ...). Records are framed here (TY ... ER, with line numbers for
errors, streaming) and each record's tags are mapped by rispy."""

from __future__ import annotations

import itertools
import re
from typing import Iterator

import rispy

from ..errors import ReviewError
from . import RawRecord
from .text import check_not_binary, encoding_error



def _first(v):
    if isinstance(v, list):
        return v[0] if v else None
    return v


_PMID_NOTE = re.compile(r"PMID:?\s*(\d+)\s*$", re.I)


def ris_fields(rec: dict) -> dict:
    """Record fields from one rispy record dict."""
    unknown = rec.get("unknown_tag") or {}
    authors = (rec.get("authors") or []) + (rec.get("first_authors") or [])
    sp, ep = rec.get("start_page"), rec.get("end_page")
    pages = f"{sp}-{ep}" if sp and ep else (sp or ep)
    accession = rec.get("accession_number") or _first(unknown.get("U2")) or rec.get("id")
    abstract = rec.get("abstract") or rec.get("notes_abstract")
    pmid = _first(unknown.get("PM")) or rec.get("pubmed_id")
    if not pmid:  # EndNote and `review export` put it in a note: "PMID: 123"
        pmid = next((m.group(1) for m in map(_PMID_NOTE.match, rec.get("notes") or ()) if m),
                    None)
    if not pmid and rec.get("name_of_database") == "Embase" and \
            str(rec.get("custom5") or "").isdigit():
        # Embase's RIS gives the MEDLINE PMID in C5 (present exactly on its records that are
        # also in MEDLINE, `DB  - Medline`)
        pmid = rec["custom5"]
    return {
        "source_id": accession,
        "pmid": pmid,
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


_MAPPING = rispy.config.TAG_KEY_MAPPING
_LIST_TAGS = frozenset(rispy.config.LIST_TYPE_TAGS)
_DELIMITED = rispy.config.DELIMITED_TAG_MAPPING


def _parse_record(lines: list[str]) -> dict:
    """One record's lines -> rispy's record dict (rispy's tag names and list tags; unknown tags
    under ``unknown_tag``), without rispy's per-line parser, which is too slow for large
    exports. A line without a tag continues the previous tag's value, as in rispy."""
    pairs = []
    for line in lines:
        if line[2:5] == "  -" and line[:2].isupper() and line[0].isalpha():
            pairs.append((line[:2], line[6:].strip()))
        elif line.strip():
            pairs.append((None, line.strip()))
    return _build(pairs)


# tag -> (rispy key, kind): 0 single value (the first wins, as in rispy), 1 list, 2 delimited list
_SPEC = {tag: (name, 2 if tag in _DELIMITED else 1 if tag in _LIST_TAGS else 0)
         for tag, name in _MAPPING.items()}


def _build(pairs) -> dict:
    """rispy's record dict from (tag, value) pairs; tag None continues the previous value."""
    rec: dict = {}
    last = None
    spec_get = _SPEC.get
    for tag, value in pairs:
        if tag is None:
            if last is not None:
                _append(rec, last, value)
            continue
        last = tag
        spec = spec_get(tag)
        if spec is None:
            rec.setdefault("unknown_tag", {}).setdefault(tag, []).append(value)
            continue
        name, kind = spec
        if kind == 0:
            if name not in rec:
                rec[name] = value
        elif kind == 1:
            values = rec.get(name)
            if values is None:
                rec[name] = [value]
            else:
                values.append(value)
        else:
            rec.setdefault(name, []).extend(v.strip() for v in value.split(_DELIMITED[tag]))
    return rec


def _append(rec: dict, tag: str, text: str) -> None:
    name = _MAPPING.get(tag)
    if name is None:
        rec["unknown_tag"][tag][-1] += " " + text
    elif isinstance(rec.get(name), list):
        rec[name][-1] += " " + text
    else:
        rec[name] = f"{rec[name]} {text}"


# Records are framed in large text blocks with regular expressions (C speed) rather than line by
# line: an RIS export is tens of tag lines per record.
# Python's regex engine scans fast for a literal first character, but tries every position for a
# pattern that starts with a multi-line "^": the patterns start with "\n" where they can.
_ER = re.compile(r"\nER  -[^\n]*(?:\n|\Z)")
_PAIR = re.compile(r"^([A-Z][A-Z0-9])  -(?:[ \t]+([^\n]*\S))?[ \t]*$", re.M)
_NON_TAG_LINE = re.compile(r"\n(?![A-Z][A-Z0-9]  -)[^\n]*\S")
_TY_INSIDE = re.compile(r"\nTY  -")


def _first_content_line(text: str) -> tuple[int, str]:
    """(offset in lines, text) of the first non-blank line of ``text``."""
    rest = text.lstrip()
    if not rest:
        return 0, ""
    start = len(text) - len(rest)
    line_start = text.rfind("\n", 0, start) + 1
    end = text.find("\n", start)
    return text.count("\n", 0, start), text[line_start:end if end >= 0 else len(text)]


def _frame(fh, name: str) -> Iterator[tuple[int, str]]:
    """(first line number, record text without its ER line) for each record."""
    buf = "\n"  # so that _ER, which starts with "\n", also finds an ER on the first line
    line = 0  # line number of buf[0]
    n = 0
    # A final "\n" closes an ER line that ends the file without a newline.
    for block in itertools.chain(iter(lambda: fh.read(1 << 22), ""), ("\n",)):
        buf += block
        pos = 0
        for m in _ER.finditer(buf):
            if m.end() == len(buf) and not m.group().endswith("\n"):
                break  # the ER line may continue in the next block
            chunk = buf[pos:m.start()]
            k, first = _first_content_line(chunk)
            if not first:
                raise ReviewError(f"line {line + chunk.count(chr(10)) + 1}: 'ER  - ' with no "
                                  f"record before it", file=name, record=f"record {n + 1}")
            if not first.startswith("TY  -"):
                _outside_error(first, line + k, n, name)
            inner = _TY_INSIDE.search(chunk, chunk.find("TY  -") + 1)
            if inner:
                raise ReviewError(f"line {line + chunk.count(chr(10), 0, inner.start()) + 1}: "
                                  f"new 'TY' before the 'ER' closing the record that starts at "
                                  f"line {line + k}", file=name, record=f"record {n + 1}")
            n += 1
            yield line + k, chunk
            line += chunk.count("\n") + m.group().count("\n")
            pos = m.end()
        buf = buf[pos:]
    k, first = _first_content_line(buf)
    if first:
        if first.startswith("TY  -"):
            raise ReviewError(f"record starting at line {line + k} has no closing 'ER  - '",
                              file=name, record=f"record {n + 1}")
        _outside_error(first, line + k, n, name)
    if n == 0:
        raise ReviewError("no RIS records (no 'TY  - ' line)", file=name)


def _outside_error(first: str, lineno: int, n: int, name: str):
    if first[2:5] == "  -":
        raise ReviewError(f"line {lineno}: tag {first[:2]} outside a record (a record must "
                          f"start with 'TY  - ')", file=name, record=f"record {n + 1}")
    raise ReviewError(f"line {lineno}: not RIS (expected 'TY  - ' to start a record, found "
                      f"{first[:40]!r})", file=name, record=f"record {n + 1}")


def read(path) -> Iterator[RawRecord]:
    name = str(path)
    check_not_binary(path)
    n = 0
    try:
        with open(path, encoding="utf-8-sig") as fh:  # universal newlines
            for start_line, chunk in _frame(fh, name):
                n += 1
                if _NON_TAG_LINE.search(chunk):  # continuation lines: the general path
                    rec = _parse_record(chunk.split("\n"))
                else:
                    rec = _build(_PAIR.findall(chunk))
                fields = ris_fields(rec)
                where = f"record {n} (line {start_line})"
                # A record with no title, abstract, DOI or PMID is imported and marked
                # incomplete; one with nothing but its type tag is not a record.
                if not any(v for k, v in rec.items() if k != "type_of_reference"):
                    raise ReviewError("record has nothing but its type (TY) tag", file=name,
                                      record=where)
                yield RawRecord(fields=fields, raw=rec, where=where,
                                source=rec.get("name_of_database"))
    except UnicodeDecodeError:
        raise encoding_error(name) from None
