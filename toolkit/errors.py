"""The one error type users see. The CLI prints it as ``review: error: ...`` and exits 1."""

from __future__ import annotations


class ReviewError(Exception):
    """A user-facing error: bad input, missing store, invalid state.

    ``file``, ``record`` (a record id, line or row) and ``column`` locate the problem; they are
    folded into the message so the user sees where to look.
    """

    def __init__(self, message: str, *, file=None, record=None, column=None):
        self.bare_message = message
        self.file = str(file) if file is not None else None
        self.record = record
        self.column = column
        where = []
        if self.file:
            where.append(self.file)
        if record is not None:
            where.append(str(record))
        if column is not None:
            where.append(f"column {column!r}")
        text = f"{': '.join(where)}: {message}" if where else message
        super().__init__(text)
