"""How deduplication generalises with and without a learned pair scorer, by leave-one-set-out
over every labelled set (the comparison docs/dedup.md reports to explain the choice).

For each labelled set (see bench_dedup.py; never srsr or depression), a scorer is fitted on all
the *other* sets and the set is deduplicated in memory (blocking, decisions, clusters with the
chaining guard; no store) five ways:

- ``rules``: the hand rules alone;
- ``lr`` / ``gbm``: a scorer alone (logistic regression over the comparison levels, or
  scikit-learn's HistGradientBoostingClassifier on the same levels): duplicate at p >= 0.9,
  not below 0.5, uncertain between; only the reviewer-facing rules (erratum, comment, part,
  conference abstract vs paper, two PMIDs) keep their "not";
- ``rules+lr`` (what ships) / ``rules+gbm``: the rules, with the scorer settling what they leave
  open (toolkit.dedup.match.decide).

Prints pairwise recall, precision and the manual queue (uncertain pairs, % of records) per set.
Usage: python benchmarks/compare_dedup_scorers.py
"""

from __future__ import annotations

import itertools
import sys
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_dedup import all_sets, labelled_norms  # noqa: E402
from toolkit.dedup import clusters, features, scorer  # noqa: E402
from toolkit.dedup.blocking import candidate_pairs  # noqa: E402
from toolkit.dedup.clusters import build_clusters  # noqa: E402
from toolkit.dedup.match import (DUPLICATE, NOT, UNCERTAIN, Decision, FieldTrust,  # noqa: E402
                                 classify, decide, score_pairs)


SCORE_CONTRADICTION = "score-contradiction"
# the chaining guard refuses links across HARD_NOT pairs; a scorer alone contributes its own
clusters.HARD_NOT = clusters.HARD_NOT | {SCORE_CONTRADICTION}


class GBM:
    """A gradient-boosted scorer with the PairModel interface decide() uses."""

    def __init__(self, x, y):
        from sklearn.ensemble import HistGradientBoostingClassifier
        self.m = HistGradientBoostingClassifier(random_state=scorer.SEED).fit(x, y)

    def probability(self, lv):
        row = np.zeros((1, len(features.FEATURES)), dtype=np.float32)
        row[0, features.feature_row(lv)] = 1
        return float(self.m.predict_proba(row)[0, 1])

    def explain(self, lv, k=3):
        return "gbm"


def scorer_alone(a, b, title_sim=None, trust=FieldTrust(), model=None) -> Decision:
    d = classify(a, b, title_sim, trust)
    if d.rule in scorer.REVIEWER_RULES:
        return d
    p = model.probability(features.levels(a, b, d.score, trust.volume, trust.issue))
    if p >= scorer.DUPLICATE_AT:
        return Decision(DUPLICATE, "score", d.score)
    # a "not" of the scorer is a contradiction for the chaining guard when it is very sure
    if p < scorer.NOT_BELOW:
        return Decision(NOT, SCORE_CONTRADICTION if p < 0.01 else "score-not", d.score)
    return Decision(UNCERTAIN, "score", d.score)


def run(norms, groups, model, fn):
    """(recall, precision, uncertain pairs) of one in-memory deduplication."""
    pairs = candidate_pairs(norms)
    if fn is decide:
        decisions, trust = score_pairs(norms, pairs, model=model)
    else:
        from toolkit.dedup.match import title_scored
        keep, sims, trust = title_scored(norms, pairs)
        decisions = []
        for k in keep:
            i, j = int(pairs[k, 0]), int(pairs[k, 1])
            d = fn(norms[i], norms[j], float(sims[k]) if sims[k] else None, trust, model)
            if d.decision != NOT or d.rule in clusters.HARD_NOT:
                decisions.append((i, j, d))
    uf, refused = build_clusters(norms, decisions,
                                 classify_fn=partial(fn, trust=trust, model=model))
    truth = defaultdict(list)
    for k, g in enumerate(groups):
        truth[g].append(k)
    t = {p for m in truth.values() for p in itertools.combinations(sorted(m), 2)}
    p = {q for m in uf.clusters() for q in itertools.combinations(m, 2)}
    open_ = {(min(i, j), max(i, j)) for i, j, d in list(decisions) + refused
             if d.decision == UNCERTAIN and uf.find(i) != uf.find(j)}
    both = len(t & p)
    return both / len(t) if t else 1.0, both / len(p) if p else 1.0, len(open_)


def main() -> None:
    sets = {name: labelled_norms(str(path)) for name, path in all_sets().items()
            if name != "special_cases"}  # 6 records: no figure to speak of
    data = {n: scorer.training_pairs(*v) for n, v in sets.items()}
    ways = ("rules", "lr", "gbm", "rules+lr", "rules+gbm")
    print(f"{'set':18} {'records':>7} " + " | ".join(f"{w:>9}: recall  prec  queue%"
                                                       for w in ways))
    for held in sets:
        x = np.vstack([data[n][0] for n in data if n != held])
        y = np.concatenate([data[n][1] for n in data if n != held])
        lr, gbm = scorer.fit(x, y), GBM(x, y)
        norms, groups = sets[held]
        cells = []
        for w in ways:
            model = {"rules": None, "lr": lr, "gbm": gbm, "rules+lr": lr, "rules+gbm": gbm}[w]
            fn = scorer_alone if w in ("lr", "gbm") else decide
            r, p, u = run(norms, groups, model, fn)
            cells.append(f"{'':>9}  {r:.4f} {p:.4f} {100 * u / len(norms):5.2f}")
        print(f"{held:18} {len(norms):7d} " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
