"""The pair scorer's two thresholds, chosen by leave-one-set-out on the labelled sets a model is
fitted on, never on the set it is measured on (docs/dedup.md).

For each labelled set s of the sets given, a scorer is fitted on the *other* given sets and s is
deduplicated in memory (blocking, decisions, clusters with the chaining guard; no store) at every
``duplicate_at`` of DUPLICATE_GRID. Then:

- ``duplicate_at``: among the thresholds whose merges cost the fewest sets more than 0.1 %
  precision beyond the rules' own false pairs (the precision bar, 0.999: none, where one can),
  the highest, unless a lower one finds at least 0.1 % more of the true pairs over all these
  sets together (then the lower; step by step down the grid);
- ``not_below``: the lowest value of NOT_BELOW_GRID (closing the fewest uncertain pairs) that
  keeps every set's manual queue within 0.5 % of its records; the highest if none does.

``benchmarks/bench_dedup.py`` calls :func:`choose_thresholds` without the held-out set for its
held-out column; ``benchmarks/train_dedup_model.py`` with every set for the shipped model.
Sets under MIN_RECORDS records (special_cases, a case list) are fitted on but not measured.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from functools import partial
from typing import NamedTuple

import numpy as np

DUPLICATE_GRID = (0.8, 0.9, 0.95, 0.98)
NOT_BELOW_GRID = (0.1, 0.3, 0.5)
PRECISION_FLOOR = 0.999
QUEUE_CEILING = 0.005
MIN_RECORDS = 100
MIN_GAIN = 1 - PRECISION_FLOOR  # 0.1 % of the true pairs


class Counts(NamedTuple):
    records: int
    true_pairs: int
    predicted: int
    found: int           # predicted pairs that are true
    open_scores: tuple   # the scorer's probability of each open uncertain pair (1.0: guard)

    @property
    def false_pairs(self) -> int:
        return self.predicted - self.found

    def queue(self, not_below: float) -> int:
        return sum(1 for p in self.open_scores if p >= not_below)


def dedup_in_memory(norms, model=None):
    """One deduplication without a store, as ``deduplicate`` makes it: (candidate pairs,
    decisions, field trust, union-find of the clusters, links the chaining guard refused)."""
    from toolkit.dedup.blocking import candidate_pairs
    from toolkit.dedup.clusters import build_clusters
    from toolkit.dedup.match import decide, score_pairs

    pairs = candidate_pairs(norms)
    decisions, trust = score_pairs(norms, pairs, model=model)
    uf, refused = build_clusters(norms, decisions,
                                 classify_fn=partial(decide, trust=trust, model=model))
    return pairs, decisions, trust, uf, refused


def dedup_counts(norms, groups, model=None) -> Counts:
    """Deduplicate a labelled collection in memory (``model`` None: the rules alone) and count
    its pairs. With a model, pass ``not_below=0`` so that no uncertain pair is closed: the open
    pairs' probabilities give the queue at any ``not_below`` (:meth:`Counts.queue`)."""
    from toolkit.dedup.features import levels
    from toolkit.dedup.match import UNCERTAIN

    _, decisions, trust, uf, refused = dedup_in_memory(norms, model)
    truth = defaultdict(list)
    for k, g in enumerate(groups):
        truth[g].append(k)
    t = {p for m in truth.values() for p in itertools.combinations(sorted(m), 2)}
    p = {q for m in uf.clusters() for q in itertools.combinations(m, 2)}
    scores, seen = [], set()
    for i, j, d in list(decisions) + refused:
        key = (min(i, j), max(i, j))
        if d.decision != UNCERTAIN or uf.find(i) == uf.find(j) or key in seen:
            continue
        seen.add(key)
        if model is None or d.rule.startswith("chaining-guard"):
            scores.append(1.0)  # the scorer does not close a link the guard refused
        else:
            scores.append(model.probability(levels(norms[i], norms[j], d.score, trust.volume,
                                                   trust.issue)))
    return Counts(len(norms), len(t), len(p), len(t & p), tuple(scores))


def fit_on(data: dict, names) -> object:
    """The pair scorer fitted on the training pairs of ``names`` (``data``: {set: (x, y)})."""
    from toolkit.dedup.scorer import fit
    names = sorted(names)
    x = np.vstack([data[n][0] for n in names])
    y = np.concatenate([data[n][1] for n in names])
    return fit(x, y, trained_on=names)


def choose_thresholds(sets: dict, data: dict, log=None) -> tuple[float, float]:
    """(duplicate_at, not_below) by leave-one-set-out over ``sets`` ({name: (norms, groups)};
    ``data``: their training pairs, {name: (x, y)}). ``log``: a callable given one line per
    set and threshold."""
    measured = [n for n in sorted(sets) if len(sets[n][0]) >= MIN_RECORDS]
    counts: dict[float, dict[str, Counts]] = {t: {} for t in DUPLICATE_GRID}
    over_bar: dict[float, int] = {t: 0 for t in DUPLICATE_GRID}  # sets it costs > 0.1 %
    for s in measured:
        norms, groups = sets[s]
        rules = dedup_counts(norms, groups)
        model = fit_on(data, [n for n in data if n != s])
        for t in DUPLICATE_GRID:
            c = dedup_counts(norms, groups, model._replace(duplicate_at=t, not_below=0.0))
            extra = c.false_pairs - rules.false_pairs
            if log:
                log(f"  {s:20} duplicate_at {t:.2f}: found {c.found}/{c.true_pairs}, "
                    f"false {c.false_pairs} (rules {rules.false_pairs}), queue at "
                    + ", ".join(f"{nb}: {c.queue(nb)}" for nb in NOT_BELOW_GRID))
            counts[t][s] = c
            over_bar[t] += extra > (1 - PRECISION_FLOOR) * c.predicted
    # the fewest sets over the bar; among those the highest threshold, unless a lower one
    # finds at least MIN_GAIN more of the true pairs (a gain within the precision bar's
    # tolerance is no reason to take the risk of a lower threshold)
    fewest = min(over_bar.values())
    candidates = sorted((t for t in DUPLICATE_GRID if over_bar[t] == fewest), reverse=True)
    total = sum(counts[candidates[0]][s].true_pairs for s in measured)
    duplicate_at = candidates[0]
    for t in candidates[1:]:
        gain = sum(counts[t][s].found - counts[duplicate_at][s].found for s in measured)
        if gain >= MIN_GAIN * total:
            duplicate_at = t
    if log:
        log(f"  duplicate_at {duplicate_at} (sets over the precision bar: "
            + ", ".join(f"{t}: {over_bar[t]}" for t in DUPLICATE_GRID) + ")")
    not_below = max(NOT_BELOW_GRID)
    for nb in sorted(NOT_BELOW_GRID):
        if all(c.queue(nb) <= QUEUE_CEILING * c.records for c in counts[duplicate_at].values()):
            not_below = nb
            break
    return duplicate_at, not_below
