"""Several screening sessions on one store at once, through the Python API (each session on its
own connection, as separate processes would be): one reviewer in two windows never records two
live decisions on one record, undo takes back only what the session knows is the latest
decision, two reviewers stay independent, and stopping rules, BUSCAR samples and
deduplication stay correct while other sessions write."""

from __future__ import annotations

import json

import pytest

from screen_helpers import build_review, is_relevant
from toolkit.screening.decisions import DecisionRefused
from toolkit.screening.queue import ScreeningSession, Shown
from toolkit.store import open_review


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "r.db"
    build_review(path, n=40, every=10, blank=False).close()
    return path


def live(review, reviewer):
    """{record_id: [decisions]} of the reviewer's live own decisions (all rows, not latest)."""
    out: dict[int, list[str]] = {}
    for rid, d in review.db.execute(
            "select record_id, decision from ta_decisions where reviewer = ? and "
            "undone_at is null and origin in ('human', 'import') order by id", [reviewer]):
        out.setdefault(rid, []).append(d)
    return out


def truth(review, rid):
    return "include" if is_relevant(review, rid) else "exclude"


def test_two_windows_of_one_reviewer_show_different_records(db):
    with open_review(db) as r1, open_review(db) as r2:
        a, b = ScreeningSession(r1, "al"), ScreeningSession(r2, "al")
        shown_a, shown_b = a.next(), b.next()
        assert shown_a.record_id != shown_b.record_id  # b skipped the record a has on screen
        assert not shown_a.elsewhere and not shown_b.elsewhere
        a.decide(shown_a, "include")
        b.decide(shown_b, "exclude")
        assert live(r1, "al") == {shown_a.record_id: ["include"],
                                  shown_b.record_id: ["exclude"]}


def test_the_second_window_is_told_and_moves_on(db):
    with open_review(db) as r1, open_review(db) as r2:
        # a claim that expires at once: both windows show the same record
        a = ScreeningSession(r1, "al", claim_ttl_s=0)
        b = ScreeningSession(r2, "al", claim_ttl_s=0)
        shown_a, shown_b = a.next(), b.next()
        assert shown_a.record_id == shown_b.record_id
        rid = shown_a.record_id
        a.decide(shown_a, "include")
        with pytest.raises(DecisionRefused) as exc:
            b.decide(shown_b, "exclude")
        assert str(exc.value) == (f"record {rid} was already decided by you in another "
                                  "session: include; not saved")
        assert live(r1, "al") == {rid: ["include"]}  # one live decision, the first one
        assert b.mine[rid] == "include"  # the second window caught up ...
        nxt = b.next()
        assert nxt.record_id != rid  # ... and moved on
        assert b.counts()["screened"] == 1 and b.counts()["include"] == 1


def test_a_maybe_revisited_in_two_windows_is_decided_once(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=3, every=10, blank=False).close()
    with open_review(db) as r1, open_review(db) as r2:
        a = ScreeningSession(r1, "al", claim_ttl_s=0)
        for _ in range(3):
            shown = a.next()
            a.decide(shown, "maybe" if shown.record_id == 2 else "exclude")
        b = ScreeningSession(r2, "al", claim_ttl_s=0)
        again_a, again_b = a.next(), b.next()
        assert again_a.phase == again_b.phase == "maybe" and again_a.record_id == 2
        b.decide(again_b, "exclude")
        with pytest.raises(DecisionRefused, match="record 2 was already decided by you in "
                                                  "another session: exclude"):
            a.decide(again_a, "include")
        assert live(r1, "al")[2] == ["maybe", "exclude"]  # latest: exclude, decided once
        assert a.next() is None


