"""How two records compare, field by field, as named comparison levels.

Each field of a candidate pair falls into one level ("title=exact", "pages=differ",
"pages=differ-untrusted", "doi=one-only", ...). The pair scorer (:mod:`.scorer`) gives every level
a weight; a pair's score is the sum of its levels' weights, so every decision can be explained
by the levels that made it (Fellegi and Sunter's record linkage, with weights fitted on labelled
pairs).

A difference in pages, volume or issue is a level of its own only when the field is
trustworthy in *both* records (parsed as a page range or a plain number; not a month name, an
Excel date or "var.pagings"); otherwise it is "differ-untrusted", which the labelled sets teach
to weigh little.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from rapidfuzz import fuzz

from .normalise import Norm, journals_compatible

if TYPE_CHECKING:
    from .match import FieldTrust

# field -> its levels, in a fixed order (the model file stores weights in this order)
LEVELS: dict[str, tuple[str, ...]] = {
    # a short title ("Editorial", "Heart failure") says less than a long one at any level
    "title": ("exact", "98", "95", "90", "85", "80", "contained", "low", "missing",
              "exact-short", "98-short", "95-short", "90-short", "85-short", "80-short",
              "contained-short", "low-short"),
    "authors": ("same", "same-names", "similar", "differ", "unknown"),
    "year": ("same", "one-apart", "apart", "unknown"),
    "pages": ("same", "differ", "differ-untrusted", "unknown"),
    "last_page": ("same", "differ", "unknown"),
    "volume": ("same", "differ", "differ-untrusted", "unknown"),
    "issue": ("same", "differ", "differ-untrusted", "unknown"),
    "journal": ("same", "compatible", "differ", "unknown"),
    "identifier": ("same", "differ", "one-only", "none"),
    "abstract": ("same", "similar", "differ", "unknown"),
    "conference": ("same", "one-only"),
    # titles that differ in a number are items of a series ("FOCUS 1" / "FOCUS 2", "cohort 1")
    "title_numbers": ("same", "differ"),
    # the citation as a whole: the same year, volume and first page identify one item; a
    # different year and a different (trusted) volume two
    "citation": ("same", "conflict", "other"),
}
FEATURES: tuple[str, ...] = tuple(f"{f}={lv}" for f, lvs in LEVELS.items() for lv in lvs)
_INDEX = {name: k for k, name in enumerate(FEATURES)}
SHORT_TITLE = 40  # characters: "Editorial", "Heart failure" do not identify a paper


def _title_level(a: Norm, b: Norm, ts: float) -> str:
    if not a.title or not b.title:
        return "missing"
    if a.title == b.title:
        return "exact"
    for cut in (98, 95, 90, 85, 80):
        if ts >= cut:
            return str(cut)
    return "contained" if title_contained(a.title, b.title) else "low"


def first_pages_agree(pa: str, pb: str) -> bool:
    """First pages equal, or equal apart from a letter prefix ("e137960" ~ "137960"), or one is
    the other with an abstract number appended ("A116" ~ "A116e1088")."""
    if pa == pb:
        return True
    short, long_ = (pa, pb) if len(pa) < len(pb) else (pb, pa)
    if long_.startswith(short) and short[-1].isdigit() and not long_[len(short)].isdigit():
        return True
    da, db = pa.lstrip("abcdefghijklmnopqrstuvwxyz"), pb.lstrip("abcdefghijklmnopqrstuvwxyz")
    return bool(da) and da == db


def pages_level(a: Norm, b: Norm) -> str:
    if not a.page_first or not b.page_first:
        return "unknown"
    if first_pages_agree(a.page_first, b.page_first):
        return "same"
    return "differ" if a.pages_ok and b.pages_ok else "differ-untrusted"


def authors_level(a: Norm, b: Norm) -> str:
    """'same' (first three surnames), 'same-names' (one list's name words are, nearly all, in
    the other's: "Van Dyke T. E." / "Van Dyke Thomas E."), 'similar', 'differ', 'unknown'."""
    if not a.surnames or not b.surnames:
        return "unknown"
    if a.surnames[:3] == b.surnames[:3]:
        return "same"
    wa, wb = a.name_words, b.name_words
    if wa and wb and len(wa & wb) >= 0.8 * min(len(wa), len(wb)):
        return "same-names"
    sim = fuzz.token_set_ratio(" ".join(a.surnames[:10]), " ".join(b.surnames[:10]))
    if sim >= 90:
        return "same-names"
    if sim >= 70 or a.surnames[0] == b.surnames[0]:
        return "similar"
    return "differ"


def _number_level(va: str, vb: str, plain_a: bool, plain_b: bool) -> str:
    if not va or not vb:
        return "unknown"
    if va == vb:
        return "same"
    return "differ" if plain_a and plain_b else "differ-untrusted"


def levels(a: Norm, b: Norm, ts: float, trust_volume: bool = True, trust_issue: bool = True
           ) -> dict[str, str]:
    """The comparison level of every field for one pair (``ts``: title ratio 0-100).

    ``trust_volume``/``trust_issue``: whether the collection's volume/issue fields can be
    believed at all (:func:`match.field_trust`); where not, a difference is "differ-untrusted"
    even between plain numbers (an EndNote library's record numbers in the issue field)."""
    if a.year and b.year:
        gap = abs(a.year - b.year)
        year = "same" if gap == 0 else "one-apart" if gap == 1 else "apart"
    else:
        year = "unknown"
    pages = pages_level(a, b)
    if pages == "same" and a.page_last and b.page_last:
        last = "same" if a.page_last == b.page_last else (
            "differ" if a.pages_ok and b.pages_ok else "unknown")
    else:
        last = "unknown"
    if not a.journal or not b.journal:
        journal = "unknown"
    elif a.journal == b.journal:
        journal = "same"
    else:
        journal = "compatible" if journals_compatible(a.journal, b.journal) else "differ"
    if (a.doi and a.doi == b.doi) or (a.pmid and a.pmid == b.pmid):
        ident = "same"
    elif (a.doi and b.doi) or (a.pmid and b.pmid):
        ident = "differ"
    elif a.doi or b.doi or a.pmid or b.pmid:
        ident = "one-only"
    else:
        ident = "none"
    if a.abstract and b.abstract:
        s = fuzz.ratio(a.abstract, b.abstract)
        abstract = "same" if s >= 95 else "similar" if s >= 80 else "differ"
    else:
        abstract = "unknown"
    title = _title_level(a, b, ts)
    if title != "missing" and min(len(a.title), len(b.title)) < SHORT_TITLE:
        title += "-short"
    volume = _number_level(a.volume, b.volume, a.volume_plain and trust_volume,
                           b.volume_plain and trust_volume)
    if year == "same" and volume == "same" and pages == "same":
        citation = "same"
    elif year in ("one-apart", "apart") and volume == "differ":
        citation = "conflict"
    else:
        citation = "other"
    return {
        "title": title,
        "authors": authors_level(a, b),
        "year": year,
        "pages": pages,
        "last_page": last,
        "volume": volume,
        "issue": _number_level(a.issue, b.issue, a.issue_plain and trust_issue,
                               b.issue_plain and trust_issue),
        "journal": journal,
        "identifier": ident,
        "abstract": abstract,
        "conference": "one-only" if a.conference != b.conference else "same",
        "title_numbers": "differ" if title_numbers_differ(a.title, b.title) else "same",
        "citation": citation,
    }


def feature_row(lv: dict[str, str]) -> list[int]:
    """Column indices (into :data:`FEATURES`) of one pair's levels."""
    return [_INDEX[f"{f}={v}"] for f, v in lv.items()]


def feature_matrix(norms: Sequence[Norm], pairs: np.ndarray, sims: np.ndarray,
                   trust: "FieldTrust | None" = None) -> np.ndarray:
    """0/1 matrix (pairs x :data:`FEATURES`) for index ``pairs`` with title ratios ``sims``."""
    tv, ti = (trust.volume, trust.issue) if trust is not None else (True, True)
    x = np.zeros((len(pairs), len(FEATURES)), dtype=np.float32)
    for k in range(len(pairs)):
        a, b = norms[int(pairs[k, 0])], norms[int(pairs[k, 1])]
        ts = float(sims[k]) if sims[k] or not (a.title and b.title) else fuzz.ratio(a.title,
                                                                                    b.title)
        x[k, feature_row(levels(a, b, ts, tv, ti))] = 1.0
    return x


def title_numbers_differ(ta: str, tb: str) -> bool:
    """Both titles carry numbers, and not the same ones."""
    na = {w for w in ta.split() if w.isdigit()}
    if not na:
        return False
    nb = {w for w in tb.split() if w.isdigit()}
    return bool(nb) and na != nb


def title_contained(ta: str, tb: str) -> bool:
    """One title (of 3+ words) is the other with words added: a subtitle dropped or a series
    name prefixed ("Case 17-2012: ..." ~ "Case records of the MGH. Case 17-2012: ...")."""
    short, long_ = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    if len(short.split()) < 3:
        return False
    return (f" {short} " in f" {long_} "
            or fuzz.partial_ratio(short, long_, score_cutoff=97) >= 97)
