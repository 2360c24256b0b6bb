"""GRADE certainty of evidence per outcome: proposals from the store, the reviewer's rating,
and the summary-of-findings table.

The toolkit *proposes* downgrades from what the store knows (docs/appraisal.md gives the
rules and the GRADE guidance behind them); the *final* rating is the reviewer's, recorded with
a reason for every level up or down and for every departure from the proposal.

Starting level: randomized evidence (appraised with RoB 2) starts high; non-randomized
evidence starts low (case series, single-arm and cohort studies appraised with JBI, MINORS or
Newcastle-Ottawa), except with ROBINS-I, which is built to let non-randomized studies start
high and be rated down for risk of bias (Schünemann et al., J Clin Epidemiol 2019;111:105-114).
"""

from __future__ import annotations

import json
from typing import Callable

from ..errors import ReviewError
from ..store import Review, now_iso
from .assessments import final_assessments
from .templates import OVERALL, Tool

DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision",
           "publication_bias")
UPGRADES = ("large_effect", "dose_response", "plausible_confounding")
LEVELS = {4: "high", 3: "moderate", 2: "low", 1: "very low"}
START = {"high": 4, "low": 2}
RANDOMIZED_TOOLS = {"rob2"}
STARTS_HIGH_TOOLS = {"rob2", "robins_i"}
OIS_PARTICIPANTS = 400      # GRADE guidelines 6 (Guyatt 2011): rule of thumb for the OIS
NULLS = {"MC": 0.0}         # measures with a "no effect" value (mean change: no change)
EGGER_ALPHA = 0.10          # the funnel test's usual threshold (Egger et al. 1997)
MIN_K_FUNNEL = 10           # Cochrane Handbook 13.3.5.4: not with fewer than 10 studies


def starting_level(tool: Tool | None) -> str:
    """'high' for randomized trials (RoB 2) and ROBINS-I, else 'low' (observational)."""
    return "high" if tool is not None and tool.name in STARTS_HIGH_TOOLS else "low"


def risk_of_bias_proposal(weights: dict[str, float], classes: dict[str, str]) -> dict:
    """Levels down for risk of bias from the share of the pooled weight by overall class:
    -2 when studies at high (or critical) risk carry more than half of it; -1 when they carry
    more than a quarter, or when studies at high risk or with some concerns (moderate, no
    information, or not appraised) carry more than half; else 0."""
    total = sum(weights.values())
    if total <= 0:
        return {"levels": 0, "reason": "no pooled weights", "share_high": None,
                "share_concerns": None}
    high = sum(w for s, w in weights.items() if classes.get(s) in ("high", "critical"))
    concerns = sum(w for s, w in weights.items()
                   if classes.get(s) not in ("high", "critical", "low"))
    h, c = high / total, concerns / total
    unrated = sorted(s for s in weights if s not in classes)
    text = (f"{100 * h:.0f}% of the weight from studies at high risk, {100 * c:.0f}% with "
            "some concerns or not low risk" + (f" (no final judgement: {', '.join(unrated)})"
                                               if unrated else ""))
    if h > 0.5:
        levels = -2
    elif h > 0.25 or h + c > 0.5:
        levels = -1
    else:
        levels = 0
    return {"levels": levels, "reason": text, "share_high": round(h, 4),
            "share_concerns": round(c, 4)}


def inconsistency_proposal(k: int, i2: float | None, pi: tuple | None,
                           null: float | None) -> dict:
    """-1 when I2 >= 50% (substantial heterogeneity, Cochrane Handbook 10.10.2); -2 when
    I2 >= 75% and the prediction interval includes the null effect (where the measure has
    one); not assessable with fewer than 2 studies."""
    if k < 2 or i2 is None:
        return {"levels": 0, "reason": "not assessable (fewer than 2 studies)"}
    pi_text = "" if not pi or pi[0] is None else f", prediction interval {pi[0]:.3g} to {pi[1]:.3g}"
    crosses = null is not None and pi and pi[0] is not None and pi[0] <= null <= pi[1]
    if i2 >= 75 and crosses:
        return {"levels": -2, "reason": f"I2 = {i2:.0f}%{pi_text}, which includes no effect"}
    if i2 >= 50:
        return {"levels": -1, "reason": f"I2 = {i2:.0f}%{pi_text}"}
    return {"levels": 0, "reason": f"I2 = {i2:.0f}%{pi_text}"}


