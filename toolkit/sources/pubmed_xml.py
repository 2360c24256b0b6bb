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


def _children(el) -> dict:
    """Direct children of ``el`` by tag (the first of each): one pass over the children instead
    of one ElementPath search per field, which dominates parsing time otherwise."""
    out: dict = {}
    if el is not None:
        for child in el:
            out.setdefault(child.tag, child)
    return out


_NONE: dict = {}


def _path(kids: dict, *tags):
    """The element at kids[tags[0]]/tags[1]/..., or None."""
    el = kids.get(tags[0])
    for tag in tags[1:]:
        if el is None:
            return None
        el = el.find(tag)
    return el


# Compiled XPath returning strings: list fields are read in C, not element by element.
_KEYWORDS = etree.XPath("KeywordList/Keyword/text() | "
                        "MeshHeadingList/MeshHeading/DescriptorName/text()")


def parse_article(el) -> dict:
    """The record fields of one <PubmedArticle>/<PubmedBookArticle> element."""
    top = _children(el)
    cit = top.get("MedlineCitation")
    if cit is None:
        cit = top.get("BookDocument")
    if cit is None:
        cit = el
    cit_kids = _children(cit)
    art = cit_kids.get("Article")
    if art is None:
        art, kids = cit, cit_kids
    else:
        kids = _children(art)
    journal = _children(kids.get("Journal"))
    issue = _children(journal.get("JournalIssue"))
    pubdate = _children(issue.get("PubDate"))
    book = _children(cit_kids.get("Book")) if art is cit else _NONE
    pmid = _text(cit_kids.get("PMID"))

    authors = []
    for author_list in art.iterchildren("AuthorList"):
        for a in author_list.iterchildren("Author"):
            parts = _children(a)
            last = _text(parts.get("LastName"))
            if last:
                ini = _text(parts.get("Initials")) or ""
                authors.append(f"{last}, {ini}" if ini else last)
            else:
                coll = _text(parts.get("CollectiveName"))
                if coll:
                    authors.append(coll)
    abstract_parts = []
    abstract = kids.get("Abstract")
    if abstract is not None:
        for t in abstract.iterchildren("AbstractText"):
            body = _text(t)
            if body:
                label = t.get("Label")
                abstract_parts.append(f"{label}: {body}" if label else body)
    doi = None
    for e in art.iterchildren("ELocationID"):
        if e.get("EIdType") == "doi":
            doi = _text(e)
    if doi is None:
        # <PubmedArticle>: PubmedData/ArticleIdList; <PubmedBookArticle>: BookDocument's own
        # ArticleIdList and PubmedBookData/ArticleIdList
        id_lists = [top.get("PubmedData"), top.get("PubmedBookData")]
        if art is cit:
            id_lists.append(cit)
        for holder in id_lists:
            ids = holder.find("ArticleIdList") if holder is not None else None
            if ids is not None and doi is None:
                for e in ids.iterchildren("ArticleId"):
                    if e.get("IdType") == "doi":
                        doi = _text(e)
    # a book chapter has an ArticleTitle inside the book; a whole book only Book/BookTitle
    article_title = _text(kids.get("ArticleTitle"))
    book_title = _text(book.get("BookTitle"))
    title = article_title or book_title or _text(kids.get("VernacularTitle"))
    iso = _text(journal.get("ISOAbbreviation"))
    year = (_text(pubdate.get("Year")) or _text(pubdate.get("MedlineDate"))
            or _text(_path(kids, "ArticleDate", "Year")) or _text(_path(book, "PubDate", "Year")))
    types = kids.get("PublicationTypeList")
    types = types.iterchildren("PublicationType") if types is not None \
        else art.iterchildren("PublicationType")
    keywords = [k.strip() for k in _KEYWORDS(cit)]
    return {
        "source_id": pmid,
        "pmid": pmid,
        "doi": doi,
        "title": title,
        "abstract": "\n".join(abstract_parts) or None,
        "authors": authors,
        "journal": _text(journal.get("Title")) or iso
        or (book_title if article_title else None),
        "journal_abbrev": iso or _text(_path(cit_kids, "MedlineJournalInfo", "MedlineTA")),
        "year": year,
        "volume": _text(issue.get("Volume")),
        "issue": _text(issue.get("Issue")),
        "pages": _text(_path(kids, "Pagination", "MedlinePgn")),
        "keywords": [k for k in keywords if k],
        "language": ";".join(filter(None, map(_text, art.iterchildren("Language")))) or None,
        "publication_types": [t for t in map(_text, types) if t],
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