def test_undo_takes_back_only_what_the_session_knows_is_the_latest(db):
    with open_review(db) as r1, open_review(db) as r2:
        a, b = ScreeningSession(r1, "al"), ScreeningSession(r2, "al")
        x = a.next()
        a.decide(x, "include")
        shown_b = b.next()  # b catches up: x is al's latest decision
        y = a.next()
        a.decide(y, "exclude")  # b does not know of y
        with pytest.raises(DecisionRefused) as exc:
            b.undo()
        assert f"latest decision is now record {y.record_id}: exclude" in str(exc.value)
        assert live(r1, "al") == {x.record_id: ["include"], y.record_id: ["exclude"]}
        undone = b.undo()  # b has caught up: now it undoes y, and only y
        assert undone["record_id"] == y.record_id
        assert live(r1, "al") == {x.record_id: ["include"]}
        assert b.next().record_id == y.record_id  # the undone record is shown again
        # a still thinks y is the latest: its undo is refused rather than taking back x
        with pytest.raises(DecisionRefused, match=f"now record {x.record_id}: include"):
            a.undo()
        assert live(r1, "al") == {x.record_id: ["include"]}
        assert shown_b.record_id not in live(r1, "al")


def test_two_reviewers_screen_the_same_record_independently(db):
    with open_review(db) as r1, open_review(db) as r2:
        al, bo = ScreeningSession(r1, "al"), ScreeningSession(r2, "bo")
        shown_al, shown_bo = al.next(), bo.next()
        assert shown_al.record_id == shown_bo.record_id  # claims are per reviewer
        assert not shown_bo.elsewhere
        al.decide(shown_al, "include")
        bo.decide(shown_bo, "exclude")  # blinded dual screening: both are kept
        rid = shown_al.record_id
        assert live(r1, "al") == {rid: ["include"]} and live(r1, "bo") == {rid: ["exclude"]}
        assert rid not in {s.record_id for s in [al.next(), bo.next()]}


def test_another_reviewers_imported_labels_do_not_rank_your_queue(db, tmp_path):
    """Dual screening is blind: bob's decisions loaded with `review screen import` are his
    labels; ann's model, which ranks her cards, must not learn from them."""
    from toolkit.screening.decisions import import_decisions

    export = tmp_path / "bob.csv"
    export.write_text("record_id,decision\n7,include\n" + "".join(
        f"{i},exclude\n" for i in (*range(2, 7), *range(8, 13))), encoding="utf-8")
    with open_review(db) as r:
        import_decisions(r, export, "bob")
        ann = ScreeningSession(r, "ann", background=False, seed=0)
        first = ann.next()
        assert first.score is None and ann.model_version.endswith("@0")  # nothing learnt
        bob = ScreeningSession(r, "bob", background=False, seed=0)
        assert bob.next().score is not None and bob.model_version.endswith("@11")


def test_a_stop_fired_in_another_window_refuses_a_decision_on_an_excluded_record(db):
    with open_review(db) as r1, open_review(db) as r2:
        a = ScreeningSession(r1, "al", stop="heuristic", stop_after=3)
        b = ScreeningSession(r2, "al")
        on_b = b.next()
        for _ in range(3):
            a.decide(a.next(), "exclude")
        assert a.stopped is not None
        excluded = {row[0] for row in r1.db.execute(
            "select record_id from ta_decisions where origin = 'automation'")}
        assert on_b.record_id in excluded  # the rule fired while the record was on b's screen
        with pytest.raises(DecisionRefused, match="excluded by automation when your stopping "
                                                  "rule fired in another session"):
            b.decide(on_b, "include")
        assert on_b.record_id not in live(r1, "al")  # no human row beside the automation one
        assert b.next() is None and any("left your queue" in n for n in b.notices)


def test_a_busy_store_after_the_save_postpones_the_stopping_rule_not_the_decision(
        db, monkeypatch):
    """The decision is committed before the stopping rule is checked: a writer that takes the
    store in between must not turn a saved decision into an error (the reviewer would press
    the key again and be told it was decided elsewhere); the rule is checked at the next
    record instead."""
    import sqlite3

    monkeypatch.setenv("REVIEW_LOCK_WAIT", "0.3")
    other = sqlite3.connect(db, isolation_level=None)
    with open_review(db) as r1:
        a = ScreeningSession(r1, "al", stop="heuristic", stop_after=2)
        a.decide(a.next(), "exclude")
        retrain = a._retrain

        def retrain_then_another_writer():  # between the commit and the stopping rule
            retrain()
            other.execute("BEGIN IMMEDIATE")

        monkeypatch.setattr(a, "_retrain", retrain_then_another_writer)
        shown = a.next()
        a.decide(shown, "exclude")  # returns: saved
        assert live(r1, "al")[shown.record_id] == ["exclude"]
        assert a.stopped is None
        assert any("stopping rule is checked later" in n for n in a.notices)
        other.execute("ROLLBACK")
        assert a.next() is None  # the postponed check ran: the rule fired
        assert a.stopped is not None
        assert r1.db.execute("select count(*) from ta_decisions where origin = 'automation'"
                             ).fetchone()[0] == 38
    other.close()


