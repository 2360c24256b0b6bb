"""Field normalisers for matching: one comparable key per field, computed from the raw values.

Everything here is a pure function of strings. :func:`normalise_record` turns one stored record
(a ``records`` row) into a :class:`Norm` tuple of match keys; the blocking and matching code only
ever sees those keys.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import unquote
from typing import NamedTuple

from ..records import normalise_doi, normalise_pmid, normalise_year, split_authors
from ..sources.tables import parse_embase_source

# Latin-1/cp1252 reading of UTF-8 leaves these lead bytes behind ("KÃ¶nig", "â€“", "Â ").
_MOJIBAKE = re.compile("[ÃÂâÅÄÐÑ][\u0080-\u00bf\u2010-\u203a\u0152\u0153\u0160\u0161\u0178"
                       "\u017d\u017e\u0192\u02c6\u02dc\u20ac\u2122]")


def fix_mojibake(text: str) -> str:
    """Undo a latin-1/cp1252 decoding of UTF-8 text ("KÃ¶nig" -> "König"); else unchanged."""
    if not text or not _MOJIBAKE.search(text):
        return text
    for enc in ("cp1252", "latin-1"):
        try:
            return text.encode(enc).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    # Mixed text: repair each mojibake run on its own.
    def _one(m: re.Match) -> str:
        s = m.group(0)
        for enc in ("cp1252", "latin-1"):
            try:
                return s.encode(enc).decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
        return s
    return re.sub("[\u00c0-\u00ff][\u0080-\u00bf\u2010-\u203a\u20ac\u2122\u0152-\u0192]{1,2}",
                  _one, text)


_TAGS = re.compile(r"<[^>]{0,40}>")
_LATEX = re.compile(r"\\(?:textit|textbf|textrm|emph|mathrm|mathit|mathbf|it|bf|rm)\b|[{}$^_~\\]")


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters/digits/spaces only: mojibake fixed, HTML/LaTeX removed,
    diacritics dropped, Greek letters spelled out ("β" -> "beta")."""
    if not text:
        return ""
    if "<" in text:
        text = _TAGS.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    if "\\" in text or "{" in text or "$" in text:
        text = _LATEX.sub(" ", text)
    if not text.isascii():
        text = fix_mojibake(text).translate(_GREEK)
        text = _NON_ASCII.sub(_fold_char, unicodedata.normalize("NFKD", text))
    return _NON_ALNUM.sub(" ", text.lower()).strip()


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fold_char(m: re.Match) -> str:
    """A non-ASCII character left after NFKD: accents and other letters go ("é" was split into
    "e" and an accent), punctuation and symbols become a space ("hemolytic–uremic" =
    "hemolytic-uremic", not "hemolyticuremic")."""
    return "" if unicodedata.category(m.group(0))[0] in "LM" else " "


