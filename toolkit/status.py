"""`review status`: records per source and search, and per stage."""

from __future__ import annotations

from .stages import load_all
from .store import Review


STATUS_HOOKS = ("toolkit.dedup.api:status", "toolkit.screening.queue:status",
                "toolkit.fulltext:status", "toolkit.extraction.export:status")


def review_status(review: Review) -> dict:
    """Counts per source, per search/import, and per stage."""
    db = review.db
    out: dict = {
        "db": str(review.path),
        "title": review.get_meta("title"),
        "schema_version": review.schema_version,
        "records": db.execute("select count(*) from records").fetchone()[0],
        "by_source": {r["source"]: r["n"] for r in db.query(
            "select source, count(*) n from records group by source order by source")},
        "searches": [dict(r) for r in db.query(
            "select s.id, s.kind, s.database, s.query, s.file_name, s.format, s.run_at, "
            "s.count_reported, s.count_retrieved, s.status, "
            "(select count(*) from record_searches rs where rs.search_id = s.id) as linked "
            "from searches s order by s.id")],
    }
    stages = {}
    for fn in load_all(STATUS_HOOKS):
        stages.update(fn(review))
    out["stages"] = stages
    return out


def format_status(s: dict) -> str:
    lines = [f"review: {s['title'] or '(untitled)'}  [{s['db']}, schema v{s['schema_version']}]",
             f"records: {s['records']}"]
    for src, n in s["by_source"].items():
        lines.append(f"  {src}: {n}")
    if s["searches"]:
        lines.append("searches and imports:")
        for q in s["searches"]:
            what = q["query"] if q["kind"] == "search" else q["file_name"]
            lines.append(f"  #{q['id']} {q['kind']:6} {q['database']:8} {q['status']:10} "
                         f"reported {q['count_reported']}, linked {q['linked']}: {what}")
    for stage, value in s.get("stages", {}).items():
        lines.append(f"{stage}: {value}")
    return "\n".join(lines)
