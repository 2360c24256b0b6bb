"""`review dedup`: find duplicates, merge them into clusters, decide uncertain pairs, undo."""

from __future__ import annotations

import sys

import click

from .common import StageGroup, deprecated, emit, json_option, open_store


def _dedup_human(d: dict) -> str:
    lines = [f"records: {d['records']}, clusters: {d['clusters']}, duplicates removed: "
             f"{d['duplicates_removed']}, uncertain pairs open: {d['uncertain_pairs']}"]
    if "new_records" in d:
        lines.append(f"this run: {d['new_records']} new records compared, "
                     f"{d.get('clusters_created', 0)} clusters created, "
                     f"{d.get('clusters_extended', 0)} extended ({d['wall_s']} s)")
    for cid, old, new in d.get("primary_changed", []):
        lines.append(f"  record {new} (screened) is now the primary of cluster {cid} "
                     f"(was record {old})")
    for h in d.get("inherited_decisions", []):
        lines.append(f"  record {h['record_id']} duplicates screened record "
                     f"{h['from_record_id']}: inherits '{h['decision']}'")
    if d.get("decision_conflicts"):
        from ..dedup.prompts import conflict_line

        lines.append("screening decisions that differ within a cluster:")
        lines += [f"  {conflict_line(c)}" for c in d["decision_conflicts"]]
    if d["uncertain_pairs"]:
        lines.append("decide uncertain pairs with `review dedup review`")
    return "\n".join(lines)


def _dedup_undo_human(d: dict) -> str:
    lines = [f"cluster {d['cluster_id']} undone: records "
             f"{', '.join(map(str, d['records']))} are separate again"]
    for w in d.get("withdrawn_decisions", []):
        lines.append(f"  record {w['record_id']}: the '{w['decision']}' inherited from record "
                     f"{w['from_record_id']} is withdrawn; it is back in the screening queue")
    return "\n".join(lines)


@click.group("dedup", cls=StageGroup, default="run", default_if_no_args=True)
def dedup_group():
    """Deduplicate: `review dedup` finds duplicates and merges them (run); `review dedup
    review` decides uncertain pairs; `review dedup undo CLUSTER` splits a cluster again.

    Rules: docs/dedup.md. Records are never deleted; each cluster keeps one primary record.
    """


@dedup_group.command("run")
@click.option("--review", "manual", is_flag=True, hidden=True)
@click.option("--undo", "undo", type=int, hidden=True)
@json_option
@click.pass_context
def dedup_run_cmd(ctx, manual, undo, as_json):
    """Find duplicate records, merge them into clusters, queue uncertain pairs.

    Run again after a new import: only new records are compared (against all).
    """
    from ..dedup import api
    from ..errors import ReviewError

    # the old mode flags, kept for one release
    if manual and undo is not None:
        raise ReviewError("use either `review dedup review` or `review dedup undo CLUSTER`")
    if manual:
        deprecated("review dedup --review", "review dedup review")
        return ctx.invoke(dedup_review_cmd, as_json=as_json)
    if undo is not None:
        deprecated("review dedup --undo N", "review dedup undo N")
        return ctx.invoke(dedup_undo_cmd, cluster=undo, as_json=as_json)
    say = (lambda msg: None) if as_json or not sys.stderr.isatty() else (
        lambda msg: click.echo(f"dedup: {msg}", err=True))
    with open_store(ctx, "dedup") as review:
        out = api.deduplicate(review, progress=say)
    emit(out, as_json, _dedup_human)


@dedup_group.command("review")
@json_option
@click.pass_context
def dedup_review_cmd(ctx, as_json):
    """Decide uncertain pairs side by side: d(uplicate) / n(ot) / s(kip) / q(uit).

    With --json the pairs and prompts go to stderr; end of input counts as q."""
    from ..dedup.prompts import review_pairs

    with open_store(ctx, "dedup") as review:
        counts = review_pairs(review, err=as_json)
    emit(counts, as_json, lambda d: f"duplicate {d['duplicate']}, not {d['not']}, "
                                    f"skipped {d['skipped']}; {d['remaining']} still open")


@dedup_group.command("undo")
@click.argument("cluster", type=int)
@json_option
@click.pass_context
def dedup_undo_cmd(ctx, cluster, as_json):
    """Split CLUSTER back into separate records (remembered: they are not merged again)."""
    from ..dedup import api

    with open_store(ctx, "dedup") as review:
        out = api.undo_cluster(review, cluster)
    emit(out, as_json, _dedup_undo_human)


COMMANDS = [dedup_group]
