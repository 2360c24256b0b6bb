"""The terminal as every prompt loop uses it: one key per decision (read with
:func:`click.getchar` on a terminal, as lines from a pipe so tests and scripts can drive it),
lines for free text, and output on stderr when stdout carries ``--json``. `review screen`,
`review dedup review` and `review fulltext` all prompt this way."""

from __future__ import annotations

import sys

import click


class Terminal:
    """Where prompts go (stdout, or stderr when stdout carries --json) and how keys are read."""

    def __init__(self, err: bool = False):
        self.err = err
        self.tty = sys.stdin.isatty()

    def echo(self, text: str = "", **kw) -> None:
        click.echo(text, err=self.err, **kw)

    def key(self, prompt: str) -> str:
        """One key, lower case; 'q' at end of input. Ctrl-C is not a key: it interrupts
        (every decision is saved already; the command exits 130)."""
        if self.tty:
            self.echo(prompt, nl=False)
            try:
                ch = click.getchar()
            except EOFError:
                return "q"
            self.echo(ch)
            return ch.lower()
        self.echo(prompt, nl=False)
        line = sys.stdin.readline()
        if not line:
            self.echo("")
            return "q"
        line = line.strip()
        return line[:1].lower() if line else ""

    def line(self, prompt: str) -> str | None:
        """One line of text, stripped; None at end of input."""
        self.echo(prompt, nl=False)
        line = sys.stdin.readline()
        if not line:
            self.echo("")
            return None
        return line.rstrip("\r\n").strip()

    def choose(self, prompt: str, keys: str) -> str:
        """One of ``keys`` (asked again until it is one); 'q' at end of input."""
        while True:
            k = self.key(prompt)
            if k in keys or k == "q":
                return k
            self.echo(f"  press one of: {', '.join(keys)}")
