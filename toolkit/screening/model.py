"""Active-learning ranking model for title/abstract screening (scikit-learn).

Interface (stable; the simulation and `review screen` both use it)::

    learner = ActiveLearner(classifier="svm", query="max", random_state=0)
    learner.fit_features(texts)            # TF-IDF once over the whole pool (title + abstract)
    learner.fit(labelled_idx, labels)      # train on the labelled rows (0/1)
    scores = learner.scores()              # relevance score for every row (higher = more relevant)
    i = learner.query(unlabelled_idx)      # the next row to show, by the query strategy
    learner.version                        # a short string naming model + settings

This file holds a baseline (TF-IDF word 1-2 grams, sublinear tf + linear SVM with balanced
class weights, maximum-relevance query); the screening issue refines it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

CLASSIFIERS = ("svm",)
QUERIES = ("max",)


class ActiveLearner:
    def __init__(self, classifier: str = "svm", query: str = "max", random_state: int = 0):
        self.classifier = classifier
        self.query_strategy = query
        self.random_state = random_state

    @property
    def version(self) -> str:
        return f"tfidf12+{self.classifier}+{self.query_strategy}/rs{self.random_state}"

    def fit_features(self, texts: Sequence[str]) -> "ActiveLearner":
        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        self.X_ = self.vectorizer_.fit_transform([t or "" for t in texts])
        return self

    def fit(self, labelled_idx: Sequence[int], labels: Sequence[int]) -> "ActiveLearner":
        y = np.asarray(labels)
        if len(set(y.tolist())) < 2:  # cannot train a classifier on one class yet
            self.model_ = None
            return self
        self.model_ = LinearSVC(class_weight="balanced", random_state=self.random_state)
        self.model_.fit(self.X_[np.asarray(labelled_idx)], y)
        return self

    def scores(self) -> np.ndarray:
        if getattr(self, "model_", None) is None:
            return np.zeros(self.X_.shape[0])
        return self.model_.decision_function(self.X_)

    def query(self, unlabelled_idx: Sequence[int]) -> int:
        idx = np.asarray(unlabelled_idx)
        s = self.scores()[idx]
        if getattr(self, "model_", None) is None:
            rng = np.random.default_rng(self.random_state + len(idx))
            return int(rng.choice(idx))
        return int(idx[np.argmax(s)])
