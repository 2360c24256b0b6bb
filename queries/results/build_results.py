"""Build the recorded search results of the worked example from the traced snapshot.

    python queries/results/build_results.py        # from the repository root

Reads ``search_snapshot_sources.csv`` (next to this script; a copy of
../shared/case/cryoablation/search_snapshot_sources.csv) and writes, next to it:

- ``pubmed.xml``: PubMed efetch-style XML (``<PubmedArticleSet>``) of every snapshot record
  that has a PMID;
- ``embase.ris``: Embase-style RIS (UTF-8 with BOM, ``DB  - Embase``) of every snapshot record
  that Embase plausibly returns: all records (see README.md for the rule and its caveats);
- ``record_ids.csv``: which file holds each record and under which source id, so decisions
  written against ``record_id`` (CRYO###) can be joined to imported records.

Only values present in the snapshot are written; an empty snapshot cell writes no field.
The output is deterministic (snapshot order, fixed formatting, LF line ends).
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
SNAPSHOT = HERE / "search_snapshot_sources.csv"

# RIS reference type per snapshot publication_type (a structural code, not a new fact).
RIS_TYPE = {"conference abstract": "CONF", "book chapter": "CHAP"}  # everything else: JOUR


def read_snapshot(path: Path = SNAPSHOT) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]
    ids = [r["record_id"] for r in rows]
    if len(set(ids)) != len(ids) or not all(re.fullmatch(r"CRYO\d{3}", i) for i in ids):
        raise SystemExit(f"{path}: record_id must be unique CRYO### values")
    return rows


def authors(row: dict) -> tuple[list[str], bool]:
    """The snapshot's authors (``;``-separated) and whether the list is complete ("et al.")."""
    names = [a.strip() for a in row["authors"].split(";") if a.strip()]
    complete = not any(a.lower().rstrip(".") == "et al" for a in names)
    return [a for a in names if a.lower().rstrip(".") != "et al"], complete


def split_author(name: str) -> tuple[str, str | None]:
    """'De Marini P' -> ('De Marini', 'P'); 'Autrusseau' -> ('Autrusseau', None)."""
    tokens = name.split()
    if len(tokens) > 1 and re.fullmatch(r"[A-Z]{1,3}", tokens[-1]):
        return " ".join(tokens[:-1]), tokens[-1]
    return name, None


def split_pages(pages: str) -> tuple[str | None, str | None]:
    if not pages:
        return None, None
    if "-" in pages:
        start, end = pages.split("-", 1)
        return start.strip() or None, end.strip() or None
    return pages, None


def in_pubmed(row: dict) -> bool:
    """A record is in the PubMed result when the snapshot gives its PMID."""
    return bool(row["pmid"])


def in_embase(row: dict) -> bool:
    """Every snapshot record is an Embase hit (rule and caveats in README.md): Embase indexes
    the MEDLINE journals (so PMID records are found by both databases), conference abstracts
    are Embase-only, and a record without a known PMID can only enter this reconstruction
    through Embase."""
    return True