_GREEK = str.maketrans({
    "α": " alpha ", "β": " beta ", "γ": " gamma ", "δ": " delta ", "κ": " kappa ",
    "μ": " mu ", "ω": " omega ", "ε": " epsilon ", "θ": " theta ", "λ": " lambda ",
    "σ": " sigma ", "τ": " tau ", "Δ": " delta ", "ß": "ss", "ø": "o", "Ø": "O", "ł": "l",
    "Ł": "L", "đ": "d", "Đ": "D", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i"})


# --- title ------------------------------------------------------------------------------------

# Words that make a record a *different item* about the same paper. Each is a class; two records
# whose titles carry different classes are not duplicates (an erratum is not its article).
_NOTICE_PATTERNS = (
    # Anchored where the words are also ordinary medical language: "rapid correction of
    # hyponatraemia", "patients withdrawn from treatment", "immune response to vaccination",
    # "re-infarction" (folded "re infarction") are articles, not notices.
    ("erratum", re.compile(r"\b(?:errat(?:um|a)|corrigend(?:um|a)|author correction|"
                           r"publisher correction)\b|^corrections?\b")),
    ("retraction", re.compile(r"^(?:retraction|retracted|withdrawn)\b|\bexpression of concern\b|"
                              r"\bretraction (?:note|notice|of)\b|\bretracted (?:article|paper)\b")),
    ("comment", re.compile(r"\b(?:comment(?:ary)? on|comments? to|in reply|reply to|authors? reply|"
                           r"letter to the editor)\b|^reply\b|\breply$|^(?:in )?response to\b|"
                           r"\bresponse to (?:the )?(?:letter|comments?|commentary|editorial|"
                           r"critique|critics|reply)\b")),
)
_RE_COLON = re.compile(r"^\s*\[?\s*re\s*:", re.I)  # "Re: Title" (a letter), not "Re-operation"
_PART = re.compile(r"\b(?:part|phase|paper|study|series|trial|section|chapter|volume)\s+"
                   r"([ivx]+|\d+|one|two|three|four|five|a|b)\b")
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9,
          "x": 10, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "a": 1, "b": 2}

_LANGUAGES = (
    "afrikaans|arabic|bulgarian|catalan|chinese|croatian|czech|danish|dutch|english|estonian|"
    "finnish|french|german|greek|hebrew|hungarian|icelandic|italian|japanese|korean|"
    "lithuanian|norwegian|persian|polish|portuguese|romanian|russian|serbian|slovak|"
    "slovenian|spanish|swedish|turkish|ukrainian")

# MEDLINE/Embase annotations appended to titles: "[Erratum appears in ...]" or "[published
# erratum appears in ...]" (which may hold a bracketed note of its own: "[... Note: Niaudet, P
# [added]]"), "[corrected]", "[Japanese]", Ovid's "[Review] [87 refs]".
_TITLE_NOTES = re.compile(
    r"\[\s*(?:(?:(?:published )?erratum|comment|retraction|retracted|update|republished|corrected|"
    r"expression of concern|reprint|see|summary for)\b(?:[^\[\]]|\[[^\[\]]*\])*|"
    r"(?:[a-z]+ )?(?:language|"
    + _LANGUAGES + r")s?|review|\d+ refs?)\s*\]\.?", re.I)

# The same note cut off where an export truncated the field ("... practice.[Erratum appears in
# Lancet Oncol. 201"): an unclosed note at the end of the title.
_TRUNCATED_NOTE = re.compile(
    r"\[\s*(?:(?:published )?erratum|comment|retraction|retracted|update|republished|corrected|"
    r"expression of concern|reprint|see|summary for)\b[^\[\]]*$", re.I)

# EndNote/Embase exports of non-English papers: "English title. German" (the language of the
# original, capitalised), often followed by the original title ("... of the heart. German
# Hohenexposition induziert ..."; the line break is gone after import). The language tag and
# what follows it are not the English title.
_TRANSLATED_TAIL = re.compile(
    r"\.\s+(?:" + "|".join(w.capitalize() for w in _LANGUAGES.split("|")) + r")(?:\s.*)?$",
    re.S)


# Titles of errata that end with the corrected article's citation: Web of Science's "Title
# (vol 360, pg 542, 2009)" and Embase's "Title (New England Journal of Medicine (2009) 360
# (542-544))".
_CITES_ARTICLE = re.compile(
    r"\s*\((?:vol [A-Za-z]?\d+, pg [A-Za-z]?\d+, (?:1[89]|20)\d\d"
    r"|[^()]*\((?:1[89]|20)\d\d\)\s*[A-Za-z]?\d+\s*(?:\(\s*[A-Za-z0-9 ]*\)\s*)?"
    r"\(\s*[A-Za-z]?\d+(?:\s*-\s*[A-Za-z]?\d+)?\s*\))\s*\)\s*\.?\s*$")


_SPREADSHEET_ERROR = re.compile(r"^\s*#(?:NAME\?|VALUE!|REF!|N/A|DIV/0!|NULL!|NUM!)\s*$")


def title_key(title: str | None) -> str:
    """The title as folded words, without MEDLINE notes such as "[Erratum appears in ...]"
    or "[Japanese]", nor a trailing language tag with the original title ("... of the heart.
    German Hohenexposition ..."); brackets, quotes and a trailing period do not matter."""
    if _SPREADSHEET_ERROR.match(title or ""):
        return ""  # the title was lost in a spreadsheet ("#NAME?" for a title starting "-")
    t = _TITLE_NOTES.sub(" ", title or "")
    if "[" in t:
        t = _TRUNCATED_NOTE.sub(" ", t)
    if t.rstrip().endswith(")"):
        t = _CITES_ARTICLE.sub("", t)  # an erratum's citation of its article (the notice)
    if "." in t:
        t = _TRANSLATED_TAIL.sub("", t)
    return ascii_fold(t)


def notice_kind(key: str, raw_title: str = "") -> str:
    """'erratum', 'retraction', 'comment' when the title says so, else ''. ``key`` is the
    folded title; ``raw_title``, when given, is checked for an erratum's citation tail."""
    for name, rx in _NOTICE_PATTERNS:
        if rx.search(key):
            return name
    if raw_title and raw_title.rstrip().endswith(")") and _CITES_ARTICLE.search(raw_title):
        return "erratum"
    if raw_title and _RE_COLON.match(raw_title):
        return "comment"
    return ""


def part_number(key: str) -> str:
    """The series part a folded title names ("part 2" -> "2", "part ii" -> "2"), else ''."""
    m = _PART.search(key)
    if not m:
        return ""
    v = m.group(1)
    return str(_ROMAN.get(v, v))


# --- authors ----------------------------------------------------------------------------------

# EndNote/ASySD exports lose the separator: "Adeli K.Lewis G. F." / "ChangT.K.ChenH.WaxmanD.J.".
# A new name starts where an initial's period is followed by a capital + lower-case letter.
_RUN_TOGETHER = re.compile(r"(?<=[A-Z]\.)\s*(?=[A-Z][a-z\u00c0-\u024f'])")
_INITIALS_TAIL = re.compile(r"(?:\s*[A-Z]\.?-?){1,4}\s*$")


def _surname(name: str) -> str:
    name = name.strip().strip(",;")
    if "," in name:
        sur = name.split(",", 1)[0]
    else:
        m = re.match(r"^(.*?[a-z\u00c0-\u024f'])\s*(?:[A-Z]\.?\s*-?){1,4}$", name)
        if m and m.group(1).strip():
            sur = m.group(1)  # "Lewis G. F." / "ChangT.K." (initials after the surname)
        else:
            toks = name.split()
            sur = toks[-1] if len(toks) > 1 else name  # "Douglas G. Adler"
    return ascii_fold(sur).replace(" ", "")


def split_names(raw: str) -> list[str]:
    """Author names from any one-string author list, including run-together EndNote lists."""
    raw = fix_mojibake(raw or "").strip()
    if not raw:
        return []
    if raw.startswith("["):  # a JSON list stored as authors_raw
        try:
            import json
            vals = json.loads(raw)
            if isinstance(vals, list):
                return [str(v) for v in vals if v]
        except ValueError:
            pass
    if " and " in raw and ";" not in raw and "," not in raw:
        return [p for p in raw.split(" and ") if p.strip()]
    if ";" not in raw and "\n" not in raw and _RUN_TOGETHER.search(raw):
        return [p for p in _RUN_TOGETHER.split(raw) if p.strip()]
    if "\n" in raw:
        return [p for p in raw.split("\n") if p.strip()]
    return split_authors(raw)


def author_surnames(raw: str) -> list[str]:
    """Folded surnames in order ("Adeli K.Lewis G. F." -> ["adeli", "lewis"])."""
    out = []
    for n in split_names(raw):
        s = _surname(n)
        if s and s not in ("et", "al", "etal", "anonymous"):
            out.append(s)
    return out


def author_name_words(raw: str, limit: int = 10) -> frozenset:
    """Every folded word of two or more letters in the first ``limit`` author names."""
    out = set()
    for n in split_names(raw)[:limit]:
        out.update(w for w in ascii_fold(n).split() if len(w) > 1 and w not in ("et", "al"))
    return frozenset(out)


# --- journal ----------------------------------------------------------------------------------

_JOURNAL_STOP = {"of", "the", "and", "in", "for", "on", "de", "la", "le", "der", "und", "des",
                 "du", "et", "a", "an"}


def journal_key(journal: str | None) -> str:
    """Folded journal words without stop words, cut at "conference"/"supplement" notes."""
    k = ascii_fold(journal or "")
    k = re.split(r"\b(?:conference|congress|meeting|suppl|supplement)\b", k)[0]
    return " ".join(w for w in k.split() if w not in _JOURNAL_STOP)


def _abbreviates(x: str, y: str) -> bool:
    """One word is the other's abbreviation: a prefix ("curr" ~ "current") or, from the same
    first letter, its letters in order (ISO 4 contractions: "natl" ~ "national", "assoc" ~
    "association")."""
    if x.startswith(y) or y.startswith(x):
        return True
    short, long_ = (x, y) if len(x) < len(y) else (y, x)
    if short[0] != long_[0]:
        return False
    it = iter(long_)
    return all(c in it for c in short)


def journals_compatible(a: str, b: str) -> bool:
    """True when the journal keys agree word by word, a word matching when one is a prefix
    of the other ("curr opin lipidol" ~ "current opinion lipidology", and a truncated
    "arteriosclerosis thrombosis vascular" ~ "arterioscler thromb vasc biol"); True when
    either is unknown."""
    if not a or not b or a == b:
        return True
    wa, wb = a.split(), b.split()
    if len(wa) > len(wb):
        wa, wb = wb, wa
    # every word of the shorter list matches a word of the longer one, in order
    j = 0
    for w in wa:
        while j < len(wb) and not _abbreviates(w, wb[j]):
            j += 1
        if j == len(wb):
            return False
        j += 1
    return True


_CONFERENCE = re.compile(r"\b(?:conference|congress|meeting|symposium|abstracts?|proceedings|"
                         r"annual (?:meeting|congress|conference|scientific|sessions?|convention)|"
                         r"workshop|poster|meetingabstracts)\b")
# Journals named like meetings: "Proceedings of the National Academy of Sciences", "...of the
# Nutrition Society", "Proceedings of the IEEE", "Mayo Clinic Proceedings".
_PROCEEDINGS_JOURNAL = re.compile(r"^(?:proceedings of the (?:[a-z]+ ){0,4}?(?:academy|society|"
                                  r"ieee)\b|mayo clinic proceedings)")
_MEETING_WORDS = re.compile(r"\b(?:conference|congress|meeting|symposium|abstracts?|workshop)\b")


def is_conference(journal: str | None, volume: str | None, issue: str | None,
                  pages: str | None) -> bool:
    """A conference abstract: the journal/volume/issue names a meeting or abstract supplement."""
    text = ascii_fold(" ".join(x for x in (journal, volume, issue) if x))
    if not _CONFERENCE.search(text):
        return False
    return not (_PROCEEDINGS_JOURNAL.match(text) and not _MEETING_WORDS.search(text))


# --- pages, volume ----------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_EXCEL_DAY_MON = re.compile(r"^(\d{1,2})-([A-Za-z]{3})$")   # "06-Oct" = 6-10
_EXCEL_MON_YY = re.compile(r"^([A-Za-z]{3})-(\d{2})$")       # "Oct-14" = 10-14


def _pnorm(p: str) -> str:
    p = p.strip().lower()
    m = re.match(r"^([a-z]*)0*(\d+)([a-z]*)$", p)
    return f"{m.group(1)}{int(m.group(2))}{m.group(3)}" if m else re.sub(r"[^a-z0-9]", "", p)


# A letter or roman-numeral page prefix written with a hyphen: "II-221", "S-12" (supplement).
_PREFIX_HYPHEN = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,3})-(?=\d)")


