"""Write extraction/data/cryoablation_extracted.csv from the traced evidence.

    python extraction/data/build_extracted.py        # from the repository root

Reads ``extraction/data/outcomes_evidence.csv`` (per-study numbers, each with source URL and a
verbatim quote) and ``queries/results/search_snapshot_sources.csv`` (design and period of the
include-candidates, from condensed abstracts) and writes one row per (study, field) in the
extraction form's field names. Nothing is invented: every value is either in its quote, or
marked ``derived`` with the formula. Values the sources do not give are simply absent (unknown);
``extraction/README.md`` lists them. Deterministic: evidence order, then snapshot order.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = ROOT / "extraction" / "data" / "outcomes_evidence.csv"
SNAPSHOT = ROOT / "queries" / "results" / "search_snapshot_sources.csv"
OUT = ROOT / "extraction" / "data" / "cryoablation_extracted.csv"
COLUMNS = ("study", "field", "value", "unit", "source_url", "quote", "derived", "note")
CONDENSED = "[condensed from abstract as read, not verbatim] "

# evidence field -> (form field, unit); None = not a field of the form (listed in README.md)
FIELD_MAP = {
    "n_patients": ("n_patients", "patients"),
    "n_tumours": ("n_tumours", "tumours"),
    "n_female": ("female_n", "patients"),
    "mean_age": ("age_mean", "years"),
    "ltc_events": ("ltc_events", "tumours"),
    "ltc_total": ("ltc_total", "tumours"),
    "pain_scale": ("pain_scale", ""),
    "pain_pre_mean": ("pain_pre_mean", "points (0-10)"),
    "pain_pre_sd": ("pain_pre_sd", "points (0-10)"),
    "pain_post_mean": ("pain_post_mean", "points (0-10)"),
    "pain_post_sd": ("pain_post_sd", "points (0-10)"),
    "major_complications": ("complications_major_n", "complications"),
    "minor_complications": ("complications_minor_n", "complications"),
    "followup_months": None,  # mean or median: decided from the note, below
    "guidance": None,  # counts derived below
    "median_age": None,
    "complications_reported": None,
    "complication_rate_overall": None,
    "cementoplasty_n": None,
}
# Evidence rows left out on purpose: the value is not what the form field means.
SKIP = {("CRYO007", "n_patients"): "30 is both arms together (cryoablation and RFA); the "
                                   "cryoablation arm size is not in the abstract"}
# Guidance stated for the whole series -> counts = all patients of the study (derived).
GUIDANCE = {"CT": ("guidance_ct_n",), "CT+MRI": ("guidance_ct_n", "guidance_mri_n"),
            "fluoroscopy+CT (3D rotational angiography)": ("guidance_fluoro_n", "guidance_ct_n"),
            "CT+DSA": ("guidance_ct_n",)}
# Snapshot columns for design/period/thermal protection, with the condensed-abstract fragment
# that states them (checked against the snapshot text when building).
SNAPSHOT_FACTS = (
    ("CRYO001", "design", "retrospective", "Retrospective single-centre study"),
    ("CRYO001", "thermal_protection", "spinal nerve/soft-tissue thermal protection",
     "with spinal nerve/soft-tissue thermal protection"),
    ("CRYO003", "design", "retrospective", "Retrospective review of 46 spinal metastases"),
    ("CRYO003", "period", "2008-05/2020-09", "(May 2008-Sept 2020)"),
    ("CRYO004", "design", "retrospective",
     "All consecutive patients with spinal metastases cryoablated May 2008-Sept 2020 at two "
     "academic centres were reviewed"),
    ("CRYO004", "period", "2008-05/2020-09", "cryoablated May 2008-Sept 2020"),
    ("CRYO006", "design", "retrospective", "Retrospective single-institution (Lausanne) review"),
    ("CRYO006", "period", "2011-06/2016-06", "June 2011-June 2016"),
    ("CRYO008", "design", "retrospective", "Retrospective analysis (Fudan University Shanghai "
                                           "Cancer Center)"),
    ("CRYO008", "period", "2015-03/2017-03", "(Mar 2015-Mar 2017)"),
)
# Verbatim evidence quotes that state the design.
QUOTED_DESIGN = (("CRYO002", "n_patients", "prospective"),
                 ("CRYO005", "n_patients", "retrospective"))


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def build(evidence: Path = EVIDENCE, snapshot: Path = SNAPSHOT) -> str:
    ev = read_csv(evidence)
    snap = {r["record_id"]: r for r in read_csv(snapshot)}
    rows: list[dict] = []

    def add(study, field, value, unit, src, quote, derived="", note=""):
        rows.append({"study": study, "field": field, "value": value, "unit": unit,
                     "source_url": src, "quote": quote, "derived": derived, "note": note})

    n_patients = {r["record_id"]: r for r in ev if r["field"] == "n_patients"}
    for r in ev:
        study, field, value = r["record_id"], r["field"], r["value"]
        src, quote, note = r["source_url"], r["quote"], r["unit_or_note"]
        if (study, field) in SKIP:
            continue
        if field not in FIELD_MAP:
            raise SystemExit(f"{evidence}: field {field!r} of {study} has no mapping")
        if FIELD_MAP[field]:
            name, unit = FIELD_MAP[field]
            derived = ""
            if name.startswith("ltc_") and "patients" in note.split(",")[0]:
                unit = "patients"  # CRYO002 counts patients, the others tumours
            if name.startswith("complications_") and value == "0" and "0" not in quote:
                derived = "0 because the source reports no complications (see quote)"
            add(study, name, value, unit, src, quote, derived, note)
            if study == "CRYO003" and field == "mean_age":
                # the same quote gives the SD: "mean age 59.7±4.4 [SD] years"
                add(study, "age_sd", "4.4", "years", src, quote, "", note)
            if field == "pain_post_mean" and "last available follow-up" in quote:
                add(study, "pain_timepoint", "last available follow-up", "", src, quote, "",
                    "time point of pain_post_mean / pain_post_sd")
        elif field == "followup_months":
            kind = re.search(r"\b(mean|median)\b", note).group(1)
            add(study, f"followup_{kind}_months", value, "months", src, quote, "", note)
        elif field == "guidance":
            base = n_patients.get(study)
            if base is None or (study, "n_patients") in SKIP:
                continue
            for name in GUIDANCE[value]:
                add(study, name, base["value"], "patients", src, quote,
                    f"{name} = n_patients ({base['value']}): the source describes the guidance "
                    f"({value}) for the whole series, not per patient",
                    note)
    for study, field, value in QUOTED_DESIGN:
        r = n_patients[study]
        add(study, "design", value, "", r["source_url"], r["quote"], "", "")
    for study, field, value, fragment in SNAPSHOT_FACTS:
        s = snap[study]
        if fragment not in s["abstract"]:
            raise SystemExit(f"{snapshot}: {study} abstract does not contain {fragment!r}")
        if field == "design" and s["study_design"] != value:
            raise SystemExit(f"{snapshot}: {study} study_design is {s['study_design']!r}")
        add(study, field, value, "", s["source_url"], CONDENSED + fragment, "",
            "from search_snapshot_sources.csv (condensed abstract)")
    order = {f: i for i, f in enumerate(FORM_FIELDS)}
    rows.sort(key=lambda r: (r["study"], order[r["field"]]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# The form's field names (extraction/forms/cryoablation.yaml, per the lead's brief), in order.
FORM_FIELDS = (
    "design", "country", "period", "n_patients", "n_tumours", "age_mean", "age_sd", "female_n",
    "primary_breast_n", "primary_lung_n", "primary_thyroid_n", "primary_kidney_n",
    "primary_other_n", "anaesthesia_general_n", "guidance_ct_n", "guidance_mri_n",
    "guidance_fluoro_n", "thermal_protection", "ltc_events", "ltc_total", "followup_mean_months",
    "followup_median_months", "pain_scale", "pain_pre_mean", "pain_pre_sd", "pain_post_mean",
    "pain_post_sd", "pain_timepoint", "complications_major_n", "complications_minor_n",
    "complication_grading",
)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    text = build()
    out.write_text(text, encoding="utf-8", newline="")
    print(f"{out}: {text.count(chr(10)) - 1} values")
