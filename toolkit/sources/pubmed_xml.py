"""PubMed XML (efetch ``retmode=xml`` and PubMed's "XML" export), streamed with ElementTree."""

from __future__ import annotations

from lxml import etree
from typing import IO, Iterator

from ..errors import ReviewError
from . import RawRecord

ARTICLE_TAGS = ("PubmedArticle", "PubmedBookArticle")


def _text(el) -> str | None:
    if el is None:
        return None
    if len(el) == 0:  # no inline markup: the common case
        text = el.text
        return text.strip() or None if text else None
    text = "".join(el.itertext()).strip()
    return text or None


def _year(art, cit) -> str | None:
    """Publication year: journal issue date, else MedlineDate text, else electronic date."""
    for el, path in ((art, "Journal/JournalIssue/PubDate/Year"),
                     (art, "Journal/JournalIssue/PubDate/MedlineDate"),
                     (art, "ArticleDate/Year"), (cit, "Book/PubDate/Year")):
        t = _text(el.find(path))
        if t:
            return t
    return None


# Compiled XPath returning strings: list fields are read in C, not element by element.
_KEYWORDS = etree.XPath("KeywordList/Keyword/text() | "
                        "MeshHeadingList/MeshHeading/DescriptorName/text()")


def parse_article(el) -> dict:
    """The record fields of one <PubmedArticle>/<PubmedBookArticle> element."""
    cit = el.find("MedlineCitation")
    if cit is None:
        cit = el.find("BookDocument")
    if cit is None:
        cit = el
    art = cit.find("Article")
    if art is None:
        art = cit
    pmid = _text(cit.find("PMID"))
    authors = []
    for a in art.findall("AuthorList/Author"):
        last = _text(a.find("LastName"))
        if last:
            ini = _text(a.find("Initials")) or ""
            authors.append(f"{last}, {ini}" if ini else last)
        else:
            coll = _text(a.find("CollectiveName"))
            if coll:
                authors.append(coll)
    abstract_parts = []
    for t in art.findall("Abstract/AbstractText"):
        body = _text(t)
        if body:
            label = t.get("Label")
            abstract_parts.append(f"{label}: {body}" if label else body)
    doi = None
    for e in art.findall("ELocationID"):
        if e.get("EIdType") == "doi":
            doi = _text(e)
    if doi is None:
        for e in el.findall("PubmedData/ArticleIdList/ArticleId"):
            if e.get("IdType") == "doi":
                doi = _text(e)
    title = _text(art.find("ArticleTitle")) or _text(art.find("BookTitle")) \
        or _text(art.find("VernacularTitle"))
    keywords = [k.strip() for k in _KEYWORDS(cit)]
    return {
        "source_id": pmid,
        "pmid": pmid,
        "doi": doi,
        "title": title,
        "abstract": "\n".join(abstract_parts) or None,
        "authors": authors,
        "journal": _text(art.find("Journal/Title")) or _text(art.find("Journal/ISOAbbreviation")),
        "journal_abbrev": _text(art.find("Journal/ISOAbbreviation"))
        or _text(cit.find("MedlineJournalInfo/MedlineTA")),
        "year": _year(art, cit),
        "volume": _text(art.find("Journal/JournalIssue/Volume")),
        "issue": _text(art.find("Journal/JournalIssue/Issue")),
        "pages": _text(art.find("Pagination/MedlinePgn")),
        "keywords": [k for k in keywords if k],
        "language": ";".join(filter(None, (_text(x) for x in art.findall("Language")))) or None,
        "publication_types": [_text(p) for p in art.findall("PublicationTypeList/PublicationType")
                              if _text(p)],
    }


def iter_articles(stream: IO[bytes], name: str, allow_empty: bool = False) -> Iterator[RawRecord]:
    """Stream the articles of a PubMed XML file; errors name the file, record and line.

    lxml's iterparse with a tag filter hands over whole articles only, which keeps the import
    fast; each article is cleared once read so memory stays flat."""
    n = 0
    try:
        context = etree.iterparse(stream, events=("end",), tag=ARTICLE_TAGS,
                                  resolve_entities=False, no_network=True, huge_tree=True)
        for _, el in context:
            if n == 0:
                root_tag = el.getparent().tag if el.getparent() is not None else None
                if root_tag not in ("PubmedArticleSet", "PubmedBookArticleSet"):
                    raise ReviewError(f"not PubMed XML (articles inside <{root_tag}>)", file=name)
            n += 1
            fields = parse_article(el)
            if not fields.get("pmid"):
                raise ReviewError("article without a PMID", file=name,
                                  record=f"record {n} (line {el.sourceline})")
            yield RawRecord(fields=fields, raw=fields,
                            where=f"record {n} (PMID {fields['pmid']}, line {el.sourceline})",
                            source="PubMed")
            el.clear()
            parent = el.getparent()
            while el.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        line, col = exc.position if exc.position else (exc.lineno, 0)
        raise ReviewError(f"malformed XML at line {line}, column {col} ({exc.msg}) after {n} "
                          f"complete records", file=name, record=f"record {n + 1}") from None
    if n == 0:
        root = context.root
        if root is None or root.tag not in ("PubmedArticleSet", "PubmedBookArticleSet"):
            raise ReviewError("not PubMed XML (no <PubmedArticleSet>)", file=name)
        if not allow_empty:
            raise ReviewError("no <PubmedArticle> records in the XML", file=name)


def read(path) -> Iterator[RawRecord]:
    with open(path, "rb") as fh:
        yield from iter_articles(fh, str(path))


def parse_bytes(data: bytes, name: str = "<efetch>") -> list[dict]:
    """All article field dicts of one efetch response; raises ReviewError if truncated/invalid."""
    import io

    return [r.fields for r in iter_articles(io.BytesIO(data), name, allow_empty=True)]
