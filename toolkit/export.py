"""`review export`: every record as CSV or RIS, with the columns later stages add.

A stage adds columns by naming a provider in ``COLUMN_PROVIDERS``: a function
``provider(review) -> (columns: list[str], values: dict[record_id, dict[column, value]])``.
"""

from __future__ import annotations

from .stages import load_all

COLUMN_PROVIDERS = (
    "toolkit.dedup.export:columns",
    "toolkit.screening.export:columns",
    "toolkit.extraction.export:record_columns",
)


def _providers():
    return load_all(COLUMN_PROVIDERS)


BASE_COLUMNS = ["id", "source", "source_id", "pmid", "doi", "title", "abstract", "authors",
                "journal", "year", "volume", "issue", "pages", "keywords", "language",
                "publication_types", "searches"]


def export_rows(review) -> tuple[list[str], list[dict]]:
    """(columns, rows) for every record in id order; list fields joined with '; '."""
    from .records import iter_records

    columns = list(BASE_COLUMNS)
    extra: list[dict] = []
    for provider in _providers():
        cols, values = provider(review)
        columns += [c for c in cols if c not in columns]
        extra.append(values)
    links: dict[int, list[str]] = {}
    for r in review.db.query("select rs.record_id, rs.search_id from record_searches rs "
                             "order by rs.search_id"):
        links.setdefault(r["record_id"], []).append(str(r["search_id"]))
    rows = []
    for rec in iter_records(review.db):
        row = {c: rec.get(c) for c in BASE_COLUMNS}
        for k in ("authors", "keywords", "publication_types"):
            row[k] = "; ".join(rec[k])
        row["searches"] = ";".join(links.get(rec["id"], []))
        for values in extra:
            row.update(values.get(rec["id"], {}))
        rows.append(row)
    return columns, rows


def write_csv(review, fh) -> int:
    """Write every record as CSV to the text stream ``fh``; returns the number of rows."""
    import csv

    columns, rows = export_rows(review)
    w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow(row)
    return len(rows)


def write_ris(review, fh) -> int:
    """Write every record as RIS (rispy) to ``fh``; returns the number of records."""
    import rispy

    from .records import iter_records

    entries = []
    for rec in iter_records(review.db):
        e = {"type_of_reference": "JOUR", "id": str(rec["id"]),
             "primary_title": rec["title"] or "", "authors": rec["authors"]}
        for key, col in (("abstract", "abstract"), ("journal_name", "journal"),
                         ("volume", "volume"), ("number", "issue"), ("doi", "doi"),
                         ("language", "language"), ("name_of_database", "source"),
                         ("accession_number", "source_id")):
            if rec.get(col):
                e[key] = str(rec[col])
        if rec.get("year"):
            e["year"] = str(rec["year"])
        if rec.get("pages"):
            sp, _, ep = rec["pages"].partition("-")
            e["start_page"] = sp
            if ep:
                e["end_page"] = ep
        if rec["keywords"]:
            e["keywords"] = rec["keywords"]
        if rec.get("pmid"):
            e["notes"] = [f"PMID: {rec['pmid']}"]
        entries.append(e)
    rispy.dump(entries, fh, implementation=_plain_writer())
    return len(entries)


def _plain_writer():
    import rispy

    class PlainRisWriter(rispy.RisWriter):
        """rispy's writer without its "1." counter line before each record."""

        def set_header(self, count):
            return None

    return PlainRisWriter
