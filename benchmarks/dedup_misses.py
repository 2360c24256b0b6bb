"""Which true duplicate pairs deduplication misses, by class, per labelled set: the held-out
figure of bench_dedup.py (a scorer and thresholds chosen without the set), in memory.

Every true pair (two records of one labelled group) that does not end in one cluster is put in
the class of what kept it apart:

- ``reviewer: <rule>``: a distinction the project keeps on purpose (an erratum, comment or
  retraction vs its article, Part 1 vs Part 2, a conference abstract vs its paper:
  scorer.REVIEWER_RULES); a systematic reviewer counts these as different reports;
- ``contradiction: <rule>``: two trustworthy fields disagree (years more than one apart,
  another issue of the same volume, different DOIs or PMIDs, ...);
- ``queue: <rule>``: left uncertain, for a person to decide (the manual queue);
- ``closed: <rule>``: uncertain by the rules, closed as not a duplicate by the scorer;
- ``not: <rule>``: a "not" of the rules the scorer did not overrule (titles too different);
- ``chaining guard``: both sides matched, but joining them would put a contradiction in one
  cluster;
- ``not a candidate``: blocking never paired them; ``below the title floor``: paired, but
  their titles are too different (and no identifier or citation is shared) to be decided.

Prints the counts per set, recall against the labels and recall without the ``reviewer``
pairs (the same pairs left out of the true pairs and, were any merged, of the predicted ones),
and with ``--show N`` up to N pairs of each class, to read. Never reads srsr or depression.

Usage: python benchmarks/dedup_misses.py [--show N] [SET ...]
"""

from __future__ import annotations

import itertools
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_dedup import all_sets, fit_without, labelled_sets, read_set, training_data  # noqa: E402
from dedup_calibration import dedup_in_memory  # noqa: E402
import numpy as np  # noqa: E402

from toolkit.dedup import scorer  # noqa: E402
from toolkit.dedup.match import (DUPLICATE, HARD_NOT, UNCERTAIN, classify, decide,  # noqa: E402
                                 title_scored)

SHOWN = ("title", "authors", "year", "journal", "volume", "issue", "pages", "doi")


def miss_class(a, b, key, candidates, decided, refused, trust, model) -> str:
    """The class of one missed true pair (see the module docstring)."""
    rule = classify(a, b, None, trust).rule
    if rule in scorer.REVIEWER_RULES:
        return f"reviewer: {rule}"
    if key in refused:
        return "chaining guard"
    d = decided.get(key)
    if d is None:
        if key not in candidates:
            return "not a candidate"
        keep, _, _ = title_scored([a, b], np.array([[0, 1]]))
        if not len(keep):
            return "below the title floor"  # never decided
        d = decide(a, b, None, trust, model)
    if d.rule in HARD_NOT:
        return f"contradiction: {d.rule}"
    if d.decision == UNCERTAIN:
        return f"queue: {d.rule.split(':')[0]}"
    if d.decision == DUPLICATE:
        return "chaining guard"
    if d.rule.startswith("pair-score"):
        return f"closed: {d.rule.split('(')[1].split(')')[0]}"
    return f"not: {d.rule}"


def report(name: str, norms, groups, model, show: int, raw: list[dict]) -> None:
    pairs, decisions, trust, uf, refused = dedup_in_memory(norms, model)
    candidates = {(int(i), int(j)) for i, j in pairs}
    decided = {(min(i, j), max(i, j)): d for i, j, d in decisions}
    refused_keys = {(min(i, j), max(i, j)) for i, j, _ in refused}
    truth = defaultdict(list)
    for k, g in enumerate(groups):
        truth[g].append(k)
    true = {p for m in truth.values() for p in itertools.combinations(sorted(m), 2)}
    pred = {q for m in uf.clusters() for q in itertools.combinations(m, 2)}
    classes: Counter = Counter()
    examples = defaultdict(list)
    for i, j in sorted(true - pred):
        c = miss_class(norms[i], norms[j], (i, j), candidates, decided, refused_keys, trust,
                       model)
        classes[c] += 1
        examples[c].append((i, j))
    apart = {p for c, ps in examples.items() if c.startswith("reviewer:") for p in ps}
    found = len(true & pred)
    false = len(pred - true)
    print(f"{name}: {len(norms)} records, {len(true)} true pairs, {found} found, "
          f"{len(true) - found} missed, {false} false; recall {found / len(true):.4f}; "
          f"without the {len(apart)} pairs kept apart on purpose "
          f"{found / (len(true) - len(apart)):.4f}")
    for c, n in classes.most_common():
        print(f"  {n:5d}  {c}")
        for i, j in examples[c][:show]:
            for k in (i, j):
                print("         " + " | ".join(f"{f}={str(raw[k].get(f, ''))[:80]}"
                                             for f in SHOWN if raw[k].get(f)))
            print()
    if show and false:
        print("  false pairs:")
        for i, j in sorted(pred - true)[:show]:
            print(f"         {decide(norms[i], norms[j], None, trust, model).rule[:100]}")
            for k in (i, j):
                print("         " + " | ".join(f"{f}={str(raw[k].get(f, ''))[:80]}"
                                             for f in SHOWN if raw[k].get(f)))
            print()


def main(argv: list[str]) -> None:
    show = 0
    if argv[:1] == ["--show"]:
        show, argv = int(argv[1]), argv[2:]
    paths = all_sets()
    sets = labelled_sets(list(paths))
    data = training_data(sets)
    for name in argv or [n for n in sets if n != "special_cases"]:
        norms, groups = sets[name]
        rows = {r["record_id"]: r for r in read_set(str(paths[name]))}
        raw = [rows[s] for s in _source_ids(name)] if show else []
        assert not raw or [r["group_id"] for r in raw] == list(groups), name
        report(name, norms, groups, fit_without(data, sets, name), show, raw)


def _source_ids(name: str) -> list[str]:
    """Each record's source id, in the order labelled_norms gives the records (by import
    order, which is file order)."""
    return [r["record_id"] for r in read_set(str(all_sets()[name]))]


if __name__ == "__main__":
    main(sys.argv[1:])