def imprecision_proposal(participants: int | None, ci: tuple, null: float | None,
                         ois: int = OIS_PARTICIPANTS) -> dict:
    """-1 for each of: fewer participants than the optimal information size (default the
    GRADE rule of thumb of 400); a confidence interval that includes the null effect (where
    the measure has one). At most -2."""
    reasons, levels = [], 0
    if participants is None:
        reasons.append("participants not known")
    elif participants < ois:
        levels -= 1
        reasons.append(f"{participants} participants, fewer than the optimal information "
                       f"size ({ois})")
    else:
        reasons.append(f"{participants} participants (optimal information size {ois})")
    if null is not None and ci[0] is not None and ci[0] <= null <= ci[1]:
        levels -= 1
        reasons.append(f"the confidence interval {ci[0]:.3g} to {ci[1]:.3g} includes no effect")
    return {"levels": max(levels, -2), "reason": "; ".join(reasons)}


def publication_bias_proposal(k: int, funnel_p: float | None) -> dict:
    """-1 when there are at least 10 studies and the funnel (Egger) test gives p < 0.10."""
    if k < MIN_K_FUNNEL:
        return {"levels": 0, "reason": f"not assessed: {k} studies, fewer than "
                                       f"{MIN_K_FUNNEL} for a funnel test"}
    if funnel_p is None:
        return {"levels": 0, "reason": "funnel test not available"}
    return {"levels": -1 if funnel_p < EGGER_ALPHA else 0,
            "reason": f"Egger's test p = {funnel_p:.3g}", "egger_p": funnel_p}


def certainty_of(start: str, levels: dict[str, int]) -> str:
    return LEVELS[min(4, max(1, START[start] + sum(levels.values())))]


def propose_from_result(result: dict, *, participants: int | None, classes: dict[str, str],
                        start: str, funnel_p: float | None = None,
                        ois: int = OIS_PARTICIPANTS) -> dict:
    """The proposal for one pooled result (``toolkit.pooling.api.pool_table``'s dict)."""
    null = NULLS.get(result["measure"])
    weights = {str(s["study"]): float(s["weight"] or 0) for s in result["studies"]}
    domains = {
        "risk_of_bias": risk_of_bias_proposal(weights, classes),
        "inconsistency": inconsistency_proposal(result["k"], result.get("I2"),
                                                (result.get("pi_low"), result.get("pi_high")),
                                                null),
        "indirectness": {"levels": 0, "reason": "not proposed: the reviewer's judgement of "
                                                "population, intervention and outcome"},
        "imprecision": imprecision_proposal(participants, (result["ci_low"],
                                                           result["ci_high"]), null, ois),
        "publication_bias": publication_bias_proposal(result["k"], funnel_p),
    }
    levels = {d: v["levels"] for d, v in domains.items()}
    return {"k": result["k"], "participants": participants, "measure": result["measure"],
            "estimate": result["estimate"], "ci_low": result["ci_low"],
            "ci_high": result["ci_high"], "pi_low": result.get("pi_low"),
            "pi_high": result.get("pi_high"), "I2": result.get("I2"), "start": start,
            "domains": domains, "certainty": certainty_of(start, levels)}


def overall_classes(review: Review, tool: Tool | None) -> dict[str, str]:
    """{study: plot class of its final overall judgement} (studies with one)."""
    if tool is None:
        return {}
    out = {}
    for study, f in final_assessments(review, tool).items():
        if f["overall"]["value"] is not None:
            out[study] = tool.class_of(OVERALL, f["overall"]["value"])
    return out


def pool_outcome(review: Review, outcome: str, *, r=None, **options):
    """(the outcome's table, the rows of the studies pooled, its column arguments, its
    measure, the pooled result) as ``review pool --outcome`` pools it with ``options`` (``pool_table``'s
    model, method, use_unit, overlap_policy...): the same unit of analysis and overlapping
    cohort rules. One study is pooled with a fixed effect."""
    from ..pooling.api import pool_table, select_studies
    from ..pooling.review_outcomes import outcome_data, pool_kwargs

    df = outcome_data(review, outcome)
    if len(df) == 0:
        raise ReviewError(f"outcome {outcome}: no study with data to pool")
    kw = pool_kwargs(df)
    if r is not None:
        kw["r"] = r
    measure = df.attrs["default_measure"]
    size_col = kw.get("total") or kw.get("n")
    sel, _ = select_studies(df, measure, kw["study"], kw.get("unit"), options.get("use_unit"),
                            kw["overlaps"], options.get("overlap_policy", "largest"),
                            kw.get("year"), size_col, file=f"outcome {outcome}")
    if len(sel) == 1:
        options = {**options, "model": "rma", "method": "FE"}
    result = pool_table(df, measure, file=f"outcome {outcome}", **kw, **options)
    return df, sel, kw, measure, result


