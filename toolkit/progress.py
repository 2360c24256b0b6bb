"""Progress on stderr with rich (silent when stderr is not a terminal or output is JSON)."""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def counter(description: str, total: int | None = None, quiet: bool = False):
    """Yields ``tick(done)`` that updates a progress bar on stderr."""
    if quiet or not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task(description, total=total)
        yield lambda done: prog.update(task, completed=done)
