"""`review reproduce`: the worked example end to end, from the repo's review files only."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import cli

REPO = Path(__file__).resolve().parent.parent
DETERMINISTIC = ("prisma.csv", "included_studies.csv", "pooled.csv", "report.md",
                 "rob_robvis.csv", "rob_traffic_light.png", "rob_summary.png",
                 "summary_of_findings.csv")


@pytest.fixture(scope="module")
def review_copy(tmp_path_factory):
    """A copy of the worked example's review files (queries/, screening/, extraction/,
    appraisal/)."""
    root = tmp_path_factory.mktemp("review")
    for d in ("queries", "screening", "extraction", "appraisal"):
        shutil.copytree(REPO / d, root / d)
    return root


def run(root: Path, out: Path) -> dict:
    res = CliRunner().invoke(cli, ["reproduce", "--root", str(root), "--out", str(out),
                                   "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads(res.stdout)


def pooled(out: Path) -> dict:
    with open(out / "pooled.csv", newline="", encoding="utf-8") as fh:
        return {r["outcome"]: r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def first_run(review_copy, tmp_path_factory):
    out = tmp_path_factory.mktemp("out1")
    return run(review_copy, out), out


def test_writes_every_output(first_run):
    summary, out = first_run
    for name in ("prisma.csv", "prisma.svg", "included_studies.csv", "pooled.csv", "report.md",
                 "review.db", "forest_local_control.png"):
        assert (out / name).exists(), name
    assert summary["studies_included"] == 8 and summary["duplicates_removed"] == 14
    rows = pooled(out)
    # every figure of the abstract has a row, with its published value beside ours
    assert {"age", "female", "local_control", "pain", "major_complications",
            "minor_complications", "followup", "guidance_ct_mri"} <= set(rows)
    assert float(rows["local_control"]["published"]) == 70.5
    report = (out / "report.md").read_text()
    assert "could not be reproduced" in report and "| local tumour control (%) | 70.5 |" in report


# R metafor 3.8-1 (Debian r-cran-metafor) on the four extracted local-control counts:
#   library(metafor)
#   e <- escalc("PLO", xi = c(30, 5, 6, 23), ni = c(31, 7, 10, 28))
#   f <- rma(yi, vi, data = e)                       # REML
#   p <- predict(f, transf = transf.ilogit)
#   sprintf("%.15g", c(100 * c(p$pred, p$ci.lb, p$ci.ub, p$pi.lb, p$pi.ub), f$tau2, f$I2, f$QEp))
LOCAL_CONTROL_COUNTS = [(30, 31), (5, 7), (6, 10), (23, 28)]
LOCAL_CONTROL_METAFOR = {"estimate": 80.3401562330199, "ci_low": 58.9847609104658,
                         "ci_high": 92.0711042396641, "pi_low": 39.0792274213818,
                         "pi_high": 96.3008210790024, "tau2": 0.608627969109606,
                         "I2": 55.0123999365, "Q_p": 0.085601348477382}


def test_pooled_local_control_is_the_extracted_data(first_run):
    """Independent check: pooled.csv's local-control row against R metafor's logit
    random-effects (REML) pool of the extracted counts, pinned above (the R call is beside
    the numbers); the counts are first checked to be the extraction CSV's."""
    _, out = first_run
    row = pooled(out)["local_control"]
    ex = list(csv.DictReader(open(REPO / "extraction/data/cryoablation_extracted.csv",
                                  encoding="utf-8")))
    lc = {r["study"]: r["value"] for r in ex if r["field"] == "local_control"}
    label = {r["record"]: r["study"] for r in csv.DictReader(open(out / "included_studies.csv",
                                                                  encoding="utf-8"))}
    assert sorted(label[c] for c in lc) == sorted(row["studies"].split(";"))
    counts = [tuple(int(x) for x in v.split("/")) for v in lc.values()]
    assert sorted(counts) == sorted(LOCAL_CONTROL_COUNTS)  # the inputs of the R call
    # pooled.csv keeps 10 significant digits
    for key, want in LOCAL_CONTROL_METAFOR.items():
        assert float(row[key]) == pytest.approx(want, rel=1e-8), key


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
    # the studies of the outcomes with data from two or more studies (pooled.csv)
    pooled_studies = {s for r in pooled(out).values() if r["status"] == "pooled"
                      for s in r["studies"].split(";")}
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