def study_weights(df, kw: dict, measure: str, result: dict, options: dict) -> dict[str, float]:
    """{study: its weight in the pooled result}; a model without per-study weights (the
    GLMM) is weighed as the inverse-variance model of the same studies weighs them."""
    from ..pooling.api import pool_table

    rows = result["studies"]
    if any(s["weight"] is None for s in rows):
        rows = pool_table(df, measure, **kw, **{**options, "model": "rma"})["studies"]
    out: dict[str, float] = {}
    for s in rows:
        out[str(s["study"])] = out.get(str(s["study"]), 0.0) + float(s["weight"] or 0)
    return out


def egger_p_value(df, kw: dict, measure: str, options: dict) -> float:
    """Egger's regression test p-value (metafor ``regtest``: yi on the standard error, the
    inverse-variance model with the pooling's estimator) on the studies the pooling selects."""
    from ..pooling.sensitivity import diagnose_table

    keep = {k: v for k, v in options.items()
            if k in ("method", "knha", "level", "use_unit", "overlap_policy")}
    out = diagnose_table(df, measure, ["egger"], **kw, **keep, model="rma")
    return float(out["egger"]["pval"])


def propose(review: Review, outcome: str, tool: Tool | None, *, r=None,
            start: str | None = None, ois: int = OIS_PARTICIPANTS, **options) -> dict:
    """Pool the review's outcome as ``review pool --outcome`` does (``options``: its model,
    method, use_unit, overlap_policy) and propose its GRADE rating. ``start`` overrides the
    starting level the tool implies. Participants are the pooled studies' denominators. The
    proposal keeps its ``settings`` (what :func:`recheck` needs to make it again)."""
    df, sel, kw, measure, result = pool_outcome(review, outcome, r=r, **options)
    count_col = kw.get("total") or kw.get("n")
    participants = int(sel[count_col].astype(float).sum()) if count_col else None
    weighted = {**result, "studies": [{"study": s, "weight": w} for s, w in study_weights(
        df, kw, measure, result, options).items()]}
    p = egger_p_value(df, kw, measure, options) if result["k"] >= MIN_K_FUNNEL else None
    prop = propose_from_result(weighted, participants=participants,
                               classes=overall_classes(review, tool),
                               start=start or starting_level(tool), funnel_p=p, ois=ois)
    settings = {"r": r, "start": start, "ois": ois, **options}
    return {"outcome": outcome, "tool": tool.name if tool else None, **prop,
            "model": result.get("model"), "method": result.get("method"),
            "unit": result.get("unit"), "settings": settings}


def recheck(review: Review, tool: Tool | None, outcomes: list[str] | None = None
            ) -> list[str]:
    """Notes on rated outcomes (of ``outcomes``, default all) whose proposal, made again now
    with the rating's own settings, has other numbers or levels (the data or the appraisal
    changed since), or cannot be made any more. The table shows a rating as it was made until
    it is redone."""
    out = []
    for outcome, r in ratings(review).items():
        if outcomes is not None and outcome not in outcomes:
            continue
        then = r["proposal"]
        try:
            now = propose(review, outcome, tool, **then.get("settings", {}))
        except ReviewError as exc:
            out.append(f"outcome {outcome}: rated by {r['rater']}, but it cannot be pooled "
                       f"now ({exc.bare_message}); rate it again or leave it out")
            continue
        changed = [k for k in ("k", "participants", "estimate", "ci_low", "ci_high")
                   if _differs(then.get(k), now.get(k))]
        changed += [f"{d} proposal" for d in DOMAINS
                    if then["domains"].get(d, {}).get("levels")
                    != now["domains"].get(d, {}).get("levels")]
        if changed:
            out.append(f"outcome {outcome}: {', '.join(changed)} changed since it was rated "
                       f"by {r['rater']}; rate it again (`review grade rate {outcome}`)")
    return out


def _differs(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b))
    return a != b


