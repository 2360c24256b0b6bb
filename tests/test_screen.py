"""`review screen` driven through its prompts with click's CliRunner (line input)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from screen_helpers import build_review, is_relevant
from toolkit.cli import cli
from toolkit.screening.decisions import final_decisions
from toolkit.screening.queue import records_to_screen
from toolkit.store import open_review


def screen(db, keys, *args, reviewer="alice"):
    runner = CliRunner()
    return runner.invoke(cli, ["--db", str(db), "screen", "--reviewer", reviewer, *args],
                         input="".join(k + "\n" for k in keys), catch_exceptions=False)


def shown_ids(output):
    return [int(m) for m in re.findall(r"^record (\d+)", output, re.M)]


def rows(db, reviewer="alice"):
    with open_review(db) as r:
        return list(r.db.query("select * from ta_decisions where reviewer = ? order by id",
                               [reviewer]))


def events(db, action):
    with open_review(db) as r:
        return [json.loads(e["details"]) for e in r.db.query(
            "select details from events where action = ? order by id", [action])]


@pytest.fixture
def db(tmp_path):
    build_review(tmp_path / "r.db").close()
    return tmp_path / "r.db"


def test_include_exclude_maybe_note_and_quit(db):
    res = screen(db, ["i", "e", "n", "off topic", "e", "m", "q"])
    assert res.exit_code == 0, res.output
    saved = rows(db)
    assert [r["decision"] for r in saved] == ["include", "exclude", "exclude", "maybe"]
    # each decision is on the record shown at that moment, in order
    assert [r["record_id"] for r in saved] == shown_ids(res.output)[:4]
    assert saved[2]["note"] == "off topic" and saved[0]["note"] is None
    assert all(r["origin"] == "human" and r["reviewer"] == "alice" and r["decided_at"]
               for r in saved)
    # once the model has an include and an exclude, score, rank and version are recorded
    assert saved[2]["score"] is not None and saved[2]["rank"] >= 1
    assert "@2" in saved[2]["model_version"]  # trained on 2 labels when record 3 was chosen
    assert [e["decision_id"] for e in events(db, "screen.decision")] == [r["id"] for r in saved]
    assert "quit: everything decided is saved" in res.output
    assert "screened 4 | included 1 | maybe 1" in res.output


def test_model_ranks_relevant_records_first(db):
    from toolkit.screening.queue import ScreeningSession

    with open_review(db) as r:
        session = ScreeningSession(r, "alice")
        shown = []
        while True:  # label by the truth until the model has both classes
            s = session.next()
            shown.append(s.record_id)
            session.decide(s, "include" if is_relevant(r, s.record_id) else "exclude")
            labels = {is_relevant(r, rid) for rid in shown}
            if labels == {True, False}:
                break
        found_before = sum(is_relevant(r, rid) for rid in shown)
        nxt = []
        for _ in range(6 - found_before):  # 6 of the 30 records are relevant
            s = session.next()
            nxt.append(s.record_id)
            assert s.score is not None and s.rank == 1 and s.model_version
            session.decide(s, "include" if is_relevant(r, s.record_id) else "exclude")
        assert all(is_relevant(r, rid) for rid in nxt), nxt


def test_criteria_help_and_unknown_key(db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the repository root has a screening/criteria.yaml of its own
    res = screen(db, ["c", "?", "x", "q"])
    assert "no criteria file" in res.output
    assert "u  undo the last decision" in res.output
    assert "unknown key" in res.output
    (tmp_path / "screening").mkdir()
    (tmp_path / "screening" / "criteria.yaml").write_text(
        "inclusion:\n  - adults with atrial fibrillation\nexclusion:\n  - animal studies\n")
    res = screen(db, ["c", "q"])  # default: screening/criteria.yaml next to the db
    assert "  - adults with atrial fibrillation" in res.output
    assert "exclusion:" in res.output
    other = tmp_path / "other.yaml"
    other.write_text("inclusion: [RCTs only]\n")
    res = screen(db, ["c", "q"], "--criteria", str(other))
    assert "RCTs only" in res.output and rows(db) == []


def test_undo_reshows_the_record_and_keeps_the_row(db):
    res = screen(db, ["i", "u", "e", "q"])
    ids = shown_ids(res.output)
    assert ids[2] == ids[0] != ids[1]  # undo on the next record's prompt re-shows the first
    saved = rows(db)
    assert [(r["decision"], r["undone_at"] is not None) for r in saved] == [
        ("include", True), ("exclude", False)]
    with open_review(db) as r:
        assert final_decisions(r)[ids[0]] == "exclude"
    assert events(db, "screen.undo")[0]["record_id"] == ids[0]
    res = screen(db, ["u", "u", "q"])  # undo works across sessions; then nothing is left
    assert "undone: exclude" in res.output and "nothing to undo" in res.output


def test_resume_continues_with_undecided_records(db):
    first = screen(db, ["i", "e", "e", "q"])
    second = screen(db, ["e", "e", "q"])
    done = [r["record_id"] for r in rows(db)]
    assert len(done) == len(set(done)) == 5
    assert not set(shown_ids(second.output)) & set(shown_ids(first.output)[:3])
    assert re.findall(r"screened (\d+) \|", second.output)[0] == "3"



def test_every_record_is_shown_maybes_revisited_last(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=4, every=2).close()  # record 4 has neither title nor abstract
    res = screen(db, ["m", "e", "e", "e", "i"])
    ids = shown_ids(res.output)
    assert sorted(ids[:4]) == [1, 2, 3, 4]
    assert ids[4] == ids[0] and "(revisiting a maybe)" in res.output
    assert "(no title)" in res.output and "(no abstract)" in res.output
    with open_review(db) as r:
        final = final_decisions(r)
    assert final[ids[0]] == "include" and len(final) == 4
    assert "done: nothing left to screen" in res.output


def test_json_prints_one_object_of_counts(db):
    res = CliRunner().invoke(cli, ["--db", str(db), "screen", "--reviewer", "bo", "--json"],
                             input="i\ne\nm\nq\n")
    out = json.loads(res.stdout)
    assert (out["screened"], out["include"], out["exclude"], out["maybe"]) == (3, 1, 1, 1)
    assert out["remaining"] == 27 and out["finished"] is False


def test_queue_is_per_reviewer(db):
    screen(db, ["i", "e", "q"], reviewer="alice")
    res = screen(db, ["e", "q"], reviewer="bob")
    assert "bob: screened 0 | included 0 | maybe 0 | remaining 30" in res.output
    with open_review(db) as r:
        assert {row["reviewer"] for row in r.db.query("select reviewer from ta_decisions")} == {
            "alice", "bob"}


def test_reviewer_defaults_to_env(db, monkeypatch):
    monkeypatch.setenv("REVIEW_REVIEWER", "carol")
    CliRunner().invoke(cli, ["--db", str(db), "screen"], input="e\nq\n")
    assert len(rows(db, "carol")) == 1


def test_records_to_screen_uses_dedup_and_skips_inherited(db, monkeypatch):
    import sys
    import types

    with open_review(db) as r:
        assert records_to_screen(r) == list(range(1, 31))
        with r.atomic():
            r.db["ta_decisions"].insert({"record_id": 7, "reviewer": "dedup",
                                         "decision": "exclude", "origin": "inherited",
                                         "decided_at": "2026-01-01T00:00:00+00:00"})
        assert 7 not in records_to_screen(r)
        fake = types.ModuleType("toolkit.dedup.api")
        fake.primary_record_ids = lambda review: [3, 1, 7, 2]
        monkeypatch.setitem(sys.modules, "toolkit.dedup.api", fake)
        assert records_to_screen(r) == [1, 2, 3]


def test_export_and_status_columns(db):
    from toolkit.screening.export import columns
    from toolkit.screening.queue import screening_counts

    res = screen(db, ["i", "n", "why", "e", "q"])
    first, second = shown_ids(res.output)[:2]
    with open_review(db) as r:
        cols, values = columns(r)
        st = screening_counts(r)
    assert cols[0] == "ta_decision"
    assert values[first]["ta_decision"] == "include"
    assert values[second] == {"ta_decision": "exclude", "ta_origin": "human",
                              "ta_reviewers": "alice:exclude", "ta_notes": "alice: why"}
    assert (st["to_screen"], st["decided"], st["include"], st["exclude"]) == (30, 2, 1, 1)
    out = json.loads(CliRunner().invoke(cli, ["--db", str(db), "status", "--json"]).stdout)
    assert out["stages"]["screening"].startswith("2 of 30 records decided: 1 include, 1 exclude")


def test_background_retraining_keeps_the_queue_going(db):
    """With fits slower than the budget, retraining runs in a thread; every decision is still
    saved at once and the ranking catches up with all labels."""
    import threading
    import time

    from toolkit.screening.model import ActiveLearner
    from toolkit.screening.queue import ScreeningSession

    class SlowLearner(ActiveLearner):
        def fit(self, labelled_idx, labels):
            time.sleep(0.05)
            return super().fit(labelled_idx, labels)

    with open_review(db) as r:
        session = ScreeningSession(r, "alice", learner=SlowLearner(random_state=0),
                                   sync_budget_s=0.01)
        threads_before = threading.active_count()
        seen = []
        for _ in range(8):
            s = session.next()
            seen.append(s.record_id)
            session.decide(s, "include" if is_relevant(r, s.record_id) else "exclude")
        assert len(set(seen)) == 8
        assert r.db["ta_decisions"].count == 8
        session.ranker.wait(timeout=10)
        assert not session.ranker.busy and threading.active_count() <= threads_before + 1
        assert session.ranker.n_labels == 8  # the last fit saw every label


def test_screens_a_review_imported_and_deduplicated_by_the_foundation_commands(tmp_path):
    from pathlib import Path

    data = Path(__file__).parent / "data" / "formats"
    db = str(tmp_path / "r.db")
    runner = CliRunner()
    for args in (["init"], ["import", str(data / "embase_asreview.ris")],
                 ["import", str(data / "embase_asreview.csv")], ["dedup", "--json"]):
        res = runner.invoke(cli, ["--db", db, *args], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    with open_review(db) as r:
        n_records = r.db["records"].count
        pool = records_to_screen(r)
        merged = {row[0] for row in r.db.execute(
            "select m.record_id from cluster_members m join clusters c on c.id = m.cluster_id "
            "where c.undone_at is null and m.role = 'duplicate'")}
    assert merged and len(pool) == n_records - len(merged)  # the two exports overlap
    res = screen(db, ["e"] * len(pool))
    assert sorted(shown_ids(res.output)) == pool  # every unique record once, no duplicate
    assert "done: nothing left to screen" in res.output


def test_a_record_shown_again_after_undo_keeps_score_and_rank(db):
    screen(db, ["i", "e", "e", "u", "e", "q"])
    saved = rows(db)
    redone = saved[-1]
    assert saved[-2]["undone_at"] is not None and redone["record_id"] == saved[-2]["record_id"]
    assert redone["score"] is not None and redone["rank"] >= 1 and redone["model_version"]


def test_same_review_same_keys_same_order(tmp_path):
    orders = []
    for name in ("a", "b"):
        db = tmp_path / f"{name}.db"
        build_review(db).close()
        res = screen(db, ["e", "i", "e", "e", "m", "e", "q"])
        orders.append((shown_ids(res.output),
                       [(r["record_id"], r["decision"], r["score"], r["rank"], r["model_version"])
                        for r in rows(db)]))
    assert orders[0] == orders[1]


def test_header_names_the_record_by_its_identifiers(tmp_path):
    """A record with no title and no abstract is identifiable: every header carries the ids."""
    from toolkit.records import make_record
    from toolkit.store import now_iso

    db = tmp_path / "r.db"
    build_review(db, n=2, every=2).close()  # record 2: only source_id S2 and PMID 1001
    with open_review(db) as r, r.atomic():
        r.db["records"].insert_all([
            # a PubMed record whose source id is its PMID, no title/abstract
            dict(make_record({"source_id": "1234567", "pmid": "1234567"}, source="PubMed"),
                 added_at=now_iso()),
            # no id of its own (a content hash is made) but a DOI
            dict(make_record({"doi": "https://doi.org/10.5555/ABC"}, source="Embase"),
                 added_at=now_iso())])
    res = screen(db, ["e", "e", "e", "e"])
    headers = {int(m.group(1)): m.group(0) for m in
               re.finditer(r"^record (\d+).*$", res.output, re.M)}
    assert headers[1] == "record 1 · PubMed S1 · PMID 1000 · DOI 10.1000/x0"
    assert headers[2] == "record 2 · PubMed S2 · PMID 1001"
    assert headers[3] == "record 3 · PubMed · PMID 1234567"
    assert headers[4] == "record 4 · Embase · DOI 10.5555/abc"
    assert res.output.count("(no title)") == 3
    # the phase label still follows the identifiers
    other = tmp_path / "m.db"
    build_review(other, n=2).close()
    res = screen(other, ["m", "e", "e"])
    assert re.search(r"^record \d+ · PubMed S\d · PMID 100\d.*  \(revisiting a maybe\)$",
                     res.output, re.M)


def test_a_maybe_shows_its_note_when_revisited(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=3, every=2, blank=False).close()
    # maybe with a note on the first record, then the other two, then the maybe comes back
    res = screen(db, ["n", "dose unclear; check table 2", "m", "e", "e", "i"])
    revisit = res.output.split("(revisiting a maybe)", 1)[1]
    assert "your note: dose unclear; check table 2" in revisit.split("[i]nclude", 1)[0]