def page_range(raw: str | None) -> tuple[str, str]:
    """(first, last) page as normalised strings; Excel dates and short last pages expanded.

    "221-8" -> ("221", "228"); "06-Oct" -> ("6", "10"); "H887-94" -> ("h887", "h894");
    "II-221-5; discussion II-225-6" -> ("ii221", "ii225"); "e001469" -> ("e1469", "");
    "" -> ("", "").
    """
    s = (raw or "").strip()
    if not s:
        return "", ""
    m = _EXCEL_DAY_MON.match(s)
    if m and m.group(2).lower() in _MONTHS:
        return str(int(m.group(1))), str(_MONTHS[m.group(2).lower()])
    m = _EXCEL_MON_YY.match(s)
    if m and m.group(1).lower() in _MONTHS:
        return str(_MONTHS[m.group(1).lower()]), str(int(m.group(2)))
    s = re.split(r"[;,]", s, maxsplit=1)[0]  # "221-5; discussion 225-6": the article's range
    s = _PREFIX_HYPHEN.sub(r"\1", s)  # "II-221-5" = "II221-5"
    parts = re.split(r"\s*[-\u2010-\u2015]+\s*", s, maxsplit=1)
    first = _pnorm(parts[0])
    last = _pnorm(parts[1]) if len(parts) > 1 else ""
    mf = re.match(r"^([a-z]*)(\d+)", first)
    ml = re.match(r"^([a-z]*)(\d+)", last)
    if mf and ml and len(ml.group(2)) < len(mf.group(2)):
        digits = mf.group(2)
        last = f"{mf.group(1)}{digits[:len(digits) - len(ml.group(2))]}{ml.group(2)}"
    elif mf and ml and not ml.group(1) and mf.group(1):
        last = mf.group(1) + last
    return first, last