def rate(review: Review, outcome: str, proposal: dict, rater: str, *,
         levels: dict[str, int] | None = None, reasons: dict[str, str] | None = None,
         start: str | None = None, note: str | None = None) -> dict:
    """Record the reviewer's final rating (caller holds the transaction). ``levels`` are the
    reviewer's levels per domain (down negative; upgrades positive, for observational
    evidence): the proposal's where not given. Every domain rated up or down needs a reason
    (the proposal's reason stands where the reviewer keeps the proposal's level), and so
    does every departure from the proposal. Returns the stored rating."""
    levels = dict(levels or {})
    reasons = {k: v.strip() for k, v in (reasons or {}).items() if v and v.strip()}
    unknown = set(levels) - set(DOMAINS) - set(UPGRADES)
    if unknown:
        raise ReviewError(f"unknown GRADE domains {sorted(unknown)}; domains: "
                          f"{', '.join(DOMAINS + UPGRADES)}")
    start = start or proposal["start"]
    if start not in START:
        raise ReviewError("the starting level is high or low")
    final, why = {}, {}
    for d in DOMAINS + UPGRADES:
        proposed = proposal["domains"].get(d, {"levels": 0, "reason": ""})
        lv = int(levels.get(d, proposed["levels"]))
        if d in DOMAINS and not -2 <= lv <= 0:
            raise ReviewError(f"{d}: rate down by 0, 1 or 2 levels (give 0, -1 or -2)")
        if d in UPGRADES and not 0 <= lv <= 2:
            raise ReviewError(f"{d}: rate up by 0, 1 or 2 levels")
        if lv != proposed["levels"] and d not in reasons:
            raise ReviewError(f"{d}: {lv:+d} differs from the proposal "
                              f"({proposed['levels']:+d}): give the reason")
        if lv != 0 and d not in reasons and not proposed.get("reason"):
            raise ReviewError(f"{d}: rated {lv:+d}: give the reason")
        final[d] = lv
        why[d] = reasons.get(d) or (proposed.get("reason") if lv != 0 else "") or ""
    if sum(final[u] for u in UPGRADES) and start == "high":
        raise ReviewError("rating up is for evidence that starts low (GRADE)")
    certainty = certainty_of(start, final)
    review.db.execute("update grade_ratings set superseded_at = ? where outcome = ? and "
                      "superseded_at is null", [now_iso(), outcome])
    row = {"outcome": outcome, "tool": proposal.get("tool"), "start": start,
           "proposal": json.dumps(proposal, sort_keys=True, default=float),
           "levels": json.dumps(final, sort_keys=True),
           "reasons": json.dumps({d: t for d, t in why.items() if t}, sort_keys=True),
           "certainty": certainty, "rater": rater, "note": note, "rated_at": now_iso(),
           "superseded_at": None}
    row_id = review.db["grade_ratings"].insert(row).last_pk
    review.log("grade_rating", {"id": row_id, "outcome": outcome, "certainty": certainty,
                                "proposed": proposal["certainty"]}, actor=rater)
    return {"id": row_id, "outcome": outcome, "certainty": certainty, "levels": final,
            "reasons": json.loads(row["reasons"]), "proposed": proposal["certainty"]}


def run_rating(review: Review, outcome: str, proposal: dict, rater: str, *,
               ask: Callable[[str], str | None], echo: Callable[[str], None],
               start: str | None = None, note: str | None = None) -> dict | None:
    """Walk the reviewer through the GRADE domains of one outcome in the terminal: each shows
    the proposal (levels and why); Enter keeps it, 0/-1/-2 (up: 0/1/2) changes it and asks
    why. Nothing is saved until the reviewer confirms the resulting certainty: a rating is one
    decision. Returns the stored rating, or None when the reviewer quits (``q``, end of
    input) or does not confirm."""
    start = start or proposal["start"]
    levels, reasons = {}, {}
    echo(f"outcome {outcome}: k = {proposal['k']}, participants "
         f"{proposal['participants'] if proposal['participants'] is not None else 'unknown'}, "
         f"estimate {proposal['estimate']:.3g} [{proposal['ci_low']:.3g}, "
         f"{proposal['ci_high']:.3g}]; starts {start}; proposed certainty "
         f"{proposal['certainty']}")
    domains = DOMAINS + (UPGRADES if start == "low" else ())
    for d in domains:
        prop = proposal["domains"].get(d, {"levels": 0, "reason": "not proposed"})
        allowed = (0, -1, -2) if d in DOMAINS else (0, 1, 2)
        echo(f"{_WORDS[d]}: proposed {prop['levels']:+d} ({prop['reason']})")
        while True:
            text = ask(f"  levels ({', '.join(f'{x:+d}' if x else '0' for x in allowed)}; "
                       "Enter keeps the proposal; q quits, nothing saved)")
            if text is None or text.strip().lower() == "q":
                return None
            text = text.strip()
            if not text:
                break
            try:
                lv = int(text)
            except ValueError:
                lv = None
            if lv not in allowed:
                echo(f"  invalid: give one of {', '.join(str(x) for x in allowed)}")
                continue
            levels[d] = lv
            if lv != prop["levels"] or lv != 0:
                why = None
                while not why:
                    why = ask("  reason" + (" (Enter keeps the proposal's)"
                                            if lv == prop["levels"] else ""))
                    if why is None:
                        return None
                    why = why.strip()
                    if not why and lv == prop["levels"]:
                        break
                if why:
                    reasons[d] = why
            break
    final = {d: levels.get(d, proposal["domains"].get(d, {"levels": 0})["levels"])
             for d in domains}
    certainty = certainty_of(start, final)
    answer = ask(f"certainty {certainty}: save this rating? (y/n)")
    if (answer or "").strip().lower() not in ("y", "yes"):
        return None
    with review.atomic():
        return rate(review, outcome, proposal, rater, levels=levels, reasons=reasons,
                    start=start, note=note)


