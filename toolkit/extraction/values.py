"""Typed extraction values: parse what a person types into a canonical value, or say why not.

Every type accepts "not reported" (also ``NR``, ``n/r``, ``not stated``) as its own answer,
distinct from 0. Parsed values are plain JSON-able objects:

===========  =====================================  ==========================================
type         typed as                               value
===========  =====================================  ==========================================
integer      ``14``                                 ``14``
number       ``12.6``                               ``12.6``
percent      ``47.5`` or ``47.5%``                  ``47.5`` (0 to 100)
text         anything non-empty                     the text, spaces collapsed
choice       one of the choices (any case)          the choice as the form spells it
boolean      yes/no, y/n, true/false, 1/0           ``true`` / ``false``
date         ``2016``, ``2016-03``, ``2016-03-31``  the ISO text, as precise as given
n_of_N       ``30/31``, ``30 of 31``                ``{"n": 30, "N": 31}``; a field with
             (``30/31 tumours`` when the field      ``units:`` needs the unit and keeps it:
             lists ``units:``)                      ``{"n": 30, "N": 31, "unit": "tumours"}``
mean_sd      ``61.8 (8.2)``, ``61.8 ± 8.2``,        ``{"mean": 61.8, "sd": 8.2}``; or with
             ``61.8 (SD 8.2)``, ``61.8``,           ``"se"``, or ``"ci_low"``/``"ci_high"``
             ``61.8 (SE 1.2)``,                     (the SD is then derived on export, see
             ``61.8 (95% CI 59.5 to 64.1)``         :mod:`toolkit.extraction.derived`)
median_iqr   ``10 (IQR 6-14)``, ``10 (range         ``{"median": 10, "q1": 6, "q3": 14}`` or
             2-30)``, ``10``                        ``{"median": 10, "min": 2, "max": 30}``
===========  =====================================  ==========================================
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re

TYPES = ("integer", "number", "percent", "text", "choice", "boolean", "date", "n_of_N",
         "mean_sd", "median_iqr")
# Spellings accepted in form files for the compound types.
TYPE_ALIASES = {"n of N": "n_of_N", "n_of_n": "n_of_N", "mean (SD)": "mean_sd",
                "median (IQR or range)": "median_iqr", "median_iqr_range": "median_iqr",
                "int": "integer", "float": "number", "bool": "boolean"}
NUMERIC_TYPES = ("integer", "number", "percent")


class NotReported:
    """The answer "not reported": a value of its own, never equal to 0 or to missing."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "NOT_REPORTED"

    def __bool__(self):  # guard against `if value:` treating it as present
        raise TypeError("test `value is NOT_REPORTED`, not its truth")


NOT_REPORTED = NotReported()
_NR = re.compile(r"^(?:nr|n/r|n\.r\.|not reported|not stated|unreported)$", re.I)
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE_SEP = r"\s*(?:to|–|—|-|,|;)\s*"


def is_not_reported_text(text: str) -> bool:
    return bool(_NR.match(str(text).strip()))


def _number(text: str, what: str = "a number") -> float:
    t = str(text).strip().replace("\u2212", "-")
    if not re.fullmatch(_NUM, t):
        raise ValueError(f"{text!r} is not {what}")
    x = float(t)
    if not math.isfinite(x):
        raise ValueError(f"{text!r} is not a finite number")
    return x


def _integer(text: str) -> int:
    t = str(text).strip()
    if not re.fullmatch(r"[-+]?\d+", t):
        raise ValueError(f"{text!r} is not a whole number")
    return int(t)


def _pair(text: str, what: str) -> tuple[float, float]:
    m = re.fullmatch(rf"({_NUM}){_RANGE_SEP}({_NUM})", text.strip().replace("\u2212", "-"))
    if not m:
        raise ValueError(f"{text!r} is not {what} (like '6 to 14' or '6-14')")
    lo, hi = float(m.group(1)), float(m.group(2))
    if lo > hi:
        raise ValueError(f"{what} {text!r}: the lower bound exceeds the upper")
    return lo, hi


def _num_out(x: float):
    """Whole floats as int, so 14.0 and 14 compare and print alike."""
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else x


