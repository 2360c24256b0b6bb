"""The screening session of one reviewer: which record comes next, and saving what was decided.

The pool is :func:`records_to_screen` (deduplicated records once deduplication exists). Each
reviewer has an own queue: the pool minus the records that reviewer has decided and minus
records excluded by automation or with an inherited decision. The model
(:class:`~toolkit.screening.model.ActiveLearner`) is trained on the reviewer's own labels plus
imported labels and resolutions, so dual screening stays independent. After a review update
the records it found (:func:`queued_first`) come first, in the model's order, then the rest.

Retraining: after every decision. While a fit takes at most ``sync_budget_s`` (default 0.1 s)
it runs before the next record is chosen; once fits are slower (large reviews) they run in a
background thread and the next record is chosen from the latest finished ranking (at most a few
decisions old), which keeps the next record on screen quickly. Decisions never wait for the model.

Phases: 'ranked' (the model's order), 'sample' (a BUSCAR random sample of the remainder, see
:mod:`toolkit.screening.stopping`), 'maybe' (the reviewer's maybes, revisited once each at the end
of a session).

A BUSCAR sample is only worth its test while it is a random sample of what was left when it
began, so it is abandoned (state 'abandoned', logged; screening goes on in ranked order and a
fresh sample starts after the next run of excludes) when records join the pool after it began,
when a record of its urn was decided outside the sample's order, when the decision that started
it is undone, or when the reviewer makes a ranked decision in a session without ``--stop buscar``.
Undoing the decision that fired a stopping rule undoes the stop: its automation exclusions are
marked undone and the records return to the queue.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..store import Review, StoreBusy, now_iso
from . import claims, stopping
from .decisions import (DecisionRefused, automation_exclude, automation_excluded,
                        blocked_records, inherited_records, latest_human_id, own_latest,
                        reviewer_latest, save_decision, undo_last)
from .model import ActiveLearner, record_text

ABANDONED = "abandoned"


def records_to_screen(review: Review) -> list[int]:
    """Ids of the records to screen, ascending: the primary record of each duplicate cluster
    (``toolkit.dedup.api.primary_record_ids``; every record before deduplication); records
    that already carry an inherited decision are left out."""
    from ..dedup.api import primary_record_ids

    ids = sorted(int(i) for i in primary_record_ids(review))
    inherited = {r[0] for r in review.db.execute(
        "select record_id from ta_decisions where origin = 'inherited' and undone_at is null")}
    return [i for i in ids if i not in inherited]


def queued_first(review: Review) -> set[int]:
    """Records the latest review update found first (`review update`, `review import
    --update`; see :mod:`toolkit.living.updates`): each reviewer's queue shows those not yet
    decided before the other records left to screen, each group in the model's order."""
    if "updates" not in review.db.table_names():
        return set()
    latest = review.db.execute("select max(id) from updates").fetchone()[0]
    if latest is None:
        return set()
    from ..living.updates import new_records

    return set(new_records(review, latest))


