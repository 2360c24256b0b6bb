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

from .features import authors_level, pages_level, title_contained as _title_contained
from .features import title_numbers_differ as _title_numbers_differ
from .normalise import Norm, journals_compatible

DUPLICATE, NOT, UNCERTAIN = "duplicate", "not", "uncertain"

# Rules whose "not" is a contradiction: the chaining guard refuses to put such a pair in one
# cluster, whatever links them indirectly.
HARD_NOT = frozenset({"notice-differs", "part-differs", "pmid-differs", "doi-differs",
                      "years-apart", "conference-vs-paper", "pages-and-year-differ",
                      "issue-differs", "volume-and-year-differ"})

# Below this title similarity (rapidfuzz ratio, 0-100) the hand rules call a pair without a
# shared identifier different; pairs down to KEEP_FLOOR are still shown to the pair scorer (a
# second translation of a title, a subtitle added). Below that a pair is not looked at further.
TITLE_FLOOR = 80.0
KEEP_FLOOR = 70.0

# Titles below this ratio are unrelated (see citation-authors-match and :func:`decide`).
UNRELATED_TITLES = 50.0

# Contradictions the pair scorer may not overrule: the reviewer-facing distinctions and every
# contradiction between fields that are trustworthy in both records. Only "doi-differs" is
# left out: the same article under two DOIs happens, and the scorer can tell it from two
# articles by everything else (but does not merge it unless sure).
NEVER_RESCUED = HARD_NOT - {"doi-differs"}


class FieldTrust(NamedTuple):
    """Whether the volume and issue fields of this collection can be believed when two records
    disagree on them. Exports differ: one puts EndNote record numbers in the issue field, another
    the supplement in the volume. :func:`field_trust` measures it on the collection itself."""
    volume: bool = True
    issue: bool = True


class Decision(NamedTuple):
    decision: str   # duplicate | not | uncertain
    rule: str       # the rule that decided (see docs/dedup.md)
    score: float    # title similarity 0-100 (for ordering and display)


def _pages(a: Norm, b: Norm) -> str:
    """'same', 'differ' or 'unknown' for the first pages ("e137960" ~ "137960", "A116" ~
    "a116e1088": one a prefix of the other counts as the same). Different first pages
    'differ' only when both records' pages fields are trustworthy (a page range, not a month
    name, an Excel date or "var.pagings"); otherwise they are 'unknown'."""
    lv = pages_level(a, b)
    return "unknown" if lv == "differ-untrusted" else lv


def _authors(a: Norm, b: Norm) -> str:
    """'same', 'similar', 'differ' or 'unknown' for the author lists (:func:`authors_level`;
    'same-names', the same name words cut into surnames differently, counts as 'same')."""
    lv = authors_level(a, b)
    return "same" if lv == "same-names" else lv


