"""Fit the pair scorer on every labelled set and write the shipped model file,
toolkit/data/dedup_pair_model.json (see toolkit/dedup/scorer.py and docs/dedup.md).

Reads ../shared/data/dedup/ (diabetes, neuroimaging, cardiac) and the BibDedupe wheel's sets
that benchmarks/dedup_sets.py converts (never srsr or depression). Deterministic: the same
sets give the same bytes. ``python benchmarks/bench_dedup.py`` reports the leave-one-set-out
figures of the same fit.

Usage: python benchmarks/train_dedup_model.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_dedup import all_sets, fit_without, training_data  # noqa: E402
from toolkit.dedup import scorer  # noqa: E402


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else scorer.MODEL_PATH
    data = training_data(list(all_sets()))
    model = fit_without(data, None)
    scorer.save(model, out)
    for name, (x, y) in sorted(data.items()):
        print(f"{name:20} {len(y):7d} pairs {int(y.sum()):6d} duplicates")
    print(f"wrote {out} ({model.pairs} pairs)")


if __name__ == "__main__":
    main(sys.argv[1:])
