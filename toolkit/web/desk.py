"""One reviewer's screening inside the web server: a :class:`ScreeningSession` (the same queue,
model, stopping rules and saving as `review screen`) on a thread and a store connection of its
own.

Everything a reviewer does goes through their desk's single worker thread, one request at a
time, so two tabs of one reviewer never race inside the process; other reviewers' desks run
beside it. The desk keeps the card on screen (the same for every tab of the reviewer) until it
is decided; a decision or undo sent from a card that is no longer current (another tab already
acted) is refused with a message and saves nothing.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..screening.decisions import DecisionRefused
from ..screening.model import ActiveLearner
from ..screening.queue import ScreeningSession, Shown
from ..store import open_review


class FeatureCache:
    """TF-IDF features of a pool, built once per server and shared by the reviewers' learners
    (every reviewer's queue reads the same records; only the labels differ)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._key = None
        self._X = None

    def get(self, texts, build):
        key = hash(tuple(texts))
        with self._lock:
            if self._X is None or self._key != key:
                self._X, self._key = build(texts), key
            return self._X


class SharedFeaturesLearner(ActiveLearner):
    """The default model, taking its features from a :class:`FeatureCache`."""

    def __init__(self, cache: FeatureCache, **kw):
        super().__init__(**kw)
        self._cache = cache

    def fit_features(self, texts):
        X = self._cache.get(texts, lambda t: ActiveLearner(
            random_state=self.random_state).fit_features(t).X_)
        return self.set_features(X)


@dataclass
class Card:
    """The record on a reviewer's screen: what the session showed, and the reviewer's latest
    live decision id on it when shown (0: none), which a decision must still find."""
    shown: Shown
    token: int


class Refused(Exception):
    """A decision or undo that would act on something another tab has already changed."""


class Desk:
    """A reviewer's screening session on its own worker thread (see the module docstring)."""

    def __init__(self, db_path, reviewer: str, options: dict, features: FeatureCache,
                 write_lock: threading.Lock | None = None):
        self.reviewer = reviewer
        # the server's writers take turns (see ServerState.write_lock)
        self._write_lock = write_lock or threading.Lock()
        self._options = options
        self._features = features
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"desk-{reviewer}")
        self.card: Card | None = None
        self.review = None
        self.session: ScreeningSession | None = None
        self._ready = self._pool.submit(self._open, db_path)

    def _open(self, db_path) -> None:
        self.review = open_review(db_path, command="serve")
        self._open_session()

    def _open_session(self) -> None:
        # Retraining after the first fit runs in the background: in a server several reviewers'
        # fits would otherwise hold up each other's next card. The next card comes from the
        # latest finished ranking (a decision or two old while reviewers are quick).
        opts = dict({"sync_budget_s": 0.0}, **self._options)
        seed = opts.get("seed", 0)
        self.session = ScreeningSession(
            self.review, self.reviewer,
            learner=SharedFeaturesLearner(self._features, random_state=seed), **opts)

    def run(self, fn, *args, **kw):
        """Run ``fn(self, ...)`` on the desk's thread and return (or raise) its result."""
        self._ready.result()
        return self._pool.submit(fn, self, *args, **kw).result()

    def close(self) -> None:
        def shut(desk):
            if desk.session is not None:
                desk.session.release_claims()  # the reviewer's terminal may show them now
                desk.session.ranker.wait(timeout=10)
            if desk.review is not None:
                desk.review.close()
        try:
            self.run(shut)
        except Exception:  # a desk that never opened has nothing to close
            pass
        self._pool.shutdown(wait=True)

    # -- called on the desk's thread --------------------------------------------------------
    def live_decision_id(self, record_id: int) -> int:
        """The reviewer's latest live own decision on the record (0 if none)."""
        return self.review.db.execute(
            "select coalesce(max(id), 0) from ta_decisions where reviewer = ? and "
            "record_id = ? and undone_at is null and origin in ('human', 'import')",
            [self.reviewer, record_id]).fetchone()[0]

    def last_decision_id(self) -> int:
        """The reviewer's latest live human decision (what undo would undo; 0 if none)."""
        return self.review.db.execute(
            "select coalesce(max(id), 0) from ta_decisions where reviewer = ? and "
            "origin = 'human' and undone_at is null", [self.reviewer]).fetchone()[0]

    def current(self) -> Card | None:
        """The card on screen: kept until its record's state changes, then the next one."""
        c = self.card
        if c is not None and self.live_decision_id(c.shown.record_id) == c.token:
            return c
        self.session.sync()
        if self.session.joined:  # an import or update in another process added records
            self._reopen()
        shown = self.session.next()
        self.card = None if shown is None else Card(shown, self.live_decision_id(shown.record_id))
        return self.card

    def _reopen(self) -> None:
        """A new session over the store's current pool. Only a session that computed the
        features of records can rank them, and an update's records come first: a server that
        runs for days must not leave them to a restart (the terminal says to start again)."""
        old = self.session
        n = len(old.joined)
        old.release_claims()
        old.ranker.wait(timeout=10)
        self._open_session()
        new = self.session
        # what the old session was in the middle of: an undone record to show again, maybes
        # already revisited, a stopping check the store put off
        new.forced, new.revisited = old.forced, set(old.revisited)
        new._stopping_due = old._stopping_due
        self.session.notices[:0] = [m for m in old.notices if "joined the pool" not in m] + [
            f"{n} record(s) joined the pool in another process (an import, a search, an update "
            "or deduplication); they are in your queue now"]

    def decide(self, record_id: int, token: int, decision: str, reason: str | None,
               note: str | None) -> int:
        """Save the decision on the current card; :class:`Refused` if the card the form came
        from is not the current one any more (nothing is saved then)."""
        now = self.live_decision_id(record_id)
        if now != token:
            if now:
                prior = self.review.db.execute("select decision from ta_decisions where id = ?",
                                               [now]).fetchone()[0]
                raise Refused(f"record {record_id} was already decided in another window "
                              f"({prior}); this decision was not saved")
            raise Refused(f"record {record_id}'s decision was undone in another window; "
                          "this decision was not saved")
        c = self.current()
        if c is None or c.shown.record_id != record_id:
            raise Refused(f"this window was showing record {record_id}, which is no longer the "
                          "record to screen; nothing was saved")
        try:
            with self._write_lock:
                row_id = self.session.decide(c.shown, decision, note, reason=reason)
        except DecisionRefused:
            # a terminal session of the reviewer (or dedup, or a stop) changed the record:
            # the session has caught up, so the next card is another one
            self.card = None
            raise
        self.card = None
        return row_id

    def undo(self, expect: int) -> dict | None:
        """Undo the reviewer's last decision if it is still ``expect`` (the last one the page
        knew of); :class:`Refused` otherwise."""
        last = self.last_decision_id()
        if last != expect:
            raise Refused("your last decision changed in another window; nothing was undone")
        if not last:
            return None
        self.session.sync()  # the decision may be the terminal's: the session must know it
        with self._write_lock:
            row = self.session.undo()
        self.card = None
        return row
