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
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" and some Windows tools
        raise ReviewError("UTF-16 text; re-export it as UTF-8 or convert it with "
                          "`iconv -f utf-16 -t utf-8`", file=p)
    if b"\x00" in head:
        raise ReviewError("binary file (NUL bytes); expected a text export "
                          "(RIS, CSV, PubMed XML or MEDLINE)", file=p)
    return head


def _decode_lines(fh, name: str) -> Iterator[tuple[int, str]]:
    lineno = 0
    try:
        for lineno, text in enumerate(fh, 1):
            yield lineno, text
    except UnicodeDecodeError:
        raise encoding_error(name) from None


def encoding_error(path) -> ReviewError:
    """A ReviewError naming the line of the first byte that is not UTF-8 (text decoding is
    chunked, so the position is found again in the bytes)."""
    data = open(path, "rb").read()
    try:
        data.decode("utf-8")
        pos = 0
    except UnicodeDecodeError as exc:
        pos = exc.start
    line = data[:pos].count(b"\n") + 1
    return ReviewError(f"not UTF-8 (byte {data[pos:pos + 1]!r}); the file is probably "
                       f"latin-1/Windows-1252: re-export it as UTF-8 or convert it with "
                       f"`iconv -f latin1 -t utf-8`", file=path, record=f"line {line}")


@contextlib.contextmanager
def open_text(path):
    """Context manager yielding an iterator of (line number, line) decoded as UTF-8."""
    check_not_binary(path)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        yield _decode_lines(fh, str(path))
