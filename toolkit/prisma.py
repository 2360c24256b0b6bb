"""PRISMA 2020 flow counts: invariant checks, the PRISMA2020 R template CSV/JSON, the diagram.

Pure functions of one ``counts`` dict (keys in :data:`COUNT_KEYS`, documented in
``docs/prisma.md``); the caller derives the counts from the review store. Every writer checks
the invariants first (:func:`check_invariants`), so a diagram whose numbers do not add up is
never written.

The CSV is the data template of the PRISMA2020 R package (``toolkit/data/prisma2020_template.csv``):
every template row, with its exact ``data`` key and in its order, only ``n`` filled, so
``PRISMA_flowdiagram(PRISMA_data(read.csv(f)))`` draws it unchanged. Boxes of arms the review
did not use (previous version, registers, other methods) get an empty ``n``: R reads it as
``NA`` and the package hides those boxes and arms (its own convention for unused boxes).
"""

from __future__ import annotations

import csv
import io
import textwrap
from pathlib import Path
from typing import Mapping

from .errors import ReviewError

TEMPLATE_PATH = Path(__file__).with_name("data") / "prisma2020_template.csv"
TEMPLATE_COLUMNS = ("data", "node", "box", "description", "boxtext", "tooltips", "url", "n")


def load_template(path: Path | str = TEMPLATE_PATH) -> tuple[dict, ...]:
    """The template's rows as dicts (column -> text), in file order."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != TEMPLATE_COLUMNS:
            raise ReviewError(f"unexpected columns {reader.fieldnames}", file=path)
        return tuple(dict(row) for row in reader)


PRISMA_TEMPLATE: tuple[dict, ...] = load_template()

# Keys of the counts dict. Mappings keep the caller's order (it is the order printed).
REQUIRED_KEYS = (
    "identified_by_database",  # {database name: records identified}
    "records_screened",
    "records_excluded",
    "reports_sought",
    "reports_not_retrieved",
    "reports_assessed",
    "reports_excluded_reasons",  # {full-text exclusion reason: reports excluded}
    "new_studies_included",
    "new_reports_included",
)
OPTIONAL_KEYS = {
    "identified_registers": {},  # {register name: records}; empty = registers not searched
    "duplicates_removed": 0,
    "automation_excluded": 0,
    "other_removed": 0,
    "linked_reports_delta": 0,  # reports sought minus records passed to retrieval (linking)
    "studies_in_meta_analysis": None,
    "reports_in_meta_analysis": None,
    "previous_studies": None,  # update of a review: the previous version's counts
    "previous_reports": None,
    # the other-methods arm: used when any of the three identified_* is given
    "identified_websites": None,
    "identified_organisations": None,
    "identified_citations": None,
    "other_reports_sought": None,
    "other_reports_not_retrieved": None,
    "other_reports_assessed": None,
    "other_reports_excluded_reasons": None,
}
COUNT_KEYS = REQUIRED_KEYS + tuple(OPTIONAL_KEYS)
_MAPPING_KEYS = {"identified_by_database", "identified_registers", "reports_excluded_reasons",
                 "other_reports_excluded_reasons"}
_OTHER_ID_KEYS = ("identified_websites", "identified_organisations", "identified_citations")
_OTHER_FLOW_KEYS = ("other_reports_sought", "other_reports_not_retrieved",
                    "other_reports_assessed", "other_reports_excluded_reasons")
# Template rows that are labels, not counts: their template ``n`` is kept as is.
_LABEL_KEYS = {"NA", "identification", "screening", "included"}


def _count(value, key: str, name: str | None = None) -> int:
    where = f"{key}[{name!r}]" if name is not None else key
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReviewError(f"PRISMA count {where} must be a whole number, got {value!r}")
    if value < 0:
        raise ReviewError(f"PRISMA count {where} must not be negative, got {value}")
    return value


def _named_counts(value, key: str) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise ReviewError(f"PRISMA count {key} must be a mapping of name -> count, got {value!r}")
    out = {}
    for name, n in value.items():
        if not isinstance(name, str) or not name.strip():
            raise ReviewError(f"PRISMA count {key} has an empty name")
        # The R package splits the text on ';' and reads the name up to the first ','.
        if "," in name or ";" in name:
            raise ReviewError(f"PRISMA count {key}: name {name!r} must not contain ',' or ';' "
                              "(the PRISMA2020 template separates names and numbers with them)")
        out[name.strip()] = _count(n, key, name)
    return out


def normalise_counts(counts: Mapping) -> dict:
    """``counts`` checked for types and completed with defaults (invariants not checked).

    Raises
    ------
    ReviewError
        Unknown or missing key, a count that is not a non-negative integer, a bad name.
    """
    if not isinstance(counts, Mapping):
        raise ReviewError("PRISMA counts must be a mapping")
    unknown = sorted(set(counts) - set(COUNT_KEYS))
    if unknown:
        raise ReviewError(f"unknown PRISMA count key(s): {', '.join(unknown)}")
    missing = [k for k in REQUIRED_KEYS if k not in counts]
    if missing:
        raise ReviewError(f"missing PRISMA count key(s): {', '.join(missing)}")
    out = dict(OPTIONAL_KEYS)
    out.update(counts)
    for key in COUNT_KEYS:
        value = out[key]
        if key in _MAPPING_KEYS:
            if value is None and key in REQUIRED_KEYS:
                raise ReviewError(f"PRISMA count {key} must be a mapping of name -> count, "
                                  "got None")
            out[key] = None if value is None else _named_counts(value, key)
        elif key == "linked_reports_delta":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ReviewError(f"PRISMA count {key} must be a whole number, got {value!r}")
        elif value is not None:
            out[key] = _count(value, key)
    if out["identified_registers"] is None:
        out["identified_registers"] = {}
    if other_arm_used(out):
        absent = [k for k in _OTHER_FLOW_KEYS if out[k] is None]
        if absent:
            raise ReviewError("the other-methods arm is used (identified_websites/organisations/"
                              f"citations given) but {', '.join(absent)} missing")
    return out


def previous_used(counts: Mapping) -> bool:
    """True for an updated review (studies of a previous version are given)."""
    return (counts.get("previous_studies") is not None
            or counts.get("previous_reports") is not None)


def other_arm_used(counts: Mapping) -> bool:
    """True when records were identified via other methods (websites, organisations, citations)."""
    return any(counts.get(k) is not None for k in _OTHER_ID_KEYS)


def _fail(invariant: str, detail: str):
    raise ReviewError(f"PRISMA invariant violated: {invariant}: {detail}")


def check_invariants(counts: Mapping) -> None:
    """Raise :class:`ReviewError` naming the first PRISMA flow invariant that does not hold.

    The invariants (databases and registers arm; the other-methods arm likewise):

    - records screened = records identified - duplicates - automation - other removals
    - reports sought = records screened - records excluded (+ ``linked_reports_delta``;
      one report per record unless linked)
    - reports assessed = reports sought - reports not retrieved
    - included reports = reports assessed - reports excluded (summed over the arms used)
    - new studies included <= new reports included (a study has at least one report)
    - studies in meta-analysis <= studies included (new + previous); reports likewise
    """
    c = normalise_counts(counts)
    identified = sum(c["identified_by_database"].values()) + sum(c["identified_registers"].values())
    removed = c["duplicates_removed"] + c["automation_excluded"] + c["other_removed"]
    if c["records_screened"] != identified - removed:
        _fail("records screened = records identified - duplicates - automation - other removals",
              f"{c['records_screened']} != {identified} - {c['duplicates_removed']} - "
              f"{c['automation_excluded']} - {c['other_removed']} (= {identified - removed})")
    expected = c["records_screened"] - c["records_excluded"] + c["linked_reports_delta"]
    if c["reports_sought"] != expected:
        link = (f" + {c['linked_reports_delta']} (linked)" if c["linked_reports_delta"] else "")
        _fail("reports sought = records screened - records excluded",
              f"{c['reports_sought']} != {c['records_screened']} - {c['records_excluded']}{link}"
              f" (= {expected})")
    if c["reports_assessed"] != c["reports_sought"] - c["reports_not_retrieved"]:
        _fail("reports assessed = reports sought - reports not retrieved",
              f"{c['reports_assessed']} != {c['reports_sought']} - {c['reports_not_retrieved']}"
              f" (= {c['reports_sought'] - c['reports_not_retrieved']})")
    excluded = sum(c["reports_excluded_reasons"].values())
    included = c["reports_assessed"] - excluded
    if included < 0:
        _fail("included reports = reports assessed - reports excluded",
              f"{excluded} reports excluded but only {c['reports_assessed']} assessed")
    parts = f"{c['reports_assessed']} - {excluded}"
    if other_arm_used(c):
        other_identified = sum(c[k] or 0 for k in _OTHER_ID_KEYS)
        if c["other_reports_sought"] > other_identified:
            _fail("other-methods reports sought <= records identified via other methods",
                  f"{c['other_reports_sought']} > {other_identified}")
        if c["other_reports_assessed"] != c["other_reports_sought"] - c["other_reports_not_retrieved"]:
            _fail("other-methods reports assessed = reports sought - reports not retrieved",
                  f"{c['other_reports_assessed']} != {c['other_reports_sought']} - "
                  f"{c['other_reports_not_retrieved']}")
        other_excluded = sum(c["other_reports_excluded_reasons"].values())
        if other_excluded > c["other_reports_assessed"]:
            _fail("included reports = reports assessed - reports excluded",
                  f"other methods: {other_excluded} reports excluded but only "
                  f"{c['other_reports_assessed']} assessed")
        included += c["other_reports_assessed"] - other_excluded
        parts += f" + {c['other_reports_assessed']} - {other_excluded} (other methods)"
    if c["new_reports_included"] != included:
        _fail("included reports = reports assessed - reports excluded",
              f"{c['new_reports_included']} != {parts} (= {included})")
    if c["new_studies_included"] > c["new_reports_included"]:
        _fail("new studies included <= new reports included",
              f"{c['new_studies_included']} > {c['new_reports_included']}")
    total_studies = c["new_studies_included"] + (c["previous_studies"] or 0)
    total_reports = c["new_reports_included"] + (c["previous_reports"] or 0)
    if c["studies_in_meta_analysis"] is not None and c["studies_in_meta_analysis"] > total_studies:
        _fail("studies in meta-analysis <= studies included",
              f"{c['studies_in_meta_analysis']} > {total_studies}")
    if c["reports_in_meta_analysis"] is not None and c["reports_in_meta_analysis"] > total_reports:
        _fail("reports in meta-analysis <= reports included",
              f"{c['reports_in_meta_analysis']} > {total_reports}")


def format_named_counts(named: Mapping[str, int]) -> str:
    """``{"PubMed": 123, "Embase": 456}`` -> ``"PubMed, 123; Embase, 456"`` (the template's format).

    Numbers carry no thousands separator: the R package reads the number after the last comma.
    """
    return "; ".join(f"{name}, {n}" for name, n in named.items())


def _values(c: dict) -> dict:
    """Template ``data`` key -> value (int, str, or None for an unused box)."""
    other = other_arm_used(c)
    dbs, regs = c["identified_by_database"], c["identified_registers"]
    previous = previous_used(c)

    def reasons(named):
        return format_named_counts(named) if named else 0

    def arm(value):
        return value if other else None

    return {
        "previous_studies": c["previous_studies"],
        "previous_reports": c["previous_reports"],
        "database_results": sum(dbs.values()) if dbs else None,
        "database_specific_results": format_named_counts(dbs) if dbs else None,
        "register_results": sum(regs.values()) if regs else None,
        "register_specific_results": format_named_counts(regs) if regs else None,
        "website_results": c["identified_websites"],
        "organisation_results": c["identified_organisations"],
        "citations_results": c["identified_citations"],
        "duplicates": c["duplicates_removed"],
        "excluded_automatic": c["automation_excluded"],
        "excluded_other": c["other_removed"],
        "records_screened": c["records_screened"],
        "records_excluded": c["records_excluded"],
        "dbr_sought_reports": c["reports_sought"],
        "dbr_notretrieved_reports": c["reports_not_retrieved"],
        "other_sought_reports": arm(c["other_reports_sought"]),
        "other_notretrieved_reports": arm(c["other_reports_not_retrieved"]),
        "dbr_assessed": c["reports_assessed"],
        "dbr_excluded": reasons(c["reports_excluded_reasons"]),
        "other_assessed": arm(c["other_reports_assessed"]),
        "other_excluded": arm(reasons(c["other_reports_excluded_reasons"] or {})),
        "new_studies": c["new_studies_included"],
        "new_reports": c["new_reports_included"],
        "total_studies": (c["new_studies_included"] + (c["previous_studies"] or 0)
                          if previous else None),
        "total_reports": (c["new_reports_included"] + (c["previous_reports"] or 0)
                          if previous else None),
        "total_studies_ma": c["studies_in_meta_analysis"],
        "total_reports_ma": c["reports_in_meta_analysis"],
    }


def prisma_rows(counts: Mapping) -> list[dict]:
    """Every template row, in template order, with ``n`` filled from ``counts``.

    Count rows get the number (as text), ``database_specific_results`` /
    ``register_specific_results`` / ``dbr_excluded`` / ``other_excluded`` get
    ``"Name, n; Name, n"``, rows of unused arms get ``""`` (R: ``NA``, box hidden), label rows
    (title boxes, the blue side boxes) keep the template's ``n``.
    """
    check_invariants(counts)
    values = _values(normalise_counts(counts))
    rows = []
    for template_row in PRISMA_TEMPLATE:
        row = dict(template_row)
        key = row["data"]
        if key not in _LABEL_KEYS:
            if key not in values:  # a template row this writer does not know: fail loudly
                raise ReviewError(f"PRISMA template row {key!r} has no count mapping",
                                  file=TEMPLATE_PATH)
            value = values[key]
            row["n"] = "" if value is None else str(value)
        rows.append(row)
    return rows


def csv_text(counts: Mapping) -> str:
    """The PRISMA2020 template CSV with ``n`` filled, as text (LF line ends)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TEMPLATE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(prisma_rows(counts))
    return buf.getvalue()


def write_csv(counts: Mapping, path: Path | str) -> Path:
    """Write the filled PRISMA2020 template to ``path`` (nothing written if invariants fail)."""
    text = csv_text(counts)
    path = Path(path)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def to_json(counts: Mapping) -> dict:
    """The CSV's ``data`` keys -> values: numbers as ints, names-and-numbers text as in the CSV,
    unused boxes as ``None``. Label rows without a key (``NA``) are left out."""
    out = {}
    for row in prisma_rows(counts):
        key, n = row["data"], row["n"]
        if key == "NA":
            continue
        if n == "":
            out[key] = None
        elif n.isdigit():
            out[key] = int(n)
        else:
            out[key] = n
    return out


# ---------------------------------------------------------------------------------------------
# The diagram (matplotlib). Layout of the PRISMA 2020 flow diagram for new reviews: a yellow
# title box, then identification / screening / included bands, main boxes on the left of each
# arm, exclusion boxes to their right, the other-methods arm (grey) to the right when used.

_FONT_SIZE = 9.0
_LINE_H = _FONT_SIZE * 1.32 / 72  # inches per text line
_PAD = 0.12  # inches of padding inside a box
_BOX_W = 3.1
_GAP = 0.45  # between a main box and its exclusion box
_ARM_GAP = 0.7
_LABEL_W = 0.38
_MARGIN = 0.25
_WRAP = 46  # characters per line at _BOX_W and _FONT_SIZE
_BAND_GAP = 0.38
_YELLOW, _GREY, _BLUE = "#ffd966", "#e6e6e6", "#c5d9f1"


_NBSP = "\u00a0"


def _n(value: int) -> str:
    # non-breaking spaces keep "(n = 12)" on one line when the text is wrapped
    return f"(n{_NBSP}={_NBSP}{value:,})"


def _wrap(line: str, indent: str = "") -> list[str]:
    lines = textwrap.wrap(line, _WRAP, initial_indent=indent, subsequent_indent=indent + "  ",
                          break_on_hyphens=False) or [""]
    return [x.replace(_NBSP, " ") for x in lines]


def _lines(*parts: str, indent_rest: bool = False) -> str:
    out = []
    for i, part in enumerate(parts):
        out.extend(_wrap(part, "  " if (indent_rest and i) else ""))
    return "\n".join(out)


def _box_texts(c: dict) -> dict:
    """Box name -> (text, left-aligned?) for every box to draw."""
    dbs, regs = c["identified_by_database"], c["identified_registers"]
    ident = ["Records identified from:"]
    if dbs:
        ident.append(f"Databases {_n(sum(dbs.values()))}")
        ident += [f"  {name} {_n(n)}" for name, n in dbs.items()]
    if regs:
        ident.append(f"Registers {_n(sum(regs.values()))}")
        ident += [f"  {name} {_n(n)}" for name, n in regs.items()]
    removed = ["Records removed before screening:",
               f"Duplicate records removed {_n(c['duplicates_removed'])}",
               f"Records marked as ineligible by automation tools {_n(c['automation_excluded'])}",
               f"Records removed for other reasons {_n(c['other_removed'])}"]

    def excluded(named):
        total = sum(named.values())
        if not named:
            return [f"Reports excluded {_n(total)}"]
        return ["Reports excluded:"] + [f"{name} {_n(n)}" for name, n in named.items()]

    included = [f"New studies included in review {_n(c['new_studies_included'])}",
                f"Reports of new included studies {_n(c['new_reports_included'])}"]
    boxes = {
        "title": ("Identification of new studies via databases and registers", False),
        "identified": (_lines(*ident, indent_rest=True), True),
        "removed": (_lines(*removed, indent_rest=True), True),
        "screened": (_lines("Records screened", _n(c["records_screened"])), False),
        "records_excluded": (_lines("Records excluded", _n(c["records_excluded"])), False),
        "sought": (_lines("Reports sought for retrieval", _n(c["reports_sought"])), False),
        "not_retrieved": (_lines("Reports not retrieved", _n(c["reports_not_retrieved"])), False),
        "assessed": (_lines("Reports assessed for eligibility", _n(c["reports_assessed"])), False),
        "reports_excluded": (_lines(*excluded(c["reports_excluded_reasons"]), indent_rest=True),
                             True),
        "included": (_lines(*included), False),
    }
    if previous_used(c):
        # the updated-review layout: a previous-studies column whose studies join the new
        # ones in a total box below "included"
        boxes.update({
            "p_title": ("Previous studies", False),
            "previous": (_lines(
                f"Studies included in previous version of review "
                f"{_n(c['previous_studies'] or 0)}",
                f"Reports of studies included in previous version of review "
                f"{_n(c['previous_reports'] or 0)}"), False),
            "total": (_lines(
                f"Total studies included in review "
                f"{_n(c['new_studies_included'] + (c['previous_studies'] or 0))}",
                f"Reports of total included studies "
                f"{_n(c['new_reports_included'] + (c['previous_reports'] or 0))}"), False),
        })
    if c["studies_in_meta_analysis"] is not None:
        ma = [f"Studies included in meta-analysis {_n(c['studies_in_meta_analysis'])}"]
        if c["reports_in_meta_analysis"] is not None:
            ma.append(f"Reports of studies in meta-analysis {_n(c['reports_in_meta_analysis'])}")
        boxes["meta_analysis"] = (_lines(*ma), False)
    if other_arm_used(c):
        other = ["Records identified from:"]
        for key, label in zip(_OTHER_ID_KEYS, ("Websites", "Organisations", "Citation searching")):
            if c[key] is not None:
                other.append(f"{label} {_n(c[key])}")
        boxes.update({
            "o_title": ("Identification of new studies via other methods", False),
            "o_identified": (_lines(*other, indent_rest=True), True),
            "o_sought": (_lines("Reports sought for retrieval", _n(c["other_reports_sought"])),
                         False),
            "o_not_retrieved": (_lines("Reports not retrieved",
                                       _n(c["other_reports_not_retrieved"])), False),
            "o_assessed": (_lines("Reports assessed for eligibility",
                                  _n(c["other_reports_assessed"])), False),
            "o_excluded": (_lines(*excluded(c["other_reports_excluded_reasons"]),
                                  indent_rest=True), True),
        })
    return boxes


def _height(text: str) -> float:
    return text.count("\n") * _LINE_H + _LINE_H + 2 * _PAD


def build_figure(counts: Mapping):
    """The PRISMA 2020 flow diagram as a :class:`matplotlib.figure.Figure` (invariants checked)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    check_invariants(counts)
    c = normalise_counts(counts)
    boxes = _box_texts(c)
    other = other_arm_used(c)
    previous = previous_used(c)

    # Columns (x of the left edge): previous studies (an updated review), main, exclusions,
    # other main, other exclusions.
    x_prev = _MARGIN + _LABEL_W + 0.2
    x_main = x_prev + (_BOX_W + _ARM_GAP if previous else 0)
    x_excl = x_main + _BOX_W + _GAP
    x_omain = x_excl + _BOX_W + _ARM_GAP
    x_oexcl = x_omain + _BOX_W + _GAP
    width = (x_oexcl if other else x_excl) + _BOX_W + _MARGIN

    # Bands top to bottom; each band's height is its tallest box.
    bands = [
        ("title", ["p_title", "title", "o_title"]),
        ("identification", ["previous", "identified", "removed", "o_identified"]),
        ("screened", ["screened", "records_excluded"]),
        ("sought", ["sought", "not_retrieved", "o_sought", "o_not_retrieved"]),
        ("assessed", ["assessed", "reports_excluded", "o_assessed", "o_excluded"]),
        ("included", ["included"]),
        ("total", ["total"]),
        ("meta_analysis", ["meta_analysis"]),
    ]
    column = {"p_title": x_prev, "previous": x_prev, "total": x_main,
              "title": x_main, "identified": x_main, "screened": x_main, "sought": x_main,
              "assessed": x_main, "included": x_main, "meta_analysis": x_main,
              "removed": x_excl, "records_excluded": x_excl, "not_retrieved": x_excl,
              "reports_excluded": x_excl, "o_title": x_omain, "o_identified": x_omain,
              "o_sought": x_omain, "o_assessed": x_omain, "o_not_retrieved": x_oexcl,
              "o_excluded": x_oexcl}
    geometry = {}  # box -> (x, y_top, w, h)
    band_span = {}
    y = _MARGIN
    for band, names in bands:
        present = [b for b in names if b in boxes]
        if not present:
            continue
        h = max(_height(boxes[b][0]) for b in present)
        if band == "title":
            h = max(h, 0.42)
        for b in present:
            w = 2 * _BOX_W + _GAP if b in ("title", "o_title") else _BOX_W
            geometry[b] = (column[b], y, w, h)
        band_span[band] = (y, y + h)
        y += h + _BAND_GAP
    height = y - _BAND_GAP + _MARGIN

    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_axis_off()

    def draw_box(name, face="white", rounded=False, bold=False):
        x, y0, w, h = geometry[name]
        text, left = boxes[name]
        style = "round,pad=0,rounding_size=0.08" if rounded else "square,pad=0"
        ax.add_patch(FancyBboxPatch((x, y0), w, h, boxstyle=style, facecolor=face,
                                    edgecolor="black", linewidth=0.9))
        tx = x + _PAD if left else x + w / 2
        text = text.replace("$", r"\$")  # a literal dollar, not matplotlib mathtext
        ax.text(tx, y0 + h / 2, text, ha="left" if left else "center", va="center",
                fontsize=_FONT_SIZE, fontweight="bold" if bold else "normal",
                linespacing=1.25, multialignment="left" if left else "center")

    def arrow(start, end):
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(
            arrowstyle="-|>,head_length=0.5,head_width=0.25", color="black", linewidth=0.9,
            shrinkA=0, shrinkB=0))

    def bottom(name):
        x, y0, w, h = geometry[name]
        return (x + w / 2, y0 + h)

    def top(name):
        x, y0, w, _ = geometry[name]
        return (x + w / 2, y0)

    def right_of(a, b):  # horizontal arrow from a's right edge to b's left edge at a's mid-height
        xa, ya, wa, ha = geometry[a]
        xb = geometry[b][0]
        arrow((xa + wa, ya + ha / 2), (xb, ya + ha / 2))

    for name in boxes:
        if name == "title":
            draw_box(name, face=_YELLOW, rounded=True, bold=True)
        elif name.startswith(("o_", "p_")) or name == "previous":
            title = name in ("o_title", "p_title")
            draw_box(name, face=_GREY, rounded=title, bold=title)
        else:
            draw_box(name)

    main_chain = ["identified", "screened", "sought", "assessed", "included", "total",
                  "meta_analysis"]
    main_chain = [b for b in main_chain if b in geometry]
    for a, b in zip(main_chain, main_chain[1:]):
        arrow(bottom(a), top(b))
    for a, b in (("identified", "removed"), ("screened", "records_excluded"),
                 ("sought", "not_retrieved"), ("assessed", "reports_excluded")):
        right_of(a, b)
    if other:
        for a, b in (("o_identified", "o_sought"), ("o_sought", "o_assessed")):
            arrow(bottom(a), top(b))
        right_of("o_sought", "o_not_retrieved")
        right_of("o_assessed", "o_excluded")
        # elbow: down from other-methods assessed, then left into the included box
        xo, yo = bottom("o_assessed")
        xi, yi, wi, hi = geometry["included"]
        ymid = yi + hi / 2
        ax.plot([xo, xo], [yo, ymid], color="black", linewidth=0.9, solid_capstyle="butt")
        arrow((xo, ymid), (xi + wi, ymid))

    if previous:
        # elbow: down from the previous studies, then right into the total box
        xp, yp = bottom("previous")
        xt, yt, _, ht = geometry["total"]
        ymid = yt + ht / 2
        ax.plot([xp, xp], [yp, ymid], color="black", linewidth=0.9, solid_capstyle="butt")
        arrow((xp, ymid), (xt, ymid))

    # Blue phase labels down the left side.
    phases = [("Identification", ["identification"]),
              ("Screening", ["screened", "sought", "assessed"]),
              ("Included", ["included", "total", "meta_analysis"])]
    for label, spans in phases:
        spans = [band_span[s] for s in spans if s in band_span]
        y0, y1 = spans[0][0], spans[-1][1]
        ax.add_patch(FancyBboxPatch((_MARGIN, y0), _LABEL_W, y1 - y0,
                                    boxstyle="round,pad=0,rounding_size=0.08",
                                    facecolor=_BLUE, edgecolor="none"))
        ax.text(_MARGIN + _LABEL_W / 2, (y0 + y1) / 2, label, rotation=90, ha="center",
                va="center", fontsize=_FONT_SIZE + 1, fontweight="bold")
    return fig


_RC = {"svg.hashsalt": "review-prisma", "svg.fonttype": "none", "font.family": "DejaVu Sans"}


def draw(counts: Mapping, path: Path | str, fmt: str | None = None, dpi: int = 200) -> Path:
    """Draw the diagram to ``path``; the format is ``fmt`` or the suffix (svg, png, pdf).

    SVG output is byte-identical for the same counts (fixed hash salt, no date metadata).
    """
    import matplotlib

    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "svg").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise ReviewError(f"unsupported diagram format {fmt!r} (svg, png or pdf)", file=path)
    with matplotlib.rc_context(_RC):
        fig = build_figure(counts)
        metadata = {"Date": None} if fmt in ("svg", "pdf") else {"Software": None}
        if fmt == "pdf":
            metadata["CreationDate"] = None
            del metadata["Date"]
        fig.savefig(path, format=fmt, dpi=dpi, metadata=metadata)
    return path


def draw_svg(counts: Mapping, path: Path | str) -> Path:
    """Draw the PRISMA 2020 flow diagram as SVG (deterministic)."""
    return draw(counts, path, "svg")


def draw_png(counts: Mapping, path: Path | str, dpi: int = 200) -> Path:
    """Draw the PRISMA 2020 flow diagram as PNG."""
    return draw(counts, path, "png", dpi=dpi)
