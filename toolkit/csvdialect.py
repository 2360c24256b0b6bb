"""Which character separates the cells of a CSV file: comma, semicolon (what Excel writes in
locales with a decimal comma) or tab. Every CSV a user gives the toolkit is read through
:func:`delimiter_of`."""

from __future__ import annotations

import csv

DELIMITERS = ",;\t"


def delimiter_of(header_line: str) -> str:
    """The delimiter of a CSV file, judged by its header line (data cells hold free text full
    of commas and semicolons, the header does not): the one that splits the header, read with
    CSV quoting, into the most columns; a comma when none splits it (one column) or on a tie."""
    line = header_line.rstrip("\r\n")
    best, most = ",", 1
    for d in DELIMITERS:
        n = len(next(csv.reader([line], delimiter=d), []))
        if n > most:
            best, most = d, n
    return best


def delimiter_of_file(fh) -> str:
    """:func:`delimiter_of` the first line of an open text file, which is rewound."""
    pos = fh.tell()
    first = fh.readline()
    fh.seek(pos)
    return delimiter_of(first)
