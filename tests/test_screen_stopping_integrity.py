"""Stopping rules against the rest of screening: dual screening stays independent, a BUSCAR
sample stays a random sample of its urn (or is abandoned), every decision stores the model's
score, and a stop can be taken back by undoing the decision that fired it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from screen_helpers import build_review, is_relevant
from toolkit.cli import cli
from toolkit.flow import title_abstract_counts
from toolkit.records import make_record
from toolkit.screening.agreement import conflicts
from toolkit.screening.decisions import blocked_records
from toolkit.screening.queue import ScreeningSession
from toolkit.screening.schema import backfill_automation_owner
from toolkit.store import now_iso, open_review


def screen(db, reviewer, keys, *extra):
    """`review screen`; with a stopping rule, --yes (the stop is not asked: test_stopping.py
    covers the question)."""
    yes = ["--yes"] if "--stop" in extra else []
    return CliRunner().invoke(cli, ["--db", str(db), "screen", "--reviewer", reviewer, *extra,
                                    *yes], input=keys, catch_exceptions=False)


def live_automation(db):
    with open_review(db) as r:
        return {row["record_id"] for row in r.db.query(
            "select record_id from ta_decisions where origin = 'automation' and "
            "undone_at is null")}


def add_records(db, texts):
    """Append records (as a later search would) and return their ids."""
    with open_review(db) as r, r.atomic():
        before = r.db.execute("select coalesce(max(id), 0) from records").fetchone()[0]
        r.db["records"].insert_all([dict(make_record(
            {"source_id": f"new{i}", "title": t, "abstract": t}, source="PubMed"),
            added_at=now_iso()) for i, t in enumerate(texts)])
        return [row[0] for row in r.db.execute("select id from records where id > ?", [before])]


def truthful(r, session, limit=10_000):
    """Screen with true labels until the session is done; returns the ids shown in order."""
    shown_ids = []
    for _ in range(limit):
        shown = session.next()
        if shown is None:
            break
        shown_ids.append(shown.record_id)
        session.decide(shown, "include" if is_relevant(r, shown.record_id) else "exclude")
    return shown_ids


def test_one_reviewers_stop_leaves_the_other_reviewer_every_record(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=60, every=10, blank=False).close()  # relevant: records 1, 11, ..., 51
    screen(db, "alice", "e\n" * 5, "--stop", "heuristic", "--stop-after", "5")
    auto = live_automation(db)
    assert len(auto) == 55
    with open_review(db) as r:
        assert blocked_records(r, "alice") == auto and blocked_records(r, "bob") == set()
        bob = ScreeningSession(r, "bob")
        assert bob.counts()["remaining"] == 60
        seen = truthful(r, bob)
        assert sorted(seen) == list(range(1, 61))  # bob screened everything himself
        # bob's includes that alice's rule excluded unseen are disagreements to resolve
        listed = {c["record_id"] for c in conflicts(r)["conflicts"]}
        relevant = {i for i in range(1, 61) if is_relevant(r, i)}
        assert relevant & auto and relevant & auto <= listed
        # and records a person screened no longer count as excluded by automation
        assert title_abstract_counts(r)["automation_excluded"] == 0


def test_records_added_during_a_buscar_sample_are_shown_not_excluded_unseen(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=40, every=10, blank=False).close()
    with open_review(db) as r:
        s = ScreeningSession(r, "al", stop="buscar", stop_after=3, seed=0)
        while s.sampling is None:
            shown = s.next()
            s.decide(shown, "include" if is_relevant(r, shown.record_id) else "exclude")
        first = s.next()
        assert first.phase == "sample"
        s.decide(first, "exclude" if not is_relevant(r, first.record_id) else "include")
        urn = set(json.loads(s.sampling["sample_order"]))
    new = add_records(db, [f"cryoablation atrial fibrillation randomised trial pulmonary "
                           f"vein isolation {i}" for i in range(5)])
    with open_review(db) as r:
        s = ScreeningSession(r, "al", stop="buscar", stop_after=3, seed=0)
        assert s.sampling is None and any("abandoned" in n for n in s.notices)
        state = r.db.execute("select state from ta_stopping order by id limit 1").fetchone()[0]
        assert state == "abandoned"
        truthful(r, s)
        humans = {row[0] for row in r.db.execute(
            "select record_id from ta_decisions where origin = 'human' and undone_at is null")}
        assert set(new) <= humans  # every new record was seen by the reviewer
        # whatever automation excluded lay in the urn of a sample that passed its test
        assert urn.isdisjoint(new)
        for st in r.db.query("select * from ta_stopping where state = 'stopped'"):
            excluded = {row[0] for row in r.db.execute(
                "select record_id from ta_decisions where stopping_id = ?", [st["id"]])}
            assert excluded <= set(json.loads(st["sample_order"])) - humans


def test_an_open_sample_does_not_hide_new_records_in_a_session_without_buscar(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=40, every=10, blank=False).close()
    screen(db, "al", "e\ne\ne\ne\nq\n", "--stop", "buscar", "--stop-after", "3")
    with open_review(db) as r:
        assert r.db.execute("select state from ta_stopping").fetchone()[0] == "sampling"
    new = add_records(db, ["a later record", "another later record", "and a third"])
    res = screen(db, "al", "e\n" * 60)
    assert "the open BUSCAR sample was abandoned: 3 record(s) joined the pool" in res.output
    assert "done: nothing left to screen for al" in res.output
    with open_review(db) as r:
        decided = {row[0] for row in r.db.execute(
            "select record_id from ta_decisions where reviewer = 'al' and undone_at is null")}
        assert set(new) <= decided and len(decided) == 43


def test_a_ranked_decision_abandons_a_dormant_sample(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=40, every=10, blank=False).close()
    screen(db, "al", "e\ne\ne\ne\nq\n", "--stop", "buscar", "--stop-after", "3")
    res = screen(db, "al", "q\n")  # looking without deciding keeps the sample
    assert "is not followed in this session" in res.output
    with open_review(db) as r:
        assert r.db.execute("select state from ta_stopping").fetchone()[0] == "sampling"
    screen(db, "al", "e\nq\n")
    with open_review(db) as r:
        assert r.db.execute("select state from ta_stopping").fetchone()[0] == "abandoned"
        ev = list(r.db.query("select details from events where action = "
                             "'screen.buscar_abandoned'"))
        assert len(ev) == 1 and "without --stop buscar" in json.loads(ev[0]["details"])["reason"]


def test_a_sample_record_decided_out_of_order_abandons_the_sample(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=40, every=10, blank=False).close()
    screen(db, "al", "e\ne\ne\nq\n", "--stop", "buscar", "--stop-after", "3")
    with open_review(db) as r:
        order = json.loads(r.db.execute("select sample_order from ta_stopping").fetchone()[0])
    # an import labels the last record of the sample's order, not its first
    (tmp_path / "d.csv").write_text(f"record_id,decision\n{order[-1]},exclude\n")
    CliRunner().invoke(cli, ["--db", str(db), "screen", "import", str(tmp_path / "d.csv"),
                             "--reviewer", "al"], catch_exceptions=False)
    res = screen(db, "al", "q\n", "--stop", "buscar", "--stop-after", "3")
    assert "decided outside the sample's order" in res.output
    assert "(random sample for the stopping rule)" not in res.output


def test_undoing_the_decision_that_started_the_sample_abandons_it(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=40, every=10, blank=False).close()
    with open_review(db) as r:
        s = ScreeningSession(r, "al", stop="buscar", stop_after=3, seed=0)
        s.decide(s.next(), "include")  # both classes labelled: the model ranks from here on
        while s.sampling is None:
            shown = s.next()
            s.decide(shown, "exclude")
        trigger = shown.record_id
        s.undo()
        assert s.sampling is None
        again = s.next()
        assert again.record_id == trigger and again.phase == "ranked"
        assert again.score is not None and again.model_version
        assert r.db.execute("select state from ta_stopping").fetchone()[0] == "abandoned"
        s.decide(again, "include")
        phases = [json.loads(e["details"])["phase"] for e in r.db.query(
            "select details from events where action = 'screen.decision' order by id")]
        assert phases[-1] == "ranked"


def test_every_decision_stores_the_models_score_rank_and_version(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=80, every=10, blank=False).close()
    with open_review(db) as r:
        s = ScreeningSession(r, "al", stop="buscar", stop_after=4, seed=2)
        first = s.next()
        s.decide(first, "maybe")
        phases = set()
        for _ in range(40):
            shown = s.next()
            if shown is None:
                break
            phases.add(shown.phase)
            s.decide(shown, "include" if is_relevant(r, shown.record_id) else "exclude")
        assert "sample" in phases
        rows = list(r.db.query("select * from ta_decisions where origin = 'human'"))
        # once both classes are labelled the model scores every record shown, in any phase
        labelled, since = set(), None
        for d in rows:
            if since is None and {"include", "exclude"} <= labelled:
                since = d["id"]
            labelled.add(d["decision"])
        later = [d for d in rows if d["id"] >= since]
        assert len(later) > 20
        missing = [d["id"] for d in later if d["score"] is None or d["rank"] is None
                   or not d["model_version"]]
        assert not missing


def test_undo_after_a_stop_takes_the_stop_back(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=30, every=10, blank=False).close()
    args = ("--stop", "heuristic", "--stop-after", "3")
    res = screen(db, "al", "e\ne\ne\n", *args)
    assert "stopping rule met" in res.output and len(live_automation(db)) == 27
    # a new session: the queue is empty, but the last decision can still be undone
    res = screen(db, "al", "u\nq\n", *args)
    assert "undone: exclude" in res.output
    assert live_automation(db) == set()
    with open_review(db) as r:
        assert r.db.execute("select state from ta_stopping").fetchone()[0] == "undone"
        ev = json.loads(next(r.db.query(
            "select details from events where action = 'screen.stop_undone'"))["details"])
        assert ev["n"] == 27
        s = ScreeningSession(r, "al", stop="heuristic", stop_after=3)
        assert s.counts()["remaining"] == 28 and s.stopped is None
    # deciding the record again fires the rule again
    res = screen(db, "al", "e\n", *args)
    assert "stopping rule met" in res.output and len(live_automation(db)) == 27


def test_undoing_the_buscar_stop_resumes_the_sample(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=60, blank=False).close()
    res = screen(db, "al", "e\n" * 40, "--stop", "buscar", "--stop-after", "3",
                 "--confidence", "0.5")
    assert "stopping rule met (BUSCAR" in res.output and len(live_automation(db)) == 28
    with open_review(db) as r:
        s = ScreeningSession(r, "al", stop="buscar", stop_after=3, confidence=0.5)
        s.undo()
        assert s.sampling is not None and s.sampling["state"] == "sampling"
        assert live_automation(db) == set()
        back = s.next()
        assert back.phase == "sample"
        s.decide(back, "exclude")
        assert s.stopped and s.stopped["rule"] == "buscar"
        assert len(live_automation(db)) == 28


def test_backfill_links_earlier_automation_exclusions_to_their_run(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=20, every=10, blank=False).close()
    screen(db, "alice", "e\ne\n", "--stop", "heuristic", "--stop-after", "2")
    with open_review(db) as r:
        sid = r.db.execute("select id from ta_stopping").fetchone()[0]
        r.db.execute("update ta_decisions set stopping_id = null")  # as before the migration
        assert blocked_records(r, "bob") == live_automation(db)  # unknown owner: everyone's
        backfill_automation_owner(r.db)
        owners = {row[0] for row in r.db.execute(
            "select stopping_id from ta_decisions where origin = 'automation'")}
        assert owners == {sid}
        assert blocked_records(r, "bob") == set()


def test_a_sample_whose_urn_records_left_the_pool_is_abandoned(tmp_path, monkeypatch):
    db = tmp_path / "r.db"
    build_review(db, n=40, every=10, blank=False).close()
    screen(db, "al", "e\ne\ne\nq\n", "--stop", "buscar", "--stop-after", "3")
    with open_review(db) as r:
        order = json.loads(r.db.execute("select sample_order from ta_stopping").fetchone()[0])
    # as if deduplication had made the sample's first record a duplicate of another
    from toolkit.screening import queue

    real = queue.records_to_screen
    monkeypatch.setattr(queue, "records_to_screen",
                        lambda review: [i for i in real(review) if i != order[0]])
    res = screen(db, "al", "q\n", "--stop", "buscar", "--stop-after", "3")
    assert "1 record(s) of its urn left the pool" in res.output
    with open_review(db) as r:
        assert r.db.execute("select state from ta_stopping").fetchone()[0] == "abandoned"