def parse_value(field: dict, text):
    """Parse ``text`` for ``field`` (a validated form field); returns the canonical value or
    ``NOT_REPORTED``. Raises ValueError saying why the text is not a valid value."""
    if text is None or str(text).strip() == "":
        raise ValueError("empty (type NR for 'not reported')")
    text = re.sub(r"\s+", " ", str(text)).strip()
    if is_not_reported_text(text):
        return NOT_REPORTED
    kind = field["type"]
    if kind == "integer":
        value = _integer(text)
    elif kind == "number":
        value = _num_out(_number(text))
    elif kind == "percent":
        value = _num_out(_number(text.rstrip("%").strip(), "a percentage"))
        if not 0 <= value <= 100:
            raise ValueError(f"{text!r} is not a percentage between 0 and 100")
    elif kind == "text":
        value = text
    elif kind == "choice":
        for choice in field["choices"]:
            if choice.casefold() == text.casefold():
                value = choice
                break
        else:
            raise ValueError(f"{text!r} is not one of {', '.join(field['choices'])}")
    elif kind == "boolean":
        low = text.lower()
        if low in ("yes", "y", "true", "t", "1"):
            value = True
        elif low in ("no", "n", "false", "f", "0"):
            value = False
        else:
            raise ValueError(f"{text!r} is not yes or no")
    elif kind == "date":
        value = _date(text)
    elif kind == "n_of_N":
        units = field.get("units")
        m = re.fullmatch(r"(\d+)\s*(?:/|of|out of)\s*(\d+)(?:\s+(.+))?", text, re.I)
        if not m or (m.group(3) and not units):
            raise ValueError(f"{text!r} is not 'n of N' (like '30/31' or '30 of 31')")
        n, big = int(m.group(1)), int(m.group(2))
        if n > big:
            raise ValueError(f"{text!r}: n ({n}) exceeds N ({big})")
        if big == 0:
            raise ValueError(f"{text!r}: N is 0")
        value = {"n": n, "N": big}
        if units:
            value["unit"] = unit_of(units, m.group(3), text)
    elif kind == "mean_sd":
        value = _mean_sd(text)
    elif kind == "median_iqr":
        value = _median(text)
    else:  # forms are validated at load, so this is a bug
        raise AssertionError(f"unknown type {kind}")
    _check_range(field, value, text)
    return value


def unit_of(units: list[str], typed: str | None, text: str) -> str:
    """The unit of analysis ``typed`` names, spelled as in the form's ``units`` list (any case;
    a singular matches its plural, "tumour" -> "tumours"). Raises ValueError when it is
    missing or not listed: a count without its unit (per patient? per tumour?) cannot be
    pooled safely."""
    choices = ", ".join(units)
    if not typed or not typed.strip():
        raise ValueError(f"{text!r}: say what was counted, one of {choices} (like "
                         f"'30/31 {units[0]}')")
    t = " ".join(typed.split()).casefold()
    for u in units:
        if t in (u.casefold(), u.casefold().rstrip("s")):
            return u
    raise ValueError(f"{text!r}: unit {typed.strip()!r} is not one of {choices}")


def _date(text: str) -> str:
    for fmt, shape in (("%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"), ("%Y-%m", r"\d{4}-\d{2}"),
                       ("%Y", r"\d{4}")):
        if re.fullmatch(shape, text):
            try:
                _dt.datetime.strptime(text, fmt)
            except ValueError:
                raise ValueError(f"{text!r} is not a real date") from None
            return text
    raise ValueError(f"{text!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")