def ratings(review: Review) -> dict[str, dict]:
    """{outcome: the live rating, with proposal, levels and reasons parsed}."""
    out = {}
    for r in review.db.query("select * from grade_ratings where superseded_at is null "
                             "order by id"):
        r = dict(r)
        for k in ("proposal", "levels", "reasons"):
            r[k] = json.loads(r[k])
        out[r["outcome"]] = r
    return out


# -- summary of findings -----------------------------------------------------------------------

SOF_COLUMNS = ["outcome", "k", "participants", "estimate", "ci_low", "ci_high", "certainty",
               "rated_by", "reasons"]
_WORDS = {"risk_of_bias": "risk of bias", "inconsistency": "inconsistency",
          "indirectness": "indirectness", "imprecision": "imprecision",
          "publication_bias": "publication bias", "large_effect": "large effect",
          "dose_response": "dose-response", "plausible_confounding": "plausible confounding"}


def sof_rows(review: Review, proposals: dict[str, dict] | None = None,
             labels: dict[str, str] | None = None,
             outcomes: list[str] | None = None) -> list[dict]:
    """The summary of findings: one row per rated outcome (its numbers as rated) and per
    proposed-but-unrated outcome in ``proposals`` (certainty marked "proposed"); only
    ``outcomes`` when given, in that order."""
    rated = ratings(review)
    order = outcomes if outcomes is not None else \
        list(dict.fromkeys(list(proposals or {}) + list(rated)))
    rows = []
    for outcome in order:
        if outcome not in rated and outcome not in (proposals or {}):
            continue
        if outcome in rated:
            r = rated[outcome]
            p, certainty, by = r["proposal"], r["certainty"], r["rater"]
            reasons = "; ".join(f"{_WORDS[d]} {lv:+d}: {r['reasons'].get(d, '')}".rstrip(": ")
                                for d, lv in r["levels"].items() if lv)
        else:
            p = proposals[outcome]
            certainty, by = f"{p['certainty']} (proposed, not rated)", ""
            reasons = "; ".join(f"{_WORDS[d]} {v['levels']:+d}: {v['reason']}"
                                for d, v in p["domains"].items() if v["levels"])
        start = f"starts {p['start']} ({'randomized' if p['start'] == 'high' else 'observational'})"
        rows.append({"outcome": (labels or {}).get(outcome, outcome), "k": p["k"],
                     "participants": p["participants"], "estimate": p["estimate"],
                     "ci_low": p["ci_low"], "ci_high": p["ci_high"], "certainty": certainty,
                     "rated_by": by, "reasons": f"{start}; {reasons}" if reasons else start})
    return rows


def sof_markdown(rows: list[dict], fmt: Callable = lambda x: f"{x:.3g}") -> str:
    """The summary-of-findings table as Markdown."""
    def f(x):
        return "–" if x is None or x == "" else fmt(x)

    lines = ["| outcome | studies (k) | participants | estimate [95% CI] | certainty | "
             "reasons |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['outcome']} | {r['k']} | {r['participants'] or '–'} | "
                     f"{f(r['estimate'])} [{f(r['ci_low'])}, {f(r['ci_high'])}] | "
                     f"{r['certainty']} | {r['reasons']} |")
    return "\n".join(lines) + "\n"
