"""Terminal prompts of `review screen`: one record at a time, one key per decision.

Keys are read with :func:`click.getchar` when stdin is a terminal and as lines otherwise, so the
session can be driven by a pipe or click's CliRunner (``input="i\\ne\\nq\\n"``). End of input
counts as ``q``. Every decision is committed before "saved" is printed and before the next record
is shown.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import yaml

from ..store import StoreBusy
from ..terminal import Terminal
from .criteria import ScreeningCriteria, load_screening_criteria
from .decisions import DecisionRefused, reviewer_note
from .highlight import Highlighter
from .queue import ScreeningSession
from .stopping import format_recall

KEYS = {"i": "include", "e": "exclude", "m": "maybe"}
HELP = """keys:
  i  include          e  exclude          m  maybe (kept apart, revisited at the end)
  u  undo the last decision               n  add a note to this record's decision
  c  show the inclusion/exclusion criteria
  ?  this help        q  quit (everything saved so far is kept; run again to resume)"""


def reasons_help(reasons: list[str]) -> str:
    """The keys of the title/abstract exclusion reasons (``ta_reasons``), one per line."""
    lines = ["exclude with a reason:"]
    lines += [f"  {n}  {r}" for n, r in enumerate(reasons[:9], start=1)]
    if len(reasons) > 9:
        lines.append("  r  choose any reason by number or name: "
                     + "; ".join(f"{n} {r}" for n, r in enumerate(reasons, start=1)))
    else:
        lines.append("  r  choose a reason by number or name")
    return "\n".join(lines)


def load_criteria(path: str | Path | None, width: int = 78) -> str | None:
    """The criteria file rendered as indented text wrapped to ``width``, or None if absent."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(_render(data, 0, width))


def _render(value, indent: int, width: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                out.append(f"{pad}{key}:")
                out.extend(_render(item, indent + 2, width))
            else:
                out.extend(textwrap.wrap(f"{key}: {item}", width, initial_indent=pad,
                                         subsequent_indent=pad + "  ") or [f"{pad}{key}:"])
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, (dict, list)):
                out.append(f"{pad}-")
                out.extend(_render(item, indent + 2, width))
            else:
                out.extend(textwrap.wrap(str(item), width, initial_indent=pad + "- ",
                                         subsequent_indent=pad + "  "))
        return out
    return textwrap.wrap(str(value), width, initial_indent=pad, subsequent_indent=pad)


def record_identifiers(row: dict) -> str:
    """The ids a person can look the record up by: 'PubMed S10 · PMID 1009 · DOI 10.1000/x9'.

    The source's own id (``source_id``) is left out when it is the PMID or a content hash
    (``h:...``, made for records without an id); then only the source is named. '' if the
    record has none of these."""
    source, sid = row.get("source"), row.get("source_id")
    pmid, doi = row.get("pmid"), row.get("doi")
    parts = []
    if sid and sid != pmid and not sid.startswith("h:"):
        parts.append(f"{source} {sid}" if source else f"source id {sid}")
    elif source:
        parts.append(source)
    if pmid:
        parts.append(f"PMID {pmid}")
    if doi:
        parts.append(f"DOI {doi}")
    return " · ".join(parts)


def format_header(record_id: int, row: dict, label: str = "") -> str:
    """'record 10 · PubMed S10 · PMID 1009 · DOI 10.1000/x9' and the phase label, if any."""
    ids = record_identifiers(row)
    return f"record {record_id}" + (f" · {ids}" if ids else "") + label


def format_record(row: dict, width: int, highlighter: Highlighter | None = None) -> str:
    """Title, authors/journal/year, keywords and the abstract wrapped to ``width``, with the
    review's highlight terms marked (see :mod:`toolkit.screening.highlight`)."""
    hl = highlighter or Highlighter()
    authors = json.loads(row["authors"]) if row.get("authors") else []
    if len(authors) > 6:
        authors = authors[:6] + ["et al."]
    meta = " · ".join(str(x) for x in (
        "; ".join(authors) if authors else None, row.get("journal"), row.get("year")) if x)
    keywords = json.loads(row["keywords"]) if row.get("keywords") else []
    title = row.get("title") or "(no title)"
    abstract = row.get("abstract") or "(no abstract)"
    parts = [hl.ansi(textwrap.fill(title, width), bold=True)]
    if meta:
        parts.append(textwrap.fill(meta, width))
    if keywords:
        parts.append(hl.ansi(textwrap.fill("keywords: " + "; ".join(keywords), width)))
    parts.append("")
    parts.append(hl.ansi(textwrap.fill(abstract, width)))
    return "\n".join(parts)