def _lower_priority() -> None:
    """Run the calling thread at a lower CPU priority (Linux: per thread), so a background fit
    yields the processor to the foreground (the next record on screen), of this session and of
    other reviewers' sessions on the same machine. Elsewhere, nothing changes."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):
        pass


# How much lower: enough that the foreground wins a contended core (CFS gives nice 10 about a
# tenth of nice 0's share), not so low that a fit starves on a busy machine.
BACKGROUND_NICE = 10
# A background fit starts this long after the decision: the next record is on screen by then
# (tens of milliseconds), while the reviewer reads it for seconds.
BACKGROUND_DELAY_S = 0.2


class Ranker:
    """Keeps the learner's latest ranking; retrains in the foreground while fits are fast and in
    one background thread once they are not (see the module docstring)."""

    def __init__(self, learner: ActiveLearner, n: int, sync_budget_s: float = 0.1,
                 background: bool = True):
        self.learner = learner
        self.sync_budget_s = sync_budget_s
        self.background = background
        self.scores = np.zeros(n)
        self.version = learner.version
        self.n_labels = 0
        self.last_fit_s = 0.0
        self._cv = threading.Condition()
        self._running = False
        self._pending = None
        self.start_delay_s = BACKGROUND_DELAY_S

    def update(self, idx: list[int], labels: list[int]) -> None:
        """Retrain on ``labels`` of pool positions ``idx`` (now, or in the background)."""
        with self._cv:
            if self._running:
                self._pending = (idx, labels)
                return
            if self.background and self.last_fit_s > self.sync_budget_s:
                self._running, self._pending = True, (idx, labels)
                threading.Thread(target=self._worker, daemon=True).start()
                return
        self._fit(idx, labels)

    def _worker(self) -> None:
        _lower_priority()
        # let the next record reach the screen first: a fit started at once would compete with
        # it for the processor and the interpreter lock (a later decision replaces the job)
        time.sleep(self.start_delay_s)
        while True:
            with self._cv:
                job, self._pending = self._pending, None
                if job is None:
                    self._running = False
                    self._cv.notify_all()
                    return
            self._fit(*job)

    def _fit(self, idx, labels) -> None:
        t0 = time.perf_counter()
        self.learner.fit(idx, labels)
        scores = np.asarray(self.learner.scores(), dtype=float)
        with self._cv:
            self.scores, self.n_labels = scores, len(idx)
            self.version = self.learner.version
            self.last_fit_s = time.perf_counter() - t0

    def score_rank(self, pos: int, unlabelled: list[int]) -> tuple[float | None, int | None]:
        """Score and rank (1 = highest among ``unlabelled``) of pool position ``pos``."""
        with self._cv:
            scores = self.scores
        cand = scores[np.asarray(unlabelled, dtype=int)]
        if len(cand) == 0 or np.ptp(cand) == 0:
            return None, None
        score = float(scores[pos])
        return score, int((cand > score).sum()) + 1

    @property
    def busy(self) -> bool:
        with self._cv:
            return self._running

    def wait(self, timeout: float | None = None) -> None:
        """Block until no background fit is running."""
        with self._cv:
            self._cv.wait_for(lambda: not self._running, timeout=timeout)

    def choose(self, unlabelled: list[int]) -> tuple[int, float | None, int | None]:
        """``(position, score, rank)`` of the next record among pool positions ``unlabelled``.

        For maximum relevance (the default) that is the highest score of the latest finished
        ranking (already computed: no second pass over the pool). Other query strategies of the
        learner decide themselves when no background fit is running; while one runs (the
        learner is busy), the highest score decides."""
        with self._cv:
            scores = self.scores
        cand = scores[np.asarray(unlabelled)]
        flat = len(cand) == 0 or np.ptp(cand) == 0  # no ranking information yet
        maximum = getattr(self.learner, "query_strategy", "max") == "max"
        if self.busy or (maximum and not flat):
            pos = int(unlabelled[int(np.argmax(cand))])
        else:
            pos = int(self.learner.query(unlabelled))
        if flat:
            return pos, None, None
        score = float(scores[pos])
        return pos, score, int((cand > score).sum()) + 1


@dataclass
class Shown:
    """The record on screen and what the model said about it when it was chosen.

    ``seen`` is the row id of the reviewer's live decision on the record when it was shown
    (None: undecided); saving a decision on it is a compare-and-set against it. A web page can
    carry it in its form like an ETag. ``elsewhere`` says the record is also on screen in
    another session of the same reviewer (only when nothing else was left to show)."""
    record_id: int
    phase: str                      # ranked | sample | maybe
    score: float | None = None
    rank: int | None = None
    model_version: str | None = None
    seen: int | None = None
    elsewhere: bool = False


def pool_mark(review: Review, tables: set[str]) -> tuple:
    """A value that changes whenever :func:`records_to_screen` may have changed: records were
    added, or deduplication ran, made or undid a cluster or decided a pair (which also covers
    the inherited decisions it writes or withdraws). Largest-id look-ups only: cheap."""
    marks = [review.db.execute("select coalesce(max(id), 0) from records").fetchone()[0]]
    for table in ("dedup_runs", "clusters", "pair_decisions"):
        if table in tables:
            marks.append(review.db.execute(
                f"select coalesce(max(id), 0) from {table}").fetchone()[0])
    return tuple(marks)


class ScreeningSession:
    """One reviewer's screening session on an open review.

    Several sessions may run on one store at once, in other processes or in this one (a
    second terminal, a browser tab, another reviewer). Each session catches up with what the
    others wrote before it picks a record (:meth:`sync`), claims the record it shows so the
    reviewer's other sessions show another one (:mod:`toolkit.screening.claims`), and saves a
    decision only if the record is as it was when shown (a compare-and-set, see
    :func:`~toolkit.screening.decisions.save_decision`); otherwise :meth:`decide` raises
    :class:`~toolkit.screening.decisions.DecisionRefused` and the next record is another one.

    Parameters
    ----------
    review : the open store.
    reviewer : who decides.
    stop : None, 'heuristic' or 'buscar'.
    stop_after : consecutive excludes that stop (heuristic) or start the random sample (BUSCAR).
    target_recall, confidence : BUSCAR settings.
    seed : random state of the model and of the BUSCAR sample.
    claim_ttl_s : how long a record shown stays claimed for this session.
    """

    def __init__(self, review: Review, reviewer: str, *, stop: str | None = None,
                 stop_after: int = stopping.DEFAULT_STOP_AFTER,
                 target_recall: float = stopping.DEFAULT_TARGET,
                 confidence: float = stopping.DEFAULT_CONFIDENCE, seed: int = 0,
                 learner: ActiveLearner | None = None, sync_budget_s: float = 0.1,
                 background: bool = True, confirm_stop=None,
                 claim_ttl_s: float = claims.CLAIM_TTL_S):
        if stop not in (None, "none", "heuristic", "buscar"):
            raise ValueError(f"unknown stopping rule {stop!r}")
        self.review, self.reviewer = review, reviewer
        self.stop = None if stop == "none" else stop
        self.stop_after, self.target, self.confidence, self.seed = (
            stop_after, target_recall, confidence, seed)
        self.session_id = claims.new_session_id()
        self.claim_ttl_s = claim_ttl_s
        self._data_version = self._store_version()
        self._tables = set(review.db.table_names())
        self._pool_mark = pool_mark(review, self._tables)
        self.pool = records_to_screen(review)
        self.pos = {rid: i for i, rid in enumerate(self.pool)}
        self.left: set[int] = set()     # records that left the pool while the session ran
        self.joined: list[int] = []     # records that joined it (screened in a later session)
        texts = [""] * len(self.pool)
        for row in review.db.query("select id, title, abstract from records"):
            i = self.pos.get(row["id"])
            if i is not None:
                texts[i] = record_text(row["title"], row["abstract"])
        self.learner = learner or ActiveLearner(random_state=seed)
        try:
            self.learner.fit_features(texts)
            self.has_features = True
        except ValueError:  # no words at all (every record lacks title and abstract)
            self.has_features = False
        self.ranker = Ranker(self.learner, len(self.pool), sync_budget_s, background)
        self.first = {self.pos[r] for r in queued_first(review) if r in self.pos}
        self._load_own()
        self._load_blocked()
        self.revisited: set[int] = set()
        self._changes = 0  # bumped whenever mine/blocked/left change (remaining() cache key)
        self._remaining_cache = None
        self.forced: int | None = None
        self.stopped: dict | None = None
        # confirm_stop(rule, n_records, details) -> bool is asked before a stopping rule
        # excludes records by automation; None excludes without asking (the Python API's use)
        self.confirm_stop = confirm_stop
        self._n_decided = 0  # decisions of this session
        self._quiet_until = 0  # after a declined stop, ask again only stop_after decisions on
        self.notices: list[str] = []  # to say to the reviewer (prompts print and clear them)
        self._stopping_due = False  # a saved decision whose stopping check the store delayed
        self._sample_recheck = False  # a broken sample the store was too busy to abandon
        self.sampling: dict | None = None
        self._told_dormant: int | None = None  # the open sample this session said it ignores
        self._started = False
        self._sync_sampling(check=True)
        self._started = True
        self._retrain()

    # -- what the store says now -----------------------------------------------------------
    def _store_version(self) -> int:
        # changes whenever another connection commits (never for this connection's commits)
        return self.review.db.execute("pragma data_version").fetchone()[0]

    def _load_own(self) -> None:
        """The reviewer's live decisions as the store has them now."""
        latest = reviewer_latest(self.review, self.reviewer)
        self.mine = {rid: d for rid, (_, d) in latest.items()}
        self.seen_ids = {rid: i for rid, (i, _) in latest.items()}
        self.last_human = latest_human_id(self.review, self.reviewer)

    def _load_blocked(self) -> None:
        """The records out of this reviewer's queue as the store has them now: ``automated``
        (excluded by the reviewer's stopping rule) and ``blocked`` (those and every record with
        an inherited decision)."""
        self.automated = automation_excluded(self.review, self.reviewer)
        self.blocked = inherited_records(self.review) | self.automated

    def _reload(self) -> None:
        """Reload the reviewer's decisions and blocked records (inside a caller's transaction,
        where nobody else can write; no retraining there)."""
        self._load_own()
        self._load_blocked()
        self._changes += 1

    def sync(self, force: bool = False) -> bool:
        """Catch up with what other sessions and processes wrote since this session last
        looked: the reviewer's decisions and undos in other sessions, automation exclusions
        of the reviewer's stopping rule, inherited decisions, records that joined or left the
        pool, the reviewer's BUSCAR sample. Nothing is read when nobody else committed.
        Returns whether this reviewer's queue changed."""
        version = self._store_version()
        if version == self._data_version and not force:
            return False
        self._data_version = version
        before = (dict(self.mine), set(self.blocked))
        order_before = list(self.seen_ids.items())
        self._load_own()
        self._load_blocked()
        gone = self.blocked - before[1]
        gone = {rid for rid in gone if rid in self.pos and rid not in self.mine}
        if gone:
            self.notices.append(
                f"{len(gone)} record(s) left your queue in another process (excluded by your "
                "stopping rule in another session, or given a duplicate's decision by "
                "deduplication)")
        pool_changed = self._sync_pool()
        changed = (self.mine != before[0] or self.blocked != before[1] or pool_changed
                   or list(self.seen_ids.items()) != order_before)
        if changed:
            self._changes += 1
        self._sync_sampling(check=pool_changed)
        if self.mine != before[0]:
            self._retrain()
        return changed

    def _sync_pool(self) -> bool:
        """Records that left the pool (deduplication in another process) leave the queue;
        records that joined are named once (their features are computed when a session
        starts). Returns whether the pool changed."""
        mark = pool_mark(self.review, self._tables)
        if mark == self._pool_mark:
            return False
        self._pool_mark = mark
        now = records_to_screen(self.review)
        now_set = set(now)
        left = {rid for rid in self.pool if rid not in now_set}
        joined = [rid for rid in now if rid not in self.pos]
        if len(joined) > len(self.joined):
            self.notices.append(
                f"{len(joined)} record(s) joined the pool in another process (an import, a "
                "search or deduplication); they are shown when you start screening again")
        changed = left != self.left or joined != self.joined
        self.left, self.joined = left, joined
        return changed

    def _current_pool(self) -> list[int]:
        return [rid for rid in self.pool if rid not in self.left] + self.joined

    def _open_sample(self) -> dict | None:
        """The reviewer's open BUSCAR sample as the store has it, or None."""
        rows = list(self.review.db.query(
            "select * from ta_stopping where reviewer = ? and state = 'sampling' "
            "order by id desc limit 1", [self.reviewer]))
        return rows[0] if rows else None

    def _sync_sampling(self, check: bool) -> None:
        """Follow the reviewer's open BUSCAR sample: resume it if it is still a random sample
        of its urn, abandon it if not (``check``: test that again, e.g. after the pool changed),
        keep it dormant in a session without BUSCAR; notice one that ended or began in another
        session."""
        s = self._open_sample()
        mine_id = self.sampling["id"] if self.sampling else None
        if mine_id is not None and (s is None or s["id"] != mine_id):
            state = self.review.db.execute("select state from ta_stopping where id = ?",
                                           [mine_id]).fetchone()[0]
            self.notices.append(f"the BUSCAR sample was {state} in another session")
            self.sampling = None
        if s is None:
            self._sample_recheck = False
            return
        new = s["id"] != mine_id
        why = self._sample_broken(s) if (new or check) else None
        if why:
            try:
                abandoned = self._abandon(s, why)
            except StoreBusy:
                # not followed here either way; marked abandoned at the next record (a busy
                # store must not fail the showing of a record, or a decision already saved)
                self._sample_recheck = True
                abandoned = False
            else:
                self._sample_recheck = False
            if abandoned:
                self.notices.append(f"the open BUSCAR sample was abandoned: {why}; screening "
                                    "goes on in ranked order")
            self.sampling = None
        elif self.stop == "buscar":
            if new and self._started:
                self.notices.append("your BUSCAR sample continues here (its records come one "
                                    "at a time, in their random order)")
            self.sampling = s
        elif self._told_dormant != s["id"]:
            self._told_dormant = s["id"]
            self.notices.append("an open BUSCAR sample is not followed in this session (no "
                                "--stop buscar); a decision now abandons it")

    # -- labels and model ------------------------------------------------------------------
    def _training_labels(self) -> dict[int, int]:
        """{record_id: 1/0}: the reviewer's own labels (screened or imported), resolutions and
        decisions inherited by deduplication. Another reviewer's imported labels are theirs:
        ranking by them would show this reviewer how they decided (dual screening is blind)."""
        latest: dict[int, str] = {}
        for row in self.review.db.query(
            "select record_id, reviewer, decision, origin from ta_decisions "
            "where undone_at is null and (reviewer = ? and origin in ('human', 'import') "
            "or origin in ('resolution', 'inherited')) order by id", [self.reviewer]
        ):
            latest[row["record_id"]] = row["decision"]
        return {rid: int(d == "include") for rid, d in latest.items()
                if d != "maybe" and rid in self.pos}

    def _retrain(self) -> None:
        if not self.has_features:
            return
        labels = self._training_labels()
        ids = sorted(labels)
        self.ranker.update([self.pos[r] for r in ids], [labels[r] for r in ids])

    # -- the queue -------------------------------------------------------------------------
    def remaining(self) -> list[int]:
        """Pool positions this reviewer has not decided and automation has not excluded."""
        key = (len(self.mine), len(self.blocked), len(self.left), self._changes)
        if self._remaining_cache is None or self._remaining_cache[0] != key:
            rem = [i for i, rid in enumerate(self.pool)
                   if rid not in self.mine and rid not in self.blocked and rid not in self.left]
            self._remaining_cache = (key, rem)
        return self._remaining_cache[1]

    def next(self) -> Shown | None:
        """The next record to show, or None when the session is done. It is claimed for this
        session; records on screen in the reviewer's other sessions are skipped while there
        are others to show."""
        self.sync()
        if self._sample_recheck:
            self._sync_sampling(check=True)
        self._check_stopping()
        for _ in range(5):  # a record another session decided a moment ago: catch up, again
            shown = self._next_once()
            if shown is not False:
                return shown
            self.sync(force=True)
        return self._next_once() or None

    def _next_once(self) -> Shown | None | bool:
        """The next record, None when done, False when the record chosen could not be
        claimed because another session of the reviewer decided it since the last sync."""
        if self.forced is not None:
            rid, self.forced = self.forced, None
            phase = "maybe" if self.mine.get(rid) == "maybe" else (
                "sample" if self.sampling and rid in self._sample_urn() else "ranked")
            shown = self._take(self._shown(rid, phase), force=True)
            return False if shown is None else shown
        elsewhere = claims.claimed_elsewhere(self.review, self.reviewer, self.session_id)
        if self.stopped is None:
            if self.sampling:
                # strictly in the sample's random order, even if the next one is on screen
                # elsewhere: the compare-and-set lets only one session decide it
                for rid in json.loads(self.sampling["sample_order"]):
                    if rid not in self.mine and rid not in self.blocked and rid not in self.left:
                        shown = self._take(self._shown(rid, "sample"), elsewhere=elsewhere)
                        return False if shown is None else shown
            else:
                shown = self._next_ranked(elsewhere)
                if shown is not None:
                    return shown
        maybes = [rid for rid, d in self.mine.items()  # insertion order = order decided
                  if d == "maybe" and rid not in self.revisited and rid not in self.left]
        free = [rid for rid in maybes if rid not in elsewhere]
        for rid in free or maybes[:1]:
            shown = self._take(self._shown(rid, "maybe"), elsewhere=elsewhere)
            if shown is not None:
                return shown
        return False if maybes else None

    def _next_ranked(self, elsewhere: set[int]) -> Shown | None:
        rem = self.remaining()
        if not rem:
            return None
        free = [i for i in rem if self.pool[i] not in elsewhere] if elsewhere else rem
        if self.first:  # what the latest update found comes first, among the free records
            # (narrowed after the claims: an update's last record on screen in another window
            # must not be shown again while older records are free)
            free = [i for i in free if i in self.first] or free
            rem = [i for i in rem if i in self.first] or rem
        for _ in range(5):  # another session may claim the chosen record first
            cand = free or rem
            if not self.has_features:
                shown = Shown(self.pool[cand[0]], "ranked", seen=None)
            else:
                pos, score, rank = self.ranker.choose(cand)
                shown = Shown(self.pool[pos], "ranked", score, rank, self.model_version)
            taken = self._take(shown, elsewhere=elsewhere)
            if taken is not None:
                return taken
            elsewhere = elsewhere | {shown.record_id}
            free = [i for i in free if self.pool[i] != shown.record_id]
        return self._take(shown, elsewhere=elsewhere | {shown.record_id})

    def _take(self, shown: Shown, *, elsewhere: set[int] = frozenset(),
              force: bool = False) -> Shown | None:
        """Claim the shown record for this session. None if another session of the reviewer
        claimed or decided it first (the caller picks another); a record that is on screen
        elsewhere and is shown anyway is not claimed and is marked ``elsewhere``."""
        shown.seen = self.seen_ids.get(shown.record_id)
        if shown.record_id in elsewhere and not force:
            shown.elsewhere = True
            return shown
        if claims.claim(self.review, self.reviewer, shown.record_id, self.session_id,
                        seen=shown.seen, ttl_s=self.claim_ttl_s, force=force) is False:
            return None
        return shown

    def _shown(self, rid: int, phase: str) -> Shown:
        """``rid`` on screen with the model's current score and rank of it (every decision
        stores them, whatever the phase)."""
        if self.has_features and rid in self.pos:
            score, rank = self.ranker.score_rank(self.pos[rid], self.remaining())
            return Shown(rid, phase, score, rank, self.model_version)
        return Shown(rid, phase)

    @property
    def model_version(self) -> str:
        return f"{self.ranker.version}@{self.ranker.n_labels}"

    def release_claims(self) -> None:
        """Let the reviewer's other sessions show what this one had on screen (on quit)."""
        claims.release(self.review, self.session_id)

    # -- deciding --------------------------------------------------------------------------
    def decide(self, shown: Shown, decision: str, note: str | None = None,
               reason: str | None = None) -> int:
        """Commit ``decision`` on the shown record (durable on return), then retrain and apply
        the stopping rule (postponed, with a notice, when the store is busy). ``reason``: an
        exclusion's title/abstract reason (see :mod:`toolkit.screening.criteria`). Returns the
        decision's row id.

        Raises :class:`~toolkit.screening.decisions.DecisionRefused` (nothing written) when
        the record changed since it was shown (decided or undone in another session of the
        reviewer, excluded by the reviewer's stopping rule, merged by deduplication); the
        session has then caught up, and :meth:`next` shows another record. Raises
        :class:`~toolkit.store.StoreBusy` (nothing written, nothing changed) when another
        process held the store too long: the same call can be made again."""
        rid = shown.record_id
        try:
            with self.review.atomic():
                self._keep_sample_random(shown)
                row_id = save_decision(self.review, rid, decision, self.reviewer,
                                       seen=shown.seen, score=shown.score, rank=shown.rank,
                                       model_version=shown.model_version, note=note,
                                       phase=shown.phase, reason=reason)
                claims.release(self.review, self.session_id, rid)
        except DecisionRefused:
            if self.forced == rid:
                self.forced = None
            self.sync(force=True)
            raise
        self.mine.pop(rid, None)
        self.mine[rid] = decision
        self.seen_ids.pop(rid, None)
        self.seen_ids[rid] = row_id
        self.last_human = row_id  # written under the lock: nothing of the reviewer's is newer
        self._changes += 1
        self._n_decided += 1
        if shown.phase == "maybe":
            self.revisited.add(rid)
        if decision != "maybe":
            self._retrain()
        if shown.phase != "maybe":
            self._stopping_due = True
            self._check_stopping()
        return row_id

    def _check_stopping(self) -> None:
        """Apply the stopping rule if a decision left it unchecked. The decision is already
        saved: a busy store postpones the check (to the next record or decision) instead of
        making the saved decision look unsaved."""
        if not self._stopping_due:
            return
        try:
            self._apply_stopping()
        except StoreBusy as exc:
            self.notices.append(f"the stopping rule is checked later: {exc.bare_message}")
            return
        self._stopping_due = False

    def _keep_sample_random(self, shown: Shown) -> None:
        """Before a decision is saved (in its transaction): if it decides a record of the
        reviewer's open BUSCAR sample's urn that is not the sample's next record, the sample
        is no longer random and is abandoned, whichever session the sample was started in."""
        s = self._open_sample()
        if self.sampling and (s is None or s["id"] != self.sampling["id"]):
            self._sync_sampling(check=False)  # it ended in another session: say so, go on
        if s is None or shown.seen is not None:  # re-deciding a maybe changes no decided set
            return
        order = json.loads(s["sample_order"])
        if shown.record_id not in set(order):
            return
        if (shown.phase == "sample" and self.sampling and self.sampling["id"] == s["id"]
                and shown.record_id == self._next_in_sample(order)):
            return
        why = ("a ranked decision in a session without --stop buscar"
               if self.stop != "buscar" and shown.phase == "ranked" else
               "a record of its urn was decided outside the sample's order")
        self._abandon(s, why)
        if self.sampling and self.sampling["id"] == s["id"]:
            self.sampling = None

    def _next_in_sample(self, order: list[int]) -> int | None:
        """The sample's next record by the store's current state (caller holds the lock)."""
        decided = set(reviewer_latest(self.review, self.reviewer))
        blocked = blocked_records(self.review, self.reviewer)
        return next((rid for rid in order if rid not in decided and rid not in blocked
                     and rid not in self.left), None)

    def can_undo(self) -> bool:
        """Whether the reviewer has a live decision of their own to undo."""
        return self.review.db.execute(
            "select 1 from ta_decisions where reviewer = ? and origin = 'human' and "
            "undone_at is null limit 1", [self.reviewer]).fetchone() is not None

    def undo(self) -> dict | None:
        """Undo the reviewer's last decision; its record is shown next.

        Only the decision this session knows as the reviewer's latest is undone: if another
        session of the reviewer decided or undid since, nothing is undone and
        :class:`~toolkit.screening.decisions.DecisionRefused` names the latest decision now
        (the session has caught up; undoing again takes that one back).
        If that decision fired a stopping rule, the stop is undone with it (its automation
        exclusions are marked undone); if it started the BUSCAR sample, the sample is abandoned.
        """
        try:
            with self.review.atomic():
                row = undo_last(self.review, self.reviewer, seen=self.last_human)
                if row is None:
                    return None
                self._undo_stops_after(row["id"])
                s = self._open_sample()
                if s is not None and row["id"] <= s["first_decision_id"]:
                    self._abandon(s, "the decision that started it was undone")
                    if self.sampling and self.sampling["id"] == s["id"]:
                        self.sampling = None
        except DecisionRefused:
            self.sync(force=True)
            raise
        rid = row["record_id"]
        prev = own_latest(self.review, self.reviewer, rid)
        self.mine.pop(rid, None)
        self.seen_ids.pop(rid, None)
        if prev:
            self.mine[rid] = prev["decision"]
            self.seen_ids[rid] = prev["id"]
        self.last_human = latest_human_id(self.review, self.reviewer)
        self._changes += 1
        self.revisited.discard(rid)
        self.forced = rid
        self._retrain()
        return row

    # -- status ----------------------------------------------------------------------------
    def counts(self) -> dict:
        """Counts of this reviewer's decisions and of the queue."""
        values = list(self.mine.values())
        return {
            "reviewer": self.reviewer,
            "records": len(self.pool),
            "screened": len(values),
            "include": values.count("include"),
            "exclude": values.count("exclude"),
            "maybe": values.count("maybe"),
            "remaining": len(self.remaining()),
            # the reviewer's stopping rule only (blocked also holds inherited decisions)
            "excluded_by_automation": sum(1 for rid in self.automated if rid in self.pos),
        }

    def recall_estimate(self) -> dict:
        """Estimated recall so far with an interval (see :mod:`toolkit.screening.stopping`)."""
        if self.stopped is not None and self.stopped.get("recall"):
            return self.stopped["recall"]
        found = sum(1 for d in self.mine.values() if d == "include")
        if self.sampling:
            n, k = self._sample_counts()
            if n:
                s = self.sampling
                return stopping.recall_from_sample(s["r_before"] + k, s["urn_size"], n, k,
                                                   self.confidence)
        if not self.has_features:
            return {"recall": None, "low": None, "high": None, "method": "model"}
        # calibration: each screened record's score when it was shown (out of sample)
        calib: dict[int, tuple[float, int]] = {}
        for row in self.review.db.query(
            "select record_id, decision, score from ta_decisions where reviewer = ? and "
            "origin = 'human' and undone_at is null and score is not null order by id",
            [self.reviewer]
        ):
            if row["decision"] != "maybe":
                calib[row["record_id"]] = (row["score"], int(row["decision"] == "include"))
        # records excluded by automation were never seen by a person: they count as unseen
        unseen = self.remaining()
        if self.blocked:
            unseen = [i for i, rid in enumerate(self.pool)
                      if rid not in self.mine and rid not in self.left]
        return stopping.recall_from_model(
            found, [v[0] for v in calib.values()], [v[1] for v in calib.values()],
            self.ranker.scores[unseen], self.confidence)

    def stopping_status(self) -> dict:
        """Where this session's stopping rule stands.

        ``{"rule": None | "heuristic" | "buscar", "stop_after", "run": consecutive excludes so
        far (toward ``stop_after``), "phase": "ranked" | "sample" | "stopped", "stopped": the
        stop's details or None, "sample": {"n", "k", "urn_size", "p_value"} while a BUSCAR
        sample is being screened, "target_recall", "confidence"}``."""
        stopped = ({k: v for k, v in self.stopped.items() if not k.startswith("_")}
                   if self.stopped else None)
        out = {"rule": self.stop, "stop_after": self.stop_after, "target_recall": self.target,
               "confidence": self.confidence, "stopped": stopped, "sample": None,
               "run": stopping.consecutive_excludes(self._recent_human(self.stop_after)),
               "phase": "stopped" if stopped else ("sample" if self.sampling else "ranked")}
        if self.sampling:
            n, k = self._sample_counts()
            s = self.sampling
            p = (stopping.buscar_p_value(s["urn_size"], s["r_before"], n, k, self.target)
                 if n else None)
            out["sample"] = {"n": n, "k": k, "urn_size": s["urn_size"], "p_value": p}
        return out

    # -- stopping rules --------------------------------------------------------------------
    def _recent_human(self, n: int) -> list[str]:
        """The reviewer's last ``n`` human decisions (oldest first) since the last automation
        exclusion: after a stop, records added later start a fresh run of excludes."""
        since = self.review.db.execute(
            "select coalesce(max(id), 0) from ta_decisions where origin = 'automation' and "
            "undone_at is null and (stopping_id is null or stopping_id in "
            "(select id from ta_stopping where reviewer = ?))", [self.reviewer]).fetchone()[0]
        rows = self.review.db.execute(
            "select decision from ta_decisions where reviewer = ? and origin = 'human' and "
            "undone_at is null and id > ? order by id desc limit ?",
            [self.reviewer, since, n]).fetchall()
        return [r[0] for r in reversed(rows)]

    def _sample_urn(self) -> set[int]:
        return set(json.loads(self.sampling["sample_order"])) if self.sampling else set()

    def _sample_broken(self, s: dict) -> str | None:
        """Why the sample ``s`` is no longer a random sample of its urn, or None."""
        order = json.loads(s["sample_order"])
        urn = set(order)
        # records on screen in another session when the sample began were left out of the urn
        held = set(json.loads(s["params"] or "{}").get("held_elsewhere", []))
        pool = self._current_pool()
        grown = [rid for rid in pool if rid not in urn and rid not in held
                 and rid not in self.mine and rid not in self.blocked]
        if grown:
            return f"{len(grown)} record(s) joined the pool after it began"
        in_pool = set(pool)
        gone = [rid for rid in order if rid not in in_pool]
        if gone:  # e.g. deduplication made them duplicates of other records
            return f"{len(gone)} record(s) of its urn left the pool after it began"
        open_order = [rid for rid in order if rid not in self.blocked]
        decided = [rid in self.mine for rid in open_order]
        n = sum(decided)
        if not all(decided[:n]):  # the sample's records are decided in its order, no others
            return "a record of its urn was decided outside the sample's order"
        return None

    def _abandon(self, s: dict, why: str) -> bool:
        """Mark the sample ``s`` abandoned and log why, unless another session already ended
        it; returns whether this call did."""
        with self.review.atomic():
            cur = self.review.db.execute(
                "update ta_stopping set state = ?, stopped_at = ? where id = ? and "
                "state = 'sampling'", [ABANDONED, now_iso(), s["id"]])
            if cur.rowcount != 1:
                return False
            self.review.log("screen.buscar_abandoned", {"stopping_id": s["id"], "reason": why},
                            actor=self.reviewer)
        return True

    def _undo_stops_after(self, decision_id: int) -> None:
        """Undo the reviewer's stop that decision ``decision_id`` fired (caller holds the
        transaction): its automation exclusions (written after that decision) are marked undone
        and the records come back; a BUSCAR sample goes back to sampling."""
        stops = list(self.review.db.query(
            "select * from ta_stopping s where reviewer = ? and state = 'stopped' and "
            "(first_decision_id >= ? or exists (select 1 from ta_decisions d where "
            "d.stopping_id = s.id and d.id > ?))", [self.reviewer, decision_id, decision_id]))
        at = now_iso()
        for s in stops:
            rows = [r[0] for r in self.review.db.execute(
                "select record_id from ta_decisions where stopping_id = ? and "
                "undone_at is null", [s["id"]])]
            self.review.db.execute("update ta_decisions set undone_at = ? where "
                                   "stopping_id = ? and undone_at is null", [at, s["id"]])
            again = s["rule"] == "buscar"
            self.review.db["ta_stopping"].update(s["id"], {
                "state": "sampling" if again else "undone", "stopped_at": None,
                "p_value": None, "n_automation": None})
            self.review.log("screen.stop_undone", {"stopping_id": s["id"], "n": len(rows),
                                                   "record_ids": rows}, actor=self.reviewer)
            if again and self.stop == "buscar":
                self.sampling = self.review.db["ta_stopping"].get(s["id"])
        if stops:
            self._load_blocked()
            self.stopped = None

    def _sample_counts(self) -> tuple[int, int]:
        """(n, k): sampled records decided so far, and includes (maybes count as includes,
        which can only make the test more cautious)."""
        n = k = 0
        for rid in json.loads(self.sampling["sample_order"]):
            d = self.mine.get(rid)
            if d is not None:
                n += 1
                k += d in ("include", "maybe")
        return n, k

    def _apply_stopping(self) -> None:
        """After a decision: stop, start the BUSCAR sample or go on. Each step that writes
        checks its condition again under the write lock, on the store's current state (the
        reviewer's other sessions may have decided, stopped or started the sample)."""
        if self.stop is None or self.stopped is not None or self._n_decided < self._quiet_until:
            return
        if self.stop == "heuristic":
            if stopping.heuristic_should_stop(self._recent_human(self.stop_after),
                                              self.stop_after):
                self._stop("heuristic")
            return
        if self.sampling is None:
            if stopping.heuristic_should_stop(self._recent_human(self.stop_after),
                                              self.stop_after):
                self._start_sample()
            return
        n, k = self._sample_counts()
        s = self.sampling
        stop, p = stopping.buscar_should_stop(s["urn_size"], s["r_before"], n, k,
                                              self.target, self.confidence)
        if stop:
            self._stop("buscar")
        elif n >= s["urn_size"]:  # the whole remainder was screened: nothing left to stop
            with self.review.atomic():
                self.review.db.execute(
                    "update ta_stopping set state = 'stopped', stopped_at = ?, p_value = ?, "
                    "n_automation = 0 where id = ? and state = 'sampling'",
                    [now_iso(), p, s["id"]])
            self.sampling = None

    def _params(self) -> dict:
        return {"stop_after": self.stop_after, "target_recall": self.target,
                "confidence": self.confidence, "seed": self.seed}

    def _start_sample(self) -> None:
        with self.review.atomic():
            s = self._open_sample()
            if s is not None:  # another session of the reviewer started one meanwhile
                self._sync_sampling(check=True)
                return
            self._reload()
            if not stopping.heuristic_should_stop(self._recent_human(self.stop_after),
                                                  self.stop_after):
                return
            # a record on screen in another session of the reviewer may be decided there in
            # ranked order: it stays out of the urn (and is named, so it does not count as
            # having joined the pool later)
            held = claims.claimed_elsewhere(self.review, self.reviewer, self.session_id)
            rest = [self.pool[i] for i in self.remaining()]
            urn = sorted(rid for rid in rest if rid not in held)
            params = self._params()
            if held & set(rest):
                params["held_elsewhere"] = sorted(held & set(rest))
            order = [int(r) for r in np.random.default_rng(self.seed).permutation(urn)]
            r_before = sum(1 for d in self.mine.values() if d == "include")
            last = self.review.db.execute("select coalesce(max(id), 0) from ta_decisions")
            row = {
                "reviewer": self.reviewer, "rule": "buscar",
                "params": json.dumps(params, sort_keys=True), "state": "sampling",
                "started_at": now_iso(), "first_decision_id": last.fetchone()[0],
                "n_screened_before": len(self.mine), "r_before": r_before,
                "urn_size": len(urn), "sample_order": json.dumps(order),
                "stopped_at": None, "p_value": None, "n_automation": None,
            }
            row["id"] = self.review.db["ta_stopping"].insert(row).last_pk
            self.review.log("screen.buscar_sample", {
                "stopping_id": row["id"], "urn_size": len(urn), "r_before": r_before,
                "n_screened_before": row["n_screened_before"], **params},
                actor=self.reviewer)
        self.sampling = row

    def _rule_holds(self, rule: str) -> tuple[dict, float | None] | None:
        """``(details, p_value)`` if the stopping rule ``rule`` is met on the session's view of
        the store, else None."""
        if rule == "heuristic":
            if not stopping.heuristic_should_stop(self._recent_human(self.stop_after),
                                                  self.stop_after):
                return None
            return {"stop_after": self.stop_after}, None
        s = self.sampling
        n, k = self._sample_counts()
        stop, p_value = stopping.buscar_should_stop(
            s["urn_size"], s["r_before"], n, k, self.target, self.confidence)
        if not stop:
            return None
        return {"n_sample": n, "k_sample": k, "p_value": p_value}, p_value

    def _stop_rest(self) -> list[int]:
        rest = [self.pool[i] for i in self.remaining()]
        if self.sampling is not None:  # only the urn the test spoke of
            urn = self._sample_urn()
            rest = [rid for rid in rest if rid in urn]
        return rest

    def _stop(self, rule: str) -> None:
        """End screening by a rule: the remaining records are excluded by automation.

        The reviewer is asked first (``confirm_stop``), with the count as it stands; then, under
        the write lock, the rule is checked again on the store's current state (the reviewer's
        other sessions may have decided, stopped or abandoned the sample meanwhile) and the
        records excluded are those undecided at that moment."""
        held = self._rule_holds(rule)
        if held is None:
            return
        details, _ = held
        rest = self._stop_rest()
        if rest and self.confirm_stop is not None \
                and not self.confirm_stop(rule, len(rest), dict(details)):
            # declined: screening goes on, and the rule is not asked again for a while
            self._quiet_until = self._n_decided + self.stop_after
            with self.review.atomic():
                self.review.log("screen.stop_declined", {
                    "rule": rule, "n_records": len(rest), **details, **self._params()},
                    actor=self.reviewer)
            return
        with self.review.atomic():
            self._reload()
            estimate = None
            if rule == "buscar":
                s = self._open_sample()
                if s is None or s["id"] != self.sampling["id"]:
                    self.sampling = None  # abandoned or stopped in another session
                    return
                self.sampling = s
            held = self._rule_holds(rule)
            if held is None:
                return  # another session's decision or stop came first
            details, p_value = held
            if rule == "buscar":
                estimate = self.recall_estimate()
            rest = self._stop_rest()
            if self.sampling is not None:
                sid = self.sampling["id"]
                self.review.db["ta_stopping"].update(sid, {
                    "state": "stopped", "stopped_at": now_iso(), "p_value": p_value,
                    "n_automation": len(rest)})
            else:
                last = self.review.db.execute("select coalesce(max(id), 0) from ta_decisions")
                sid = self.review.db["ta_stopping"].insert({
                    "reviewer": self.reviewer, "rule": rule,
                    "params": json.dumps(self._params(), sort_keys=True), "state": "stopped",
                    "started_at": now_iso(), "first_decision_id": last.fetchone()[0],
                    "stopped_at": now_iso(), "p_value": p_value, "n_automation": len(rest),
                }).last_pk
            automation_exclude(self.review, rest, rule=rule, stopping_id=sid,
                               details=dict(details, reviewer=self.reviewer, **self._params()))
        self.blocked.update(rest)
        self.automated.update(rest)
        self._changes += 1
        self.sampling = None
        self.stopped = dict(details, rule=rule, n_automation=len(rest), recall=estimate)


