"""`review reproduce`: the worked example end to end, from the repo's review files only."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import cli

REPO = Path(__file__).resolve().parent.parent
DETERMINISTIC = ("prisma.csv", "included_studies.csv", "pooled.csv", "sensitivity.csv",
                 "leave1out.csv", "analyses.csv", "report.md")


@pytest.fixture(scope="module")
def review_copy(tmp_path_factory):
    """A copy of the worked example's review files (queries/, screening/, extraction/)."""
    root = tmp_path_factory.mktemp("review")
    for d in ("queries", "screening", "extraction"):
        shutil.copytree(REPO / d, root / d)
    return root


def run(root: Path, out: Path) -> dict:
    res = CliRunner().invoke(cli, ["reproduce", "--root", str(root), "--out", str(out),
                                   "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads(res.stdout)


def pooled(out: Path) -> dict:
    """{outcome: its primary analysis row (pooled.csv)}."""
    with open(out / "pooled.csv", newline="", encoding="utf-8") as fh:
        return {r["outcome"]: r for r in csv.DictReader(fh)}


def sensitivity(out: Path) -> dict:
    """{(outcome, analysis): its sensitivity analysis row (sensitivity.csv)}."""
    with open(out / "sensitivity.csv", newline="", encoding="utf-8") as fh:
        return {(r["outcome"], r["analysis"]): r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def first_run(review_copy, tmp_path_factory):
    out = tmp_path_factory.mktemp("out1")
    return run(review_copy, out), out


def test_writes_every_output(first_run):
    summary, out = first_run
    for name in ("prisma.csv", "prisma.svg", "included_studies.csv", "pooled.csv", "report.md",
                 "sensitivity.csv", "leave1out.csv", "review.db", "forest_local_control.png"):
        assert (out / name).exists(), name
    assert summary["studies_included"] == 8 and summary["duplicates_removed"] == 14
    rows = pooled(out)
    # every figure of the abstract has a row, with its published value beside ours
    assert {"age", "female", "local_control", "pain", "major_complications",
            "minor_complications", "followup", "guidance_ct_mri"} <= set(rows)
    assert float(rows["local_control"]["published"]) == 70.5
    report = (out / "report.md").read_text()
    assert "could not be reproduced" in report
    assert "| local tumour control (%, per tumour) | 70.5 | 87.2 [43.2, 98.4] | GLMM | 2 |" in report


# R metafor 3.8-1 + lme4 1.1-31 (Debian r-cran-metafor, r-cran-lme4) on the local-control
# counts the plan pools: per tumour (Moses 2020's per-patient 5/7 is another unit), and without
# Cazzato 2022 (23/28), whose cohort overlaps Tomasian 2016 (30/31, the larger):
#   library(metafor)
#   g <- rma.glmm(measure = "PLO", xi = c(30, 6), ni = c(31, 10), method = "ML")
#   p <- predict(g, transf = transf.ilogit)
#   sprintf("%.15g", c(100 * c(p$pred, p$ci.lb, p$ci.ub, p$pi.lb, p$pi.ub), g$tau2, g$I2))
#   e <- escalc("PLO", xi = c(30, 6), ni = c(31, 10)); f <- rma(yi, vi, data = e)   # REML
#   p <- predict(f, transf = transf.ilogit); sprintf("%.15g", c(100 * c(p$pred, p$ci.lb, p$ci.ub), f$tau2))
#   g <- rma.glmm(measure = "PLO", xi = c(30, 6, 23), ni = c(31, 10, 28), method = "ML")  # all kept
#   p <- predict(g, transf = transf.ilogit); sprintf("%.15g", c(100 * c(p$pred, p$ci.lb, p$ci.ub), g$tau2))
LOCAL_CONTROL_COUNTS = {"CRYO001": (30, 31), "CRYO002": (5, 7), "CRYO003": (6, 10),
                        "CRYO004": (23, 28)}
LOCAL_CONTROL_GLMM = {"estimate": 87.237133996139, "ci_low": 43.1817336199189,
                      "ci_high": 98.3993442449375, "pi_low": 17.695815412709,
                      "pi_high": 99.5419126647682, "tau2": 1.85898322817114,
                      "I2": 71.9425423471834}
LOCAL_CONTROL_IV = {"estimate": 85.8198477764167, "ci_low": 24.4453229815627,
                    "ci_high": 99.1244088906979, "tau2": 3.76220592740648}
LOCAL_CONTROL_ALL_GLMM = {"estimate": 85.2608781956088, "ci_low": 61.612180403875,
                          "ci_high": 95.4231116310932, "tau2": 0.843998879832283}


def study_labels(out: Path) -> dict:
    """{CRYO id: study label} from included_studies.csv."""
    return {r["record"]: r["study"] for r in csv.DictReader(open(out / "included_studies.csv",
                                                                 encoding="utf-8"))}


def test_pooled_local_control_is_the_extracted_data(first_run):
    """Independent check: the local-control rows against R metafor (calls above): the GLMM of
    the per-tumour, non-overlapping counts (primary), the inverse-variance model of the same
    counts and the GLMM with the overlapping cohort kept (sensitivity). The counts are first
    checked to be the extraction CSV's, with their units."""
    _, out = first_run
    ex = list(csv.DictReader(open(REPO / "extraction/data/cryoablation_extracted.csv",
                                  encoding="utf-8")))
    lc = {r["study"]: (tuple(int(x) for x in r["value"].split("/")), r["unit"])
          for r in ex if r["field"] == "local_control"}
    assert {k: v[0] for k, v in lc.items()} == LOCAL_CONTROL_COUNTS  # the R inputs
    assert {k: v[1] for k, v in lc.items()} == {"CRYO001": "tumours", "CRYO002": "patients",
                                                "CRYO003": "tumours", "CRYO004": "tumours"}
    label = study_labels(out)
    row = pooled(out)["local_control"]
    assert (row["model"], row["unit_of_analysis"], row["overlap"]) == ("glmm", "tumours",
                                                                       "largest")
    assert sorted(row["studies"].split(";")) == sorted([label["CRYO001"], label["CRYO003"]])
    # 1e-4 as the GLMM tests (lme4's optimiser tolerance); pooled.csv keeps 10 digits
    for key, want in LOCAL_CONTROL_GLMM.items():
        assert float(row[key]) == pytest.approx(want, rel=1e-4), key
    iv = sensitivity(out)[("local_control", "inverse-variance (REML)")]
    assert iv["studies"] == row["studies"]
    for key, want in LOCAL_CONTROL_IV.items():
        assert float(iv[key]) == pytest.approx(want, rel=1e-8), key
    kept = sensitivity(out)[("local_control", "overlapping cohorts kept")]
    assert sorted(kept["studies"].split(";")) == sorted(
        label[c] for c in ("CRYO001", "CRYO003", "CRYO004"))
    for key, want in LOCAL_CONTROL_ALL_GLMM.items():
        assert float(kept[key]) == pytest.approx(want, rel=1e-4), key


def test_no_figure_mixes_units_or_counts_a_cohort_twice(first_run):
    """Every pooled figure (primary analyses) counts one unit of analysis and no two of its
    studies are recorded as overlapping; each study left out is named with its reason."""
    _, out = first_run
    label = study_labels(out)
    overlapping = {frozenset(label[r[k]] for k in ("study_a", "study_b"))
                   for r in csv.DictReader(open(REPO / "screening/overlaps.csv",
                                                encoding="utf-8"))}
    assert overlapping == {frozenset({label["CRYO003"], label["CRYO004"]}),
                           frozenset({label["CRYO001"], label["CRYO004"]})}
    ex = list(csv.DictReader(open(REPO / "extraction/data/cryoablation_extracted.csv",
                                  encoding="utf-8")))
    unit_of = {}
    for r in ex:
        unit_of.setdefault(r["field"], {})[label.get(r["study"], r["study"])] = r["unit"]
    fields = {"local_control": "local_control", "major_complications": "major_complications",
              "minor_complications": "minor_complications", "female": "female",
              "guidance_ct_mri": "guidance_ct_mri"}
    for outcome, row in pooled(out).items():
        studies = [s for s in row["studies"].split(";") if s]
        for a in studies:
            for b in studies:
                assert frozenset({a, b}) not in overlapping, (outcome, a, b)
        if outcome in fields and studies:
            units = {unit_of[fields[outcome]].get(s) for s in studies}
            assert len(units) == 1, (outcome, units)
            assert row["unit_of_analysis"] in units
    lc = pooled(out)["local_control"]["left_out"]
    assert f"{label['CRYO002']} (counts patients, not tumours)" in lc
    assert f"{label['CRYO004']} (overlaps {label['CRYO001']}" in lc
    major = pooled(out)["major_complications"]
    assert f"{label['CRYO004']} (counts tumours, not patients)" in major["left_out"]
    # no events in the per-patient studies: the GLMM has no estimate, and says so
    assert major["status"].startswith("not pooled: no study has an event (0/23, 0/14 patients)")
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Units of analysis and overlapping cohorts" in report
    assert f"- {label['CRYO003']} and {label['CRYO004']}: same centre and period" in report


def test_without_a_chosen_unit_mixed_units_are_not_pooled(review_copy, tmp_path):
    """The plan's unit for local control removed: the per-tumour and per-patient counts are
    not pooled together; the status names the studies of each unit."""
    changed = tmp_path / "review"
    shutil.copytree(review_copy, changed)
    plan = changed / "extraction/analysis_plan.yaml"
    text = plan.read_text(encoding="utf-8")
    assert "\n  local_control: tumours\n" in text
    plan.write_text(text.replace("\n  local_control: tumours\n", "\n"), encoding="utf-8")
    run(changed, tmp_path / "out")
    row = pooled(tmp_path / "out")["local_control"]
    label = study_labels(tmp_path / "out")
    assert row["status"].startswith("not pooled: the studies count different units of analysis")
    assert f"patients: {label['CRYO002']}" in row["status"]
    assert label["CRYO001"] in row["status"] and "tumours:" in row["status"]
    assert row["estimate"] == ""


def test_overlap_handling_follows_the_recorded_overlaps(review_copy, tmp_path):
    """With no overlaps recorded, Cazzato 2022 joins local control (k = 3) and nothing is left
    out for overlap; the sensitivity analysis of kept overlaps disappears."""
    changed = tmp_path / "review"
    shutil.copytree(review_copy, changed)
    path = changed / "screening/overlaps.csv"
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    run(changed, tmp_path / "out")
    row = pooled(tmp_path / "out")["local_control"]
    label = study_labels(tmp_path / "out")
    assert int(row["k"]) == 3 and label["CRYO004"] in row["studies"].split(";")
    assert "overlaps" not in row["left_out"]
    assert ("local_control", "overlapping cohorts kept") not in sensitivity(tmp_path / "out")
    assert float(row["estimate"]) == pytest.approx(LOCAL_CONTROL_ALL_GLMM["estimate"], rel=1e-4)


def test_leave_one_out_for_local_control(first_run):
    _, out = first_run
    rows = list(csv.DictReader(open(out / "leave1out.csv", encoding="utf-8")))
    label = study_labels(out)
    kept = [r for r in rows if r["analysis"] == "overlapping cohorts kept"]
    assert sorted(r["left_out"] for r in kept) == sorted(
        label[c] for c in ("CRYO001", "CRYO003", "CRYO004"))
    # without Cazzato 2022 the remaining two are the primary analysis' studies
    without = next(r for r in kept if r["left_out"] == label["CRYO004"])
    assert float(without["estimate"]) == pytest.approx(LOCAL_CONTROL_GLMM["estimate"], rel=1e-4)
    assert {r["outcome"] for r in rows} == {"local_control"}


def test_guards_in_the_report(first_run):
    """A meta-regression on 2 studies and a subgroup test on one design are not done, and the
    report says why; means without SDs are listed, not averaged."""
    _, out = first_run
    extra = list(csv.DictReader(open(out / "analyses.csv", encoding="utf-8")))
    reg = next(r for r in extra if r["analysis"].startswith("meta-regression"))
    assert reg["estimate"] == "" and "needs at least 4 studies" in reg["note"]
    sub = next(r for r in extra if r["analysis"].startswith("subgroup"))
    assert sub["p"] == "" and sub["note"].startswith("not done: one design only")
    report = (out / "report.md").read_text(encoding="utf-8")
    label = study_labels(out)
    assert f"{label['CRYO002']} mean 7.1 (no SD)" in report      # imaging follow-up
    assert "9.8" not in report                                      # clinical follow-up
    assert f"{label['CRYO004']} mean 25.9 (SD 21.2), median 16.5" in report
    assert pooled(out)["followup"]["estimate"] == ""


def extracted_patients(root: Path) -> dict:
    """{CRYO id: the extraction CSV's value of field ``patients``}, read here from the file."""
    with open(root / "extraction/data/cryoablation_extracted.csv", encoding="utf-8") as fh:
        return {r["study"]: r["value"] for r in csv.DictReader(fh) if r["field"] == "patients"}


def patients_line(out: Path) -> str:
    return next(line for line in (out / "report.md").read_text(encoding="utf-8").splitlines()
                if line.startswith("- patients: "))


def test_report_counts_the_extracted_patients(first_run):
    """The report's patient count is the sum of the extraction CSV's `patients` rows over the
    included studies; an included study without a row is named as of unknown size."""
    _, out = first_run
    included = {r["record"]: r["study"] for r in csv.DictReader(open(
        out / "included_studies.csv", encoding="utf-8"))}
    sizes = {cid: int(v) for cid, v in extracted_patients(REPO).items() if cid in included}
    # CRYO001 14 + CRYO002 14 + CRYO003 41 + CRYO004 74 + CRYO005 23 + CRYO006 16 + CRYO008 16
    # (the `patients` rows of extraction/data/cryoablation_extracted.csv; extraction/README.md
    # gives the same 198); CRYO007 (Masala 2011) has no row: its cryoablation arm is unknown
    assert sum(sizes.values()) == 198 and len(sizes) == 7
    assert sorted(set(included) - set(sizes)) == ["CRYO007"]
    assert patients_line(out) == (
        "- patients: 198 in 7 studies with a known size; 1 study's size unknown: "
        f"{included['CRYO007']}; published: 229")
    assert included["CRYO007"] == "Masala (CRYO007)"


def test_patients_not_reported_is_unknown_not_zero(review_copy, tmp_path):
    """A size changed to NR in the extraction file is counted as unknown, not as 0."""
    changed = tmp_path / "review"
    shutil.copytree(review_copy, changed)
    path = changed / "extraction/data/cryoablation_extracted.csv"
    text = path.read_text(encoding="utf-8")
    assert "\nCRYO005,patients,23,patients," in text  # Masala 2013: 23 patients
    path.write_text(text.replace("\nCRYO005,patients,23,", "\nCRYO005,patients,NR,"),
                    encoding="utf-8")
    run(changed, tmp_path / "out")
    assert patients_line(tmp_path / "out") == (
        "- patients: 175 in 6 studies with a known size; 2 studies' sizes unknown: "
        "Masala (CRYO005), Masala (CRYO007); published: 229")


def test_prisma_counts_add_up(first_run):
    _, out = first_run
    n = {r["data"]: r["n"] for r in csv.DictReader(open(out / "prisma.csv", encoding="utf-8"))}
    assert n["database_specific_results"] == "PubMed, 14; Embase, 68"
    assert int(n["records_screened"]) == int(n["database_results"]) - int(n["duplicates"])
    assert int(n["new_studies"]) == 8


def test_two_runs_are_byte_identical(review_copy, first_run, tmp_path):
    _, out1 = first_run
    run(review_copy, tmp_path)
    for name in DETERMINISTIC:
        assert (out1 / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_changing_one_extracted_value_changes_the_pooled_figure(review_copy, first_run,
                                                                tmp_path):
    _, out1 = first_run
    changed = tmp_path / "review"
    shutil.copytree(review_copy, changed)
    path = changed / "extraction/data/cryoablation_extracted.csv"
    text = path.read_text(encoding="utf-8")
    assert ",local_control,30/31," in text  # Tomasian 2016: 30 of 31 tumours controlled
    path.write_text(text.replace(",local_control,30/31,", ",local_control,15/31,"),
                    encoding="utf-8")
    run(changed, tmp_path / "out")
    before = float(pooled(out1)["local_control"]["estimate"])
    after = float(pooled(tmp_path / "out")["local_control"]["estimate"])
    assert after < before - 5
    assert pooled(tmp_path / "out")["female"] == pooled(out1)["female"]


def test_missing_review_file_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(cli, ["reproduce", "--root", str(tmp_path), "--out",
                                   str(tmp_path / "o")])
    assert res.exit_code == 1 and "missing" in str(res.exception)


def test_review_prisma_on_the_reproduced_store_gives_the_same_csv(first_run):
    """prisma.csv is derived from the store: `review prisma` on the store reproduce wrote
    gives the same file, the meta-analysis box included."""
    _, out = first_run
    res = CliRunner().invoke(cli, ["--db", str(out / "review.db"), "prisma", "--format", "csv"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert res.stdout == (out / "prisma.csv").read_text(encoding="utf-8")
    n = {r["data"]: r["n"] for r in csv.DictReader(open(out / "prisma.csv", encoding="utf-8"))}
    # the studies of the outcomes with data from two or more studies: every one is pooled in
    # a primary or a sensitivity analysis (pooled.csv, sensitivity.csv)
    rows = list(pooled(out).values()) + list(sensitivity(out).values())
    pooled_studies = {s for r in rows if r["status"] == "pooled" for s in r["studies"].split(";")}
    assert int(n["total_studies_ma"]) == len(pooled_studies) == 6


def test_a_failed_run_leaves_the_previous_outputs(review_copy, first_run, tmp_path):
    """A run that fails part-way (here: a malformed extracted value) changes nothing in --out."""
    _, out1 = first_run
    out = tmp_path / "out"
    shutil.copytree(out1, out)
    (out / "notes.txt").write_text("mine")  # a file of the user's, never touched
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "review"
    shutil.copytree(review_copy, broken)
    path = broken / "extraction/data/cryoablation_extracted.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",local_control,30/31,",
                                                             ",local_control,31/30,"),
                    encoding="utf-8")
    res = CliRunner().invoke(cli, ["reproduce", "--root", str(broken), "--out", str(out)])
    assert res.exit_code == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not (tmp_path / ".out.partial").exists()