def classify(a: Norm, b: Norm, title_sim: float | None = None,
             trust: FieldTrust = FieldTrust()) -> Decision:
    """The decision for one pair of normalised records (see docs/dedup.md for the rules).

    ``trust`` says whether a disagreement on volume or issue counts (see :func:`field_trust`).
    """
    if title_sim is None:  # an empty title (a record with none) agrees with nothing
        ts = fuzz.ratio(a.title, b.title) if a.title and b.title else 0.0
    else:
        ts = float(title_sim)
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
    if not (same_doi or same_pmid) and a.volume_plain and b.volume_plain:
        # Plain volume numbers (not "17 (1) (no pagination)" or a truncated "1)") are facts
        # where the collection's fields are trustworthy: the same column or editorial in
        # another issue is another item.
        if (trust.issue and a.volume == b.volume and a.issue_plain and b.issue_plain
                and a.issue != b.issue
                and not (a.issue == b.page_first and not a.page_first)
                and not (b.issue == a.page_first and not b.page_first)):
            # (an article number in the issue field, no pages: the other's page "791" / "3")
            return Decision(NOT, "issue-differs", ts)
        if trust.volume and a.volume != b.volume and year_gap >= 1:
            return Decision(NOT, "volume-and-year-differ", ts)

    authors = _authors(a, b)
    short = len(a.title) < 40 or len(b.title) < 40  # "Editorial", "Heart failure": not unique

    journal_ok = journals_compatible(a.journal, b.journal)
    # The same citation: volume and first page both known and equal, journal compatible.
    citation = (pages == "same" and bool(a.volume) and a.volume == b.volume and journal_ok
                and year_gap == 0)
    last_ok = not (a.page_last and b.page_last and a.page_last != b.page_last)
    # The same pagination: year, volume, first and last page all known and equal.
    pagination = (pages == "same" and bool(a.page_last) and a.page_last == b.page_last
                  and bool(a.volume) and a.volume == b.volume and year_gap == 0)

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
        if ts >= 97 and citation and authors != "differ" and last_ok:
            return Decision(DUPLICATE, "doi-differs-citation-agrees", ts)
        return Decision(NOT, "doi-differs", ts)

    # 3. Fuzzy agreement without a shared identifier.
    # two plain, trusted volume numbers that differ: two items, whatever else agrees
    volumes_differ = (trust.volume and a.volume_plain and b.volume_plain
                      and a.volume != b.volume)
    if ts >= 95 and authors != "differ" and pages != "differ" and not short:
        if (journal_ok or pages == "same") and not (volumes_differ and pages != "same"):
            return Decision(DUPLICATE, "title-authors-match", ts)
        if (authors == "same" and year_gap == 0 and ts >= 98
                and not (a.conference and b.conference)
                and not (a.volume and b.volume and a.volume != b.volume)):
            return Decision(DUPLICATE, "title-authors-year-match", ts)
        return Decision(UNCERTAIN, "journal-differs", ts)
    if ts >= 90 and authors == "same" and pages == "same" and year_gap == 0:
        return Decision(DUPLICATE, "title-close-authors-pages-match", ts)
    if ts >= 95 and citation and not short:
        # the whole citation agrees: author lists that fail to match are a formatting problem
        return Decision(DUPLICATE, "title-citation-match", ts)
    if ts >= 95 and pagination and (journal_ok or not short):
        # same year, volume, first and last page: one item. Journal names that fail to match
        # ("Hunan Yi Ke Da Xue Xue Bao" / "Bulletin of Hunan Medical University") and author
        # lists that fail to parse do not outweigh that.
        return Decision(DUPLICATE, "title-pagination-match", ts)
    if (pagination and journal_ok and authors in ("same", "similar") and ts >= UNRELATED_TITLES
            and not (a.conference or b.conference)):
        # The whole citation is as good an identifier as a DOI: with the same authors it is
        # the same article under a title that is related but not the same (a second
        # translation of a Russian or German title shares its drug names and key words:
        # ratio 57-70 in the cardiac set). Unrelated titles (< 50) with one citation are a
        # data error, not evidence. Abstract supplements are left out: a database may give
        # every abstract the supplement's page range.
        return Decision(DUPLICATE, "citation-authors-match", ts)
    if ts >= 85 and citation and authors == "same" and not short:
        return Decision(DUPLICATE, "title-similar-citation-match", ts)
    if (short and ts >= 95 and authors != "differ" and pages != "differ" and year_gap == 0
            and journal_ok and a.volume and a.volume == b.volume
            and (authors == "same" or pages == "same" or a.issue == b.issue)):
        return Decision(DUPLICATE, "short-title-all-match", ts)
    if ((citation and (authors == "same" or pagination)
         or pagination and authors != "differ")
            and _title_contained(a.title, b.title)):
        # a subtitle or a translated title added; with the whole pagination the journal names
        # need not match ("Braz. j. phys. ther." / "Revista Brasileira de Fisioterapia")
        return Decision(DUPLICATE, "title-contained-citation-agrees", ts)
    if (ts >= 95 and authors == "same" and pages == "differ" and not short and year_gap == 0
            and journal_ok and a.volume and a.volume == b.volume
            and not _title_numbers_differ(a.title, b.title)):
        # All but the first page agree: a page typed wrong or a page range garbled ("t-8",
        # "Suppl-12") in one record. (A different item with the same title is an erratum or
        # a reply, which the notice rule has already told apart, or in another issue; two
        # papers of a series in one volume differ in a number: "cohort 1" / "cohort 2".)
        return Decision(DUPLICATE, "citation-agrees-pages-differ", ts)
    if ts >= 95 and authors != "differ" and pages == "differ":
        return Decision(UNCERTAIN, "pages-differ", ts)
    if ts >= 85 and authors in ("same", "similar"):
        return Decision(UNCERTAIN, "title-similar", ts)
    return Decision(NOT, "title-differs", ts)


