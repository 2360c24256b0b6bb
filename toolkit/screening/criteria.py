"""What the criteria file gives title/abstract screening: exclusion reasons and highlight terms.

Both `review screen` and `review serve` read ``screening/criteria.yaml`` (next to the review's
db file, else in the working directory; ``--criteria`` names another). Two optional keys::

    ta_reasons:                 # reasons a title/abstract exclusion may carry (one each)
      - wrong intervention
      - not spinal
    highlight:                  # words marked in titles and abstracts (stemmed, see highlight.py)
      include: [cryoablation, cryotherapy, spine, vertebra*, metasta*]
      exclude: [review, case report, radiofrequency, microwave]
      language: english         # the Snowball stemmer (default english)

A reason is optional on every exclusion and is stored with it (``ta_decisions.reason``).
A file without these keys (or no file) means no reasons and no highlighting; a key that is there
but malformed is an error naming the file and the key, before any record is shown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ReviewError
from .highlight import Highlighter


@dataclass
class ScreeningCriteria:
    """The parts of a criteria file that screening uses."""
    path: Path | None = None
    ta_reasons: list[str] = field(default_factory=list)
    highlighter: Highlighter = field(default_factory=Highlighter)

    def reason(self, given: str | None) -> str | None:
        """The canonical reason ``given`` names: a reason of ``ta_reasons`` (case and spaces
        ignored) or its 1-based number; None for no reason. Anything else is an error."""
        from ..fulltext import match_reason

        if given is None or not str(given).strip():
            return None
        found = match_reason(str(given), self.ta_reasons)
        if found is None:
            where = f" in {self.path}" if self.path else ""
            raise ReviewError(f"{given!r} is not one of the title/abstract reasons{where}: "
                              + ("; ".join(self.ta_reasons) or "none are defined (ta_reasons)"))
        return found


def load_screening_criteria(path: str | Path | None) -> ScreeningCriteria:
    """Read ``ta_reasons`` and ``highlight`` from the criteria file at ``path`` (absent file:
    none of either). Errors name the file and the key."""
    if path is None or not Path(path).is_file():
        return ScreeningCriteria(Path(path) if path else None)
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ReviewError(f"not valid YAML: {exc}", file=path) from None
    if data is None:
        return ScreeningCriteria(path)
    if not isinstance(data, dict):
        raise ReviewError("expected a mapping (keys such as inclusion, exclusion, ta_reasons)",
                          file=path)
    reasons = _text_list(data.get("ta_reasons", []), path, "ta_reasons")
    seen = Counter(" ".join(r.split()).casefold() for r in reasons)
    dupes = sorted(r for r in reasons if seen[" ".join(r.split()).casefold()] > 1)
    if dupes:
        raise ReviewError(f"duplicate reasons: {dupes}", file=path, record="key ta_reasons")
    numeric = [r for r in reasons if r.isdigit()]
    if numeric:  # a number names a reason by its place in the list
        raise ReviewError(f"a reason cannot be a number: {numeric}", file=path,
                          record="key ta_reasons")
    return ScreeningCriteria(path, reasons, _highlighter(data.get("highlight"), path))


def _text_list(value, path: Path, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise ReviewError(f"'{key}' must be a list of non-empty text items", file=path,
                          record=f"key {key}")
    return [" ".join(x.split()) for x in value]


def _highlighter(section, path: Path) -> Highlighter:
    if section is None:
        return Highlighter()
    if not isinstance(section, dict):
        raise ReviewError("'highlight' must be a mapping with include: [...] and exclude: [...]",
                          file=path, record="key highlight")
    unknown = sorted(set(section) - {"include", "exclude", "language"})
    if unknown:
        raise ReviewError(f"unknown key(s) {unknown}; expected include, exclude, language",
                          file=path, record="key highlight")
    include = _text_list(section.get("include", []), path, "highlight.include")
    exclude = _text_list(section.get("exclude", []), path, "highlight.exclude")
    language = section.get("language", "english")
    try:
        h = Highlighter(include, exclude, language=str(language))
    except ValueError as exc:
        raise ReviewError(str(exc), file=path, record="key highlight") from None
    both = h.conflicts()
    if both:
        raise ReviewError("terms both in include and exclude (after stemming): "
                          + "; ".join(f"{a!r} / {b!r}" for a, b in both),
                          file=path, record="key highlight")
    return h