# -- risk of bias and the summary of findings ---------------------------------------------------

def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_risk_of_bias_outputs_are_the_appraisal_file(first_run):
    """rob_robvis.csv is appraisal/jbi_case_series.csv in robvis's layout, worked out here from
    the file: each item's answer as robvis's generic word (Yes -> Low, Unclear -> Some
    concerns), the overall the least favourable item (JBI's proposal in the template)."""
    summary, out = first_run
    label = {r["record"]: r["study"] for r in csv_rows(out / "included_studies.csv")}
    answers = {}
    for r in csv_rows(REPO / "appraisal/jbi_case_series.csv"):
        answers.setdefault(label[r["study"]], {})[r["item"]] = r["value"]
    word = {"Yes": "Low", "Unclear": "Some concerns", "No": "High"}
    rank = ["Low", "Some concerns", "High"]
    want = {}
    for study, items in answers.items():
        cells = [word[items[f"Q{i}"]] for i in range(1, 11)]
        want[study] = cells + [max(cells, key=rank.index), "1.0"]
    table = csv_rows(out / "rob_robvis.csv")
    assert list(table[0]) == ["Study"] + [f"D{i}" for i in range(1, 11)] + ["Overall",
                                                                           "Weight"]
    assert {r["Study"]: list(r.values())[1:] for r in table} == want
    assert summary["appraised_studies"] == 8
    for png in ("rob_traffic_light.png", "rob_summary.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the report: an honest methods line and the counts of the file
    report = (out / "report.md").read_text(encoding="utf-8")
    assert ("One assessor (reconstruction (evidence files)): this toolkit's appraisal from the "
            "shared evidence files") in report
    assert "No second assessor, so no agreement is reported." in report
    assert "- studies appraised: 8 (80 answers imported from appraisal/jbi_case_series.csv)" \
        in report
    overall = [cells[10] for cells in want.values()]
    assert f"- overall: Some concerns {overall.count('Some concerns')}" in report
    q4 = [items["Q4"] for items in answers.values()]
    assert (f"| Q4 Did the case series have consecutive inclusion of participants? | "
            f"{q4.count('Yes')} | {q4.count('No')} | {q4.count('Unclear')} | 0 |") in report
    assert "![Risk of bias per study and item](rob_traffic_light.png)" in report


def test_summary_of_findings_is_proposed_not_rated(first_run):
    """The GRADE outcomes of appraisal/appraisal.yaml, with the pooled numbers of pooled.csv
    (themselves checked against metafor above); nobody rated them, and the table says so."""
    _, out = first_run
    sof = csv_rows(out / "summary_of_findings.csv")
    assert [r["outcome"] for r in sof] == ["local tumour control (%)",
                                           "mean pain reduction (points)",
                                           "major complications (%)",
                                           "minor complications (%)"]
    assert all(r["certainty"].endswith("(proposed, not rated)") and r["rated_by"] == ""
               for r in sof)
    lc, pooled_lc = sof[0], pooled(out)["local_control"]
    assert lc["k"] == pooled_lc["k"] == "4"
    for key in ("estimate", "ci_low", "ci_high"):
        assert float(lc[key]) == pytest.approx(float(pooled_lc[key]), rel=1e-9), key
    # participants: the pooled denominators (tumours), the counts of the R call above
    assert int(lc["participants"]) == sum(n for _, n in LOCAL_CONTROL_COUNTS)
    # every study has some concerns and the series are small: risk of bias and imprecision
    # are proposed down from the observational start (low)
    assert "starts low (observational); risk of bias -1" in lc["reasons"]
    assert "imprecision -1: 76 participants" in lc["reasons"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Certainty of the evidence (summary of findings)" in report
    assert ("| local tumour control (%) | 4 | 76 | 80.3 [59.0, 92.1] | very low (proposed, "
            "not rated) |") in report


def test_a_review_folder_without_appraisal_says_not_appraised(review_copy, tmp_path):
    bare = tmp_path / "review"
    shutil.copytree(review_copy, bare)
    shutil.rmtree(bare / "appraisal")
    summary = run(bare, tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Not appraised: the review folder has no appraisal/appraisal.yaml." in report
    assert "summary of findings" not in report and summary["appraised_studies"] == 0
    assert not (tmp_path / "out" / "rob_robvis.csv").exists()
