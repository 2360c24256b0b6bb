"""Duplicate clusters by transitive closure (union-find) with a guard against chaining.

A single bad link must not join two different papers: A~B and B~C would put A and C together
even when A and C contradict each other (different PMIDs, an erratum and its article, ...).
Before two clusters are joined every cross pair is checked with :func:`match.classify`; if any
is a contradiction (:data:`match.HARD_NOT`) or a pair a person declared "not duplicate", the
link is refused and reported (it goes to the manual queue).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

from .match import DUPLICATE, HARD_NOT, Decision, classify
from .normalise import Norm

# Stronger evidence first, so a weak link meets an already-formed cluster and the guard.
_RULE_ORDER = {"same-identifier": 0, "doi-differs-citation-agrees": 1,
               "title-citation-match": 1, "title-close-authors-pages-match": 2,
               "title-similar-citation-match": 2, "title-authors-match": 3,
               "title-contained-citation-agrees": 3, "translated-title-citation-match": 3,
               "title-authors-year-match": 4,
               "short-title-all-match": 5}


class UnionFind:
    """Disjoint sets over 0..n-1 with member lists (clusters stay small, so merging lists is
    cheap)."""

    def __init__(self, n: int):
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {}

    def find(self, x: int) -> int:
        p = self.parent
        root = x
        while p[root] != root:
            root = p[root]
        while p[x] != root:
            p[x], x = root, p[x]
        return root

    def group(self, root: int) -> list[int]:
        return self.members.get(root, [root])

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        ga, gb = self.group(ra), self.group(rb)
        if len(ga) < len(gb):
            ra, rb, ga, gb = rb, ra, gb, ga
        self.parent[rb] = ra
        self.members[ra] = ga + gb
        self.members.pop(rb, None)
        return ra

    def clusters(self) -> list[list[int]]:
        """Every set of two or more, members sorted, clusters in order of first member."""
        out = [sorted(m) for r, m in self.members.items() if self.find(r) == r and len(m) > 1]
        return sorted(out)


def build_clusters(norms: Sequence[Norm], decisions: Iterable[tuple[int, int, Decision]], *,
                   initial: Iterable[Sequence[int]] = (),
                   forbidden: set[tuple[int, int]] | frozenset = frozenset(),
                   classify_fn: Callable[[Norm, Norm], Decision] = classify,
                   ) -> tuple[UnionFind, list[tuple[int, int, Decision]]]:
    """Union duplicate pairs, strongest rule and highest title score first, with the guard.

    ``initial``: groups already merged (kept as they are); ``forbidden``: index pairs (i < j)
    a person declared not duplicates. Returns the union-find and the refused links, each as
    ``(i, j, Decision(uncertain, 'chaining-guard:<rule>', score))``.
    """
    uf = UnionFind(len(norms))
    for grp in initial:
        grp = list(grp)
        for x in grp[1:]:
            uf.union(grp[0], x)
    hard: set[tuple[int, int]] = set(forbidden)
    dups = []
    for i, j, d in decisions:
        if d.decision == DUPLICATE:
            dups.append((i, j, d))
        elif d.rule in HARD_NOT:
            hard.add((min(i, j), max(i, j)))
    dups.sort(key=lambda t: (_RULE_ORDER.get(t[2].rule, 9), -t[2].score, t[0], t[1]))
    refused = []
    for i, j, d in dups:
        ri, rj = uf.find(i), uf.find(j)
        if ri == rj:
            continue
        blocker = _contradiction(uf.group(ri), uf.group(rj), norms, hard, classify_fn)
        if blocker:
            refused.append((i, j, Decision("uncertain", f"chaining-guard:{blocker}", d.score)))
            continue
        uf.union(ri, rj)
    return uf, refused


def _contradiction(ga: list[int], gb: list[int], norms: Sequence[Norm], hard: set,
                   classify_fn) -> str:
    """The rule of the first contradicting cross pair between two groups, else ''."""
    for x in ga:
        for y in gb:
            key = (x, y) if x < y else (y, x)
            if key in hard:
                return "contradiction"  # a hard-not pair or one a person declared not
    if len(ga) == 1 and len(gb) == 1:
        return ""  # the link itself was judged a duplicate
    for x in ga:
        for y in gb:
            d = classify_fn(norms[x], norms[y])
            if d.decision != DUPLICATE and d.rule in HARD_NOT:
                return d.rule
    return ""
