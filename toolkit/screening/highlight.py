"""Keyword highlighting of titles and abstracts, shared by `review screen` and `review serve`.

A review lists words that speak for inclusion and words that speak for exclusion (the
``highlight`` section of the criteria file, see :mod:`toolkit.screening.criteria`). Words are
compared after Snowball stemming (the ``snowballstemmer`` package; PyStemmer's C version when
installed), so ``ablation`` also marks "ablations" and "ablated"; case is ignored. A term may be a
phrase ("spinal cord"), matched word for word; a word ending in ``*`` matches every word that
starts with it, unstemmed ("metasta*" marks "metastasis" and "metastases", which Snowball stems
differently). Words are runs of letters and digits, so "cryo-ablation" is two words.

Where terms overlap the longest match wins, scanning left to right. Highlighting only marks text:
it never changes what is shown or how records are ranked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import snowballstemmer

WORD = re.compile(r"\w+")
KINDS = ("include", "exclude")


@dataclass(frozen=True)
class Term:
    """One highlight term: its text as written, 'include' or 'exclude', and the keys its words
    are compared by (stems; a trailing ``*`` word keeps its lower-case prefix)."""
    text: str
    kind: str
    keys: tuple[str, ...]
    prefix: bool  # the last word is a prefix (written with a trailing *)


class Highlighter:
    """Finds the include/exclude terms of a review in a text.

    >>> h = Highlighter(include=["cryoablation"], exclude=["review"])
    >>> h.spans("Cryoablations: a review")
    [(0, 13, 'include'), (17, 23, 'exclude')]
    """

    def __init__(self, include=(), exclude=(), language: str = "english"):
        if language not in snowballstemmer.algorithms():
            raise ValueError(f"no Snowball stemmer for {language!r}; choose from "
                             + ", ".join(sorted(snowballstemmer.algorithms())))
        self.language = language
        self._stemmer = snowballstemmer.stemmer(language)
        self.terms: list[Term] = []
        for kind, words in (("include", include), ("exclude", exclude)):
            for text in words:
                self.terms.append(self._term(str(text), kind))
        self._by_first: dict[str, list[Term]] = {}
        self._prefix_first: list[Term] = []
        for t in sorted(self.terms, key=lambda t: -len(t.keys)):  # longest first
            if t.prefix and len(t.keys) == 1:
                self._prefix_first.append(t)
            else:
                self._by_first.setdefault(t.keys[0], []).append(t)

    def _term(self, text: str, kind: str) -> Term:
        words = [w.casefold() for w in WORD.findall(text)]
        if not words:
            raise ValueError(f"highlight term {text!r} has no word in it")
        prefix = text.rstrip().endswith("*")
        keys = self._stemmer.stemWords(words[:-1] if prefix else words)
        if prefix:
            keys = list(keys) + [words[-1]]
        return Term(text.strip(), kind, tuple(keys), prefix)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def conflicts(self) -> list[tuple[str, str]]:
        """Pairs (include term, exclude term) that match the same words: a list would mark a
        word both ways."""
        inc = {(t.keys, t.prefix): t.text for t in self.terms if t.kind == "include"}
        return [(inc[(t.keys, t.prefix)], t.text) for t in self.terms
                if t.kind == "exclude" and (t.keys, t.prefix) in inc]

    # -- finding --------------------------------------------------------------------------
    def spans(self, text: str | None) -> list[tuple[int, int, str]]:
        """``[(start, end, kind)]`` of the terms found in ``text``, in order, not overlapping."""
        if not text or not self.terms:
            return []
        found = list(WORD.finditer(text))
        lower = [m.group().casefold() for m in found]
        stems = self._stemmer.stemWords(lower)
        out, i = [], 0
        while i < len(found):
            term = self._match_at(i, lower, stems)
            if term is None:
                i += 1
                continue
            j = i + len(term.keys) - 1
            out.append((found[i].start(), found[j].end(), term.kind))
            i = j + 1
        return out

    def _match_at(self, i: int, lower: list[str], stems: list[str]) -> Term | None:
        candidates = self._by_first.get(stems[i], []) + self._prefix_first
        best = None
        for t in candidates:
            n = len(t.keys)
            if i + n > len(stems) or (best is not None and n <= len(best.keys)):
                continue
            whole = t.keys[:-1] if t.prefix else t.keys
            if list(whole) != stems[i:i + len(whole)]:
                continue
            if t.prefix and not lower[i + n - 1].startswith(t.keys[-1]):
                continue
            best = t
        return best

    def counts(self, *texts: str | None) -> dict[str, int]:
        """How many include and exclude terms the texts contain."""
        out = dict.fromkeys(KINDS, 0)
        for text in texts:
            for _, _, kind in self.spans(text):
                out[kind] += 1
        return out

    # -- showing --------------------------------------------------------------------------
    def segments(self, text: str | None) -> list[tuple[str, str | None]]:
        """``text`` cut into ``[(piece, kind or None)]`` in order; joined, they are ``text``."""
        text = text or ""
        out, at = [], 0
        for start, end, kind in self.spans(text):
            if start > at:
                out.append((text[at:start], None))
            out.append((text[start:end], kind))
            at = end
        if at < len(text):
            out.append((text[at:], None))
        return out

    def html(self, text: str | None):
        """``text`` as HTML (escaped) with each term in ``<mark class="hl-include|hl-exclude">``."""
        from markupsafe import Markup, escape

        parts = []
        for piece, kind in self.segments(text):
            if kind is None:
                parts.append(escape(piece))
            else:
                parts.append(Markup('<mark class="hl-{}">{}</mark>').format(kind, piece))
        return Markup("").join(parts)

    def ansi(self, text: str | None, **base) -> str:
        """``text`` styled for a terminal (click.style): include terms bold green and
        underlined, exclude terms bold red and underlined, the rest in the ``base`` style (e.g.
        ``bold=True`` for a title). Line breaks stay where they are."""
        import click

        style = {"include": {"fg": "green", "bold": True, "underline": True},
                 "exclude": {"fg": "red", "bold": True, "underline": True}}
        out = []
        for piece, kind in self.segments(text):
            kw = dict(base, **style[kind]) if kind else base
            # style line by line, so a wrapped piece does not carry colour into the margin
            out.append("\n".join(click.style(line, **kw) if kw and line else line
                                 for line in piece.split("\n")))
        return "".join(out)
