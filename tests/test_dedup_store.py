"""Deduplication on the review store: clusters, merged records, undo, the manual queue,
incremental runs with inherited screening decisions, the chaining guard, export columns, CLI."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.dedup import api
from toolkit.dedup.export import columns as export_columns
from toolkit.errors import ReviewError
from toolkit.records import make_record
from toolkit.store import create_review, now_iso

DATA = Path(__file__).parent / "data" / "dedup"

PAPER = dict(title="Intestinal lipoprotein overproduction in insulin-resistant states",
             authors="Adeli K.Lewis G. F.", year="2008", journal="Curr Opin Lipidol",
             volume="19", issue="3", pages="221-8")


@pytest.fixture(autouse=True)
def rules_alone(monkeypatch):
    """These tests are about the store (clusters, the manual queue, screening decisions), built
    on pairs the hand rules leave uncertain; the pair scorer would settle most of them. Its
    own behaviour is tested in test_dedup_scorer.py."""
    monkeypatch.setenv("REVIEW_DEDUP_MODEL", "none")


@pytest.fixture
def review(tmp_path):
    r = create_review(tmp_path / "r.db")
    yield r
    r.close()


def add(review, source, source_id, **fields) -> int:
    row = make_record({"source_id": source_id, **fields}, source=source)
    row["added_at"] = now_iso()
    return review.db["records"].insert(row).last_pk


def members(review, cid):
    return sorted(r[0] for r in review.db.execute(
        "select record_id from cluster_members where cluster_id = ?", [cid]))


def test_merge_keeps_records_fills_primary_and_undo_restores(review):
    pubmed = add(review, "PubMed", "18460911", **PAPER, pmid="18460911")
    embase = add(review, "Embase", "L351", **dict(PAPER, journal="Current Opinion in Lipidology",
                                                 pages="221-228"),
                 doi="10.1097/MOL.0b013e3282ffaf82",
                 abstract="Purpose of review: intestinal lipoprotein overproduction ...")
    other = add(review, "PubMed", "1", title="Something else entirely about the heart",
                authors="Smith J.", year="2010", journal="Heart", pages="1-2")
    before = list(review.db.query("select * from records order by id"))

    out = api.deduplicate(review)
    assert (out["records"], out["clusters"], out["duplicates_removed"]) == (3, 1, 1)
    cid = api.cluster_of(review, pubmed)
    assert members(review, cid) == [pubmed, embase]
    # Embase is more complete (abstract, DOI) so it is primary; it gains PubMed's PMID.
    assert api.primary_record_ids(review) == [embase, other]
    merged = api.merged_record(review, embase)
    assert merged["pmid"] == "18460911" and merged["merged_from"] == {"pmid": pubmed}
    assert merged["abstract"].startswith("Purpose of review")
    assert merged["duplicate_ids"] == [pubmed]
    # nothing in records changed
    assert list(review.db.query("select * from records order by id")) == before
    assert api.duplicates_removed(review) == 1

    api.undo_cluster(review, cid)
    assert api.duplicates_removed(review) == 0
    assert api.primary_record_ids(review) == [pubmed, embase, other]
    assert api.merged_record(review, embase)["merged_from"] == {}
    actions = [r[0] for r in review.db.execute("select action from events order by id")]
    assert "dedup" in actions and "dedup-undo" in actions
    with pytest.raises(ReviewError):
        api.undo_cluster(review, cid)
    # a later run does not merge them again: the undo is remembered
    add(review, "Scopus", "s1", title="Unrelated third record on kidneys", authors="Roe R.",
        year="2011", journal="Kidney Int", pages="5-9")
    api.deduplicate(review)
    assert api.duplicates_removed(review) == 0


def test_nothing_new_is_a_no_op(review):
    add(review, "PubMed", "1", **PAPER)
    add(review, "Embase", "2", **PAPER)
    first = api.deduplicate(review)
    again = api.deduplicate(review)
    assert again["new_records"] == 0 and again["clusters"] == first["clusters"] == 1


def test_labelled_sample_matches_the_labels(review, tmp_path):
    """Pairwise precision 1 and recall >= 0.95 against the human labels of the sample."""
    from toolkit.importing import import_file
    import_file(review, DATA / "labelled_sample.csv")
    api.deduplicate(review)
    sid = {r["id"]: r["source_id"] for r in review.db.query("select id, source_id from records")}
    with open(DATA / "labelled_sample.csv", encoding="utf-8", newline="") as fh:
        truth = defaultdict(list)
        for row in csv.DictReader(fh):
            truth[row["group_id"]].append(row["record_id"])
    pred = defaultdict(list)
    for r in review.db.query("select cluster_id, record_id from cluster_members"):
        pred[r["cluster_id"]].append(sid[r["record_id"]])

    def pairs(groups):
        return {p for g in groups for p in itertools.combinations(sorted(g), 2)}

    t, p = pairs(truth.values()), pairs(pred.values())
    # group sizes in the file: 15 x 2, 1 x 3, 2 x 4, 1 x 6, 1 x 7 -> 15+3+12+15+21 pairs
    assert len(t) == 66
    assert p <= t
    assert len(t & p) / len(t) >= 0.95


def test_chaining_guard_keeps_contradicting_records_apart(review):
    # A and C carry different PMIDs (different papers); B (no PMID) matches both.
    a = add(review, "PubMed", "111", **PAPER, pmid="111")
    b = add(review, "Embase", "L1", **PAPER)
    c = add(review, "PubMed", "222", **PAPER, pmid="222")
    out = api.deduplicate(review)
    assert api.cluster_of(review, a) != api.cluster_of(review, c)
    assert out["duplicates_removed"] == 1
    assert api.cluster_of(review, b) in (api.cluster_of(review, a), api.cluster_of(review, c))
    rules = [r["rule"] for r in api.open_pairs(review)]
    assert any(r.startswith("chaining-guard") for r in rules)


def test_incremental_run_inherits_screening_decision(review):
    from toolkit.screening.decisions import final_decisions, record_decision
    first = add(review, "PubMed", "18460911", **PAPER, pmid="18460911")
    api.deduplicate(review)
    with review.atomic():
        record_decision(review, first, "include", "alice")
    later = add(review, "Embase", "L351", **dict(PAPER, pages="221-228"),
                doi="10.1097/MOL.0b013e3282ffaf82", abstract="Purpose of review ...")
    fresh = add(review, "Embase", "L999", title="A new unrelated trial of metformin",
                authors="Doe J.", year="2019", journal="Lancet", pages="10-20")
    out = api.deduplicate(review)
    assert out["new_records"] == 2
    assert out["inherited_decisions"] == [
        {"record_id": later, "from_record_id": first, "decision": "include",
         "cluster_id": api.cluster_of(review, first)}]
    row = review.db.execute("select reviewer, decision, origin from ta_decisions "
                            "where record_id = ?", [later]).fetchone()
    assert row == ("dedup", "include", "inherited")
    assert final_decisions(review)[later] == "include"
    # the screened record stays primary (even though the new one is more complete)
    assert api.primary_record_ids(review) == [first, fresh]


def test_manual_queue_saves_each_decision(review, tmp_path):
    ids = {}
    for k, pages in enumerate(["221-8", "400-408", "500-509", "600-609"]):
        ids[k] = add(review, "PubMed", str(k), **dict(PAPER, volume="", pages=pages))
    api.deduplicate(review)
    pairs = api.open_pairs(review)
    assert len(pairs) == 6  # same title/authors/year, pages differ: all uncertain
    review.close()
    runner = CliRunner()
    db = str(tmp_path / "r.db")
    res = runner.invoke(cli, ["--db", db, "dedup", "review"], input="d\nn\ns\nq\n")
    assert res.exit_code == 0, res.output
    assert "≠ pages" in res.output and "d(uplicate) / n(ot) / s(kip) / q(uit)" in res.output
    assert "duplicate 1, not 1, skipped 1; 4 still open" in res.output
    from toolkit.store import open_review
    r2 = open_review(db)
    decided = list(r2.db.query("select record_a, record_b, decision from pair_decisions "
                               "where origin = 'human' order by id"))
    assert [d["decision"] for d in decided] == ["duplicate", "not"]
    assert (decided[0]["record_a"], decided[0]["record_b"]) == (pairs[0]["record_a"],
                                                                pairs[0]["record_b"])
    assert api.duplicates_removed(r2) == 1
    r2.close()


def test_manual_queue_json_prints_one_object_on_stdout(review, tmp_path):
    for k, pages in enumerate(["221-8", "400-408", "500-509"]):
        add(review, "PubMed", str(k), **dict(PAPER, volume="", pages=pages))
    api.deduplicate(review)
    assert len(api.open_pairs(review)) == 3
    review.close()
    res = CliRunner().invoke(cli, ["--db", str(tmp_path / "r.db"), "dedup", "review",
                                   "--json"], input="n\nq\n")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)  # the pairs and prompts went to stderr
    assert (out["not"], out["duplicate"], out["remaining"], out["quit"]) == (1, 0, 2, True)
    assert "d(uplicate) / n(ot) / s(kip) / q(uit)" in res.stderr and "≠ pages" in res.stderr


def test_manual_queue_end_of_input_is_quit(review, tmp_path):
    """Piped answers that run out end the session like q (as in `review screen` and
    `review fulltext`): exit 0, the decisions given are saved, one JSON object printed."""
    for k, pages in enumerate(["221-8", "400-408", "500-509"]):
        add(review, "PubMed", str(k), **dict(PAPER, volume="", pages=pages))
    api.deduplicate(review)
    review.close()
    res = CliRunner().invoke(cli, ["--db", str(tmp_path / "r.db"), "dedup", "review",
                                   "--json"], input="n\n")
    assert res.exit_code == 0, (res.output, res.exception)
    out = json.loads(res.stdout)
    assert (out["not"], out["remaining"], out["quit"]) == (1, 2, True)


def test_export_columns(review):
    a = add(review, "PubMed", "1", **PAPER)
    b = add(review, "Embase", "2", **PAPER, abstract="x")
    c = add(review, "PubMed", "3", title="Other paper about kidneys and hearts", year="2001",
            authors="Roe R.", pages="1-3", journal="Kidney Int")
    api.deduplicate(review)
    cols, values = export_columns(review)
    assert cols == ["cluster_id", "is_duplicate"]
    cid = api.cluster_of(review, a)
    assert values[a] == {"cluster_id": cid, "is_duplicate": 1}
    assert values[b] == {"cluster_id": cid, "is_duplicate": 0}
    assert values[c] == {"cluster_id": "", "is_duplicate": 0}
    from toolkit.export import write_csv
    buf = io.StringIO()
    write_csv(review, buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["is_duplicate"] for r in rows] == ["1", "0", "0"]
    assert rows[0]["cluster_id"] == rows[1]["cluster_id"] == str(cid)


def test_cli_import_dedup_json_export(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "r.db")
    assert runner.invoke(cli, ["--db", db, "init"]).exit_code == 0
    res = runner.invoke(cli, ["--db", db, "import", str(DATA / "labelled_sample.csv")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["--db", db, "dedup", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    for key in ("records", "clusters", "duplicates_removed", "uncertain_pairs", "wall_s"):
        assert key in out
    assert out["records"] == 63
    res = runner.invoke(cli, ["--db", db, "export", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert sum(int(r["is_duplicate"]) for r in rows) == out["duplicates_removed"]
    res = runner.invoke(cli, ["--db", db, "dedup", "undo", "9999"])
    assert res.exit_code != 0 and "no cluster 9999" in str(res.exception or res.output)


def test_same_input_gives_identical_clusters_and_export(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIEW_NOW", "2026-01-01T00:00:00+00:00")
    from toolkit.export import write_csv
    from toolkit.importing import import_file
    outputs = []
    for k in range(2):
        r = create_review(tmp_path / f"r{k}.db")
        import_file(r, DATA / "labelled_sample.csv")
        api.deduplicate(r)
        buf = io.StringIO()
        write_csv(r, buf)
        outputs.append((buf.getvalue(), list(r.db.query(
            "select * from cluster_members order by cluster_id, record_id")),
            list(r.db.query("select * from merged_fields order by cluster_id, field"))))
        r.close()
    assert outputs[0] == outputs[1]


def test_new_record_linking_two_clusters_is_guarded_and_undo_is_remembered(review):
    a = add(review, "PubMed", "1", **PAPER)
    b = add(review, "Embase", "2", **PAPER)
    api.deduplicate(review)
    cid = api.cluster_of(review, a)
    assert api.cluster_of(review, b) == cid
    api.undo_cluster(review, cid)
    # a third copy matches both, but a and b were declared different: it may join only one
    c = add(review, "Scopus", "3", **PAPER)
    out = api.deduplicate(review)
    assert out["new_records"] == 1
    ca, cb = api.cluster_of(review, a), api.cluster_of(review, b)
    assert ca is None or cb is None or ca != cb
    assert api.cluster_of(review, c) in {ca, cb} - {None}
    assert out["duplicates_removed"] == 1


def test_dedup_without_records_is_one_clear_error(tmp_path, capsys):
    runner = CliRunner()
    db = str(tmp_path / "r.db")
    runner.invoke(cli, ["--db", db, "init"])
    from toolkit.cli import main
    with pytest.raises(SystemExit) as exc:
        main(["--db", db, "dedup"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.strip() == "review: error: no records yet; run `review import FILE` first"


def test_small_later_import_keeps_the_field_trust_measured_on_the_store(review):
    """A later import too small to measure field trust on uses the earlier run's: the same
    editorial column in two issues stays two records, as it would in one big run."""
    for k in range(25):  # 25 PubMed/Embase pairs that agree on volume and issue: anchors
        rec = dict(PAPER, title=f"{PAPER['title']} in cohort {k:02d} of the registry",
                   pages=f"{100 + 10 * k}-{105 + 10 * k}")
        add(review, "PubMed", f"p{k}", **rec)
        add(review, "Embase", f"e{k}", **dict(rec, journal="Current Opinion in Lipidology"))
    first = api.deduplicate(review)
    assert first["clusters"] == 25
    settings = json.loads(review.db.execute("select settings from dedup_runs").fetchone()[0])
    assert (settings["trust_volume"], settings["trust_issue"]) == (True, True)
    column = dict(title="Editor's comments: the year ahead in lipid research",
                  authors="Lewis G. F.", year="2008", journal="Curr Opin Lipidol", volume="19")
    a = add(review, "PubMed", "c1", **dict(column, issue="1"))
    b = add(review, "PubMed", "c2", **dict(column, issue="2"))
    api.deduplicate(review)
    assert api.cluster_of(review, a) is None and api.cluster_of(review, b) is None


# --- undo withdraws inherited decisions -----------------------------------------------------

A_CSV = """record_id,title,authors,year,journal,volume,pages,doi,abstract
a1,Cryoablation of spinal metastases: a prospective cohort study,"Smith J.; Doe A.",2020,Spine J,20,100-110,10.1000/spine.1,Abstract one about cryoablation in spine metastases
a2,Radiofrequency ablation for osteoid osteoma in children,"Lee K.; Park S.",2019,Pediatr Radiol,49,55-60,10.1000/ped.2,Abstract two about RFA
"""
B_CSV = """record_id,title,authors,year,journal,volume,pages,doi,abstract
b1,Cryoablation of spinal metastases: a prospective cohort study,"Smith J; Doe A",2020,The Spine Journal,20,100-10,10.1000/SPINE.1,
b2,Microwave ablation of liver tumours,"Chan W.",2021,Radiology,300,1-9,10.1000/rad.3,Liver abstract
"""


def _inherit_scenario(tmp_path):
    """a.csv imported and deduplicated, record 1 excluded, b.csv imported and deduplicated:
    record 3 (b1, a duplicate of record 1) inherits 'exclude'."""
    (tmp_path / "a.csv").write_text(A_CSV)
    (tmp_path / "b.csv").write_text(B_CSV)
    (tmp_path / "dec.csv").write_text("record_id,decision\n1,exclude\n2,include\n")
    runner = CliRunner()
    db = str(tmp_path / "i.db")
    for args in (["init"], ["import", str(tmp_path / "a.csv")], ["dedup"],
                 ["screen", "import", str(tmp_path / "dec.csv")],
                 ["import", str(tmp_path / "b.csv")]):
        res = runner.invoke(cli, ["--db", db, *args])
        assert res.exit_code == 0, (args, res.output, res.exception)
    res = runner.invoke(cli, ["--db", db, "dedup"])
    assert res.exit_code == 0, res.output
    assert "record 3 duplicates screened record 1: inherits 'exclude'" in res.output
    return runner, db


def test_undo_withdraws_the_inherited_decision_cli(tmp_path):
    from toolkit.screening.decisions import final_decisions
    from toolkit.screening.queue import records_to_screen
    from toolkit.store import open_review
    runner, db = _inherit_scenario(tmp_path)
    r = open_review(db)
    assert 3 not in records_to_screen(r) and final_decisions(r)[3] == "exclude"
    r.close()
    res = runner.invoke(cli, ["--db", db, "dedup", "undo", "1"])
    assert res.exit_code == 0, res.output
    assert "record 3: the 'exclude' inherited from record 1 is withdrawn" in res.output
    r = open_review(db)
    assert records_to_screen(r) == [1, 2, 3, 4]  # record 3 is to be screened again
    assert 3 not in final_decisions(r)
    row = r.db.execute("select origin, undone_at from ta_decisions where record_id = 3"
                       ).fetchone()
    assert row[0] == "inherited" and row[1] is not None  # kept, marked undone
    ev = json.loads(r.db.execute("select details from events where action = 'dedup-undo'"
                                 ).fetchone()[0])
    assert [(w["record_id"], w["decision"], w["from_record_id"])
            for w in ev["withdrawn_decisions"]] == [(3, "exclude", 1)]
    r.close()
    res = runner.invoke(cli, ["--db", db, "status"])
    assert "2 of 4 records decided" in res.output


def test_inherited_decision_follows_its_cluster_into_a_manual_merge(review):
    """A cluster with an inherited decision merged by hand into an older cluster: undoing
    the surviving cluster still withdraws the decision."""
    from toolkit.screening.decisions import final_decisions, record_decision
    other = dict(title="Metformin and the risk of lactic acidosis: a cohort in the registry",
                 authors="Doe J.; Roe R.", year="2015", journal="Diabetes Care", volume="38",
                 pages="10-20")
    x1 = add(review, "PubMed", "x1", **other)
    p1 = add(review, "PubMed", "p1", **dict(PAPER, volume="", pages="221-8"))
    p2 = add(review, "Embase", "p2", **dict(PAPER, volume="", pages="400-408"))
    api.deduplicate(review)
    [pp] = api.open_pairs(review)
    p_cluster = api.decide_pair(review, pp["id"], "duplicate")["cluster_id"]
    with review.atomic():
        record_decision(review, x1, "exclude", "alice")
    x2 = add(review, "Embase", "x2", **dict(other, journal="Diabetes care"))
    out = api.deduplicate(review)
    assert [h["record_id"] for h in out["inherited_decisions"]] == [x2]
    cx = api.cluster_of(review, x1)
    assert cx > p_cluster
    # a person joins x's cluster into the older one (a different paper, but so it is said)
    with review.atomic():
        pair = review.db["pair_decisions"].insert({
            "record_a": min(x1, p1), "record_b": max(x1, p1), "decision": "uncertain",
            "rule": "test", "score": 50, "origin": "auto", "run_id": None,
            "decided_at": now_iso(), "decided_by": "dedup", "status": "open"}).last_pk
    out = api.decide_pair(review, pair, "duplicate")
    merged = out["cluster_id"]
    assert merged == p_cluster and api.cluster_of(review, x2) == p_cluster
    assert final_decisions(review)[x2] == "exclude"
    # the screened x1 is now the primary; p1 and p2, put with it by this merge, inherit
    assert out["primary_changed"][1:] == [min(p1, p2), x1]
    assert sorted(h["record_id"] for h in out["inherited_decisions"]) == [p1, p2]
    out = api.undo_cluster(review, p_cluster)
    assert [w["record_id"] for w in out["withdrawn_decisions"]] == [x2, p1, p2]
    assert final_decisions(review) == {x1: "exclude"}


def test_inherited_decision_follows_its_cluster_when_a_new_record_links_two(review):
    """A new record that links two clusters merges the younger into the older; the inherited
    decisions of the younger then depend on the older, and undoing it withdraws them."""
    from toolkit.screening.decisions import final_decisions, record_decision
    p = dict(PAPER, volume="")
    b = add(review, "Embase", "b", **dict(p, pages="400-408"), doi="10.1000/bb")
    a = add(review, "PubMed", "a", **dict(p, pages="221-8"), pmid="111")
    api.deduplicate(review)  # a and b: pages differ, an open pair
    with review.atomic():
        record_decision(review, a, "exclude", "alice")
    b2 = add(review, "Embase", "b2", **dict(p, pages="400-408"), doi="10.1000/bb")
    a2 = add(review, "PubMed", "a2", **dict(p, pages="221-8"), pmid="111")
    api.deduplicate(review)
    ca, cb = api.cluster_of(review, a), api.cluster_of(review, b)
    assert cb < ca and final_decisions(review)[a2] == "exclude"
    c = add(review, "Scopus", "c", **dict(p, pages="221-8"), pmid="111", doi="10.1000/bb")
    out = api.deduplicate(review)
    assert api.cluster_of(review, a) == api.cluster_of(review, b) == cb
    # the screened a becomes the primary; b and b2 (the other side) inherit, as c does
    assert [h["record_id"] for h in out["inherited_decisions"]] == [b, b2, c]
    ev = json.loads(review.db.execute("select details from events where action = 'dedup' "
                                      "order by id desc limit 1").fetchone()[0])
    assert ev["absorbed_clusters"] == [[ca, cb]]
    assert ev["extended_clusters"] == [[cb, sorted([a, a2, c])]]
    assert ev["primary_changed"] == [[cb, b, a]]
    withdrawn = api.undo_cluster(review, cb)["withdrawn_decisions"]
    assert sorted(w["record_id"] for w in withdrawn) == [b, b2, a2, c]
    assert final_decisions(review) == {a: "exclude"}


def test_migration_links_old_inherited_decisions_and_repairs_old_undos(tmp_path):
    """A store written before dedup_002 (the link only in the note, and a cluster undone
    without withdrawing its inherited decision) is repaired when opened."""
    from toolkit.screening.queue import records_to_screen
    from toolkit.store import open_review
    runner, db = _inherit_scenario(tmp_path)
    r = open_review(db)
    with r.atomic():  # what the old code left: no link table, the cluster undone
        r.db.execute("drop table dedup_inherited")
        r.db.execute("delete from migrations where name = 'dedup_002_inherited_links'")
        r.db.execute("update clusters set undone_at = ?, undone_by = 'root' where id = 1",
                     [now_iso()])
    assert 3 not in records_to_screen(r)
    r.close()
    r = open_review(db)
    assert r.db.execute("select decision_id, record_id, from_record_id, cluster_id "
                        "from dedup_inherited").fetchall() == [(3, 3, 1, 1)]
    assert records_to_screen(r) == [1, 2, 3, 4]
    ev = json.loads(r.db.execute("select details from events where action = "
                                 "'dedup-undo-repair'").fetchone()[0])
    assert [w["record_id"] for w in ev["withdrawn_decisions"]] == [3]
    r.close()


# --- the manual queue after a merge ----------------------------------------------------------

def _two_plus_one(review):
    """r1 and r2 one paper (a cluster); r3 the same but for its pages: pairs r1-r3 and r2-r3
    are open."""
    p = dict(PAPER, volume="")
    r1 = add(review, "PubMed", "1", **p)
    r2 = add(review, "Embase", "2", **dict(p, journal="Current Opinion in Lipidology"))
    r3 = add(review, "Scopus", "3", **dict(p, pages="400-408"))
    api.deduplicate(review)
    assert api.cluster_of(review, r1) == api.cluster_of(review, r2) is not None
    assert [(q["record_a"], q["record_b"]) for q in api.open_pairs(review)] == [(r1, r3),
                                                                                 (r2, r3)]
    return r1, r2, r3


def test_manual_duplicate_closes_the_pairs_it_settles_and_they_are_not_shown(review, tmp_path):
    r1, r2, r3 = _two_plus_one(review)
    first, second = api.open_pairs(review)
    review.close()
    res = CliRunner().invoke(cli, ["--db", str(tmp_path / "r.db"), "dedup", "review",
                                   "--json"], input="d\nn\nq\n")
    assert res.exit_code == 0, (res.output, res.exception)
    out = json.loads(res.stdout)
    assert (out["duplicate"], out["not"], out["closed"], out["remaining"]) == (1, 0, 1, 0)
    assert res.stderr.count("d(uplicate) / n(ot)") == 1  # the second pair was not shown
    assert "closed 1 other open pair: both records now in cluster" in res.stderr
    from toolkit.store import open_review
    r = open_review(tmp_path / "r.db")
    cid = api.cluster_of(r, r3)
    assert cid == api.cluster_of(r, r1)
    row = r.db.execute("select status, closed_reason from pair_decisions where id = ?",
                       [second["id"]]).fetchone()
    assert row == ("settled", f"both records in cluster {cid} (pair {first['id']} decided "
                              f"duplicate)")
    assert [d[0] for d in r.db.execute(
        "select decision from pair_decisions where origin = 'human'")] == ["duplicate"]
    ev = json.loads(r.db.execute("select details from events where action = 'dedup-pair'"
                                 ).fetchone()[0])
    assert ev["settled_pairs"] == [[second["id"], cid]]
    with pytest.raises(ReviewError, match="not open .*settled"):
        api.decide_pair(r, second["id"], "not")
    r.close()


def test_a_pair_is_decided_once(review):
    r1, r2, r3 = _two_plus_one(review)
    first, second = api.open_pairs(review)
    api.decide_pair(review, second["id"], "not")
    with pytest.raises(ReviewError, match=f"pair {second['id']} is not open .*decided"):
        api.decide_pair(review, second["id"], "duplicate")
    assert api.cluster_of(review, r3) is None
    assert review.db.execute("select count(*) from pair_decisions where origin = 'human'"
                             ).fetchone()[0] == 1


def test_not_duplicate_for_records_in_one_cluster_is_refused(review):
    r1, r2, _ = _two_plus_one(review)
    cid = api.cluster_of(review, r1)
    with review.atomic():  # an open pair inside a cluster (as an older version could leave)
        pid = review.db["pair_decisions"].insert({
            "record_a": r1, "record_b": r2, "decision": "uncertain", "rule": "test",
            "score": 100, "origin": "auto", "run_id": None, "decided_at": now_iso(),
            "decided_by": "dedup", "status": "open"}).last_pk
    with pytest.raises(ReviewError, match=rf"already in one cluster \({cid}\).*dedup undo {cid}"):
        api.decide_pair(review, pid, "not")
    assert review.db.execute("select status from pair_decisions where id = ?",
                             [pid]).fetchone()[0] == "open"
    assert review.db.execute("select count(*) from pair_decisions where origin = 'human'"
                             ).fetchone()[0] == 0


def test_a_later_run_settles_open_pairs_it_puts_in_one_cluster(review):
    p = dict(PAPER, volume="")
    b = add(review, "Embase", "b", **dict(p, pages="400-408"), doi="10.1000/bb")
    a = add(review, "PubMed", "a", **dict(p, pages="221-8"), pmid="111")
    api.deduplicate(review)
    [pair] = api.open_pairs(review)
    add(review, "Scopus", "c", **dict(p, pages="221-8"), pmid="111", doi="10.1000/bb")
    out = api.deduplicate(review)
    cid = api.cluster_of(review, a)
    assert cid is not None and api.cluster_of(review, b) == cid
    assert out["uncertain_pairs"] == 0 and out["pairs_settled"] == 1
    assert review.db.execute("select status, closed_reason from pair_decisions where id = ?",
                             [pair["id"]]).fetchone() == (
        "settled", f"both records in cluster {cid} (dedup run {out['run_id']})")


def test_migration_settles_open_pairs_already_in_one_cluster(tmp_path):
    from toolkit.store import open_review
    r = create_review(tmp_path / "r.db")
    r1, r2, r3 = _two_plus_one(r)
    first, second = api.open_pairs(r)
    with r.atomic():  # what the old code left after 'd' on the first pair
        api._manual_merge(r, r1, r3, now_iso())
        r.db.execute("update pair_decisions set status = 'decided' where id = ?", [first["id"]])
        r.db.execute("alter table pair_decisions drop column closed_reason")
        r.db.execute("delete from migrations where name = 'dedup_003_pair_closed_reason'")
    r.close()
    r = open_review(tmp_path / "r.db")
    assert api.open_pairs(r) == []
    assert r.db.execute("select status from pair_decisions where id = ?",
                        [second["id"]]).fetchone()[0] == "settled"
    assert r.db.execute("select count(*) from events where action = 'dedup-pairs-settled'"
                        ).fetchone()[0] == 1
    r.close()


def test_skipped_pairs_are_not_shown_again_in_the_session(review, tmp_path):
    _two_plus_one(review)
    review.close()
    res = CliRunner().invoke(cli, ["--db", str(tmp_path / "r.db"), "dedup", "review",
                                   "--json"], input="s\ns\ns\n")
    assert res.exit_code == 0, (res.output, res.exception)
    out = json.loads(res.stdout)
    assert (out["skipped"], out["remaining"], out["quit"]) == (2, 2, False)
    assert "pair 1 of 2" in res.stderr and "pair 2 of 2" in res.stderr


# --- the audit event of a run -----------------------------------------------------------------

def _dedup_events(review):
    return [json.loads(r[0]) for r in review.db.execute(
        "select details from events where action = 'dedup' order by id")]


def test_dedup_event_names_every_cluster_and_its_members(review):
    from toolkit.screening.decisions import record_decision
    r1 = add(review, "PubMed", "1", **PAPER, pmid="18460911")
    r2 = add(review, "Embase", "2", **dict(PAPER, journal="Current Opinion in Lipidology"),
             abstract="Purpose of review ...")
    o1 = add(review, "PubMed", "3", title="Something else entirely about the heart",
             authors="Smith J.", year="2010", journal="Heart", pages="1-2")
    api.deduplicate(review)
    cid = api.cluster_of(review, r1)
    [ev] = _dedup_events(review)
    assert ev["created_clusters"] == [[cid, r2, [r1, r2]]]  # [cluster, primary, members]
    assert ev["extended_clusters"] == [] and ev["absorbed_clusters"] == []
    with review.atomic():
        record_decision(review, r2, "include", "alice")
    r3 = add(review, "Scopus", "4", **PAPER, pmid="18460911")
    o2 = add(review, "Scopus", "5", title="Something else entirely about the heart",
             authors="Smith J.", year="2010", journal="Heart", pages="1-2")
    api.deduplicate(review)
    c2 = api.cluster_of(review, o1)
    ev = _dedup_events(review)[-1]
    assert ev["created_clusters"] == [[c2, o1, [o1, o2]]]
    assert ev["extended_clusters"] == [[cid, [r3]]]
    assert ev["inherited"] == [[r3, r2, "include", cid]]
    # every member of every live cluster is named by some event
    logged = set()
    for e in _dedup_events(review):
        logged |= {r for _, _, m in e["created_clusters"] for r in m}
        logged |= {r for _, m in e["extended_clusters"] for r in m}
    assert logged == {r[0] for r in review.db.execute("select record_id from cluster_members")}


# --- manual 'duplicate' against an earlier 'not'; the primary and inheritance after merges --

def _screen_import(runner, db, tmp_path, rows, name="dec.csv"):
    (tmp_path / name).write_text("record_id,decision,reviewer\n" + "".join(
        f"{rid},{dec},{who}\n" for rid, dec, who in rows))
    res = runner.invoke(cli, ["--db", db, "screen", "import", str(tmp_path / name)])
    assert res.exit_code == 0, (res.output, res.exception)


def test_manual_duplicate_against_a_human_not_is_refused_cli(review, tmp_path):
    """'n' on r1-r3, then 'd' on r2-r3 would put r3 with r1 (r1 and r2 are one cluster): the
    'duplicate' is refused, naming the earlier decision, and nothing is merged."""
    r1, r2, r3 = _two_plus_one(review)
    first, second = api.open_pairs(review)
    cid = api.cluster_of(review, r1)
    review.close()
    db = str(tmp_path / "r.db")
    res = CliRunner().invoke(cli, ["--db", db, "dedup", "review", "--json"],
                             input="n\nd\nq\n")
    assert res.exit_code == 0, (res.output, res.exception)
    out = json.loads(res.stdout)
    assert (out["not"], out["duplicate"], out["remaining"]) == (1, 0, 1)
    assert (f"not saved: records {r1} and {r3} were declared not duplicates (pair "
            f"{first['id']}" in res.stderr)
    assert f"`review dedup undo {cid}`" in res.stderr
    from toolkit.store import open_review
    r = open_review(db)
    assert api.cluster_of(r, r3) is None and api.duplicates_removed(r) == 1
    assert r.db.execute("select status from pair_decisions where id = ?",
                        [second["id"]]).fetchone()[0] == "open"
    assert [d[0] for d in r.db.execute(
        "select decision from pair_decisions where origin = 'human'")] == ["not"]
    r.close()


def test_manual_duplicate_against_an_undo_is_refused(review):
    """Records separated by `--undo` are not put together again by a 'duplicate' on another
    pair (as the chaining guard keeps them apart in a run)."""
    p = dict(PAPER, volume="")
    r1 = add(review, "PubMed", "1", **p)
    r2 = add(review, "Embase", "2", **dict(p, journal="Current Opinion in Lipidology"))
    api.deduplicate(review)
    undone = api.cluster_of(review, r1)
    api.undo_cluster(review, undone)
    r3 = add(review, "Scopus", "3", **dict(p, pages="400-408"))
    api.deduplicate(review)
    pairs = {(q["record_a"], q["record_b"]): q["id"] for q in api.open_pairs(review)}
    assert set(pairs) == {(r1, r3), (r2, r3)}
    cid = api.decide_pair(review, pairs[(r1, r3)], "duplicate")["cluster_id"]
    with pytest.raises(ReviewError, match=rf"records {r1} and {r2} were separated by undoing "
                                          rf"cluster {undone}"):
        api.decide_pair(review, pairs[(r2, r3)], "duplicate")
    assert api.cluster_of(review, r2) is None and members(review, cid) == [r1, r3]
    with pytest.raises(ReviewError, match="were separated"):  # the merge itself is guarded
        with review.atomic():
            api._manual_merge(review, r2, r3, now_iso())
    assert api.cluster_of(review, r2) is None


def _copies_csv(tmp_path, name, rows):
    """A CSV of copies of one paper (and others); rows: (record_id, pages, doi, abstract)."""
    lines = ["record_id,title,authors,year,journal,volume,pages,doi,abstract"]
    for sid, pages, doi, abstract in rows:
        lines.append(f'{sid},Cryoablation of spinal metastases: a prospective cohort study,'
                     f'"Smith J.; Doe A.",2020,Spine J,20,{pages},{doi},{abstract}')
    (tmp_path / name).write_text("\n".join(lines) + "\n")
    return str(tmp_path / name)


def test_a_screened_record_joining_a_cluster_becomes_its_primary_cli(tmp_path):
    """A record imported and screened before the run that finds its duplicates: it becomes the
    cluster's primary (its decision stays in the screening pool and the unscreened copies are
    not screened again); the old members inherit its decision."""
    from toolkit.screening.decisions import final_decisions
    from toolkit.screening.queue import records_to_screen
    from toolkit.store import open_review
    runner, db = CliRunner(), str(tmp_path / "p.db")
    f1 = _copies_csv(tmp_path, "a.csv", [("a1", "100-110", "10.1000/spine.1", "An abstract"),
                                         ("a2", "100-10", "10.1000/spine.1", "")])
    f2 = _copies_csv(tmp_path, "b.csv", [("b1", "100-110", "10.1000/SPINE.1", "")])
    for args in (["init"], ["import", f1], ["dedup"], ["import", f2]):
        res = runner.invoke(cli, ["--db", db, *args])
        assert res.exit_code == 0, (args, res.output, res.exception)
    r = open_review(db)
    assert r.db.execute("select primary_id from clusters").fetchone()[0] == 1
    assert records_to_screen(r) == [1, 3]
    r.close()
    _screen_import(runner, db, tmp_path, [(3, "include", "alice")])
    res = runner.invoke(cli, ["--db", db, "dedup", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    r = open_review(db)
    assert api.primary_record_ids(r) == [3] and records_to_screen(r) == [3]
    assert r.db.execute("select primary_id from clusters").fetchone()[0] == 3
    assert final_decisions(r) == {1: "include", 2: "include", 3: "include"}
    assert [(h["record_id"], h["from_record_id"]) for h in out["inherited_decisions"]] == [
        (1, 3), (2, 3)]
    ev = json.loads(r.db.execute("select details from events where action = 'dedup' "
                                 "order by id desc limit 1").fetchone()[0])
    assert ev["primary_changed"] == [[1, 1, 3]]
    assert api.merged_record(r, 3)["merged_from"] == {"abstract": 1}
    r.close()


def test_a_screened_cluster_absorbed_by_a_new_link_keeps_its_record_primary(review):
    """A new record links an unscreened older cluster with a younger screened one: the screened
    primary becomes the primary of the merged cluster (before, the older cluster's primary
    stayed and the decision was hidden on a duplicate)."""
    from toolkit.screening.decisions import final_decisions, record_decision
    from toolkit.screening.queue import records_to_screen
    p = dict(PAPER, volume="")
    b = add(review, "Embase", "b", **dict(p, pages="400-408"), doi="10.1000/bb")
    a = add(review, "PubMed", "a", **dict(p, pages="221-8"), pmid="111")
    api.deduplicate(review)
    with review.atomic():
        record_decision(review, a, "exclude", "alice")
    b2 = add(review, "Embase", "b2", **dict(p, pages="400-408"), doi="10.1000/bb")
    a2 = add(review, "PubMed", "a2", **dict(p, pages="221-8"), pmid="111")
    api.deduplicate(review)
    cb = api.cluster_of(review, b)
    assert cb < api.cluster_of(review, a)
    c = add(review, "Scopus", "c", **dict(p, pages="221-8"), pmid="111", doi="10.1000/bb")
    out = api.deduplicate(review)
    assert api.cluster_of(review, a) == api.cluster_of(review, c) == cb
    assert api.primary_record_ids(review) == [a] and records_to_screen(review) == [a]
    assert final_decisions(review) == {r: "exclude" for r in (a, b, b2, a2, c)}
    assert sorted(h["record_id"] for h in out["inherited_decisions"]) == sorted([b, b2, c])
    assert out["decision_conflicts"] == []


def test_manual_merge_inherits_and_makes_the_screened_record_primary_cli(review, tmp_path):
    """'d' in the queue joins an unscreened cluster (r1, r2) with a screened record r3: r3 is
    the primary, r1 and r2 inherit its decision (linked, so undoing withdraws it)."""
    from toolkit.screening.decisions import final_decisions
    from toolkit.screening.queue import records_to_screen
    from toolkit.store import open_review
    r1, r2, r3 = _two_plus_one(review)
    cid = api.cluster_of(review, r1)
    review.close()
    runner, db = CliRunner(), str(tmp_path / "r.db")
    _screen_import(runner, db, tmp_path, [(r3, "include", "alice")])
    res = runner.invoke(cli, ["--db", db, "dedup", "review"], input="d\nq\n")
    assert res.exit_code == 0, (res.output, res.exception)
    assert f"record {r1} duplicates screened record {r3}: inherits 'include'" in res.output
    assert f"record {r3} (screened) is now the primary of cluster {cid}" in res.output
    r = open_review(db)
    assert api.cluster_of(r, r3) == cid
    assert api.primary_record_ids(r) == [r3] and records_to_screen(r) == [r3]
    assert final_decisions(r) == {r1: "include", r2: "include", r3: "include"}
    assert r.db.execute("select record_id, from_record_id, cluster_id from dedup_inherited "
                        "order by record_id").fetchall() == [(r1, r3, cid), (r2, r3, cid)]
    ev = json.loads(r.db.execute("select details from events where action = 'dedup-pair'"
                                 ).fetchone()[0])
    assert ev["primary_changed"] == [cid, r1, r3]
    assert [h["record_id"] for h in ev["inherited_decisions"]] == [r1, r2]
    r.close()
    res = runner.invoke(cli, ["--db", db, "dedup", "undo", str(cid)])
    assert res.exit_code == 0, res.output
    r = open_review(db)
    assert final_decisions(r) == {r3: "include"}
    assert records_to_screen(r) == [r1, r2, r3]
    r.close()


def test_manual_merge_passes_on_the_primary_decision(review):
    """A record joined by hand to a cluster whose primary was screened inherits its decision,
    as a new record in a run does."""
    from toolkit.screening.decisions import final_decisions, record_decision
    r1, r2, r3 = _two_plus_one(review)
    cid = api.cluster_of(review, r1)
    primary = review.db.execute("select primary_id from clusters where id = ?",
                                [cid]).fetchone()[0]
    with review.atomic():
        record_decision(review, primary, "exclude", "alice")
    first = api.open_pairs(review)[0]
    out = api.decide_pair(review, first["id"], "duplicate")
    assert final_decisions(review) == {primary: "exclude", r3: "exclude"}
    assert out["inherited_decisions"] == [{"record_id": r3, "from_record_id": primary,
                                           "decision": "exclude", "cluster_id": cid}]
    assert out["primary_changed"] is None
    assert [w["record_id"] for w in api.undo_cluster(review, cid)["withdrawn_decisions"]] == [r3]


def test_two_screened_primaries_merged_keep_both_decisions_and_show_a_conflict(review,
                                                                             tmp_path):
    """Both sides screened, differently: the surviving primary stays, the other record keeps
    its own decision, and the disagreement is listed until a resolution of the primary."""
    from toolkit.screening.decisions import final_decisions, record_decision, resolve
    r1, r2, r3 = _two_plus_one(review)
    cid = api.cluster_of(review, r1)
    primary = review.db.execute("select primary_id from clusters where id = ?",
                                [cid]).fetchone()[0]
    with review.atomic():
        record_decision(review, primary, "include", "alice")
        record_decision(review, r3, "exclude", "alice")
    review.close()
    runner, db = CliRunner(), str(tmp_path / "r.db")
    res = runner.invoke(cli, ["--db", db, "dedup", "review"], input="d\nq\n")
    assert res.exit_code == 0, (res.output, res.exception)
    assert (f"cluster {cid}: record {r3} was screened 'exclude', its primary record {primary} "
            f"'include'") in res.output
    from toolkit.store import open_review
    r = open_review(db)
    assert api.primary_record_ids(r) == [primary]
    expected = [{"cluster_id": cid, "primary_id": primary, "primary_decision": "include",
                 "record_id": r3, "decision": "exclude"}]
    assert api.decision_conflicts(r) == expected
    assert api.summary(r)["decision_conflicts"] == expected
    assert "1 screening decision conflict in clusters (see `review conflicts`)" in \
        api.status(r)["dedup"]
    assert final_decisions(r)[r3] == "exclude"  # kept, not overwritten
    other = ({r1, r2} - {primary}).pop()
    assert other not in final_decisions(r)  # it was with the primary already: nothing new
    r.close()
    res = runner.invoke(cli, ["--db", db, "dedup"])
    assert "resolve with `review conflicts resolve" in res.output
    # `review conflicts` lists the same conflict the dedup message names, until resolved
    listing = json.loads(runner.invoke(cli, ["--db", db, "conflicts", "--json"]).stdout)
    assert listing["n_unresolved"] == 1 and listing["conflicts"] == []
    assert [(c["record_id"], c["duplicate_id"], c["decisions"])
            for c in listing["duplicate_conflicts"]] == [
        (primary, r3, {f"record {primary}": "include", f"record {r3}": "exclude"})]
    text = runner.invoke(cli, ["--db", db, "conflicts"]).output
    assert "one paper screened twice with different decisions (duplicates): 1" in text
    r = open_review(db)
    resolve(r, primary, "include", "carol")
    assert api.decision_conflicts(r) == []
    r.close()
    listing = json.loads(runner.invoke(cli, ["--db", db, "conflicts", "--json"]).stdout)
    assert listing["n_unresolved"] == 0 and listing["duplicate_conflicts"] == []


def test_a_persons_decision_outranks_an_automation_exclusion_for_the_primary(review):
    """The primary excluded only by a stopping rule meets a copy a person included: the
    included copy becomes the primary; the automation exclusion is kept and shown as a
    conflict; the unscreened copy inherits the person's decision."""
    from toolkit.screening.decisions import automation_exclude, final_decisions, record_decision
    r1 = add(review, "PubMed", "1", **PAPER, abstract="An abstract")
    r2 = add(review, "Embase", "2", **PAPER)
    api.deduplicate(review)
    assert review.db.execute("select primary_id from clusters").fetchone()[0] == r1
    with review.atomic():
        automation_exclude(review, [r1], rule="test", details={})
    r3 = add(review, "Scopus", "3", **PAPER)
    with review.atomic():
        record_decision(review, r3, "include", "alice")
    out = api.deduplicate(review)
    cid = api.cluster_of(review, r1)
    assert api.primary_record_ids(review) == [r3] and out["primary_changed"] == [[cid, r1, r3]]
    assert final_decisions(review) == {r1: "exclude", r2: "include", r3: "include"}
    assert out["decision_conflicts"] == [{"cluster_id": cid, "primary_id": r3,
                                          "primary_decision": "include", "record_id": r1,
                                          "decision": "exclude"}]
