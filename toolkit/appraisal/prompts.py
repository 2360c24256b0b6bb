"""Terminal appraisal of one study with a tool, domain by domain.

Keys at each question: an answer (validated at once; any case), Enter = skip (keep what is
there), ``?`` = help, ``q`` = quit (the end of input too). Each answer is saved in its own
transaction the moment it is accepted; its supporting quote and source are asked after and
added in a second one, so quitting or a crash loses nothing entered. A domain with an
algorithm shows the judgement its answers derive: Enter accepts it (nothing is stored: it is
derived), another judgement overrides it and a reason is required.
"""

from __future__ import annotations

from typing import Callable

from ..errors import ReviewError
from ..store import Review
from .assessments import add_support, asked, live_entries, save_entry, view
from .templates import OVERALL, Tool

HELP = ("type the answer (any case); Enter = skip (keep what is there); q = quit (everything "
        "entered is saved); ? = this help")


def run_entry(review: Review, tool: Tool, study: str, assessor: str, *,
              ask: Callable[[str], str | None], echo: Callable[[str], None],
              ask_support: bool = True) -> dict:
    """Prompt for every domain of ``tool`` for ``study``; returns {'saved': n, 'quit': bool}."""
    saved = 0

    def mine() -> dict:
        return {r["item"]: r for r in live_entries(review, tool.name, study)
                if r["assessor"] == assessor and r["origin"] != "resolution"}

    def save(item, text, reason=None) -> bool:
        nonlocal saved
        try:
            with review.atomic():
                row_id = save_entry(review, tool, study, item, text, assessor, reason=reason)
        except ReviewError as exc:
            echo(f"  invalid: {exc.bare_message}")
            return False
        if row_id is None:
            return True
        saved += 1
        if ask_support:
            quote = (ask("  supporting quote (Enter: none)") or "").strip()
            if quote:
                source = (ask("  source (URL, citation, page; Enter: none)") or "").strip()
                with review.atomic():
                    add_support(review, row_id, quote, source, assessor)
        return True

    def prompt(item: str, label: str, choices: list[str], now: str | None,
               help_text: str | None = None, allow_derived: str | None = None):
        """Ask until a valid answer; returns the answer, '' (skip) or None (quit)."""
        while True:
            shown = f" (now: {now})" if now else ""
            if allow_derived is not None:
                shown = f" (derived: {allow_derived}; Enter accepts it)" + \
                    (f" (now: {now}, an override)" if now and now != allow_derived else "")
            text = ask(f"{label} <{'/'.join(choices)}>{shown}")
            if text is None or text.strip().lower() == "q":
                return None
            text = text.strip()
            if text == "?":
                echo(help_text or "(no help for this item)")
                echo(HELP)
                continue
            if not text:
                return ""
            try:
                return tool.canonical(item, text)[1]
            except ValueError as exc:
                echo(f"  invalid: {exc}")

    echo(f"study {study}, tool {tool.name} ({tool.title}), assessor {assessor}  ({HELP})")
    for d in tool.domains:
        echo(f"{d['id']}: {d['name']}")
        for q in d["questions"]:
            entries = mine()
            answers = {k: e["value"] for k, e in entries.items()}
            if not asked(q, answers):
                continue
            now = answers.get(q["id"])
            got = prompt(q["id"], f"  {q['id']} {q['text']}", q["answers"], now, q.get("help"))
            if got is None:
                return {"saved": saved, "quit": True}
            if got and got != now and not save(q["id"], got):
                continue
        entries = mine()
        v = view(tool, entries)["domains"][d["id"]]
        now = entries[d["id"]]["value"] if d["id"] in entries else None
        got = prompt(d["id"], f"  {d['id']} judgement" if d["questions"] else f"  {d['id']}",
                     d["judgements"], now, d.get("help"),
                     allow_derived=v["derived"] if d.get("algorithm") else None)
        if got is None:
            return {"saved": saved, "quit": True}
        if got and got != now:
            reason = None
            if d.get("algorithm") and got != v["derived"]:
                reason = (ask("  reason for overriding the derived judgement") or "").strip()
                if not reason:
                    echo("  not saved: an override needs a reason")
                    continue
            save(d["id"], got, reason)
    entries = mine()
    v = view(tool, entries)["overall"]
    if tool.overall["rule"] == "sum":
        echo(f"overall: {v['derived'] or '(not all items scored)'}")
        return {"saved": saved, "quit": False}
    now = entries[OVERALL]["value"] if OVERALL in entries else None
    got = prompt(OVERALL, "overall judgement", tool.overall["judgements"], now,
                 allow_derived=v["derived"] if tool.derives_overall else None)
    if got is None:
        return {"saved": saved, "quit": True}
    if got and got != now:
        reason = None
        if tool.derives_overall and got != v["derived"]:
            reason = (ask("  reason for overriding the derived overall judgement") or
                      "").strip()
            if not reason:
                echo("  not saved: an override needs a reason")
                return {"saved": saved, "quit": False}
        save(OVERALL, got, reason)
    return {"saved": saved, "quit": False}
