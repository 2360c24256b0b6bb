"""`review overlap`: record that two included studies' cohorts overlap (add, remove, list)."""

from __future__ import annotations

import click

from .common import emit, json_option, open_store


@click.group("overlap")
def overlap_group():
    """Overlapping cohorts: two included studies that share patients (same centre and years,
    a later report of an earlier series). Reports of one study are linked with `review link`
    instead. Pooling keeps one study per overlapping set by default (the larger, then the
    more recent) and pools them all only when asked (`review pool --overlap all`)."""


def _pair_text(p: dict) -> str:
    extra = "".join(f"; {k}: {p[k]}" for k in ("note", "source") if p.get(k))
    return f"{p['studies'][0]} <-> {p['studies'][1]}{extra}"


@overlap_group.command("add")
@click.argument("study_a")
@click.argument("study_b")
@click.option("--note", help="Why they overlap (centre, period, shared authors).")
@click.option("--source", help="Where that is documented (URL, citation, page).")
@json_option
@click.pass_context
def overlap_add(ctx, study_a, study_b, note, source, as_json):
    """Record that STUDY_A and STUDY_B (study labels or any of their reports: record id,
    pmid:N, doi:...) overlap. Recording a pair again replaces its note and source."""
    from ..overlaps import record_overlap

    with open_store(ctx, "overlap add") as review:
        with review.atomic():
            pair = record_overlap(review, study_a, study_b, note=note, source=source)
    emit(pair, as_json, lambda d: f"overlap recorded: {_pair_text(d)}")


@overlap_group.command("remove")
@click.argument("study_a")
@click.argument("study_b")
@json_option
@click.pass_context
def overlap_remove(ctx, study_a, study_b, as_json):
    """Withdraw the overlap between STUDY_A and STUDY_B (kept in the audit trail)."""
    from ..overlaps import remove_overlap

    with open_store(ctx, "overlap remove") as review:
        with review.atomic():
            row_id = remove_overlap(review, study_a, study_b)
    emit({"removed": row_id}, as_json, lambda d: f"overlap {d['removed']} removed")


@overlap_group.command("list")
@json_option
@click.pass_context
def overlap_list(ctx, as_json):
    """The recorded overlaps between included studies, and the overlapping sets they make."""
    from ..overlaps import overlapping_pairs
    from ..pooling.inclusion import connected_sets

    with open_store(ctx, "overlap list") as review:
        pairs = overlapping_pairs(review)
    out = {"pairs": pairs, "sets": connected_sets(p["studies"] for p in pairs)}
    emit(out, as_json, lambda d: "\n".join(
        [_pair_text(p) for p in d["pairs"]]
        + [f"overlapping set: {', '.join(s)}" for s in d["sets"]]) or "no overlaps recorded")


COMMANDS = [overlap_group]
