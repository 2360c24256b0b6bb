"""Active-learning ranking model for title/abstract screening (scikit-learn).

Interface (stable; the simulation and `review screen` both use it)::

    learner = ActiveLearner(classifier="svm", query="max", random_state=0)
    learner.fit_features(texts)            # TF-IDF once over the whole pool (title + abstract)
    learner.fit(labelled_idx, labels)      # train on the labelled rows (0/1)
    scores = learner.scores()              # relevance score for every row (higher = more relevant)
    i = learner.query(unlabelled_idx)      # the next row to show, by the query strategy
    learner.version                        # a short string naming model + settings

Extras (keyword options with defaults, so the interface above is unchanged):

- ``learner.query_batch(unlabelled_idx, k)``: the next ``k`` rows, in order.
- ``learner.retrain_due(n_labelled, n_at_last_fit)``: the retraining policy. Refit after every
  decision while fewer than ``retrain_always_below`` (100) records are labelled; afterwards
  once every ``ceil(retrain_fraction * n_labelled)`` (5 %) new labels. Between fits the next
  record comes from the cached scores (``fit`` scores the whole pool once), in well under a
  millisecond. `review screen` calls ``retrain_due`` after each decision and ``fit`` when true.

The default model: TF-IDF (sublinear tf) on word 1-2 grams joined with character 3-5 grams
within words (``char_wb``), a linear SVM (C = 0.1) with balanced class weights, trained on the
labelled records plus 100 random unlabelled ones presumed irrelevant (BMI, Cormack & Grossman),
blended in rank with the cosine similarity to the nearest labelled include while few includes
are known (weight 1 / (1 + (includes - 1) / 5)), and the maximum-relevance query. docs/screening_model.md gives the measurements behind each choice.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from .features import char_vectorizer, char_wb_tfidf, word_tfidf, word_vectorizer  # noqa: F401

CLASSIFIERS = ("svm", "logistic", "nb")
QUERIES = ("max", "uncertainty", "mixed")

# The cold-start blend stops once its weight falls below this (beyond 96 includes with the
# default half-life), which bounds its cost: one pass over the pool per include.
SIM_MIN_WEIGHT = 0.05
# Stopping tolerance of the SVM / logistic solver: scikit-learn's defaults (1e-4, 1e-3) gave
# the same WSS@95 within seed noise on the six benchmark sets and were 20-30 % slower;
# liblinear's own default, 0.1, lost on one set.
SOLVER_TOL = 1e-2


def record_text(title, abstract) -> str:
    """The text the model reads for one record: title and abstract joined (either may be empty)."""
    parts = [str(p) for p in (title, abstract) if p is not None and str(p).strip()]
    return " ".join(parts)


def _pct_rank(x: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` scaled to (0, 1] (ties share their average rank)."""
    return rankdata(x) / x.size


