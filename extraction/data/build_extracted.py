"""Write extraction/data/cryoablation_extracted.csv from the traced evidence.

    python extraction/data/build_extracted.py        # from the repository root

Reads ``extraction/data/outcomes_evidence.csv`` (per-study numbers, each with source URL and a
verbatim quote) and ``queries/results/search_snapshot_sources.csv`` (design, period and pain
sample sizes of the include-candidates, from condensed abstracts) and writes one row per
(study, field) in the field names and value syntax of ``extraction/forms/cryoablation.yaml``,
ready for ``review extract --import``. Where two evidence values make one form value (an
``n of N`` or a ``mean (SD)``), both quotes are kept, joined by ``QUOTE_SEP``, and both source
URLs, joined by ``URL_SEP`` (numerator first). Every value is parsed with the form before it
is written, so the file always imports.

Nothing is invented: every number is in its quote(s), or the row says in ``derived`` how it
was worked out from them. Values the sources do not give are absent (unknown);
``extraction/README.md`` lists them. Deterministic: rows sorted by study, then form order.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `toolkit` importable
    sys.path.insert(0, str(ROOT))

from toolkit.extraction.forms import load_form  # noqa: E402
from toolkit.extraction.entries import with_unit  # noqa: E402
from toolkit.extraction.values import parse_value  # noqa: E402

EVIDENCE = ROOT / "extraction" / "data" / "outcomes_evidence.csv"
SNAPSHOT = ROOT / "queries" / "results" / "search_snapshot_sources.csv"
FORM = ROOT / "extraction" / "forms" / "cryoablation.yaml"
OUT = ROOT / "extraction" / "data" / "cryoablation_extracted.csv"
COLUMNS = ("study", "field", "value", "unit", "source_url", "quote", "derived", "note",
           "extractor")
EXTRACTOR = "reconstruction (build_extracted.py)"
CONDENSED = "[condensed from abstract as read, not verbatim] "
QUOTE_SEP = " [...] "  # between the quotes of a value made from two evidence values
URL_SEP = " ; "  # between source URLs (as in search_snapshot_sources.csv)

# Evidence field -> (form field, unit) when one evidence value is one form value.
SCALAR = {
    "n_patients": ("patients", "patients"),
    "n_tumours": ("tumours", "tumours"),
    "n_female": ("female", "patients"),
    "median_age": ("age_median", "years"),
    "pain_scale": ("pain_scale", ""),
}
# Evidence fields used by the combined rules in build(); anything else is an error.
COMBINED = {"mean_age", "ltc_events", "ltc_total", "followup_months", "guidance",
            "pain_pre_mean", "pain_pre_sd", "pain_post_mean", "pain_post_sd",
            "major_complications", "minor_complications"}
# Evidence rows left out on purpose (not what any form field means); README.md lists them.
NOT_EXTRACTED = {
    "complications_reported": "ungraded complications (major/minor not stated)",
    "complication_rate_overall": "overall complication rate without a major/minor split",
    "cementoplasty_n": "not a field of the form",
}
SKIP = {("CRYO007", "n_patients"): "30 is both arms together (cryoablation and RFA); the "
                                   "cryoablation arm size is not in the abstract"}
# Guidance described for the whole series -> each modality in all patients (derived).
# guidance_ct_mri (CT or MRI, the review's "CT/MRI guidance") wherever CT or MRI is named.
GUIDANCE = {"CT": ("guidance_ct", "guidance_ct_mri"),
            "CT+MRI": ("guidance_ct", "guidance_mri", "guidance_ct_mri"),
            "fluoroscopy+CT (3D rotational angiography)": ("guidance_fluoroscopy",
                                                           "guidance_ct", "guidance_ct_mri"),
            "CT+DSA": ("guidance_ct", "guidance_ct_mri")}
# Facts from the snapshot's condensed abstracts: (study, field, value, unit, fragment, note).
# The fragment must occur in the snapshot abstract (checked when building).
SNAPSHOT_FACTS = (
    ("CRYO001", "design", "retrospective", "", "Retrospective single-centre study", ""),
    ("CRYO001", "thermal_protection", "spinal nerve/soft-tissue thermal protection", "",
     "with spinal nerve/soft-tissue thermal protection", ""),
    ("CRYO003", "design", "retrospective", "", "Retrospective review of 46 spinal metastases", ""),
    ("CRYO003", "period_start", "2008-05", "", "(May 2008-Sept 2020)", ""),
    ("CRYO003", "period_end", "2020-09", "", "(May 2008-Sept 2020)", ""),
    ("CRYO003", "pain_n", "31", "patients", "31 patients treated for pain relief",
     "patients treated for pain relief (in 32 palliative sessions, same abstract): the "
     "pain means may be per session; how many had a score at the last follow-up is not "
     "stated"),
    ("CRYO004", "design", "retrospective", "",
     "All consecutive patients with spinal metastases cryoablated May 2008-Sept 2020 at two "
     "academic centres were reviewed", ""),
    ("CRYO004", "period_start", "2008-05", "", "cryoablated May 2008-Sept 2020", ""),
    ("CRYO004", "period_end", "2020-09", "", "cryoablated May 2008-Sept 2020", ""),
    ("CRYO004", "pain_n", "64", "patients", "In 64 patients with painful lesions mean NRS fell",
     "patients with painful lesions at baseline; how many had a score at the last follow-up "
     "is not stated"),
    ("CRYO006", "design", "retrospective", "",
     "Retrospective single-institution (Lausanne) review", ""),
    ("CRYO006", "period_start", "2011-06", "", "June 2011-June 2016", ""),
    ("CRYO006", "period_end", "2016-06", "", "June 2011-June 2016", ""),
    ("CRYO008", "design", "retrospective", "",
     "Retrospective analysis (Fudan University Shanghai Cancer Center)", ""),
    ("CRYO008", "period_start", "2015-03", "", "(Mar 2015-Mar 2017)", ""),
    ("CRYO008", "period_end", "2017-03", "", "(Mar 2015-Mar 2017)", ""),
)
SNAPSHOT_NOTE = "from search_snapshot_sources.csv (condensed abstract)"
# Follow-up, by what was followed: local tumour control (imaging) or the clinical (pain)
# outcomes -- never one averaged with the other. (study, form field, value, evidence field
# whose quote states it, the fragment of that quote with the number, note); the fragment must
# occur in the quote (checked when building).
FOLLOWUP = (
    ("CRYO001", "followup_ltc_median", "10", "ltc_events", "(median follow-up, 10 months)",
     "median follow-up of local tumour control (per tumour)"),
    ("CRYO002", "followup_ltc_mean", "7.1", "followup_months",
     "The average radiographic follow-up was 7.1 months",
     "mean radiographic follow-up (range 25-772 days); over whom is not stated"),
    ("CRYO002", "followup_clinical_mean", "9.8", "followup_months",
     "the average clinical follow-up was 9.8 months", "mean clinical follow-up"),
    ("CRYO003", "followup_ltc_median", "25", "ltc_events", "at median 25-months follow-up",
     "median follow-up of local control, curative-intent metastases"),
    ("CRYO003", "followup_clinical_median", "16.5", "followup_months",
     "(median 16.5±23.2 [SD] months)",
     "median pain follow-up as reported ('median 16.5±23.2 [SD] months')"),
    ("CRYO004", "followup_ltc_mean", "25.9 (21.2)", "ltc_total",
     "At mean 25.9 ± 21.2 months (median 16.5) of follow-up",
     "mean (SD) follow-up of local tumour control, 28 curative-intent SM in 21 patients "
     "(whether per tumour or per patient is not stated)"),
    ("CRYO004", "followup_ltc_median", "16.5", "ltc_total",
     "At mean 25.9 ± 21.2 months (median 16.5) of follow-up",
     "median follow-up of local tumour control"),
    ("CRYO004", "followup_clinical_mean", "14.7 (19.6)", "followup_months",
     "(mean 14.7 ± 19.6 months; median 6)", "mean (SD) pain follow-up (last available)"),
    ("CRYO004", "followup_clinical_median", "6", "followup_months",
     "(mean 14.7 ± 19.6 months; median 6)", "median pain follow-up (last available)"),
)
# Verbatim evidence quotes (of n_patients) that state the design.
QUOTED_DESIGN = (("CRYO002", "prospective"), ("CRYO005", "retrospective"))
# Complications counted per tumour: the denominator stated in the quote ("out of 105 SM").
PER_TUMOUR_N = re.compile(r"out of (\d+) SM\b")
NUM = r"\d+(?:\.\d+)?"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def join_sources(parts: list[tuple[str, str]]) -> tuple[str, str]:
    """(source_url, quote) of a value from several (url, quote) pairs, in order: distinct
    URLs, and distinct quotes without the ones contained in another kept quote."""
    urls = list(dict.fromkeys(u for u, _ in parts))
    quotes = list(dict.fromkeys(q for _, q in parts))
    quotes = [q for q in quotes if not any(q != o and q in o for o in quotes)]
    return URL_SEP.join(urls), QUOTE_SEP.join(quotes)


def sd_after(value: str, quote: str) -> str | None:
    """The SD the quote gives right after ``value`` ("59.7±4.4", "14.7 ± 19.6"), or None."""
    m = re.search(rf"(?<![\d.]){re.escape(value)}\s*±\s*({NUM})", quote)
    return m.group(1) if m else None


def build(evidence: Path = EVIDENCE, snapshot: Path = SNAPSHOT, form_path: Path = FORM) -> str:
    """The CSV text (header + one row per study and form field)."""
    form = load_form(form_path)
    ev: dict[tuple[str, str], dict] = {}
    for r in read_csv(evidence):
        key = (r["record_id"], r["field"])
        if key in ev:
            raise SystemExit(f"{evidence}: {key} twice")
        known = r["field"] in SCALAR or r["field"] in COMBINED or r["field"] in NOT_EXTRACTED
        if not known:
            raise SystemExit(f"{evidence}: field {r['field']!r} of {r['record_id']} has no "
                             "mapping")
        if key not in SKIP:
            ev[key] = r
    studies = sorted({s for s, _ in ev})
    snap = {r["record_id"]: r for r in read_csv(snapshot)}
    rows: list[dict] = []

    def add(study, field, value, unit, parts, derived="", note=""):
        if field not in form.by_name:
            raise SystemExit(f"{form_path}: no field {field!r} (for {study})")
        try:  # as the import reads it: an n of N with its unit from the unit column
            f = form.by_name[field]
            parse_value(f, with_unit(f, value, unit) if f.get("units") else value)
        except ValueError as exc:
            raise SystemExit(f"{study} {field}: {exc}") from None
        url, quote = join_sources(parts)
        rows.append({"study": study, "field": field, "value": value, "unit": unit,
                     "source_url": url, "quote": quote, "derived": derived, "note": note,
                     "extractor": EXTRACTOR})

    def src(study, field):
        r = ev[(study, field)]
        return (r["source_url"], r["quote"])

    for study in studies:
        has = lambda f: (study, f) in ev  # noqa: E731
        get = lambda f: ev[(study, f)]  # noqa: E731
        for efield, (name, unit) in SCALAR.items():
            if has(efield):
                add(study, name, get(efield)["value"], unit, [src(study, efield)],
                    note=get(efield)["unit_or_note"])
        if has("mean_age"):
            r = get("mean_age")
            sd = sd_after(r["value"], r["quote"])
            add(study, "age", f"{r['value']} ({sd})" if sd else r["value"], "years",
                [src(study, "mean_age")], note=r["unit_or_note"] + (
                    "; SD 4.4 as the source states it, though small for a range of 27-84 "
                    "(possibly an SE)" if study == "CRYO003" else ""))
        if has("ltc_events") and has("ltc_total"):
            e, t = get("ltc_events"), get("ltc_total")
            unit = "patients" if "patients" in e["unit_or_note"].split(",")[0] else "tumours"
            add(study, "local_control", f"{e['value']}/{t['value']}", unit,
                [src(study, "ltc_events"), src(study, "ltc_total")],
                note=f"n: {e['unit_or_note']}; N: {t['unit_or_note']}")
        for part in ("pre", "post"):
            m, s = f"pain_{part}_mean", f"pain_{part}_sd"
            if has(m) and has(s):
                add(study, f"pain_{part}", f"{get(m)['value']} ({get(s)['value']})",
                    "points (0-10)", [src(study, m), src(study, s)],
                    note=f"mean: {get(m)['unit_or_note']}; SD: {get(s)['unit_or_note']}")
        if has("pain_post_mean") and "last available follow-up" in get("pain_post_mean")["quote"]:
            add(study, "pain_timepoint", "last available follow-up", "",
                [src(study, "pain_post_mean")], note="time point of pain_post")
        if has("guidance") and has("n_patients"):
            g, p = get("guidance"), get("n_patients")["value"]
            for name in GUIDANCE[g["value"]]:
                add(study, name, f"{p}/{p}", "patients",
                    [src(study, "guidance"), src(study, "n_patients")],
                    derived=f"n = N = patients ({p}): the source describes the guidance "
                            f"({g['value']}) for the whole series, not per patient",
                    note="N = the study's patient count" + (f"; {g['unit_or_note']}"
                                                           if g["unit_or_note"] else ""))
        for grade in ("major", "minor"):
            efield = f"{grade}_complications"
            if not has(efield):
                continue
            r = get(efield)
            per_tumour = PER_TUMOUR_N.search(r["quote"])
            derived = ""
            if per_tumour:
                total, unit = per_tumour.group(1), "tumours"
                how = f"N = tumours ({total}): the source counts complications per tumour"
                parts = [src(study, efield)]
            elif has("n_patients"):
                total, unit = get("n_patients")["value"], "patients"
                how = f"N = the study's patient count ({total})"
                parts = [src(study, efield), src(study, "n_patients")]
                derived = f"N = patients ({total})"
            else:
                continue  # no sourced denominator: unknown (README.md)
            if r["value"] == "0" and "0" not in numbers_of(r["quote"]):
                derived = "; ".join(x for x in (
                    "n = 0: the source reports no complications (see quote)", derived) if x)
            add(study, f"{grade}_complications", f"{r['value']}/{total}", unit, parts,
                derived=derived, note=f"{how}; {r['unit_or_note']}")
    for study, field, value, efield, fragment, note in FOLLOWUP:
        r = ev[(study, efield)]
        if fragment not in r["quote"]:
            raise SystemExit(f"{evidence}: {study} {efield} quote does not contain {fragment!r}")
        add(study, field, value, "months", [src(study, efield)], note=note)
    for study, value in QUOTED_DESIGN:
        add(study, "design", value, "", [src(study, "n_patients")])
    for study, field, value, unit, fragment, note in SNAPSHOT_FACTS:
        s = snap[study]
        if fragment not in s["abstract"]:
            raise SystemExit(f"{snapshot}: {study} abstract does not contain {fragment!r}")
        if field == "design" and s["study_design"] != value:
            raise SystemExit(f"{snapshot}: {study} study_design is {s['study_design']!r}")
        add(study, field, value, unit, [(s["source_url"], CONDENSED + fragment)],
            note="; ".join(x for x in (note, SNAPSHOT_NOTE) if x))
    order = {f["name"]: i for i, f in enumerate(form.fields)}
    rows.sort(key=lambda r: (r["study"], order[r["field"]]))
    seen = set()
    for r in rows:
        if (r["study"], r["field"]) in seen:
            raise SystemExit(f"{r['study']} {r['field']}: two values")
        seen.add((r["study"], r["field"]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def numbers_of(text: str) -> set[str]:
    """The digit strings in ``text``."""
    return set(re.findall(NUM, text))


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    text = build()
    out.write_text(text, encoding="utf-8", newline="")
    print(f"{out}: {text.count(chr(10)) - 1} values")