# What a page field holds when it is not a page: a month ("July", "Septemper"), "var.pagings",
# "No Pagination Specified", "[Epub ahead of print]", "Abstract".
_PAGE_SHAPE = re.compile(r"^[a-z]{0,3}\d+[a-z]?\d*$|^[ivxlcdm]+$")


def pages_trustworthy(raw: str | None, parsed: tuple[str, str] | None = None) -> bool:
    """The pages field holds a real first page (digits with at most a short letter prefix, or a
    roman numeral) and, if it gives a last page, one not before it: only then is a difference
    of first pages a fact about the record. A month and year ("Dec-19": pages 12-19 damaged by
    a spreadsheet, or a date shifted into the pages field), a month name, "var.pagings" or
    text is not trustworthy (an agreement still counts). A day and month ("06-Oct") can only
    be a page range a spreadsheet turned into a date (a date would have a year): it is."""
    s = (raw or "").strip()
    if not s or _EXCEL_MON_YY.match(s):
        return False
    m = _EXCEL_DAY_MON.match(s)
    if m:
        return m.group(2).lower() in _MONTHS
    first, last = page_range(s) if parsed is None else parsed
    if not _PAGE_SHAPE.match(first):
        return False
    if last:
        if not _PAGE_SHAPE.match(last):
            return False
        df, dl = re.sub(r"\D", "", first), re.sub(r"\D", "", last)
        if df and dl and int(dl) < int(df):
            return False
    return True