def test_a_stop_counts_decisions_made_in_another_window(db):
    """The rule is checked again under the lock: the records another window decided while
    this one ran are not excluded by automation, and a stop fires once."""
    with open_review(db) as r1, open_review(db) as r2:
        a = ScreeningSession(r1, "al", stop="heuristic", stop_after=4)
        b = ScreeningSession(r2, "al", stop="heuristic", stop_after=4)
        for _ in range(2):
            a.decide(a.next(), "exclude")
        shown_b = b.next()
        b.decide(shown_b, "include")  # breaks the run of excludes for both windows
        for _ in range(3):
            a.decide(a.next(), "exclude")
        assert a.stopped is None
        a.decide(a.next(), "exclude")
        assert a.stopped is not None
        auto = {row[0] for row in r1.db.execute(
            "select record_id from ta_decisions where origin = 'automation'")}
        assert not auto & set(live(r1, "al"))
        assert len(auto) + len(live(r1, "al")) == 40
        assert r1.db.execute("select count(*) from ta_stopping").fetchone()[0] == 1


def buscar_until_sampling(session, review):
    while session.sampling is None:
        shown = session.next()
        session.decide(shown, truth(review, shown.record_id))


def test_two_windows_follow_one_buscar_sample_in_its_order(db):
    with open_review(db) as r1, open_review(db) as r2:
        a = ScreeningSession(r1, "al", stop="buscar", stop_after=3, seed=0)
        buscar_until_sampling(a, r1)
        b = ScreeningSession(r2, "al", stop="buscar", stop_after=3, seed=0)
        assert b.sampling["id"] == a.sampling["id"]
        order = json.loads(a.sampling["sample_order"])
        first_a, first_b = a.next(), b.next()
        # the sample goes strictly in its random order: b shows the same record, flagged
        assert first_a.record_id == first_b.record_id == order[0]
        assert first_b.phase == "sample" and first_b.elsewhere
        a.decide(first_a, truth(r1, first_a.record_id))
        with pytest.raises(DecisionRefused):
            b.decide(first_b, "include")
        second_b = b.next()
        assert second_b.record_id == order[1] and second_b.phase == "sample"
        b.decide(second_b, truth(r2, second_b.record_id))
        third_a = a.next()
        assert third_a.record_id == order[2]
        state = r1.db.execute("select state from ta_stopping").fetchone()[0]
        assert state == "sampling"  # decided in order by two windows: still a random sample


def test_a_busy_store_when_a_broken_sample_must_be_abandoned_still_shows_a_record(
        db, monkeypatch):
    """Showing the next record may have to write (a sample broken by records that joined the
    pool is marked abandoned): a store busy then must not fail the showing (in the web app it
    would answer a saved decision with an error page); the sample is abandoned later."""
    import sqlite3

    from toolkit.records import make_record
    from toolkit.store import now_iso

    monkeypatch.setenv("REVIEW_LOCK_WAIT", "0.3")
    with open_review(db) as r1, open_review(db) as r2:
        a = ScreeningSession(r1, "al", stop="buscar", stop_after=3, seed=0)
        buscar_until_sampling(a, r1)
        with r2.atomic():  # another process adds a record: the urn is not the remainder now
            r2.db["records"].insert(dict(make_record(
                {"source_id": "late-1", "title": "A late record", "abstract": "new words"},
                source="PubMed"), added_at=now_iso()))
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        shown = a.next()
        assert shown is not None and shown.phase == "ranked" and a.sampling is None
        assert r2.db.execute("select state from ta_stopping").fetchone()[0] == "sampling"
        other.execute("ROLLBACK")
        other.close()
        a.next()
        assert r2.db.execute("select state from ta_stopping").fetchone()[0] == "abandoned"
        assert any("sample was abandoned" in n for n in a.notices)


