"""Opening text files strictly: UTF-8 (with or without BOM), never guessing silently."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from ..errors import ReviewError


def check_not_binary(path) -> bytes:
    """The file's first 8 KiB; errors for empty or binary files."""
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(8192)
    if not head.strip():
        raise ReviewError("file is empty", file=p)
    if b"\x00" in head:
        raise ReviewError("binary file (NUL bytes); expected a text export "
                          "(RIS, CSV, PubMed XML or MEDLINE)", file=p)
    return head


def _decode_lines(fh, name: str) -> Iterator[tuple[int, str]]:
    lineno = 0
    for raw in fh:
        lineno += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start:exc.start + 1]
            raise ReviewError(
                f"not UTF-8 (byte {bad!r} at column {exc.start + 1}); the file is "
                f"probably latin-1/Windows-1252: re-export it as UTF-8, or convert it with "
                f"`iconv -f latin1 -t utf-8`", file=name, record=f"line {lineno}") from None
        if lineno == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield lineno, text


@contextlib.contextmanager
def open_text(path):
    """Context manager yielding an iterator of (line number, line) decoded as UTF-8."""
    check_not_binary(path)
    with open(path, "rb") as fh:
        yield _decode_lines(fh, str(path))