def volume_key(raw: str | None) -> str:
    """The volume's first number ("19 (Suppl 2)" -> "19"); letters if it has no number."""
    s = (raw or "").strip()
    m = re.search(r"\d+", s)
    return str(int(m.group(0))) if m else ascii_fold(s).replace(" ", "")


def doi_key(raw: str | None) -> str:
    """The DOI, lower case, percent-escapes decoded ("%28" -> "("), '' if none."""
    if not raw:
        return ""
    return normalise_doi(unquote(str(raw))) or ""


# --- one record -------------------------------------------------------------------------------

class Norm(NamedTuple):
    """Match keys of one record."""
    id: int
    title: str          # folded title words
    surnames: tuple     # folded author surnames in order
    year: int           # 0 if unknown
    journal: str        # folded journal words, stop words dropped
    volume: str
    issue: str
    page_first: str
    page_last: str
    doi: str
    pmid: str
    notice: str         # '', 'erratum', 'retraction', 'comment'
    part: str           # series part number or ''
    conference: bool
    filled: int         # number of non-empty bibliographic fields (completeness)
    # The volume/issue fields hold a plain number and nothing else ("24", not "17 (1) (no
    # pagination)", "1)" or "9 Suppl"): only then is a difference between two records a fact.
    volume_plain: bool = False
    issue_plain: bool = False
    pages_ok: bool = False   # :func:`pages_trustworthy`
    # every word of 2+ letters of the first ten author names ("van dyke thomas"), for author
    # lists whose surnames are cut differently ("Van Dyke T. E." / "Van Dyke Thomas E.")
    name_words: frozenset = frozenset()
    abstract: str = ""       # folded start of the abstract


ABSTRACT_CHARS = 300

_COMPLETENESS_FIELDS = ("title", "abstract", "authors_raw", "journal", "year", "volume", "issue",
                        "pages", "doi", "pmid")