def _mean_sd(text: str) -> dict:
    t = text.replace("\u00b1", "±").replace("+/-", "±").replace("\u2212", "-")
    m = re.fullmatch(rf"({_NUM})\s*(?:±\s*({_NUM})|\((.*)\)|\[(.*)\])?", t)
    if not m:
        raise ValueError(f"{text!r} is not 'mean (SD)' (like '61.8 (8.2)', '61.8 ± 8.2', "
                         "'61.8 (SE 1.2)' or '61.8 (95% CI 59.5 to 64.1)')")
    out = {"mean": _num_out(float(m.group(1)))}
    inner = m.group(2) or m.group(3) or m.group(4)
    if inner is None:
        return out  # mean alone: the SD is not reported
    inner = inner.strip()
    sub = re.fullmatch(rf"(?:(sd|se|sem)\s*[:=]?\s*)?({_NUM})", inner, re.I)
    ci = re.fullmatch(rf"95\s*%\s*ci\s*[:=]?\s*(.+)", inner, re.I)
    if sub:
        kind = (sub.group(1) or "sd").lower()
        x = float(sub.group(2))
        if x < 0:
            raise ValueError(f"{text!r}: a negative {kind.upper()}")
        out["se" if kind in ("se", "sem") else "sd"] = _num_out(x)
    elif ci:
        lo, hi = _pair(ci.group(1), "a 95% CI")
        if not lo <= out["mean"] <= hi:
            raise ValueError(f"{text!r}: the mean lies outside its CI")
        out["ci_low"], out["ci_high"] = _num_out(lo), _num_out(hi)
    else:
        raise ValueError(f"{text!r}: in brackets expected an SD, 'SE x' or '95% CI a to b'")
    return out


def _median(text: str) -> dict:
    t = text.replace("\u2212", "-")
    m = re.fullmatch(rf"({_NUM})\s*(?:\((.*)\)|\[(.*)\])?", t)
    if not m:
        raise ValueError(f"{text!r} is not 'median (IQR or range)' (like '10 (IQR 6-14)' or "
                         "'10 (range 2-30)')")
    med = float(m.group(1))
    out = {"median": _num_out(med)}
    inner = m.group(2) or m.group(3)
    if inner is None:
        return out
    sub = re.fullmatch(r"(iqr|range)\s*[:=]?\s*(.+)", inner.strip(), re.I)
    if not sub:
        raise ValueError(f"{text!r}: in brackets write 'IQR a-b' or 'range a-b'")
    lo, hi = _pair(sub.group(2), sub.group(1).upper())
    if not lo <= med <= hi:
        raise ValueError(f"{text!r}: the median lies outside its {sub.group(1)}")
    keys = ("q1", "q3") if sub.group(1).lower() == "iqr" else ("min", "max")
    out[keys[0]], out[keys[1]] = _num_out(lo), _num_out(hi)
    return out


def _check_range(field: dict, value, text: str) -> None:
    lo, hi = field.get("min"), field.get("max")
    if lo is None and hi is None:
        return
    if field["type"] in NUMERIC_TYPES:
        checked = [("value", value)]
    elif field["type"] == "mean_sd":
        checked = [("mean", value["mean"])]
    elif field["type"] == "median_iqr":
        checked = [(k, value[k]) for k in ("median", "q1", "q3", "min", "max") if k in value]
    elif field["type"] == "n_of_N":
        checked = [("n", value["n"]), ("N", value["N"])]
    else:
        return
    for name, x in checked:
        if lo is not None and x < lo:
            raise ValueError(f"{text!r}: {name} {x} is below the allowed minimum {lo}")
        if hi is not None and x > hi:
            raise ValueError(f"{text!r}: {name} {x} is above the allowed maximum {hi}")


def to_json(value) -> str | None:
    """Canonical JSON of a parsed value (None for NOT_REPORTED)."""
    if value is NOT_REPORTED:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def from_row(status: str, value_json: str | None):
    """The parsed value from a stored row."""
    return NOT_REPORTED if status == "not_reported" else json.loads(value_json)


def format_value(value) -> str:
    """A parsed value as a person would type it (parses back to the same value)."""
    if value is NOT_REPORTED:
        return "NR"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        if "N" in value:
            return f"{value['n']}/{value['N']}" + (f" {value['unit']}" if "unit" in value
                                                   else "")
        if "mean" in value:
            if "sd" in value:
                return f"{value['mean']} ({value['sd']})"
            if "se" in value:
                return f"{value['mean']} (SE {value['se']})"
            if "ci_low" in value:
                return f"{value['mean']} (95% CI {value['ci_low']} to {value['ci_high']})"
            return f"{value['mean']}"
        if "median" in value:
            if "q1" in value:
                return f"{value['median']} (IQR {value['q1']} to {value['q3']})"
            if "min" in value:
                return f"{value['median']} (range {value['min']} to {value['max']})"
            return f"{value['median']}"
    return str(value)
