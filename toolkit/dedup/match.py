"""Decide each candidate pair: duplicate, not duplicate, or uncertain, by explainable rules.

The rules are published in docs/dedup.md; every decision carries the name of the rule that made
it. Contradictions (:data:`HARD_NOT`) are checked first and always win; then identifiers; then
fuzzy agreement of title, authors, year, pages and journal. Titles are scored for all candidate
pairs at once with rapidfuzz (C, multi-threaded); the per-pair rules run only on pairs that share
an identifier or whose titles are alike.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
from rapidfuzz import fuzz, process

from .normalise import Norm, journals_compatible

DUPLICATE, NOT, UNCERTAIN = "duplicate", "not", "uncertain"

# Rules whose "not" is a contradiction: the chaining guard refuses to put such a pair in one
# cluster, whatever links them indirectly.
HARD_NOT = frozenset({"notice-differs", "part-differs", "pmid-differs", "doi-differs",
                      "years-apart", "conference-vs-paper", "pages-and-year-differ"})

# Below this title similarity (rapidfuzz ratio, 0-100) a pair without a shared identifier is
# not looked at further.
TITLE_FLOOR = 80.0


class Decision(NamedTuple):
    decision: str   # duplicate | not | uncertain
    rule: str       # the rule that decided (see docs/dedup.md)
    score: float    # title similarity 0-100 (for ordering and display)


def _pages(a: Norm, b: Norm) -> str:
    """'same', 'differ' or 'unknown' for the first pages ("e137960" ~ "137960", "A116" ~
    "a116e1088": one a prefix of the other counts as the same)."""
    pa, pb = a.page_first, b.page_first
    if not pa or not pb:
        return "unknown"
    if pa == pb:
        return "same"
    short, long_ = (pa, pb) if len(pa) < len(pb) else (pb, pa)
    if long_.startswith(short) and short[-1].isdigit() and not long_[len(short)].isdigit():
        return "same"  # "a116" ~ "a116e1088" (an abstract number appended)
    da, db = pa.lstrip("abcdefghijklmnopqrstuvwxyz"), pb.lstrip("abcdefghijklmnopqrstuvwxyz")
    if da and da == db:
        return "same"
    return "differ"


def _authors(a: Norm, b: Norm) -> str:
    """'same', 'similar', 'differ' or 'unknown' for the author surname lists."""
    if not a.surnames or not b.surnames:
        return "unknown"
    if a.surnames[:3] == b.surnames[:3]:
        return "same"
    sa, sb = " ".join(a.surnames[:10]), " ".join(b.surnames[:10])
    sim = fuzz.token_set_ratio(sa, sb)
    if sim >= 90:
        return "same"
    if sim >= 70 or a.surnames[0] == b.surnames[0]:
        return "similar"
    return "differ"


def classify(a: Norm, b: Norm, title_sim: float | None = None) -> Decision:
    """The decision for one pair of normalised records (see docs/dedup.md for the rules)."""
    ts = fuzz.ratio(a.title, b.title) if title_sim is None else float(title_sim)
    same_doi = bool(a.doi) and a.doi == b.doi
    same_pmid = bool(a.pmid) and a.pmid == b.pmid
    year_gap = abs(a.year - b.year) if a.year and b.year else 0
    pages = _pages(a, b)

    # 1. Contradictions: a different kind of item, or a different paper.
    if a.notice != b.notice:
        return Decision(NOT, "notice-differs", ts)
    if a.part != b.part:
        return Decision(NOT, "part-differs", ts)
    if a.pmid and b.pmid and not same_pmid:
        return Decision(NOT, "pmid-differs", ts)
    if a.conference != b.conference and (pages == "differ" or year_gap >= 1) and not same_doi:
        return Decision(NOT, "conference-vs-paper", ts)
    if year_gap > 1 and not (same_doi or same_pmid):
        return Decision(NOT, "years-apart", ts)
    if year_gap >= 1 and pages == "differ" and not (same_doi or same_pmid):
        return Decision(NOT, "pages-and-year-differ", ts)

    authors = _authors(a, b)
    short = len(a.title) < 40 or len(b.title) < 40  # "Editorial", "Heart failure": not unique

    journal_ok = journals_compatible(a.journal, b.journal)
    # The same citation: volume and first page both known and equal, journal compatible.
    citation = (pages == "same" and bool(a.volume) and a.volume == b.volume and journal_ok
                and year_gap == 0)

    # 2. Shared identifiers (which sources sometimes attach to the wrong record).
    if same_doi or same_pmid:
        if not journal_ok and pages == "differ":
            return Decision(UNCERTAIN, "same-identifier-citation-differs", ts)
        if ts >= TITLE_FLOOR or _title_contained(a.title, b.title):
            return Decision(DUPLICATE, "same-identifier", ts)
        if ts < 60 and authors != "same":
            # e.g. one DOI for a whole abstract supplement: different abstracts
            return Decision(NOT, "same-identifier-unrelated", ts)
        return Decision(UNCERTAIN, "same-identifier-title-differs", ts)
    if a.doi and b.doi:
        # Different DOIs: different papers, unless title, authors and the whole citation
        # agree (then one DOI is wrong: two papers cannot share volume and pages).
        if ts >= 97 and citation and authors != "differ":
            return Decision(DUPLICATE, "doi-differs-citation-agrees", ts)
        return Decision(NOT, "doi-differs", ts)

    # 3. Fuzzy agreement without a shared identifier.
    if ts >= 95 and authors != "differ" and pages != "differ" and not short:
        if journal_ok or pages == "same":
            return Decision(DUPLICATE, "title-authors-match", ts)
        if (authors == "same" and year_gap == 0 and ts >= 98
                and not (a.conference and b.conference)):
            return Decision(DUPLICATE, "title-authors-year-match", ts)
        return Decision(UNCERTAIN, "journal-differs", ts)
    if ts >= 90 and authors == "same" and pages == "same" and year_gap == 0:
        return Decision(DUPLICATE, "title-close-authors-pages-match", ts)
    if ts >= 95 and citation and not short:
        # the whole citation agrees: author lists that fail to match are a formatting problem
        return Decision(DUPLICATE, "title-citation-match", ts)
    if ts >= 85 and citation and authors == "same" and not short:
        return Decision(DUPLICATE, "title-similar-citation-match", ts)
    if (short and ts >= 95 and authors != "differ" and pages != "differ" and year_gap == 0
            and journal_ok and a.volume and a.volume == b.volume
            and (authors == "same" or pages == "same" or a.issue == b.issue)):
        return Decision(DUPLICATE, "short-title-all-match", ts)
    if authors == "same" and citation and _title_contained(a.title, b.title):
        return Decision(DUPLICATE, "title-contained-citation-agrees", ts)
    if ts >= 95 and authors != "differ" and pages == "differ":
        return Decision(UNCERTAIN, "pages-differ", ts)
    if ts >= 85 and authors in ("same", "similar"):
        return Decision(UNCERTAIN, "title-similar", ts)
    return Decision(NOT, "title-differs", ts)


def _title_contained(ta: str, tb: str) -> bool:
    """One title (of 3+ words) is the other with words added: a subtitle dropped or a series
    name prefixed ("Case 17-2012: ..." ~ "Case records of the MGH. Case 17-2012: ...")."""
    short, long_ = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    if len(short.split()) < 3:
        return False
    return f" {short} " in f" {long_} " or fuzz.partial_ratio(short, long_) >= 97


def score_pairs(norms: Sequence[Norm], pairs: np.ndarray, *, workers: int = -1
                ) -> list[tuple[int, int, Decision]]:
    """Decisions for the candidate index pairs that could be duplicates or uncertain.

    Returns ``(i, j, decision)`` for every pair that is not a plain "not" by title; hard
    contradictions are kept too (the chaining guard needs them).
    """
    if len(pairs) == 0:
        return []
    titles = [n.title for n in norms]
    qa = [titles[i] for i in pairs[:, 0]]
    qb = [titles[j] for j in pairs[:, 1]]
    # score_cutoff lets rapidfuzz stop early on hopeless pairs (they score 0)
    sims = process.cpdist(qa, qb, scorer=fuzz.ratio, score_cutoff=TITLE_FLOOR, workers=workers,
                          dtype=np.float32)
    doi = _codes([n.doi for n in norms])
    pmid = _codes([n.pmid for n in norms])
    ia, ib = pairs[:, 0], pairs[:, 1]
    shared = ((doi[ia] == doi[ib]) & (doi[ia] >= 0)) | ((pmid[ia] == pmid[ib]) & (pmid[ia] >= 0))
    keep = np.flatnonzero((sims >= TITLE_FLOOR) | shared)
    out = []
    for k in keep:
        i, j = int(ia[k]), int(ib[k])
        d = classify(norms[i], norms[j], float(sims[k]) if sims[k] else None)
        if d.decision != NOT or d.rule in HARD_NOT:
            out.append((i, j, d))
    return out


def _codes(values: list[str]) -> np.ndarray:
    """Integer codes for values, -1 for empty (vectorised equality tests)."""
    arr = np.asarray(values, dtype=object)
    _, inv = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    codes = inv.astype(np.int64)
    codes[arr == ""] = -1
    return codes
