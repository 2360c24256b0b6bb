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
- ``learner.retrain_due(n_labelled, n_at_last_fit)``: the retraining policy. Retraining after
  every decision is exact but costs a fit per decision; past ``retrain_always_below`` labelled
  records the model is refit every ``ceil(n_labelled * retrain_fraction)`` decisions (a geometric
  schedule), and between fits the next record comes from the cached scores in microseconds.

See docs/screening_model.md for the choices and their measured effect.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

CLASSIFIERS = ("svm", "logistic", "nb", "svm+nb")
QUERIES = ("max", "uncertainty", "mixed")


def record_text(title, abstract) -> str:
    """The text the model reads for one record: title and abstract joined (either may be empty)."""
    parts = [str(p) for p in (title, abstract) if p is not None and str(p).strip()]
    return " ".join(parts)


def make_vectorizer(min_df: int = 1, stop_words=None) -> TfidfVectorizer:
    """TF-IDF on word 1-2 grams with sublinear tf, as in the screening literature.

    float32 halves memory and speeds up the sparse products; ``min_df=1`` keeps rare terms, which
    is where topic-specific vocabulary lives.
    """
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df,
                           stop_words=stop_words, strip_accents="unicode", dtype=np.float32)


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
    retrain_always_below, retrain_fraction
        The retraining policy (see ``retrain_due``).
    mix_random
        Share of random picks for ``query="mixed"``.
    """

    def __init__(self, classifier: str = "svm", query: str = "max", random_state: int = 0, *,
                 retrain_always_below: int = 100, retrain_fraction: float = 0.05,
                 mix_random: float = 0.05, C: float = 1.0, class_weight="balanced",
                 include_weight: float = 1.0, min_df: int = 1, stop_words=None,
                 features: str = "words", char_scale: float = 1.0, max_char=None):
        if classifier not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {classifier!r}; choose from {CLASSIFIERS}")
        if query not in QUERIES:
            raise ValueError(f"unknown query strategy {query!r}; choose from {QUERIES}")
        self.classifier = classifier
        self.query_strategy = query
        self.random_state = random_state
        self.retrain_always_below = retrain_always_below
        self.retrain_fraction = retrain_fraction
        self.mix_random = mix_random
        self.C = C
        self.class_weight = class_weight
        self.include_weight = include_weight
        self.min_df = min_df
        self.stop_words = stop_words
        self.features = features
        self.char_scale = char_scale
        self.max_char = max_char
        self._rng = np.random.default_rng(random_state)
        self.model_ = None
        self.scores_ = None

    @property
    def version(self) -> str:
        return f"tfidf12+{self.classifier}+{self.query_strategy}/rs{self.random_state}"

    # -- features ---------------------------------------------------------------------------
    def fit_features(self, texts: Sequence[str]) -> "ActiveLearner":
        """Fit TF-IDF once on the whole pool (unsupervised, so no label leaks) and keep X."""
        self.vectorizer_ = make_vectorizer(self.min_df, self.stop_words)
        docs = [t or "" for t in texts]
        X = self.vectorizer_.fit_transform(docs)
        if self.features == "words+chars":
            from scipy.sparse import hstack
            self.char_vectorizer_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5),
                                                    sublinear_tf=True, min_df=2,
                                                    dtype=np.float32, max_features=self.max_char)
            C = self.char_vectorizer_.fit_transform(docs)
            X = hstack([X, C * self.char_scale]).tocsr() * (1 / np.sqrt(1 + self.char_scale ** 2))
        self.X_ = X.tocsr().astype(np.float32)
        self.model_ = None
        self.scores_ = np.zeros(self.X_.shape[0])
        return self

    # -- training ---------------------------------------------------------------------------
    def _make_classifier(self):
        if self.classifier == "svm":
            return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        if self.classifier == "logistic":
            return LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear",
                                      random_state=self.random_state)
        return ComplementNB(alpha=1.0)

    def _fit_scores(self, kind: str, X, y, w) -> np.ndarray:
        """Fit one classifier of ``kind`` with sample weights ``w``; return pool scores."""
        if kind == "nb":
            model = ComplementNB(alpha=1.0)
            model.fit(X, y, sample_weight=w)
            lp = model.predict_log_proba(self.X_)
            return lp[:, 1] - lp[:, 0]
        if kind == "svm":
            model = LinearSVC(C=self.C, random_state=self.random_state)
        else:
            model = LogisticRegression(C=self.C, solver="liblinear",
                                       random_state=self.random_state)
        model.fit(X, y, sample_weight=w)
        return np.asarray(model.decision_function(self.X_), dtype=np.float64)

    def fit(self, labelled_idx: Sequence[int], labels: Sequence[int]) -> "ActiveLearner":
        """Train on the labelled rows and cache a score for every row of the pool.

        With only one class labelled there is nothing to learn: scores stay at zero and
        ``query`` falls back to a seeded random order.
        """
        idx = np.asarray(labelled_idx, dtype=np.int64)
        y = np.asarray(labels, dtype=np.int64)
        self.n_fitted_ = int(idx.size)
        if idx.size == 0 or np.unique(y).size < 2:
            self.model_ = None
            self.scores_ = np.zeros(self.X_.shape[0])
            return self
        X = self.X_[idx]
        counts = np.bincount(y, minlength=2).astype(float)
        w = (y.size / (2.0 * counts))[y]  # "balanced" class weights, as sample weights
        w[y == 1] *= self.include_weight
        if self.classifier == "svm+nb":
            # rank fusion: the mean of the two models' percentile ranks over the pool
            parts = [self._fit_scores(k, X, y, w) for k in ("svm", "nb")]
            self.scores_ = np.mean([np.argsort(np.argsort(p, kind="stable"), kind="stable")
                                    for p in parts], axis=0) / len(parts[0])
        else:
            self.scores_ = self._fit_scores(self.classifier, X, y, w)
        self.model_ = True
        return self

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
        if self.query_strategy == "uncertainty":
            key = np.abs(s - (0.0 if self.classifier != "nb" else 0.0))
            order = np.argsort(key, kind="stable")
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
