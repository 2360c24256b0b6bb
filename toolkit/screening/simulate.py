"""Screening simulation on a fully labelled data set (`review simulate`).

The simulation replays a review: a few records with known labels are drawn at random as priors,
then the active learner picks every other record one at a time, is told its true label, and
(when its retraining policy says so) refits. The order in which records were screened gives the
metrics in :mod:`toolkit.screening.metrics`.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..csvdialect import delimiter_of_file
from ..errors import ReviewError
from .metrics import screening_metrics
from .model import ActiveLearner, record_text

REQUIRED_COLUMNS = ("title", "abstract", "label_included")


@dataclass
class LabelledSet:
    """A labelled CSV read into memory: one text and one 0/1 label per row."""

    texts: list[str]
    labels: np.ndarray
    record_ids: list[str] | None = None  # the file's `record_id` column, when it has one
    path: str | None = None


@dataclass
class SimulationResult:
    """Outcome of one simulation run."""

    order: list[int]          # every row, in the order screened (priors first)
    prior_rows: list[int]     # the rows drawn as priors
    labels: np.ndarray        # label per row
    metrics: dict             # see screening_metrics
    wall_s: float             # seconds for features + screening (not reading the file)
    model_version: str
    n_fits: int = 0
    extra: dict = field(default_factory=dict)


def read_labelled_csv(path: str | Path) -> LabelledSet:
    """Read ``title``, ``abstract``, ``label_included`` (0/1) from a CSV; other columns ignored.

    Raises
    ------
    ReviewError
        Naming the file and the row/column when the file is missing, unreadable, lacks a
        required column, or has a label that is not 0 or 1.
    """
    path = Path(path)
    if not path.is_file():
        raise ReviewError("no such file", file=path)
    texts: list[str] = []
    labels: list[int] = []
    ids: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter_of_file(fh))
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise ReviewError(
                    f"missing required column(s) {', '.join(missing)} (found: "
                    f"{', '.join(header) if header else 'no header'})", file=path)
            has_id = "record_id" in header
            for row_no, row in enumerate(reader, start=1):
                if None in row:  # more fields than the header names
                    raise ReviewError(f"row {row_no} (line {reader.line_num}) has more fields "
                                      "than the header", file=path)
                raw = (row.get("label_included") or "").strip()
                if raw not in ("0", "1", "0.0", "1.0"):
                    raise ReviewError(
                        f"label must be 0 or 1, got {raw!r}",
                        file=path, record=f"row {row_no} (line {reader.line_num})",
                        column="label_included")
                labels.append(int(float(raw)))
                texts.append(record_text(row.get("title"), row.get("abstract")))
                if has_id:
                    ids.append(row.get("record_id") or "")
    except UnicodeDecodeError as exc:
        raise ReviewError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path)
    except csv.Error as exc:
        raise ReviewError(f"malformed CSV: {exc}", file=path)
    if not labels:
        raise ReviewError("no data rows", file=path)
    return LabelledSet(texts=texts, labels=np.asarray(labels, dtype=np.int64),
                       record_ids=ids if ids else None, path=str(path))


def draw_priors(labels: Sequence[int], seed: int, n_included: int = 1,
                n_excluded: int = 1) -> list[int]:
    """Return prior rows drawn at random with ``seed``: includes first, then excludes (sorted)."""
    y = np.asarray(labels)
    inc, exc = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if n_included < 0 or n_excluded < 0:
        raise ReviewError("prior counts must be >= 0")
    if n_included > inc.size:
        raise ReviewError(f"asked for {n_included} prior includes but the data has {inc.size}")
    if n_excluded > exc.size:
        raise ReviewError(f"asked for {n_excluded} prior excludes but the data has {exc.size}")
    rng = np.random.default_rng(seed)
    pi = np.sort(rng.choice(inc, size=n_included, replace=False))
    pe = np.sort(rng.choice(exc, size=n_excluded, replace=False))
    return [int(i) for i in pi] + [int(i) for i in pe]


def simulate(texts: Sequence[str], labels: Sequence[int], *, seed: int = 0,
             prior_included: int = 1, prior_excluded: int = 1, classifier: str = "svm",
             query: str = "max", learner_options: dict | None = None,
             features=None, refit_to_end: bool = False) -> SimulationResult:
    """Screen every record in the order the active learner asks for them.

    ``features``: a feature matrix already fitted on ``texts`` with the same feature options
    (``ActiveLearner(...).fit_features(texts).X_``), to compare settings without refitting it.

    Once the last include has been screened nothing is left to find, so by default the model
    stops refitting and the remaining records follow in the order of its last scores (ASReview's
    simulation likewise stops after the last relevant record). Every metric counts only what
    precedes the last include, so it is the same either way; ``refit_to_end=True`` keeps
    refitting (and querying one record at a time) until every record is screened.

    Returns
    -------
    SimulationResult
        ``order`` starts with the priors; ``metrics`` count only what follows them.
    """
    t0 = time.perf_counter()
    y = np.asarray(labels, dtype=np.int64)
    priors = draw_priors(y, seed, prior_included, prior_excluded)
    learner = ActiveLearner(classifier=classifier, query=query, random_state=seed,
                            **(learner_options or {}))
    if features is None:
        learner.fit_features(texts)
    else:
        learner.set_features(features)
    n = len(y)
    labelled = list(priors)
    is_unlabelled = np.ones(n, dtype=bool)
    is_unlabelled[priors] = False
    n_at_fit = None
    n_fits = 0
    includes_left = int(y.sum() - y[priors].sum())
    while len(labelled) < n:
        if includes_left == 0 and not refit_to_end and learner.model_ is not None:
            rest = np.flatnonzero(is_unlabelled)
            labelled.extend(learner.query_batch(rest, rest.size))
            break
        if learner.retrain_due(len(labelled), n_at_fit):
            learner.fit(labelled, y[labelled])
            n_at_fit = len(labelled)
            n_fits += 1
        nxt = learner.query(np.flatnonzero(is_unlabelled))
        is_unlabelled[nxt] = False
        labelled.append(nxt)
        includes_left -= int(y[nxt])
    wall = time.perf_counter() - t0
    metrics = screening_metrics(y[labelled[len(priors):]])
    return SimulationResult(order=labelled, prior_rows=priors, labels=y, metrics=metrics,
                            wall_s=wall, model_version=learner.version, n_fits=n_fits)


def write_ranking(result: SimulationResult, path: str | Path,
                  record_ids: Sequence[str] | None = None) -> None:
    """Write the screening order as CSV: position, row (0-based data row), record_id (when the
    input has one), label_included, prior (1 for the priors)."""
    priors = set(result.prior_rows)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        head = ["position", "row"] + (["record_id"] if record_ids else []) + \
            ["label_included", "prior"]
        w.writerow(head)
        for pos, row in enumerate(result.order, start=1):
            w.writerow([pos, row] + ([record_ids[row]] if record_ids else []) +
                       [int(result.labels[row]), int(row in priors)])