def test_a_ranked_decision_in_another_window_abandons_the_sample_there_too(db):
    with open_review(db) as r1, open_review(db) as r2:
        a = ScreeningSession(r1, "al", stop="buscar", stop_after=3, seed=0)
        buscar_until_sampling(a, r1)
        on_a = a.next()
        c = ScreeningSession(r2, "al")  # no --stop buscar
        assert any("not followed in this session" in n for n in c.notices)
        c.decide(c.next(), "exclude")
        row = r1.db.execute("select state from ta_stopping").fetchone()
        assert row[0] == "abandoned"
        # the window that followed the sample learns it at its next decision and goes on
        # in ranked order; its decision is saved (an include: no fresh run of excludes)
        a.decide(on_a, "include")
        assert live(r1, "al")[on_a.record_id] == ["include"]
        assert a.sampling is None
        assert a.next().phase == "ranked"
        assert any("abandoned in another session" in n for n in a.notices)
        reason = json.loads(r1.db.execute(
            "select details from events where action = 'screen.buscar_abandoned'"
        ).fetchone()[0])["reason"]
        assert "without --stop buscar" in reason


def test_a_record_on_screen_elsewhere_when_the_sample_begins_stays_out_of_its_urn(db):
    with open_review(db) as r1, open_review(db) as r2:
        b = ScreeningSession(r2, "al")
        on_b = b.next()  # on screen in b, in ranked order
        a = ScreeningSession(r1, "al", stop="buscar", stop_after=3, seed=0)
        buscar_until_sampling(a, r1)
        s = a.sampling
        assert on_b.record_id not in json.loads(s["sample_order"])
        assert json.loads(s["params"])["held_elsewhere"] == [on_b.record_id]
        b.decide(on_b, "exclude")  # a ranked decision outside the urn: the sample stands
        assert r1.db.execute("select state from ta_stopping").fetchone()[0] == "sampling"
        b.release_claims()
        a2 = ScreeningSession(r1, "al", stop="buscar", stop_after=3, seed=0)
        assert a2.sampling is not None and a2.sampling["id"] == s["id"]


def test_a_session_learns_of_records_that_left_or_joined_the_pool(db, tmp_path):
    from toolkit.importing import import_file

    with open_review(db) as r1, open_review(db) as r2:
        a = ScreeningSession(r1, "al")
        # another process makes record 2 a duplicate of record 1 (as deduplication would)
        with r2.atomic():
            cid = r2.db["clusters"].insert({"primary_id": 1, "run_id": None,
                                           "origin": "manual", "created_at": "t"}).last_pk
            r2.db["cluster_members"].insert_all([
                {"cluster_id": cid, "record_id": 1, "role": "primary", "rule": None,
                 "added_at": "t"},
                {"cluster_id": cid, "record_id": 2, "role": "duplicate", "rule": "manual",
                 "added_at": "t"}])
        (tmp_path / "more.csv").write_text("id,title\nn1,A later record\nn2,Another one\n")
        import_file(r2, tmp_path / "more.csv")
        shown = a.next()
        assert 2 in a.left and 2 not in {a.pool[i] for i in a.remaining()}
        assert any("2 record(s) joined the pool" in n for n in a.notices)
        assert a.counts()["remaining"] == 39
        # a card shown before the merge cannot be decided after it
        with pytest.raises(DecisionRefused, match="record 2 is now a duplicate of record 1"):
            a.decide(Shown(2, "ranked"), "include")
        a.decide(shown, "exclude")


