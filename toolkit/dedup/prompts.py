"""`review dedup review`: the manual queue of uncertain pairs, in the terminal.

Each pair is shown side by side with the fields that differ marked; the keys are
d(uplicate) / n(ot duplicate) / s(kip) / q(uit). Every decision is saved (its own transaction)
before the next pair is shown, so quitting or a crash loses nothing decided. The open pairs are
read again after each answer: a 'duplicate' closes the pairs whose records it put in one cluster.
After a 'duplicate' the queue says what it did to screening: a screened record that became the
cluster's primary, decisions inherited, screened duplicates that disagree with their primary.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from typing import Callable

import click

from ..store import Review
from . import api

FIELDS = ("title", "authors", "year", "journal", "volume", "issue", "pages", "doi", "pmid",
          "source", "source_id", "abstract")
KEYS = {"d": "duplicate", "n": "not"}


def _value(rec: dict, field: str) -> str:
    v = rec.get(field)
    if field == "authors":
        v = rec.get("authors_raw") or "; ".join(json.loads(v or "[]"))
    if field == "abstract" and v and len(v) > 300:
        v = v[:300] + "..."
    return "" if v is None else str(v)


def side_by_side(a: dict, b: dict, width: int | None = None) -> str:
    """Two records in two columns; a field whose values differ is marked with '≠' and
    highlighted (bold yellow on a terminal)."""
    width = width or min(shutil.get_terminal_size((120, 20)).columns, 160)
    col = max(20, (width - 14) // 2)
    lines = [f"{'':11} {'record ' + str(a['id']):{col}} | record {b['id']}"]
    for f in FIELDS:
        va, vb = _value(a, f), _value(b, f)
        if not va and not vb:
            continue
        differs = va.strip().lower() != vb.strip().lower()
        wa = textwrap.wrap(va, col) or [""]
        wb = textwrap.wrap(vb, col) or [""]
        for k in range(max(len(wa), len(wb))):
            label = (f"{'≠' if differs else ' '} {f}" if k == 0 else "")
            left = wa[k] if k < len(wa) else ""
            right = wb[k] if k < len(wb) else ""
            line = f"{label:11} {left:{col}} | {right}"
            lines.append(click.style(line, fg="yellow", bold=True) if differs else line)
    return "\n".join(lines)


def conflict_line(c: dict) -> str:
    """One screening decision conflict in a cluster (:func:`api.decision_conflicts`)."""
    theirs = (f"'{c['primary_decision']}'" if c["primary_decision"] is not None
              else "not screened")
    return (f"cluster {c['cluster_id']}: record {c['record_id']} was screened "
            f"'{c['decision']}', its primary record {c['primary_id']} {theirs}; resolve with "
            f"`review conflicts resolve {c['primary_id']} --decision include|exclude`")


def merge_lines(out: dict) -> list[str]:
    """What a 'duplicate' did to screening: a new primary, inherited decisions, conflicts."""
    lines = []
    if out.get("primary_changed"):
        cid, old, new = out["primary_changed"]
        lines.append(f"record {new} (screened) is now the primary of cluster {cid} "
                     f"(was record {old})")
    for h in out.get("inherited_decisions", []):
        lines.append(f"record {h['record_id']} duplicates screened record "
                     f"{h['from_record_id']}: inherits '{h['decision']}'")
    lines += [conflict_line(c) for c in out.get("decision_conflicts", [])]
    return lines


def review_pairs(review: Review, *, ask: Callable[[str], str] | None = None,
                 echo: Callable[[str], None] | None = None, actor: str | None = None,
                 err: bool = False) -> dict:
    """Show each open uncertain pair and save the answer at once; returns the counts.

    The open pairs are read again after every answer: a 'duplicate' that puts the records of
    other pairs into one cluster closes those pairs (``closed`` counts them), so they are not
    shown. A skipped pair is not shown again in this session. The default ``ask``/``echo``
    use the terminal (one key per answer, as in `review screen`), on stderr when ``err``
    (stdout is then left to the caller's JSON)."""
    from ..errors import ReviewError
    from ..terminal import Terminal

    term = Terminal(err=err)
    ask = ask or (lambda text: term.choose(f"{text} > ", "dns"))
    echo = echo or term.echo
    counts = {"duplicate": 0, "not": 0, "skipped": 0, "closed": 0}
    passed: set[int] = set()  # skipped, or refused, in this session
    shown = 0
    quit_ = False
    while True:
        pairs = [p for p in api.open_pairs(review) if p["id"] not in passed]
        if not pairs:
            break
        p = pairs[0]
        shown += 1
        recs = {r["id"]: r for r in review.db.query(
            "select * from records where id in (?, ?)", [p["record_a"], p["record_b"]])}
        echo("")
        echo(f"pair {shown} of {shown - 1 + len(pairs)} (id {p['id']}; rule {p['rule']}, "
             f"title similarity {p['score']:.0f})")
        echo(side_by_side(recs[p["record_a"]], recs[p["record_b"]]))
        key = ask("d(uplicate) / n(ot) / s(kip) / q(uit)").strip().lower()
        if key == "q":
            quit_ = True
            break
        if key == "s":
            counts["skipped"] += 1
            passed.add(p["id"])
            continue
        try:
            out = api.decide_pair(review, p["id"], KEYS[key], actor=actor)
        except ReviewError as exc:  # e.g. changed by another session meanwhile
            echo(f"not saved: {exc}")
            passed.add(p["id"])
            continue
        counts[KEYS[key]] += 1
        for line in merge_lines(out):
            echo(line)
        settled = out.get("settled_pairs", [])
        if settled:
            counts["closed"] += len(settled)
            echo(f"closed {len(settled)} other open pair{'s' if len(settled) > 1 else ''}: "
                 f"both records now in cluster {out['cluster_id']}")
    counts["remaining"] = len(api.open_pairs(review))
    counts["quit"] = quit_
    return counts
