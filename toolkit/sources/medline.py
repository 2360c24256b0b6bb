"""PubMed MEDLINE / .nbib text ("PMID- ..." records separated by blank lines), via Bio.Medline."""

from __future__ import annotations

import io
from typing import Iterator

from Bio import Medline

from ..errors import ReviewError
from . import RawRecord
from .text import open_text


def medline_fields(rec: dict) -> dict:
    aids = rec.get("AID", []) + rec.get("LID", []) if isinstance(rec.get("LID"), list) \
        else rec.get("AID", []) + ([rec["LID"]] if rec.get("LID") else [])
    doi = next((a.replace("[doi]", "").strip() for a in aids if "[doi]" in a), None)
    return {
        "source_id": rec.get("PMID"),
        "pmid": rec.get("PMID"),
        "doi": doi,
        "title": rec.get("TI") or rec.get("BTI"),
        "abstract": rec.get("AB"),
        "authors": rec.get("AU") or rec.get("FAU") or [],
        "journal": rec.get("JT") or rec.get("TA"),
        "journal_abbrev": rec.get("TA"),
        "year": rec.get("DP"),
        "volume": rec.get("VI"),
        "issue": rec.get("IP"),
        "pages": rec.get("PG"),
        "keywords": (rec.get("OT") or []) + (rec.get("MH") or []),
        "language": ";".join(rec.get("LA", [])) or None,
        "publication_types": rec.get("PT") or [],
    }


def read(path) -> Iterator[RawRecord]:
    name = str(path)
    n = 0
    chunk: list[str] = []
    start = 0

    def flush():
        nonlocal n
        n += 1
        rec = Medline.read(io.StringIO("".join(chunk)))
        if not rec.get("PMID"):
            raise ReviewError("MEDLINE record without PMID", file=name,
                              record=f"record {n} (line {start})")
        return RawRecord(fields=medline_fields(rec), raw=dict(rec),
                         where=f"record {n} (line {start})", source="PubMed")

    with open_text(path) as lines:
        for lineno, line in lines:
            if not line.strip():
                if chunk:
                    yield flush()
                    chunk = []
                continue
            if not chunk:
                if not line.startswith("PMID-"):
                    raise ReviewError(f"line {lineno}: a MEDLINE record must start with 'PMID- '",
                                      file=name, record=f"record {n + 1}")
                start = lineno
            elif not (line[:4].strip() and line[4:6] == "- ") and not line.startswith("      "):
                raise ReviewError(f"line {lineno}: not a MEDLINE tag line", file=name,
                                  record=f"record {n + 1} (line {start})")
            chunk.append(line if line.endswith("\n") else line + "\n")
    if chunk:
        yield flush()
    if n == 0:
        raise ReviewError("no MEDLINE records", file=name)