def test_an_update_record_on_screen_in_one_window_is_not_shown_in_the_other(db, tmp_path):
    """What an update found comes first, but not at the price of showing one record in two
    windows: while the update's only new record is on screen in window A, window B shows an
    older free record."""
    from toolkit.living.updates import import_update
    from toolkit.screening.queue import queued_first

    export = tmp_path / "new.csv"
    export.write_text("title,abstract,doi\nCryoablation trial new,We report cryoablation of "
                      "atrial fibrillation,10.9/1\n", encoding="utf-8")
    with open_review(db) as r:
        import_update(r, export, source="Embase")
        (new,) = queued_first(r)
    with open_review(db) as r1, open_review(db) as r2:
        a = ScreeningSession(r1, "al")
        b = ScreeningSession(r2, "al")
        on_a, on_b = a.next(), b.next()
        assert on_a.record_id == new
        assert on_b.record_id != new and not on_b.elsewhere
        a.decide(on_a, "include")
        b.decide(on_b, "exclude")  # both saved: nothing refused, nothing doubled
        assert live(r1, "al") == {new: ["include"], on_b.record_id: ["exclude"]}


def test_whole_review_counts_agree_with_prisma_after_a_stop_and_another_reviewer(db):
    """ann's stop excludes her remaining records by automation; bob then excludes one of them
    himself: `review status` and the web page must count it as a person's exclusion, as the
    PRISMA flow does."""
    from toolkit.flow import title_abstract_counts
    from toolkit.screening.queue import screening_counts

    with open_review(db) as r:
        a = ScreeningSession(r, "ann", stop="heuristic", stop_after=3, background=False)
        while a.stopped is None:
            a.decide(a.next(), "exclude")
        auto = {x for (x,) in r.db.execute(
            "select record_id from ta_decisions where origin = 'automation'")}
        b = ScreeningSession(r, "bob", background=False)
        while (shown := b.next()).record_id not in auto:
            b.decide(shown, "exclude")
        b.decide(shown, "exclude")
        counts, flow = screening_counts(r), title_abstract_counts(r)
        assert counts["excluded_by_automation"] == flow["automation_excluded"] == len(auto) - 1
        assert counts["exclude"] == flow["records_excluded"]


def test_a_duplicate_given_another_reviewers_decision_is_refused_without_naming_it(tmp_path):
    """ann has a record on screen; deduplication in another process gives it the decision bob
    made on its duplicate. Her key is refused, without telling her bob's decision (the
    duplicate is still in her blind queue), and it is not counted as her stopping rule's."""
    from toolkit.dedup.api import deduplicate
    from toolkit.records import make_record
    from toolkit.screening.decisions import save_decision
    from toolkit.store import create_review, now_iso

    db = tmp_path / "r.db"
    paper = {"doi": "10.5555/dup.1", "title": "Cryoablation of spinal metastases: a cohort",
             "abstract": "We followed 40 patients after cryoablation.",
             "authors": "Smith J; Doe A", "journal": "Spine J", "year": "2019", "volume": "3",
             "pages": "1-9"}
    rows = [make_record({"source_id": f"S{i}", "title": f"Gardening study {i} of soil {i * 7}",
                         "abstract": f"Plants {i} and soil {i * 13}.", "year": "2010"},
                        source="PubMed") for i in range(6)]
    rows += [make_record(dict(paper, source_id="P1", pmid="9999"), source="PubMed"),
             make_record(dict(paper, source_id="E1"), source="Embase")]
    with create_review(db) as r, r.atomic():
        r.db["records"].insert_all([dict(x, added_at=now_iso()) for x in rows])
    p_id, n_id = 7, 8
    with open_review(db) as bob, open_review(db) as r_ann, open_review(db) as other:
        save_decision(bob, p_id, "exclude", "bob", seen=None)
        ann = ScreeningSession(r_ann, "ann", background=False)
        shown = Shown(n_id, "ranked", seen=None)  # the copy on ann's screen, undecided
        deduplicate(other)
        with pytest.raises(DecisionRefused) as refused:
            ann.decide(shown, "include")
        assert "given the decision of its duplicate" in str(refused.value)
        assert "exclude" not in str(refused.value)
        ann.sync(force=True)
        assert ann.counts()["excluded_by_automation"] == 0