def status_line(session: ScreeningSession) -> str:
    c = session.counts()
    return (f"[{session.reviewer}: screened {c['screened']} | included {c['include']} | "
            f"maybe {c['maybe']} | remaining {c['remaining']} | "
            f"{format_recall(session.recall_estimate())}]")


def stop_reason(session: ScreeningSession, rule: str, details: dict) -> str:
    """Why a stopping rule fired, in words."""
    if rule == "heuristic":
        return f"{session.stop_after} consecutive excludes"
    return (f"BUSCAR: recall >= {session.target:.0%} at {session.confidence:.0%} confidence "
            f"(p = {details['p_value']:.4f}, {details['k_sample']} includes in a random sample "
            f"of {details['n_sample']})")


def run(session: ScreeningSession, *, criteria_path=None, err: bool = False,
        yes: bool = False, criteria: ScreeningCriteria | None = None) -> dict:
    """Run the prompt loop until the queue is done or the reviewer quits; returns counts.

    Before a stopping rule excludes records by automation the reviewer is asked (``yes``:
    not asked). ``criteria`` (default: read from ``criteria_path``) gives the exclusion
    reasons (keys 1-9 and r) and the highlight terms. The records this session had on screen
    are released for the reviewer's other sessions when it ends, however it ends."""
    if criteria is None:
        criteria = load_screening_criteria(criteria_path)
    try:
        return _loop(session, criteria, criteria_path=criteria_path, err=err, yes=yes)
    finally:
        session.release_claims()


def _say_notices(term: Terminal, session: ScreeningSession) -> None:
    while session.notices:
        term.echo(session.notices.pop(0))


