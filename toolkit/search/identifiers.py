"""Lists of article identifiers given by the user (`review search check --known FILE`,
`review snowball --from FILE`): PMIDs, DOIs or OpenAlex work ids.

Two layouts, told apart by the first line:
- one identifier per line (blank lines and lines starting with ``#`` are skipped): digits or
  ``PMID: 123`` is a PMID, ``10.xxxx/...`` (also ``doi:`` or a doi.org URL) a DOI, ``W123`` (or
  an openalex.org URL) an OpenAlex work id;
- a CSV (comma, semicolon or tab) whose header names a ``pmid``, ``doi`` or ``openalex``
  column (any case): each row is one item, which may carry several identifiers.
An identifier that is none of these, an item given twice or a file without any is one error
naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ReviewError
from ..records import normalise_doi
from ..sources.text import check_not_binary
from .openalex import work_id

_PMID = re.compile(r"(?:pmid\s*:?\s*)?(\d{1,9})", re.I)
COLUMNS = {"pmid": "pmid", "doi": "doi", "openalex": "openalex", "openalex_id": "openalex"}


@dataclass(frozen=True)
class Item:
    """One known article: its identifiers (normalised) and where the file gave it."""

    pmid: str | None = None
    doi: str | None = None
    openalex: str | None = None
    line: int = 0
    text: str = ""  # as written in the file

    @property
    def label(self) -> str:
        """How reports name it: the identifier as the file gave it."""
        return self.text

    def keys(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in (("pmid", self.pmid), ("doi", self.doi),
                                    ("openalex", self.openalex)) if v]


def parse_identifier(text: str) -> Item | None:
    """The identifier in ``text`` (a PMID, DOI or OpenAlex work id), or None."""
    text = text.strip()
    wid = work_id(text)
    if wid:
        return Item(openalex=wid, text=text)
    doi = normalise_doi(text)
    if doi and not re.fullmatch(r"\d+", text):
        return Item(doi=doi, text=text)
    m = _PMID.fullmatch(text)
    if m and int(m.group(1)) > 0:
        return Item(pmid=str(int(m.group(1))), text=text)
    return None


def read_identifiers(path) -> list[Item]:
    """The items of an identifier list (see the module docstring), in file order."""
    path = Path(path)
    if not path.exists():
        raise ReviewError("no such file", file=path)
    check_not_binary(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ReviewError("not UTF-8 text", file=path) from None
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    items = _read_table(path, text) if _is_table(first) else _read_lines(path, lines)
    if not items:
        raise ReviewError("no identifiers (PMIDs, DOIs or OpenAlex ids) in the file", file=path)
    seen: dict[tuple[str, str], int] = {}
    for item in items:
        for key in item.keys():
            if key in seen:
                raise ReviewError(f"{key[0]} {key[1]} is given twice (also line {seen[key]})",
                                  file=path, record=f"line {item.line}")
            seen[key] = item.line
    return items


def _is_table(first: str) -> bool:
    cells = re.split(r"[,;\t]", first.lower())
    return len(cells) > 1 or first.strip().lower() in COLUMNS


def _read_lines(path: Path, lines: list[str]) -> list[Item]:
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = parse_identifier(line)
        if item is None:
            raise ReviewError(f"{line.strip()!r} is not a PMID, DOI or OpenAlex work id",
                              file=path, record=f"line {n}")
        out.append(Item(item.pmid, item.doi, item.openalex, n, line.strip()))
    return out


def _read_table(path: Path, text: str) -> list[Item]:
    dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t")
    reader = csv.reader(io.StringIO(text), dialect)
    header = [h.strip().lower() for h in next(reader)]
    cols = {COLUMNS[h]: k for k, h in enumerate(header) if h in COLUMNS}
    if not cols:
        raise ReviewError(f"no pmid, doi or openalex column (columns: {', '.join(header)})",
                          file=path, record="line 1")
    out = []
    for n, row in enumerate(reader, 2):
        if not any(c.strip() for c in row):
            continue
        values = {}
        for kind, k in cols.items():
            cell = row[k].strip() if k < len(row) else ""
            if not cell:
                continue
            item = parse_identifier(cell)
            got = None if item is None else next(iter(item.keys()))
            if got is None or got[0] != kind:
                raise ReviewError(f"{cell!r} is not a {_NAMES[kind]}", file=path,
                                  record=f"line {n}", column=header[k])
            values[kind] = (got[1], cell)
        if values:
            label = min(values.values(), key=lambda v: row.index(v[1]))[1]
            out.append(Item(*(values[k][0] if k in values else None
                              for k in ("pmid", "doi", "openalex")), n, label))
    return out


_NAMES = {"pmid": "PMID", "doi": "DOI", "openalex": "OpenAlex work id"}
