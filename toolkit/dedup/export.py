"""Export columns of deduplication: ``cluster_id`` and ``is_duplicate`` (see toolkit/export.py)."""

from __future__ import annotations


def columns(review) -> tuple[list[str], dict[int, dict]]:
    """``cluster_id``: the same for every record of a duplicate cluster (empty for a record
    with no duplicate); ``is_duplicate``: 1 for a record merged into another, else 0."""
    values: dict[int, dict] = {}
    if "cluster_members" in review.db.table_names():
        for r in review.db.query(
            "select m.record_id, m.cluster_id, m.role from cluster_members m "
            "join clusters c on c.id = m.cluster_id where c.undone_at is null"
        ):
            values[r["record_id"]] = {"cluster_id": r["cluster_id"],
                                      "is_duplicate": 1 if r["role"] == "duplicate" else 0}
    for (rid,) in review.db.execute("select id from records"):
        values.setdefault(rid, {"cluster_id": "", "is_duplicate": 0})
    return ["cluster_id", "is_duplicate"], values