def decide(a: Norm, b: Norm, title_sim: float | None = None,
           trust: FieldTrust = FieldTrust(), model=None) -> Decision:
    """The hand rules' decision (:func:`classify`), settled further by the pair scorer
    (``model``, a :class:`scorer.PairModel`; None = rules alone) where the rules leave room:

    - a pair the rules call uncertain, or "not" by a rule that is not a contradiction
      (:data:`NEVER_RESCUED`), is a duplicate when the scorer's probability is at least
      ``scorer.DUPLICATE_AT`` (rule "pair-score P: <the levels that weighed most>"), unless
      the titles differ in a number (items of a series: "FOCUS 1" / "FOCUS 2") or are both
      there and unrelated (ratio and token-set ratio below :data:`UNRELATED_TITLES`);
    - an uncertain pair the scorer puts below ``scorer.NOT_BELOW`` is not a duplicate.
    Everything else is the rules' decision."""
    d = classify(a, b, title_sim, trust)
    if model is None or d.decision == DUPLICATE or d.rule in NEVER_RESCUED:
        return d
    from .features import levels
    from .scorer import DUPLICATE_AT, NOT_BELOW
    ts = d.score
    # Two titles that are both there and share hardly a word are a data error, not a second
    # rendering of one title (which shares its drug names and key words): they are not
    # merged on the rest alone.
    unrelated = (bool(a.title and b.title) and ts < UNRELATED_TITLES
                 and fuzz.token_set_ratio(a.title, b.title) < UNRELATED_TITLES)
    if unrelated and d.decision != UNCERTAIN:
        return d  # nothing the scorer could change
    lv = levels(a, b, ts, trust.volume, trust.issue)
    p = model.probability(lv)
    if p >= DUPLICATE_AT and not unrelated and not _title_numbers_differ(a.title, b.title):
        return Decision(DUPLICATE, f"pair-score {p:.3f}: {model.explain(lv)}", ts)
    if d.decision == UNCERTAIN and p < NOT_BELOW:
        return Decision(NOT, f"pair-score {p:.3f} ({d.rule}): {model.explain(lv)}", ts)
    return d


# Field trust is measured on "anchor" pairs, duplicates beyond doubt: the same long title
# (rapidfuzz ratio >= 98), year, first and last page. A field is trusted when, over at least
# TRUST_MIN_ANCHORS anchors where both records give it as a plain number, at most
# TRUST_MAX_DISAGREE of them disagree (true duplicates agree on a real volume or issue).
TRUST_MIN_ANCHORS = 20
TRUST_MAX_DISAGREE = 0.05


def field_trust(norms: Sequence[Norm], pairs: np.ndarray, sims: np.ndarray,
                prior: FieldTrust | None = None) -> FieldTrust:
    """Whether volume and issue disagreements can be believed in this collection, measured on
    the anchor pairs among the scored candidate ``pairs`` (title similarities ``sims``).

    A field with too few anchors keeps its ``prior`` value (an earlier run's on the same
    store, for a small incremental import), else it is not trusted."""
    counts = {"volume": [0, 0], "issue": [0, 0]}  # [anchors with both plain, disagreeing]
    for k in np.flatnonzero(sims >= 98):
        a, b = norms[int(pairs[k, 0])], norms[int(pairs[k, 1])]
        if (len(a.title) < 40 or not a.year or a.year != b.year or not a.page_first
                or a.page_first != b.page_first or not a.page_last
                or a.page_last != b.page_last or a.notice != b.notice):
            continue
        if a.volume_plain and b.volume_plain:
            counts["volume"][0] += 1
            counts["volume"][1] += a.volume != b.volume
            if a.volume == b.volume and a.issue_plain and b.issue_plain:
                counts["issue"][0] += 1
                counts["issue"][1] += a.issue != b.issue
    ok = {f: (bad <= TRUST_MAX_DISAGREE * n if n >= TRUST_MIN_ANCHORS
              else bool(prior and getattr(prior, f)))
          for f, (n, bad) in counts.items()}
    return FieldTrust(volume=ok["volume"], issue=ok["issue"])