def _loop(session: ScreeningSession, criteria: ScreeningCriteria, *, criteria_path=None,
          err: bool = False, yes: bool = False) -> dict:
    reasons = criteria.ta_reasons
    term = Terminal(err=err)

    def confirm_stop(rule: str, n: int, details: dict) -> bool:
        # asked between the save and its "saved:" line: say the decision is kept either way
        why = stop_reason(session, rule, details)
        term.echo(f"(your decision is saved) stopping rule met ({why}): the {n} unscreened "
                  "records would be recorded as excluded by automation")
        answer = term.key("exclude them and stop? [y]es / [n]o, keep screening > ")
        if answer == "y":
            return True
        term.echo(f"not stopped: screening goes on (asked again after {session.stop_after} "
                  "more decisions)")
        return False

    if not yes:
        session.confirm_stop = confirm_stop
    width = max(40, min(100, shutil.get_terminal_size((80, 24)).columns) - 2)
    quit_ = False
    decided = 0
    prompt = ("[i]nclude [e]xclude " + (f"[1-{min(9, len(reasons))}/r] exclude+reason "
                                        if reasons else "")
              + "[m]aybe [u]ndo [n]ote [c]riteria [?] [q]uit > ")
    while True:
        _say_notices(term, session)
        try:
            shown = session.next()  # may write (a claim, a broken sample abandoned)
        except StoreBusy as exc:
            term.echo(f"no record shown: {exc.bare_message}")
            if term.key("any key to try again, q to quit > ") == "q":
                quit_ = True
                break
            continue
        _say_notices(term, session)
        if shown is None and session.can_undo():
            # the queue is empty (often because a stopping rule just fired): a last chance to
            # take back the final decision, which also takes back the stop it fired
            term.echo("nothing left to screen for " + session.reviewer)
            if term.key("[u]ndo the last decision, any other key to finish > ") == "u":
                undone = _undo(term, session)
                if undone:
                    term.echo(f"undone: {undone['decision']} (record {undone['record_id']})")
                continue
        if shown is None:
            break
        row = session.review.db["records"].get(shown.record_id)
        note = None
        term.echo("=" * width)
        label = {"ranked": "", "sample": "  (random sample for the stopping rule)",
                 "maybe": "  (revisiting a maybe)"}[shown.phase]
        if shown.elsewhere:
            label += "  (also on screen in another session of yours)"
        term.echo(format_header(shown.record_id, row, label))
        term.echo(format_record(row, width, criteria.highlighter))
        if shown.phase == "maybe":  # why it was a maybe: the note saved with it
            earlier = reviewer_note(session.review, shown.record_id, session.reviewer)
            term.echo(f"your note: {earlier}" if earlier else "(no note with this maybe)")
        term.echo(status_line(session))
        while True:
            k = term.key(prompt)
            reason = None
            if reasons and (k == "r" or (k.isdigit() and 1 <= int(k) <= min(9, len(reasons)))):
                reason = _ask_reason(term, criteria) if k == "r" else reasons[int(k) - 1]
                if reason is None:
                    continue
                k = "e"
            if k in KEYS:
                decision = KEYS[k]
                was_sampling = session.sampling is not None
                try:
                    session.decide(shown, decision, note, reason=reason)
                except DecisionRefused as exc:
                    # another session of this reviewer got there first: say so, move on
                    term.echo(str(exc))
                    break
                except StoreBusy as exc:
                    # nothing saved, the session goes on: the same key tries again
                    term.echo(f"not saved: {exc.bare_message}")
                    term.echo(f"record {shown.record_id} is still on screen: press the key "
                              "again to save it, or q to quit")
                    continue
                decided += 1
                term.echo(f"saved: {decision}" + (f" ({reason})" if reason else "")
                          + f" (record {shown.record_id})")
                if session.stopped is not None and session.stopped.get("_announced") is None:
                    _announce_stop(term, session)
                elif session.sampling is not None and not was_sampling:
                    term.echo(f"{session.stop_after} consecutive excludes: now a random sample "
                              f"of the {session.sampling['urn_size']} unscreened records, "
                              "until the BUSCAR test says the recall target is reached")
                break
            if k == "u":
                if not session.can_undo():
                    term.echo("nothing to undo")
                    continue
                undone = _undo(term, session)
                if undone is None:
                    continue
                term.echo(f"undone: {undone['decision']} (record {undone['record_id']})")
                break
            if k == "n":
                note = term.line("note: ") or None
                term.echo("note kept; it is saved with this record's decision"
                          if note else "no note")
                continue
            if k == "c":
                text = load_criteria(criteria_path, width)
                term.echo(text if text is not None else
                          f"no criteria file ({criteria_path}); write the inclusion and "
                          "exclusion criteria there as YAML")
                continue
            if k == "?":
                term.echo(HELP)
                if reasons:
                    term.echo(reasons_help(reasons))
                continue
            if k == "q":
                quit_ = True
                break
            term.echo("unknown key; ? for help")
        if quit_:
            break
    counts = session.counts()
    counts["decided_this_session"] = decided
    counts["recall_estimate"] = session.recall_estimate()
    counts["stopped"] = ({k: v for k, v in session.stopped.items() if not k.startswith("_")}
                         if session.stopped else None)
    if quit_:
        term.echo("quit: everything decided is saved; run `review screen` again to resume")
        counts["finished"] = False
    else:
        term.echo("done: nothing left to screen for " + session.reviewer)
        counts["finished"] = True
    term.echo(status_line(session))
    return counts


def _ask_reason(term: Terminal, criteria: ScreeningCriteria) -> str | None:
    """A reason typed by number or name; None (nothing decided) for an empty or unknown one."""
    from ..errors import ReviewError

    term.echo("; ".join(f"{n} {r}" for n, r in enumerate(criteria.ta_reasons, start=1)))
    given = term.line("reason (number or name, empty to go back): ")
    if not given:
        return None
    try:
        return criteria.reason(given)
    except ReviewError as exc:
        term.echo(str(exc))
        return None


def _undo(term: Terminal, session: ScreeningSession) -> dict | None:
    """``session.undo()``, saying why when it is refused or the store is busy."""
    try:
        return session.undo()
    except DecisionRefused as exc:
        term.echo(str(exc))
    except StoreBusy as exc:
        term.echo(f"not undone: {exc.bare_message}")
    return None


def _announce_stop(term: Terminal, session: ScreeningSession) -> None:
    s = session.stopped
    s["_announced"] = True
    why = stop_reason(session, s["rule"], s)
    term.echo(f"stopping rule met ({why}); {s['n_automation']} unscreened records recorded "
              "as excluded by automation")