def screening_readiness(review: Review) -> list[str]:
    """What a reviewer should know before screening starts: an error when there is nothing to
    screen, and warnings (returned) when records were never deduplicated, so duplicates would
    be shown as records of their own."""
    from ..errors import ReviewError

    n = review.db["records"].count
    if n == 0:
        raise ReviewError("no records to screen yet: add some with `review import FILE` or "
                          "`review search pubmed QUERY`, then `review dedup`")
    unseen = review.db.execute(
        "select count(*) from records where id not in (select record_id from dedup_seen)"
    ).fetchone()[0]
    if unseen == n:
        return [f"the {n} records were never deduplicated, so duplicates will be shown as "
                "records of their own; run `review dedup` first (quit with q)"]
    if unseen:
        return [f"{unseen} of {n} records were added after the last `review dedup`; run it "
                "again first so their duplicates are not shown (quit with q)"]
    return []


def status(review: Review) -> dict:
    """`review status` hook: one line of title/abstract screening progress."""
    if not review.db["ta_decisions"].count:
        return {}
    c = screening_counts(review)
    return {"screening": (
        f"{c['decided']} of {c['to_screen']} records decided: {c['include']} include, "
        f"{c['exclude']} exclude, {c['excluded_by_automation']} excluded by automation, "
        f"{c['maybe']} maybe, {c['conflict']} conflict "
        f"(reviewers: {', '.join(c['reviewers']) or 'none'})")}


def screening_counts(review: Review) -> dict:
    """Title/abstract progress over the pool (final decisions; automation kept apart)."""
    from .decisions import final_decisions, live_origins

    pool = records_to_screen(review)
    final = final_decisions(review)
    origins = live_origins(review)
    values = [final.get(rid) for rid in pool]
    # as in the PRISMA flow: excluded by automation only if no person decided the record
    n_auto = sum(1 for rid in pool if origins.get(rid) == {"automation"})
    return {
        "to_screen": len(pool),
        "decided": sum(v is not None for v in values),
        "include": values.count("include"),
        "exclude": values.count("exclude") - n_auto,
        "excluded_by_automation": n_auto,
        "maybe": values.count("maybe"),
        "conflict": values.count("conflict"),
        # everyone whose decisions count (kappa reads screened and imported decisions)
        "reviewers": sorted({r[0] for r in review.db.execute(
            "select distinct reviewer from ta_decisions where origin in ('human', 'import') "
            "and undone_at is null")}),
    }
