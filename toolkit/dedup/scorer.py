"""The pair scorer: a logistic regression over the comparison levels of :mod:`.features`,
fitted on labelled pairs, shipped as a small JSON file (``toolkit/data/dedup_pair_model.json``).

Each level has one weight; a pair's log-odds of being a duplicate is the intercept plus the
weights of its levels (Fellegi-Sunter match weights, fitted discriminatively). So a decision is
explained by listing the levels that weighed most. How it is used beside the hand rules is in
:func:`match.decide`; how it was chosen is in docs/dedup.md. The fit is deterministic
(lbfgs, fixed ``random_state``); ``benchmarks/train_dedup_model.py`` writes the shipped file.
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from . import features

MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "dedup_pair_model.json"
SEED = 20261205
# Where the scorer may settle a pair the rules leave open: at or above DUPLICATE_AT it is a
# duplicate; below NOT_BELOW (more likely not than duplicate) an uncertain pair is closed as
# not a duplicate. DUPLICATE_AT was fixed before measuring; NOT_BELOW was chosen between 0.1,
# 0.3 and 0.5 by leave-one-set-out over every labelled set (docs/dedup.md).
DUPLICATE_AT = 0.9
NOT_BELOW = 0.5
# Regularisation of the fit (scikit-learn's default C), not tuned.
C = 1.0


class PairModel(NamedTuple):
    weights: dict            # level name ("title=exact") -> weight
    intercept: float
    trained_on: tuple = ()   # names of the labelled sets it was fitted on
    pairs: int = 0           # training pairs

    def log_odds(self, lv: dict[str, str]) -> float:
        w = self.weights
        return self.intercept + sum(w.get(f"{f}={v}", 0.0) for f, v in lv.items())

    def probability(self, lv: dict[str, str]) -> float:
        z = self.log_odds(lv)
        return 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0

    def explain(self, lv: dict[str, str], k: int = 3) -> str:
        """The ``k`` levels that weighed most, signed: "title=exact +2.3, year=apart -2.1"."""
        terms = sorted(((self.weights.get(f"{f}={v}", 0.0), f"{f}={v}") for f, v in lv.items()),
                       key=lambda t: -abs(t[0]))[:k]
        return ", ".join(f"{name} {w:+.1f}" for w, name in terms)


# Distinctions a reviewer relies on (an erratum is not its article, Part 1 is not Part 2, a
# conference abstract is not its paper, two PMIDs are two articles): the rules decide these
# pairs whatever the scorer says, so they are left out of its training.
REVIEWER_RULES = frozenset({"notice-differs", "part-differs", "pmid-differs",
                            "conference-vs-paper"})


def training_pairs(norms: Sequence, groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The level matrix and labels (same group = duplicate) of a labelled collection's
    candidate pairs, chosen as a deduplication run chooses them (:func:`match.title_scored`),
    without the pairs a reviewer-facing rule decides."""
    from .blocking import candidate_pairs
    from .match import classify, title_scored
    pairs = candidate_pairs(norms)
    keep, sims, trust = title_scored(norms, pairs)
    rows, ys = [], []
    for k in keep:
        i, j = int(pairs[k, 0]), int(pairs[k, 1])
        ts = float(sims[k]) if sims[k] else None
        if classify(norms[i], norms[j], ts, trust).rule in REVIEWER_RULES:
            continue
        rows.append(k)
        ys.append(groups[i] == groups[j])
    sel = np.asarray(rows, dtype=np.int64)
    x = features.feature_matrix(norms, pairs[sel], sims[sel], trust)
    return x, np.asarray(ys, dtype=bool)


def fit(x: np.ndarray, y: np.ndarray, trained_on: Sequence[str] = ()) -> PairModel:
    """Fit the scorer on a 0/1 level matrix ``x`` (:func:`features.feature_matrix`) and labels."""
    from sklearn.linear_model import LogisticRegression
    m = LogisticRegression(C=C, max_iter=5000, random_state=SEED)
    m.fit(x, y.astype(int))
    weights = {name: round(float(w), 6) for name, w in zip(features.FEATURES, m.coef_[0])}
    return PairModel(weights=weights, intercept=round(float(m.intercept_[0]), 6),
                     trained_on=tuple(trained_on), pairs=int(len(y)))


def save(model: PairModel, path: Path) -> None:
    """Write the model as JSON (sorted keys: the same fit gives the same bytes)."""
    doc = {"kind": "logistic-regression over comparison levels",
           "features": list(features.FEATURES), "weights": model.weights,
           "intercept": model.intercept, "trained_on": list(model.trained_on),
           "pairs": model.pairs, "duplicate_at": DUPLICATE_AT, "not_below": NOT_BELOW}
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def load(path: Path | str) -> PairModel:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    unknown = set(doc["weights"]) - set(features.FEATURES)
    if unknown:
        raise ValueError(f"{path}: model has levels this version does not know: "
                         f"{sorted(unknown)}; retrain it (benchmarks/train_dedup_model.py)")
    return PairModel(weights=doc["weights"], intercept=doc["intercept"],
                     trained_on=tuple(doc.get("trained_on", ())), pairs=doc.get("pairs", 0))


def shipped() -> PairModel | None:
    """The model shipped with the package; the environment variable REVIEW_DEDUP_MODEL may
    name another model file, or be "none" for the hand rules alone."""
    choice = os.environ.get("REVIEW_DEDUP_MODEL", "")
    if choice.lower() == "none":
        return None
    return _load_cached(str(Path(choice).resolve()) if choice else str(MODEL_PATH))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> PairModel:
    return load(path)
