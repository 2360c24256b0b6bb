"""Real `review screen` processes on one store at once: nothing is lost or doubled when one
reviewer screens in two terminals beside a second reviewer, and a session whose store is held
by another process waits (saying so), keeps the decision that was typed, and saves it once the
store is free — or, past the bound, says it was not saved and goes on."""

from __future__ import annotations

import re
import sqlite3
import time

from screen_helpers import Screen, build_review
from toolkit.store import open_review

def saved(text: str) -> list[tuple[str, int]]:
    return [(d, int(r)) for d, r in re.findall(r"saved: (\w+) \(record (\d+)\)", text)]


def test_two_terminals_of_one_reviewer_and_a_second_reviewer_lose_and_double_nothing(tmp_path):
    db = tmp_path / "r.db"
    n = 60
    build_review(db, n=n, every=7).close()
    windows = [Screen(db, "al"), Screen(db, "al"), Screen(db, "bo")]
    for w in windows:  # all three show their first record before anyone decides
        w.until(r"^record \d+")
    keys = "".join("ie"[i % 2] + "\n" for i in range(n + 10))  # more than enough
    for w in windows:
        w.send(keys)
    outs = [w.finish() for w in windows]
    for w, (out, err) in zip(windows, outs):
        assert w.proc.returncode == 0, err
        assert "done: nothing left to screen for" in out
    al_saved = saved(outs[0][0]) + saved(outs[1][0])
    bo_saved = saved(outs[2][0])
    with open_review(db) as r:
        def live(reviewer):
            return r.db.execute(
                "select record_id, decision from ta_decisions where reviewer = ? and "
                "origin = 'human' and undone_at is null order by record_id",
                [reviewer]).fetchall()
        al, bo = live("al"), live("bo")
        rows = r.db.execute("select count(*) from ta_decisions").fetchone()[0]
    # every record decided once by al across both terminals, once by bo: nothing doubled
    assert [rid for rid, _ in al] == list(range(1, n + 1))
    assert [rid for rid, _ in bo] == list(range(1, n + 1))
    assert rows == 2 * n  # no second live row, no undone row
    # every "saved" line is a stored decision and every stored decision was said saved:
    # nothing lost; the two terminals shared the work
    assert sorted(al_saved, key=lambda x: x[1]) == [(d, rid) for rid, d in al]
    assert sorted(bo_saved, key=lambda x: x[1]) == [(d, rid) for rid, d in bo]
    assert saved(outs[0][0]) and saved(outs[1][0])
    # a terminal refused a decision was told truly: the other terminal had saved it so
    for mine, other in ((0, 1), (1, 0)):
        for rid, d in re.findall(r"record (\d+) was already decided by you in another "
                                 r"session: (\w+); not saved", outs[mine][0]):
            assert (d, int(rid)) in saved(outs[other][0])


def test_a_decision_waits_for_a_store_held_20_s_and_is_saved_after(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=10).close()
    w = Screen(db, "kim")
    header = w.until(r"^record \d+")
    rid = int(re.search(r"^record (\d+)", header).group(1))
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction
    held_at = time.monotonic()
    try:
        w.send("i\n")
        w.until(r"waiting for the store\u2026", stream="err", timeout=10)
        time.sleep(max(0.0, 20 - (time.monotonic() - held_at)))
        count = holder.execute("select count(*) from ta_decisions").fetchone()[0]
        assert count == 0  # nothing saved while the lock was held ...
    finally:
        holder.execute("COMMIT")
        holder.close()
    line = w.until(r"saved: ", timeout=30)  # ... and saved once it was released
    assert f"saved: include (record {rid})" in line
    w.until(r"the store is free again after 2\d\.\d s", stream="err", timeout=10)
    w.send("q\n")
    out, err = w.finish()
    assert w.proc.returncode == 0, err
    assert "database is locked" not in out + err
    with open_review(db) as r:
        rows = r.db.execute("select record_id, decision from ta_decisions").fetchall()
    assert rows == [(rid, "include")]


def test_past_the_bound_the_session_says_not_saved_and_goes_on(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=10).close()
    w = Screen(db, "kim", REVIEW_LOCK_WAIT="1")
    header = w.until(r"^record \d+")
    rid = int(re.search(r"^record (\d+)", header).group(1))
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        w.send("e\n")
        line = w.until(r"not saved: ", timeout=20)
        assert "stayed busy for 1 s (another process holds its write lock)" in line
        w.until(rf"record {rid} is still on screen: press the key again to save it")
    finally:
        holder.execute("COMMIT")
        holder.close()
    w.send("e\n")  # the same key again, with the store free
    assert f"saved: exclude (record {rid})" in w.until(r"saved: ")
    w.send("q\n")
    out, err = w.finish()
    assert w.proc.returncode == 0, err
    with open_review(db) as r:
        assert r.db.execute("select record_id, decision from ta_decisions").fetchall() == [
            (rid, "exclude")]


def test_a_store_busy_while_the_next_record_is_chosen_is_said_and_retried(tmp_path, monkeypatch):
    """Choosing the next record can write (a BUSCAR sample abandoned in another window): a
    store busy past the bound then is said, and any key tries again, instead of ending the
    session with an error."""
    from click.testing import CliRunner

    from toolkit.cli import cli
    from toolkit.screening.queue import ScreeningSession
    from toolkit.store import StoreBusy

    db = tmp_path / "r.db"
    build_review(db, n=6).close()
    real_next, calls = ScreeningSession.next, []

    def busy_once(self):
        calls.append(1)
        if len(calls) == 2:  # the record after the first decision
            raise StoreBusy("the store stayed busy for 1 s (another process holds its write "
                            "lock)")
        return real_next(self)

    monkeypatch.setattr(ScreeningSession, "next", busy_once)
    res = CliRunner().invoke(cli, ["--db", str(db), "screen", "--reviewer", "kim"],
                             input="e\nx\ni\nq\n", catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "no record shown: the store stayed busy for 1 s" in res.output
    with open_review(db) as r:
        assert [d for (d,) in r.db.execute("select decision from ta_decisions order by id")] \
            == ["exclude", "include"]