_PLAIN_NUMBER = re.compile(r"^\s*\d{1,4}\s*$")
# "Journal (2013) 150:3 (1031-1038)": a year in parentheses followed by more citation (not
# NLM's "J Appl Physiol (1985)", where the year is part of the title).
_CITATION_IN_JOURNAL = re.compile(r"\((?:1[89]|20)\d\d\)\s*[A-Za-z]?\d")
# Ovid's Embase source string: "Vaccine.28 (32) ()(pp 5203-5211) 2010.Date of Publication: ..."
# (journal, a period, volume, issue in parentheses, pages after "pp", year).
_OVID_CITATION = re.compile(
    r"^(?P<journal>[^.]+?(?:\.[^.\d(][^.]*?)*)\.\s*(?P<volume>[A-Za-z]?\d[^\s(]*)?\s*"
    r"(?:\((?P<issue>[^)]*)\))?\s*(?:\(\s*\))?\s*(?:\(pp\.?\s*(?P<pages>[^)]*)\))?\s*"
    r"(?P<year>(?:1[89]|20)\d\d)\b")


def split_citation(journal: str) -> dict:
    """The parts of a whole source string exported in the journal field, else {}: Embase's
    "J Affect Disord (2013) 150:3 (1031-1038). Date of Publication: ..." and Ovid's
    "Vaccine.28 (32) ()(pp 5203-5211) 2010.Date of Publication: ..." -> journal, volume,
    issue, pages, year (those found)."""
    if _CITATION_IN_JOURNAL.search(journal):
        return {k: v for k, v in parse_embase_source(journal).items() if v}
    if "(pp" in journal or "Date of Publication" in journal:
        m = _OVID_CITATION.match(journal)
        if m:
            return {k: v.strip() for k, v in m.groupdict().items() if v and v.strip()}
    return {}


def normalise_record(row: dict) -> Norm:
    """Match keys for one ``records`` row (raw values are preferred where they hold more)."""
    tkey = title_key(row.get("title"))
    authors_raw = row.get("authors_raw")
    if not authors_raw:
        authors_raw = "; ".join(_json_list(row.get("authors")))
    journal, volume, issue, pages = (row.get(f) for f in ("journal", "volume", "issue", "pages"))
    year_raw = row.get("year_raw") or row.get("year")
    cite = split_citation(journal) if journal else {}
    if cite:
        # a whole source string in the journal field; its parts replace what the record's own
        # fields lack or hold in a shape that is not a citation (Ovid exports shift fields:
        # a month in pages, an Excel date in issue, no volume)
        journal = cite.get("journal") or journal
        if not _PLAIN_NUMBER.match(str(volume or "")):
            volume = cite.get("volume") or volume
        if not _PLAIN_NUMBER.match(str(issue or "")):
            issue = cite.get("issue") or issue
        if not pages_trustworthy(pages):
            pages = cite.get("pages") or pages
        year_raw = year_raw or cite.get("year")
    year = normalise_year(year_raw) or 0
    first, last = page_range(pages)
    doi = doi_key(row.get("doi_raw") or row.get("doi"))
    pmid = row.get("pmid") or normalise_pmid(row.get("pmid_raw")) or ""
    filled = sum(1 for f in _COMPLETENESS_FIELDS if row.get(f) not in (None, "", "[]"))
    return Norm(
        id=int(row["id"]), title=tkey, surnames=tuple(author_surnames(authors_raw or "")),
        year=year, journal=journal_key(journal), volume=volume_key(volume),
        issue=volume_key(issue), page_first=first, page_last=last, doi=doi, pmid=str(pmid),
        notice=notice_kind(tkey, row.get("title") or ""), part=part_number(tkey),
        conference=is_conference(journal, volume, issue, pages),
        filled=filled,
        volume_plain=bool(_PLAIN_NUMBER.match(str(volume or ""))),
        issue_plain=bool(_PLAIN_NUMBER.match(str(issue or ""))),
        pages_ok=pages_trustworthy(pages, (first, last)),
        name_words=author_name_words(authors_raw or ""),
        abstract=ascii_fold((row.get("abstract") or "")[:ABSTRACT_CHARS]),
    )


def _json_list(value) -> list[str]:
    if not value:
        return []
    import json
    try:
        v = json.loads(value)
        return [str(x) for x in v] if isinstance(v, list) else [str(v)]
    except ValueError:
        return [str(value)]
