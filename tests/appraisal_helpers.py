"""Helpers of the appraisal tests: every consistent answer set of a domain's questions."""

from __future__ import annotations

import itertools

from toolkit.appraisal.assessments import asked


def answer_sets(domain: dict) -> list[dict]:
    """Every combination of answers to a domain's signalling questions that a person can
    give: each asked question takes each of its answers; a question its earlier answers
    skip is 'NA'. In question order."""
    out = [{}]
    for q in domain["questions"]:
        grown = []
        for partial in out:
            if asked(q, partial):
                grown.extend({**partial, q["id"]: a} for a in q["answers"])
            else:
                grown.append({**partial, q["id"]: "NA"})
        out = grown
    return out


def answers_text(answers: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in answers.items())
