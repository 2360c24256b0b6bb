"""PubMed XML (efetch ``retmode=xml`` and PubMed's "XML" export), streamed with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import IO, Iterator

from ..errors import ReviewError
from . import RawRecord

ARTICLE_TAGS = ("PubmedArticle", "PubmedBookArticle")


def _text(el) -> str | None:
    if el is None:
        return None
    text = "".join(el.itertext()).strip()
    return text or None


def _year(article_el) -> str | None:
    for path in (".//JournalIssue/PubDate/Year", ".//JournalIssue/PubDate/MedlineDate",
                 ".//ArticleDate/Year", ".//Book/PubDate/Year", ".//PubDate/Year"):
        t = _text(article_el.find(path))
        if t:
            return t
    return None


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
    keywords = [_text(k) for k in cit.findall("KeywordList/Keyword")]
    keywords += [_text(m) for m in cit.findall("MeshHeadingList/MeshHeading/DescriptorName")]
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
        "year": _year(el),
        "volume": _text(art.find("Journal/JournalIssue/Volume")),
        "issue": _text(art.find("Journal/JournalIssue/Issue")),
        "pages": _text(art.find("Pagination/MedlinePgn")),
        "keywords": [k for k in keywords if k],
        "language": ";".join(filter(None, (_text(x) for x in art.findall("Language")))) or None,
        "publication_types": [_text(p) for p in art.findall("PublicationTypeList/PublicationType")
                              if _text(p)],
    }


def iter_articles(stream: IO[bytes], name: str) -> Iterator[RawRecord]:
    """Stream the articles of a PubMed XML file; errors name the file, record and line."""
    n = 0
    root_seen = False
    try:
        context = ET.iterparse(stream, events=("start", "end"))
        root = None
        for event, el in context:
            if event == "start":
                if root is None:
                    root = el
                    root_seen = True
                    if el.tag not in ("PubmedArticleSet", "PubmedBookArticleSet"):
                        raise ReviewError(f"not PubMed XML (root element <{el.tag}>)", file=name)
                continue
            if el.tag in ARTICLE_TAGS:
                n += 1
                fields = parse_article(el)
                if not fields.get("pmid"):
                    raise ReviewError("article without a PMID", file=name, record=f"record {n}")
                yield RawRecord(fields=fields, raw=fields, where=f"record {n} (PMID {fields['pmid']})",
                                source="PubMed")
                root.clear()  # keep memory flat
    except ET.ParseError as exc:
        line, col = exc.position
        raise ReviewError(f"malformed XML at line {line}, column {col} ({exc.msg if hasattr(exc, 'msg') else exc})"
                          f" after {n} complete records", file=name,
                          record=f"record {n + 1}") from None
    if not root_seen:
        raise ReviewError("empty XML file", file=name)


def read(path) -> Iterator[RawRecord]:
    with open(path, "rb") as fh:
        yield from iter_articles(fh, str(path))


def parse_bytes(data: bytes, name: str = "<efetch>") -> list[dict]:
    """All article field dicts of one efetch response; raises ReviewError if truncated/invalid."""
    import io

    return [r.fields for r in iter_articles(io.BytesIO(data), name)]