class ActiveLearner:
    """TF-IDF + a linear classifier with class balancing, and a query strategy.

    Parameters
    ----------
    classifier
        ``"svm"`` (linear SVM, default), ``"logistic"`` (logistic regression) or ``"nb"``
        (complement naive Bayes).
    query
        ``"max"`` (most relevant first, default), ``"uncertainty"`` (closest to the decision
        boundary) or ``"mixed"`` (max, with a random record a ``mix_random`` share of the time).
    random_state
        Seed for everything random (solvers, the random share of ``mixed``, the order before the
        model can be trained).
    char_weight
        Weight of the character block relative to the word block (each block is L2-normalised
        per record; the joined vector is renormalised to unit length).
    C
        Inverse regularisation strength of the SVM / logistic regression.
    retrain_always_below, retrain_fraction
        The retraining policy (see ``retrain_due``).
    mix_random
        Share of random picks for ``query="mixed"``.
    sim_weight, sim_halflife
        Cold-start blend (on by default: λ0 = 1, h = 5; ``sim_weight=0`` turns it off; see
        docs/screening_model.md). While few includes are labelled the classifier is weak, so
        similarity to the known includes is blended in: the ranking score is
        ``(r_model + lam * r_sim) / (1 + lam)`` with ``r`` percentile ranks, ``r_sim`` of the
        cosine similarity to the nearest labelled include and
        ``lam = sim_weight * h / (h + includes - 1)``, ``h = sim_halflife``; the blend stops
        once ``lam < SIM_MIN_WEIGHT``.
    presumed_negatives
        BMI (Cormack & Grossman 2015, AutoTAR): every fit also trains on this many unlabelled
        records drawn at random (seeded) and labelled exclude (default 100; 0 turns it off).
        See ``training_set``.

    Variants that were measured and lost (word grams only, a rank ensemble, similarity to the
    includes' centroid, hinge loss, unbalanced class weights, a word max_df, a cap on presumed
    negatives) are no longer options; docs/screening_model.md gives their figures and the
    commit that still has them.
    """

    def __init__(self, classifier: str = "svm", query: str = "max", random_state: int = 0, *,
                 char_weight: float = 0.6, C: float = 0.1, retrain_always_below: int = 100,
                 retrain_fraction: float = 0.05, mix_random: float = 0.05,
                 sim_weight: float = 1.0, sim_halflife: float = 5.0,
                 presumed_negatives: int = 100):
        if classifier not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {classifier!r}; choose from {CLASSIFIERS}")
        if query not in QUERIES:
            raise ValueError(f"unknown query strategy {query!r}; choose from {QUERIES}")
        self.classifier = classifier
        self.query_strategy = query
        self.random_state = random_state
        self.char_weight = char_weight
        self.C = C
        self.retrain_always_below = retrain_always_below
        self.retrain_fraction = retrain_fraction
        self.mix_random = mix_random
        self.sim_weight = sim_weight
        self.sim_halflife = sim_halflife
        self.presumed_negatives = presumed_negatives
        self._rng = np.random.default_rng(random_state)
        self.model_ = None
        self.scores_ = None
        self.n_fitted_ = 0

    @property
    def version(self) -> str:
        model = self.classifier
        if self.presumed_negatives:
            model += f"+pn{self.presumed_negatives}"
        if self.sim_weight > 0 and self.query_strategy != "uncertainty":
            model += "+simmax"
        return f"tfidf12w+c35+{model}+{self.query_strategy}/rs{self.random_state}"

    # -- features ---------------------------------------------------------------------------
    def fit_features(self, texts: Sequence[str]) -> "ActiveLearner":
        """Fit TF-IDF once on the whole pool (unsupervised, so no label leaks) and keep X."""
        docs = [t or "" for t in texts]
        try:
            X, _ = word_tfidf(docs)
        except ValueError:  # no term in the whole pool: records are still ranked
            X = csr_matrix((len(docs), 0))
        try:
            Xc, _ = char_wb_tfidf(docs)
        except ValueError:  # no gram seen twice: nothing to learn from it
            Xc = csr_matrix((len(docs), 0))
        w = self.char_weight
        X = hstack([X, Xc * w], format="csr") * (1.0 / math.sqrt(1.0 + w * w))
        return self.set_features(X)

    def set_features(self, X) -> "ActiveLearner":
        """Use a feature matrix already built (e.g. by another learner's ``fit_features`` on
        the same pool, to compare models without refitting TF-IDF); rows are records."""
        # float64 CSR with sorted indices is what liblinear takes as is: anything else is
        # converted (copied and re-sorted) on every fit and every scoring pass.
        self.X_ = csr_matrix(X, dtype=np.float64)
        self.X_.sort_indices()
        self.model_ = None
        self.scores_ = np.zeros(self.X_.shape[0])
        self.decision_ = self.scores_
        self._sim_cache: dict[int, np.ndarray] = {}
        return self

    # -- training ---------------------------------------------------------------------------
    def _make_classifier(self, kind: str | None = None):
        kind = kind or self.classifier
        if kind == "svm":
            return LinearSVC(C=self.C, tol=SOLVER_TOL, random_state=self.random_state)
        if kind == "logistic":
            return LogisticRegression(C=self.C, solver="liblinear", tol=SOLVER_TOL,
                                      random_state=self.random_state)
        return ComplementNB(alpha=1.0)

    def fit(self, labelled_idx: Sequence[int], labels: Sequence[int]) -> "ActiveLearner":
        """Train on the labelled rows and cache a score for every row of the pool.

        With only one class labelled, or no text in the whole pool, there is nothing to learn:
        scores stay at zero and ``query`` falls back to a seeded random order.
        """
        idx = np.asarray(labelled_idx, dtype=np.int64)
        y = np.asarray(labels, dtype=np.int64)
        self.n_fitted_ = int(idx.size)
        if idx.size == 0 or np.unique(y).size < 2 or self.X_.shape[1] == 0:
            self.model_ = None
            self.scores_ = np.zeros(self.X_.shape[0])
            return self
        counts = np.bincount(y, minlength=2).astype(float)
        idx_t, y_t = self.training_set(idx, y)
        # Balanced class weights as sample weights (every classifier here accepts them): the
        # rare includes count as much as the many excludes ("balanced", n / (2 n_class)),
        # renormalised to sum to the number of training rows.
        tc = np.bincount(y_t, minlength=2).astype(float)
        w = np.array([tc[1] / tc[0], 1.0])[y_t]
        weights = w * (y_t.size / w.sum())
        Xl = self.X_[idx_t]
        model, raw = self._train_score(self.classifier, Xl, y_t, weights)
        self.decision_ = raw
        s = raw
        if self.sim_weight > 0 and self.query_strategy != "uncertainty":
            n_inc = int(counts[1])
            lam = self.sim_weight * self.sim_halflife / (self.sim_halflife + n_inc - 1)
            if lam >= SIM_MIN_WEIGHT:  # past that the blend barely moves the order
                s = (_pct_rank(s) + lam * _pct_rank(self._include_similarity(idx[y == 1]))) \
                    / (1.0 + lam)
        if s is not raw:
            # Keep the classifier's scale (stored with each decision and calibrated by the
            # recall estimate): the k-th record of the blended order gets the k-th highest
            # decision value. Ties keep row order, as the query's stable sort does.
            order = np.lexsort((-np.arange(s.size), s))
            s = np.empty_like(raw)
            s[order] = np.sort(raw)
        self.scores_ = np.asarray(s, dtype=np.float64)
        self.model_ = model
        return self

    def training_set(self, idx: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows and labels a fit trains on: the labelled rows, plus (BMI, Cormack & Grossman
        2015) ``presumed_negatives`` unlabelled rows drawn at random and labelled 0 (at most all
        of them). Most unlabelled records are irrelevant, so
        a random sample of them is a fair picture of the excludes, whereas the labelled excludes
        are the near misses the model itself ranked high. The draw is seeded by the random state
        and the number of labelled rows: the same labels give the same training set."""
        if not self.presumed_negatives:
            return idx, y
        pool = np.setdiff1d(np.arange(self.X_.shape[0]), idx)
        k = min(self.presumed_negatives, int(pool.size))
        if k <= 0:
            return idx, y
        rng = np.random.default_rng([self.random_state, idx.size])
        extra = np.sort(rng.choice(pool, size=k, replace=False))
        return np.concatenate([idx, extra]), np.concatenate([y, np.zeros(k, dtype=y.dtype)])

    def _include_similarity(self, inc: np.ndarray) -> np.ndarray:
        """Cosine similarity of every record to its nearest labelled include (rows are unit
        length)."""
        cache = self._sim_cache
        for i in inc:  # one pass over the pool per new include, kept for later fits
            if int(i) not in cache:
                cache[int(i)] = self.X_ @ self.X_[int(i)].toarray().ravel()
        return np.max([cache[int(i)] for i in inc], axis=0)

    def _train_score(self, kind, Xl, y, weights):
        model = self._make_classifier(kind)
        model.fit(Xl, y, sample_weight=weights)
        if kind == "nb":
            lp = model.predict_log_proba(self.X_)
            return model, lp[:, 1] - lp[:, 0]  # log-odds: 0 is the decision boundary
        # decision_function without its input validation of the whole pool on every fit
        coef = np.asarray(model.coef_, dtype=np.float64).ravel()
        return model, self.X_ @ coef + float(np.ravel(model.intercept_)[0])

    def retrain_due(self, n_labelled: int, n_at_last_fit: int | None) -> bool:
        """Whether to refit now, given the labelled count now and at the last fit.

        Always while fewer than ``retrain_always_below`` records are labelled (fits are cheap and
        each early label moves the model most); afterwards once every
        ``ceil(retrain_fraction * n_labelled)`` new labels, so the number of fits grows only
        logarithmically with the pool.
        """
        if n_at_last_fit is None:
            return True
        new = n_labelled - n_at_last_fit
        if new <= 0:
            return False
        if n_labelled < self.retrain_always_below:
            return True
        return new >= max(1, math.ceil(self.retrain_fraction * n_labelled))

    # -- querying ---------------------------------------------------------------------------
    def scores(self) -> np.ndarray:
        """Relevance score per row from the last fit (zeros before the model can be trained)."""
        return self.scores_

    def query_batch(self, unlabelled_idx: Sequence[int], k: int = 1) -> list[int]:
        """Return the next ``k`` rows to show (ties broken by row order, so runs repeat)."""
        idx = np.asarray(unlabelled_idx, dtype=np.int64)
        k = min(k, idx.size)
        if k <= 0:
            return []
        if self.model_ is None:
            return [int(i) for i in self._rng.choice(idx, size=k, replace=False)]
        s = self.scores_[idx]
        if self.query_strategy == "uncertainty":  # the classifier's own margin, not a blend
            order = np.argsort(np.abs(self.decision_[idx]), kind="stable")  # 0 = the decision boundary
        else:
            order = np.argsort(-s, kind="stable")
        if self.query_strategy != "mixed":
            return [int(i) for i in idx[order[:k]]]
        picked: list[int] = []
        taken = np.zeros(idx.size, dtype=bool)
        ptr = 0
        for _ in range(k):
            if self._rng.random() < self.mix_random:
                free = np.flatnonzero(~taken)
                j = int(free[self._rng.integers(free.size)])
            else:
                while taken[order[ptr]]:
                    ptr += 1
                j = int(order[ptr])
            taken[j] = True
            picked.append(int(idx[j]))
        return picked

    def query(self, unlabelled_idx: Sequence[int]) -> int:
        """Return the next row to show by the query strategy."""
        return self.query_batch(unlabelled_idx, 1)[0]