def pubmed_article(row: dict) -> str:
    e = escape
    out = ["<PubmedArticle>", "    <MedlineCitation>",
           f'        <PMID Version="1">{e(row["pmid"])}</PMID>', "        <Article>",
           "            <Journal>", "                <JournalIssue>"]
    if row["volume"]:
        out.append(f"                    <Volume>{e(row['volume'])}</Volume>")
    if row["issue"]:
        out.append(f"                    <Issue>{e(row['issue'])}</Issue>")
    if row["year"]:
        out += ["                    <PubDate>", f"                        <Year>{e(row['year'])}</Year>",
                "                    </PubDate>"]
    out.append("                </JournalIssue>")
    if row["journal"]:
        out.append(f"                <Title>{e(row['journal'])}</Title>")
    out += ["            </Journal>", f"            <ArticleTitle>{e(row['title'])}</ArticleTitle>"]
    if row["pages"]:
        out += ["            <Pagination>",
                f"                <MedlinePgn>{e(row['pages'])}</MedlinePgn>",
                "            </Pagination>"]
    if row["doi"]:
        out.append(f'            <ELocationID EIdType="doi" ValidYN="Y">{e(row["doi"])}</ELocationID>')
    if row["abstract"]:
        out += ["            <Abstract>",
                f"                <AbstractText>{e(row['abstract'])}</AbstractText>",
                "            </Abstract>"]
    names, complete = authors(row)
    if names:
        out.append(f'            <AuthorList CompleteYN="{"Y" if complete else "N"}">')
        for name in names:
            last, initials = split_author(name)
            out.append('                <Author ValidYN="Y">')
            out.append(f"                    <LastName>{e(last)}</LastName>")
            if initials:
                out.append(f"                    <Initials>{e(initials)}</Initials>")
            out.append("                </Author>")
        out.append("            </AuthorList>")
    if row["publication_type"]:
        out += ["            <PublicationTypeList>",
                f"                <PublicationType>{e(row['publication_type'])}</PublicationType>",
                "            </PublicationTypeList>"]
    out += ["        </Article>",
            f'        <GeneralNote Owner="NOTNLM">record_id: {row["record_id"]}</GeneralNote>',
            "    </MedlineCitation>", "    <PubmedData>", "        <ArticleIdList>",
            f'            <ArticleId IdType="pubmed">{e(row["pmid"])}</ArticleId>']
    if row["doi"]:
        out.append(f'            <ArticleId IdType="doi">{e(row["doi"])}</ArticleId>')
    out += ["        </ArticleIdList>", "    </PubmedData>", "</PubmedArticle>"]
    return "\n".join(out)


def pubmed_xml(rows: list[dict]) -> str:
    articles = [pubmed_article(r) for r in rows if in_pubmed(r)]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            "<!-- Recorded PubMed result of the worked example, reconstructed from the traced "
            "records in search_snapshot_sources.csv by build_results.py; see README.md. -->\n"
            "<PubmedArticleSet>\n" + "\n".join(articles) + "\n</PubmedArticleSet>\n")


def ris_record(row: dict) -> str:
    lines = [f"TY  - {RIS_TYPE.get(row['publication_type'], 'JOUR')}"]

    def tag(name, value):
        if value:
            lines.append(f"{name}  - {value}")

    tag("ID", row["record_id"])
    tag("M3", row["publication_type"])
    tag("Y1", row["year"])
    tag("VL", row["volume"])
    tag("IS", row["issue"])
    start, end = split_pages(row["pages"])
    tag("SP", start)
    tag("EP", end)
    tag("JF", row["journal"])
    tag("DB", "Embase")
    tag("DO", row["doi"])
    for name in authors(row)[0]:
        tag("A1", name)
    tag("T1", row["title"])
    tag("N2", row["abstract"])
    lines.append("ER  - ")
    return "\n".join(lines)


def embase_ris(rows: list[dict]) -> str:
    return "\ufeff" + "\n\n".join(ris_record(r) for r in rows if in_embase(r)) + "\n"


def record_ids(rows: list[dict]) -> str:
    lines = ["record_id,database,source_id,pmid,doi"]
    for r in rows:
        if in_pubmed(r):
            lines.append(f"{r['record_id']},PubMed,{r['pmid']},{r['pmid']},{r['doi']}")
        if in_embase(r):
            lines.append(f"{r['record_id']},Embase,{r['record_id']},{r['pmid']},{r['doi']}")
    return "\n".join(lines) + "\n"


def build(out_dir: Path = HERE, snapshot: Path = SNAPSHOT) -> dict[str, int]:
    """Write the three files into ``out_dir``; returns records per database."""
    rows = read_snapshot(snapshot)
    out_dir = Path(out_dir)
    (out_dir / "pubmed.xml").write_text(pubmed_xml(rows), encoding="utf-8", newline="\n")
    (out_dir / "embase.ris").write_text(embase_ris(rows), encoding="utf-8", newline="\n")
    (out_dir / "record_ids.csv").write_text(record_ids(rows), encoding="utf-8", newline="\n")
    return {"PubMed": sum(map(in_pubmed, rows)), "Embase": sum(map(in_embase, rows))}


if __name__ == "__main__":
    counts = build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(", ".join(f"{k}: {v} records" for k, v in counts.items()))
