"""`review reproduce`: the worked example end to end, offline and deterministic.

From the review's own files (``queries/``, ``screening/``, ``extraction/`` of a review folder)
into a fresh store: import the recorded search results -> deduplicate -> replay the
title/abstract decisions (with the screening model's ranking reported beside them) -> replay
the full-text decisions -> record the overlapping cohorts -> import the extracted values ->
pool every outcome the published abstract reports as ``extraction/analysis_plan.yaml`` says
(GLMM primary, inverse-variance and overlap sensitivity analyses, leave-one-out, a subgroup
analysis and a meta-regression where they are defined; :mod:`toolkit.reproduce_analysis`) ->
forest plots -> PRISMA.

Writes into ``out``: prisma.csv, prisma.svg, included_studies.csv, pooled.csv (primary
analyses), sensitivity.csv, leave1out.csv, analyses.csv, screening_ranking.csv,
forest_<outcome>.png, review.db and report.md. The CSV and Markdown files
are byte-identical across runs (no times, fixed seeds, numbers rounded to 10 significant
digits so that a last-bit difference of floating-point sums cannot change them).
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from .errors import ReviewError
from .fulltext import read_csv_rows
from .reproduce_analysis import sig as _sig
from .store import Review, create_review

TITLE = ("Percutaneous cryoablation in the management of spinal metastases "
         "(worked example: Fallahi et al., J Neuro-Oncol 2025)")
SEED = 1

# The review's files, relative to its folder.
FILES = {
    "pubmed": "queries/results/pubmed.xml",
    "embase": "queries/results/embase.ris",
    "record_ids": "queries/results/record_ids.csv",
    "ta": "screening/ta_decisions.csv",
    "fulltext": "screening/fulltext_decisions.csv",
    "criteria": "screening/criteria.yaml",
    "form": "extraction/forms/cryoablation.yaml",
    "extracted": "extraction/data/cryoablation_extracted.csv",
    "published": "extraction/published_results.yaml",
    "snapshot": "queries/results/search_snapshot_sources.csv",
    "plan": "extraction/analysis_plan.yaml",
    "overlaps": "screening/overlaps.csv",
}


def _labelled_overlaps(review: Review) -> list[dict]:
    """The recorded overlapping pairs (current study labels), for the report."""
    from .overlaps import overlapping_pairs

    return overlapping_pairs(review)


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})


@dataclass
class Context:
    root: Path
    out: Path
    review: Review
    say: Callable[[str], None]

    def file(self, key: str) -> Path:
        p = self.root / FILES[key]
        if not p.exists():
            raise ReviewError(f"the review file {FILES[key]} is missing", file=p)
        return p


# -- steps ----------------------------------------------------------------------------------------

def import_results(ctx: Context) -> list[dict]:
    from .importing import import_file

    return [import_file(ctx.review, ctx.file("pubmed"), source="PubMed"),
            import_file(ctx.review, ctx.file("embase"), source="Embase")]


def record_map(ctx: Context) -> dict[str, list[int]]:
    """{CRYO id: stored record ids} through queries/results/record_ids.csv."""
    out: dict[str, list[int]] = {}
    for row in read_csv_rows(ctx.file("record_ids")):
        hit = ctx.review.db.execute(
            "select id from records where source = ? and source_id = ?",
            [row["database"], row["source_id"]]).fetchone()
        if hit is None:
            raise ReviewError(f"{row['record_id']}: no stored {row['database']} record with id "
                              f"{row['source_id']}", file=ctx.file("record_ids"))
        out.setdefault(row["record_id"], []).append(hit[0])
    return out


def primaries(ids: list[int], dupes: dict[int, int]) -> list[int]:
    """The deduplicated records (screening units) behind one traced record's stored copies:
    one when deduplication merged them, several when it did not. ``dupes`` is
    :func:`toolkit.fulltext.duplicate_primaries` ({duplicate id: its primary id})."""
    out = []
    for rid in ids:
        p = dupes.get(rid, rid)
        if p not in out:
            out.append(p)
    return out


def replay_title_abstract(ctx: Context, cryo: dict[str, list[int]]) -> dict:
    from .fulltext import duplicate_primaries
    from .screening.decisions import record_decision

    dupes = duplicate_primaries(ctx.review)
    rows = read_csv_rows(ctx.file("ta"))
    decided: dict[int, str] = {}
    split = []
    with ctx.review.atomic():
        for row in rows:
            ids = cryo.get(row["record_id"])
            if not ids:
                raise ReviewError(f"unknown record {row['record_id']!r}", file=ctx.file("ta"))
            targets = primaries(ids, dupes)
            if len(targets) > 1:
                split.append(row["record_id"])
            for rid in targets:
                record_decision(ctx.review, rid, row["decision"], row["reviewer"],
                                origin="import", note=row.get("reason") or row.get("note"))
                decided[rid] = row["decision"]
        ctx.review.log("ta-replay", {"file": FILES["ta"], "decisions": len(decided),
                                     "records_split_by_dedup": split})
    return {"decisions": len(decided), "included": sum(d == "include" for d in decided.values()),
            "split": split, "labels": decided}


def model_ranking(ctx: Context, labels: dict[int, str], cryo: dict[str, list[int]]) -> dict:
    """Where the screening model would have put the included records: an active-learning
    simulation over the deduplicated records with the replayed decisions as labels."""
    from .screening.model import record_text
    from .screening.simulate import simulate

    ids = sorted(labels)
    by_id = {r["id"]: r for r in ctx.review.db.query(
        f"select id, title, abstract from records where id in ({','.join('?' * len(ids))})", ids)}
    texts = [record_text(by_id[i]["title"], by_id[i]["abstract"]) for i in ids]
    y = [1 if labels[i] in ("include", "maybe") else 0 for i in ids]
    res = simulate(texts, y, seed=SEED)
    back = {rid: cid for cid, rids in cryo.items() for rid in rids}
    priors = set(res.prior_rows)
    rows = [{"screened_position": pos, "record": back.get(ids[idx], ""),
             "record_id": ids[idx], "prior": int(idx in priors),
             "decision": labels[ids[idx]], "title": by_id[ids[idx]]["title"]}
            for pos, idx in enumerate(res.order, start=1)]
    _write_csv(ctx.out / "screening_ranking.csv",
               ["screened_position", "record", "record_id", "prior", "decision", "title"], rows)
    return {"model": res.model_version, "n_records": len(ids), "n_included": sum(y),
            **{k: res.metrics[k] for k in ("n95", "n100", "wss95", "recall_at_10pct")
               if k in res.metrics}}


def replay_fulltext(ctx: Context, cryo: dict[str, list[int]]) -> dict:
    from .fulltext import duplicate_primaries, load_criteria, record_fulltext

    dupes = duplicate_primaries(ctx.review)
    reasons = load_criteria(ctx.file("criteria"))["fulltext_reasons"]
    rows = read_csv_rows(ctx.file("fulltext"))
    with ctx.review.atomic():
        for line, row in enumerate(rows, start=2):
            ids = cryo.get(row["record_id"])
            if not ids:
                raise ReviewError(f"unknown record {row['record_id']!r}",
                                  file=ctx.file("fulltext"), record=f"row {line}")
            for rid in primaries(ids, dupes):
                record_fulltext(ctx.review, rid, row["status"], row.get("decision") or None,
                                row.get("reason") or None, reviewer=row["reviewer"],
                                reasons=reasons, note=row.get("note") or None, origin="import",
                                source=row.get("source") or None)
    return {"decisions": len(rows)}


def study_labels(ctx: Context) -> dict[str, str]:
    """{CRYO id: a readable study label}: first author's surname and year from the traced
    snapshot ("Tomasian 2016"); the record id stands in for an unknown year."""
    labels: dict[str, str] = {}
    for row in read_csv_rows(ctx.file("snapshot")):
        surname = (row.get("authors") or "").split(";")[0].strip().split(" ")[0]
        label = f"{surname} {row['year']}" if surname and row.get("year") else \
            f"{surname or 'Study'} ({row['record_id']})"
        if label in labels.values():
            label = f"{label} ({row['record_id']})"
        labels[row["record_id"]] = label
    return labels


def link_studies(ctx: Context, cryo: dict[str, list[int]]) -> dict[str, str]:
    """Give each included study a readable label (`review link`); returns {CRYO id: label}."""
    from .fulltext import included_studies, link_report

    back = {rid: cid for cid, rids in cryo.items() for rid in rids}
    names = study_labels(ctx)
    labels = {}
    with ctx.review.atomic():
        for _, reports in included_studies(ctx.review).items():
            cid = next((back[r] for r in reports if r in back), None)
            if cid is None:
                continue
            for r in reports:
                link_report(ctx.review, r, names.get(cid, cid), actor="reproduce")
            labels[cid] = names.get(cid, cid)
    return labels


def import_extraction(ctx: Context) -> dict:
    from .extraction.entries import import_values_csv
    from .extraction.forms import load_form, register_form

    form = load_form(ctx.file("form"))
    with ctx.review.atomic():
        register_form(ctx.review, form)
        out = import_values_csv(ctx.review, ctx.file("extracted"), form,
                                extractor="reconstruction (outcomes_evidence.csv)")
    return {"form": form.name, **out}


def included_table(ctx: Context, cryo: dict[str, list[int]]) -> list[dict]:
    from .fulltext import included_studies

    snap = {r["record_id"]: r for r in read_csv_rows(ctx.file("snapshot"))}
    back = {rid: cid for cid, rids in cryo.items() for rid in rids}
    rows = []
    for label, reports in included_studies(ctx.review).items():
        cid = label if label in snap else next((back[r] for r in reports if r in back), "")
        s = snap.get(cid, {})
        first = (s.get("authors") or "").split(";")[0].strip()
        rows.append({"study": label, "record": cid, "first_author": first, "year": s.get("year", ""),
                     "title": s.get("title", ""), "journal": s.get("journal", ""),
                     "pmid": s.get("pmid", ""), "doi": s.get("doi", ""),
                     "design": s.get("study_design", ""), "reports": len(reports),
                     "record_ids": ";".join(str(r) for r in sorted(reports))})
    return rows


def patient_counts(ctx: Context, included: list[dict]) -> dict:
    """Patients in the included studies, from the extracted ``patients`` field in the store:
    {"total": the sum over the studies with a known size, "known": their number,
    "unknown": the studies whose size is not extracted, not reported or disputed}. A study
    is named by its label, with its record id (CRYO###) when the label does not show it."""
    from numbers import Integral

    from .extraction.export import export_table

    record = {r["study"]: r["record"] for r in included}
    sizes: dict[str, int | None] = dict.fromkeys(record)
    wide = export_table(ctx.review)
    if "patients" in wide.columns:
        for study, n in zip(wide["study"], wide["patients"]):
            if isinstance(n, Integral) and not isinstance(n, bool) and sizes.get(study) is None:
                sizes[study] = int(n)   # a number; NR, CONFLICT and not extracted stay None

    def name(study):
        rec = record.get(study, "")
        return study if not rec or rec in study else f"{study} ({rec})"

    return {"total": sum(n for n in sizes.values() if n is not None),
            "known": sum(n is not None for n in sizes.values()),
            "unknown": [name(s) for s in sorted(sizes) if sizes[s] is None]}


# -- report ---------------------------------------------------------------------------------------

def section_flow(counts: dict, published: dict, patients: dict, overlaps: list[dict]) -> list[str]:
    L = ["## Flow (PRISMA 2020)\n"]
    ident = counts["identified_by_database"]
    L.append(f"- records identified: {sum(ident.values())} ("
             + ", ".join(f"{k} {v}" for k, v in ident.items()) + ")")
    L.append(f"- duplicates removed: {counts['duplicates_removed']}")
    L.append(f"- records screened: {counts['records_screened']}, excluded at title/abstract: "
             f"{counts['records_excluded']}")
    L.append(f"- reports assessed: {counts['reports_assessed']}, excluded: "
             + ", ".join(f"{k} {v}" for k, v in counts["reports_excluded_reasons"].items()))
    L.append(f"- studies included: {counts['new_studies_included']} "
             f"(published: {published['studies']})")
    unknown = patients["unknown"]
    size = (f"- patients: {patients['total']} in {patients['known']} "
            f"stud{'y' if patients['known'] == 1 else 'ies'} with a known size")
    if unknown:
        size += (f"; {len(unknown)} "
                 + ("study's size" if len(unknown) == 1 else "studies' sizes")
                 + " unknown: " + ", ".join(unknown))
    L.append(f"{size}; published: {published['patients']}")
    if overlaps:
        L.append("- the patient sum counts overlapping cohorts more than once: "
                 + "; ".join(f"{p['studies'][0]} and {p['studies'][1]}" for p in overlaps)
                 + " (see “Units of analysis and overlapping cohorts”)")
    L.append("")
    return L


def section_screening_model(ranking: dict) -> list[str]:
    if not ranking:
        return []
    return ["## Screening model beside the replayed decisions\n",
            f"An active-learning simulation (model {ranking.get('model')}, seed {SEED}, "
            f"one random prior include and exclude) over the "
            f"{ranking.get('n_records')} deduplicated records, with the "
            f"replayed decisions as labels: all {ranking.get('n_included')} includes found "
            f"after {ranking.get('n100')} records screened beyond the priors "
            f"(WSS@95 = {_sig(ranking.get('wss95'), 3)}). Order: screening_ranking.csv.\n"]


def section_not_reproduced(published: dict, included: list[dict], pooled: list[dict]) -> list[str]:
    L = ["## What could not be reproduced, and why\n"]
    L.append(f"- The published review included {published['studies']} studies; "
             f"{len(included)} could be traced in public sources and are included here "
             f"(extraction/README.md lists which and with what confidence). The others are "
             "not identified, so every pooled figure rests on fewer studies than the "
             f"published one (k of {published['studies']} above).")
    L.append("- The review's search strings, dates and result counts are not public: the "
             "searches are reconstructed and the recorded results contain only the traced "
             "records (queries/results/README.md), so the PRISMA counts are this "
             "reconstruction's, not the published flow.")
    for r in pooled:
        if r["status"] != "pooled":
            L.append(f"- {r['label']}: {r['status']}.")
    L.append("- Where a figure is pooled, the difference from the published value reflects the "
             "missing studies and unknown per-study data, and the published model choices "
             "(model, unit of analysis, handling of overlapping cohorts) are not stated in the "
             "abstract.")
    return L


def write_report(ctx: Context, published: dict, counts: dict, analyses, included: list[dict],
                 ranking: dict, patients: dict, plan, overlaps: list[dict]) -> None:
    """report.md: one section per function, in this order."""
    from . import reproduce_analysis as ra

    labels_of = {r["outcome"]: r["label"] for r in analyses.primary if r["outcome"]}
    L = [f"# Reproduction report: {published['review']}\n",
         "Rebuilt offline by `review reproduce` from the review's files (queries/, "
         "screening/, extraction/). Every number below comes from the pipeline; the "
         "published figures are the abstract's (extraction/published_results.yaml); the "
         "analysis choices are extraction/analysis_plan.yaml's.\n"]
    L += section_flow(counts, published, patients, overlaps)
    L += section_screening_model(ranking)
    L += ra.section_pooled(published, analyses, plan)
    L += ra.section_sensitivity(analyses)
    names = {r["record"]: r["study"] for r in included if r["record"]}
    L += ra.section_units_and_overlaps(analyses, overlaps, plan, names)
    L += ra.section_leave_one_out(analyses, labels_of)
    L += ra.section_reported_means(analyses, labels_of)
    L += ra.section_subgroup_metareg(analyses)
    L += section_not_reproduced(published, included, analyses.primary)
    (ctx.out / "report.md").write_text("\n".join(L) + "\n", encoding="utf-8")


OUTPUT_GLOBS = ("review.db", "review.db-wal", "review.db-shm", "prisma.csv", "prisma.svg",
                "included_studies.csv", "pooled.csv", "sensitivity.csv", "leave1out.csv",
                "analyses.csv", "screening_ranking.csv", "report.md", "forest_*.png")
POOLED_COLUMNS = ["outcome", "label", "unit", "published", "k", "k_of", "measure", "model",
                  "method", "unit_of_analysis", "overlap", "estimate", "ci_low", "ci_high",
                  "pi_low", "pi_high", "tau2", "I2", "Q_p", "r", "difference", "status",
                  "studies", "left_out"]
SENSITIVITY_COLUMNS = ["outcome", "label", "analysis", "k", "measure", "model", "method",
                       "unit_of_analysis", "overlap", "estimate", "ci_low", "ci_high", "tau2",
                       "I2", "status", "studies", "left_out"]
LEAVE1OUT_COLUMNS = ["outcome", "analysis", "left_out", "k", "model", "estimate", "ci_low",
                     "ci_high", "tau2", "I2", "note"]


def _replace_outputs(build: Path, final: Path) -> None:
    """Remove the previous run's outputs from ``final`` (only files this command writes) and
    move the new ones in."""
    final.mkdir(parents=True, exist_ok=True)
    for pattern in OUTPUT_GLOBS:
        for old in final.glob(pattern):
            old.unlink()
    for f in sorted(build.iterdir()):
        f.replace(final / f.name)
    build.rmdir()


# -- the whole run --------------------------------------------------------------------------------

def reproduce(root: str | Path = ".", out: str | Path = "reproduce_out",
              say: Callable[[str], None] = lambda s: None) -> dict:
    """Rebuild the worked example from ``root``'s review files into ``out``; returns a summary."""
    from . import prisma
    from . import reproduce_analysis as ra
    from .dedup.api import deduplicate
    from .flow import prisma_counts, studies_in_meta_analysis

    root, out = Path(root).resolve(), Path(out)
    for key in FILES:
        p = root / FILES[key]
        if not p.exists():
            raise ReviewError(f"not a review folder: {FILES[key]} is missing "
                              f"(run from the repository root, or pass --root)", file=p)
    # Build in a sibling folder and move the outputs into ``out`` only when every step worked:
    # a failure leaves the previous outputs as they were, never a half-built review.db.
    final, out = out, out.parent / f".{out.name}.partial"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    review = create_review(out / "review.db", title=TITLE, command="reproduce")
    ctx = Context(root=root, out=out, review=review, say=say)
    try:
        say("import recorded search results")
        imports = import_results(ctx)
        say("deduplicate")
        dedup = deduplicate(review)
        cryo = record_map(ctx)
        say("replay title/abstract decisions")
        ta = replay_title_abstract(ctx, cryo)
        say("screening model ranking beside the decisions")
        ranking = model_ranking(ctx, ta["labels"], cryo)
        say("replay full-text decisions")
        replay_fulltext(ctx, cryo)
        link_studies(ctx, cryo)
        say("import extracted data")
        extraction = import_extraction(ctx)
        published = yaml.safe_load(ctx.file("published").read_text(encoding="utf-8"))
        say("record overlapping cohorts")
        overlaps = ra.record_overlaps(review, ctx.file("overlaps"))
        plan = ra.load_plan(ctx.file("plan"))
        say("pool outcomes (primary and sensitivity analyses) and draw forest plots")
        from .extraction.forms import load_form

        analyses = ra.analyse(review, load_form(ctx.file("form")), published, plan, out)
        pooled = analyses.primary
        included = included_table(ctx, cryo)
        overlaps = _labelled_overlaps(review)
        say("PRISMA flow")  # the same counts as `review prisma` on this store
        counts = prisma_counts(review, studies_in_meta_analysis=studies_in_meta_analysis(review))
        prisma.write_csv(counts, out / "prisma.csv")
        prisma.draw_svg(counts, out / "prisma.svg")
        _write_csv(out / "included_studies.csv",
                   ["study", "record", "first_author", "year", "title", "journal", "pmid", "doi",
                    "design", "reports", "record_ids"], included)
        _write_csv(out / "pooled.csv", POOLED_COLUMNS, pooled)
        _write_csv(out / "sensitivity.csv", SENSITIVITY_COLUMNS, analyses.sensitivity)
        _write_csv(out / "leave1out.csv", LEAVE1OUT_COLUMNS, analyses.leave1out)
        _write_csv(out / "analyses.csv",
                   ["analysis", "term", "k", "estimate", "ci_low", "ci_high", "p", "note"],
                   analyses.extra)
        patients = patient_counts(ctx, included)
        write_report(ctx, published, counts, analyses, included, ranking, patients, plan,
                     overlaps)
        with review.atomic():
            review.log("reproduce", {"out": str(final), "studies": len(included),
                                     "pooled": sum(r["status"] == "pooled" for r in pooled)})
    except BaseException:
        review.close()
        shutil.rmtree(out, ignore_errors=True)
        raise
    review.close()
    _replace_outputs(out, final)
    out = final
    return {"out": str(out), "records": sum(i["records_added"] for i in imports),
            "duplicates_removed": dedup["duplicates_removed"], "ta_decisions": ta["decisions"],
            "studies_included": len(included), "extracted_values": extraction.get("imported"),
            "pooled_outcomes": sum(r["status"] == "pooled" for r in pooled),
            "files": sorted(p.name for p in out.iterdir() if p.is_file())}