def score_pairs(norms: Sequence[Norm], pairs: np.ndarray, *, workers: int = -1,
                prior_trust: FieldTrust | None = None, model=None
                ) -> tuple[list[tuple[int, int, Decision]], FieldTrust]:
    """Decisions (:func:`decide`, with the pair scorer ``model``) for the candidate index pairs
    that could be duplicates or uncertain, and the field trust they were made with
    (``prior_trust``: see :func:`field_trust`).

    Returns ``(i, j, decision)`` for every pair that is not a plain "not" by title; hard
    contradictions are kept too (the chaining guard needs them).
    """
    if len(pairs) == 0:
        return [], prior_trust or FieldTrust(volume=False, issue=False)
    keep, sims, trust = title_scored(norms, pairs, workers=workers, prior_trust=prior_trust)
    ia, ib = pairs[:, 0], pairs[:, 1]
    out = []
    for k in keep:
        i, j = int(ia[k]), int(ib[k])
        d = decide(norms[i], norms[j], float(sims[k]) if sims[k] else None, trust, model)
        if d.decision != NOT or d.rule in HARD_NOT:
            out.append((i, j, d))
    return out, trust


def title_scored(norms: Sequence[Norm], pairs: np.ndarray, *, workers: int = -1,
                 prior_trust: FieldTrust | None = None
                 ) -> tuple[np.ndarray, np.ndarray, FieldTrust]:
    """Title similarity of every candidate pair (0 below :data:`KEEP_FLOOR`), the indices of
    the pairs worth deciding (title at least KEEP_FLOOR, or a shared DOI/PMID, or the same
    year, volume and first page) and the collection's field trust."""
    titles = [n.title for n in norms]
    qa = [titles[i] for i in pairs[:, 0]]
    qb = [titles[j] for j in pairs[:, 1]]
    # score_cutoff lets rapidfuzz stop early on hopeless pairs (they score 0)
    sims = process.cpdist(qa, qb, scorer=fuzz.ratio, score_cutoff=KEEP_FLOOR, workers=workers,
                          dtype=np.float32)
    # an empty title (a record with none) agrees with nothing
    empty = np.fromiter((not t for t in titles), dtype=bool, count=len(titles))
    sims[empty[pairs[:, 0]] | empty[pairs[:, 1]]] = 0
    doi = _codes([n.doi for n in norms])
    pmid = _codes([n.pmid for n in norms])
    ia, ib = pairs[:, 0], pairs[:, 1]
    shared = ((doi[ia] == doi[ib]) & (doi[ia] >= 0)) | ((pmid[ia] == pmid[ib]) & (pmid[ia] >= 0))
    # Pairs with the same year, volume and first page are classified whatever their titles
    # (a subtitle dropped or added can put the title score below the floor).
    cite = _codes([f"{n.year}|{n.volume}|{n.page_first}" if n.year and n.volume and n.page_first
                   else "" for n in norms])
    same_cite = (cite[ia] == cite[ib]) & (cite[ia] >= 0)
    keep = np.flatnonzero((sims >= KEEP_FLOOR) | shared | same_cite)
    trust = field_trust(norms, pairs, np.where(sims >= TITLE_FLOOR, sims, 0), prior_trust)
    return keep, sims, trust


def _codes(values: list[str]) -> np.ndarray:
    """Integer codes for values, -1 for empty (vectorised equality tests)."""
    arr = np.asarray(values, dtype=object)
    _, inv = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    codes = inv.astype(np.int64)
    codes[arr == ""] = -1
    return codes
