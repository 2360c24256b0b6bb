"""Terminal entry of extracted values, field by field.

Keys at each field: a value (validated at once; an invalid one is explained and asked
again), ``NR`` = not reported, Enter = skip (keep what is there), ``?`` = help, ``q`` = quit
(the end of input too).
Each value is saved in its own transaction the moment it is accepted, so quitting or a crash
loses nothing already entered; then an optional source quote and page are asked (Enter skips)
and added to the saved value in a second transaction.
"""

from __future__ import annotations

from typing import Callable

from ..errors import ReviewError
from ..store import Review
from .entries import add_source, canonical_instance, live_rows, save_value
from .forms import Form, check_form_fits
from .values import format_value, parse_value

HELP = ("type the value; NR = not reported (not the same as 0); Enter = skip; "
        "q = quit (everything entered is saved); ? = this help")


def describe(field: dict) -> str:
    """One line telling what a field takes."""
    n_of_n = ("n of N and what was counted, e.g. 30/31 " + field["units"][0]
              if field.get("units") else "n of N, e.g. 30/31")
    kind = {"n_of_N": n_of_n, "mean_sd": "mean (SD), e.g. 61.8 (8.2), or "
            "61.8 (SE 1.2) / 61.8 (95% CI 59 to 64)", "median_iqr": "median (IQR a-b or "
            "range a-b)", "choice": "one of: " + ", ".join(field.get("choices", [])),
            "boolean": "yes/no", "date": "YYYY, YYYY-MM or YYYY-MM-DD"}.get(field["type"],
                                                                             field["type"])
    parts = [kind]
    if field.get("unit"):
        parts.append(f"unit: {field['unit']}")
    if field.get("units"):
        parts.append(f"units: {' | '.join(field['units'])}")
    if "min" in field or "max" in field:
        parts.append(f"range {field.get('min', '')}..{field.get('max', '')}")
    if field.get("required"):
        parts.append("required")
    return "; ".join(parts)


def run_entry(review: Review, form: Form, study: str, extractor: str, *,
              ask: Callable[[str], str], echo: Callable[[str], None],
              ask_source: bool = True) -> dict:
    """Prompt for every field of ``form`` for ``study``; returns {'saved': n, 'quit': bool}.

    ``ask(prompt)`` returns a line, or None at the end of input (taken as quit). A changed
    form that stored values do not fit is refused (ReviewError) before the first prompt."""
    check_form_fits(review, form)
    current = {(r["field"], r["instance"]): r for r in live_rows(review, form.name, study)
               if r["extractor"] == extractor and r["origin"] != "resolution"}
    instances: dict[str, list[str]] = {}
    saved = 0
    echo(f"study {study}, form {form.name}, extractor {extractor}  ({HELP})")
    for field in form.fields:
        level = field["level"]
        if level == "study":
            targets = [""]
        else:
            if level not in instances:
                known = sorted({k[1] for k in current if k[1]})
                hint = f" [{', '.join(known)}]" if known else ""
                text = ask(f"{level}s for this study, comma-separated{hint} (Enter: none)")
                if text is None or text.strip().lower() == "q":
                    return {"saved": saved, "quit": True}
                typed: dict[str, str] = {}  # arm names match ignoring case: first kept
                for t in text.split(","):
                    if t.strip():
                        name = canonical_instance(review, form, study, t)
                        typed.setdefault(name.casefold(), name)
                instances[level] = list(typed.values()) or known
            targets = instances[level]
        for inst in targets:
            where = f" [{inst}]" if inst else ""
            while True:
                old = current.get((field["name"], inst))
                shown = f" (now: {old['raw']})" if old else ""
                text = ask(f"{field['label']}{where} <{describe(field)}>{shown}")
                if text is None:
                    return {"saved": saved, "quit": True}
                text = text.strip()
                if text == "?":
                    echo(field.get("help") or "(no help for this field)")
                    echo(HELP)
                    continue
                if text.lower() == "q":
                    return {"saved": saved, "quit": True}
                if not text:
                    if field.get("required") and not old:
                        echo("  required: type a value or NR")
                        continue
                    break
                try:
                    value = parse_value(field, text)
                except ValueError as exc:
                    echo(f"  invalid: {exc}")
                    continue
                try:  # saved before the quote is asked: a crash there keeps the value
                    with review.atomic():
                        row_id = save_value(review, form, study, field["name"], text,
                                            extractor, instance=inst, origin="entry")
                except ReviewError as exc:
                    echo(f"  invalid: {exc.bare_message}")
                    continue
                saved += 1
                echo(f"  saved {field['name']}{where} = {format_value(value)}")
                if ask_source:
                    quote = (ask("  source quote (Enter: none)") or "").strip() or None
                    page = None
                    if quote:
                        page = (ask("  page (Enter: none)") or "").strip() or None
                    if quote:
                        with review.atomic():  # the second transaction: the value's source
                            add_source(review, row_id, quote, page, extractor)
                break
    return {"saved": saved, "quit": False}
