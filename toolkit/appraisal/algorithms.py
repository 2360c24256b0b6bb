"""The rules that propose judgements: RoB 2's domain algorithms and the overall rules.

RoB 2 (full guidance of 22 August 2019, the decision diagrams of each domain): answers are
``Y``, ``PY``, ``PN``, ``N``, ``NI`` and ``NA`` (a conditional question that is not asked).
Each domain function takes {question id: answer} and returns ``"Low"``, ``"Some concerns"``,
``"High"``, or None while a question it needs is unanswered.

Overall rules take the domains' judgement classes (``low``, ``some``, ``high``, ``critical``,
``ni`` = no information, ``na`` = not applicable) or values and return the overall value.
"""

from __future__ import annotations

YES = ("Y", "PY")
NO = ("N", "PN")
LOW, SOME, HIGH = "Low", "Some concerns", "High"


class _Missing(Exception):
    """A question the diagram reaches is unanswered."""


def _get(a: dict, qid: str) -> str:
    value = a.get(qid)
    if value is None:
        raise _Missing(qid)
    return value


def _incomplete_is_none(fn):
    def wrapper(answers: dict) -> str | None:
        try:
            return fn(answers)
        except _Missing:
            return None
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


@_incomplete_is_none
def rob2_d1(a: dict) -> str | None:
    """Randomization process: starts at 1.2 (concealment)."""
    q2 = _get(a, "1.2")
    if q2 in NO:
        return HIGH
    if q2 in YES:
        if _get(a, "1.1") in NO:
            return SOME
        return SOME if _get(a, "1.3") in YES else LOW
    # 1.2 NI
    return HIGH if _get(a, "1.3") in YES else SOME


def _rob2_d2_assignment_part1(a: dict) -> str:
    if _get(a, "2.1") in NO and _get(a, "2.2") in NO:
        return LOW
    q3 = _get(a, "2.3")
    if q3 in NO or q3 == "NA":
        return LOW
    if q3 == "NI":
        return SOME
    q4 = _get(a, "2.4")
    if q4 in NO or q4 == "NA":
        return SOME
    q5 = _get(a, "2.5")
    return SOME if q5 in YES or q5 == "NA" else HIGH


def _rob2_d2_assignment_part2(a: dict) -> str:
    if _get(a, "2.6") in YES:
        return LOW
    q7 = _get(a, "2.7")
    return SOME if q7 in NO or q7 == "NA" else HIGH


@_incomplete_is_none
def rob2_d2_assignment(a: dict) -> str | None:
    """Deviations from intended interventions (effect of assignment): the less favourable of
    part 1 (2.1-2.5) and part 2 (2.6-2.7)."""
    return worst_of([_rob2_d2_assignment_part1(a), _rob2_d2_assignment_part2(a)])


@_incomplete_is_none
def rob2_d3(a: dict) -> str | None:
    """Missing outcome data."""
    if _get(a, "3.1") in YES:
        return LOW
    if _get(a, "3.2") in YES:
        return LOW
    q3 = _get(a, "3.3")
    if q3 in NO or q3 == "NA":
        return LOW
    q4 = _get(a, "3.4")
    return SOME if q4 in NO or q4 == "NA" else HIGH


@_incomplete_is_none
def rob2_d4(a: dict) -> str | None:
    """Measurement of the outcome. With 4.2 answered NI, no path is Low."""
    if _get(a, "4.1") in YES:
        return HIGH
    q2 = _get(a, "4.2")
    if q2 in YES:
        return HIGH
    unsure = q2 == "NI"
    q3 = _get(a, "4.3")
    if q3 in NO or q3 == "NA":
        return SOME if unsure else LOW
    q4 = _get(a, "4.4")
    if q4 in NO or q4 == "NA":
        return SOME if unsure else LOW
    q5 = _get(a, "4.5")
    return SOME if q5 in NO or q5 == "NA" else HIGH


@_incomplete_is_none
def rob2_d5(a: dict) -> str | None:
    """Selection of the reported result."""
    q2, q3 = _get(a, "5.2"), _get(a, "5.3")
    if q2 in YES or q3 in YES:
        return HIGH
    if q2 == "NI" or q3 == "NI":
        return SOME
    return LOW if _get(a, "5.1") in YES else SOME


DOMAIN_ALGORITHMS = {f.__name__: f for f in (rob2_d1, rob2_d2_assignment, rob2_d3, rob2_d4,
                                             rob2_d5)}

# -- overall rules ------------------------------------------------------------------------------

RANK = {"low": 0, "some": 1, "ni": 1, "high": 2, "critical": 3}
_RANK_LABEL = {LOW: 0, SOME: 1, HIGH: 2}


def worst_of(judgements: list[str]) -> str:
    """The least favourable of RoB 2 judgements."""
    return max(judgements, key=_RANK_LABEL.__getitem__)


def overall_worst(classes: list[str]) -> str:
    """The least favourable class; 'no information' counts as 'some concerns' and 'not
    applicable' is left out (all not applicable: 'na')."""
    used = [c for c in classes if c != "na"]
    if not used:
        return "na"
    worst = max(used, key=RANK.__getitem__)
    return "some" if worst == "ni" else worst


def overall_robins_i(classes: list[str]) -> str:
    """ROBINS-I: Critical if any domain is; else Serious if any is; else No information if
    any domain lacks information; else Moderate if any is; else Low."""
    for cls in ("critical", "high", "ni", "some"):
        if cls in classes:
            return cls
    return "low"


def overall_sum(values: list[str]) -> str:
    """MINORS-style total: 'score/maximum' over the applicable items (2 points each)."""
    scores = [int(v) for v in values if v.isdigit()]
    return f"{sum(scores)}/{2 * len(scores)}"


def overall_nos_ahrq(values_by_group: dict[str, list[str]]) -> str:
    """Newcastle-Ottawa stars per group to the AHRQ rating Good / Fair / Poor."""
    stars = {g: sum(int(v) for v in vs) for g, vs in values_by_group.items()}
    sel, comp, out = (stars.get(g, 0) for g in ("Selection", "Comparability", "Outcome"))
    if sel <= 1 or comp == 0 or out <= 1:
        return "Poor"
    if sel >= 3:
        return "Good"
    return "Fair"


OVERALL_RULES = ("worst", "robins_i", "sum", "nos_ahrq", "none")
