"""Stopping rules (heuristic, BUSCAR), recall estimates and automation exclusions."""

from __future__ import annotations

import json
import math
import re

import pytest
from click.testing import CliRunner
from scipy.stats import hypergeom

from screen_helpers import build_review, is_relevant
from toolkit.cli import cli
from toolkit.screening import stopping
from toolkit.screening.decisions import final_decisions
from toolkit.screening.queue import ScreeningSession, screening_counts
from toolkit.store import open_review


def comb_cdf(k, N, K, n):
    """P(X <= k) for X ~ hypergeometric(N, K, n), by counting (independent of scipy)."""
    total = math.comb(N, n)
    return sum(math.comb(K, j) * math.comb(N - K, n - j) for j in range(0, k + 1)) / total


@pytest.mark.parametrize("urn,r_before,n,k,target", [
    (1000, 95, 200, 0, 0.95),     # nothing in a large sample
    (1000, 95, 100, 1, 0.95),
    (5000, 40, 300, 2, 0.9),
    (300, 19, 50, 0, 0.95),       # r_seen / target = 20 exactly: H0 needs 21 in total
])
def test_buscar_p_value_matches_hypergeometric(urn, r_before, n, k, target):
    r_seen = r_before + k
    # H0: recall < target  <=>  total includes > r_seen / target; the least such total, minus
    # what was found before the sample, is what the urn must hold under H0.
    total_min = next(t for t in range(r_seen, 10 * r_seen + 10) if r_seen / t < target - 1e-12)
    K = total_min - r_before
    expected = hypergeom.cdf(k, urn, K, n)
    got = stopping.buscar_p_value(urn, r_before, n, k, target)
    assert got == pytest.approx(expected, rel=1e-9)
    assert got == pytest.approx(comb_cdf(k, urn, K, n), rel=1e-9)


def test_buscar_hand_example_and_decision():
    # 19 found before; urn of 300; 60 sampled, none relevant. H0 means >= 21 relevant in total,
    # i.e. >= 2 in the urn: p = C(298, 60) / C(300, 60) = (240 * 239) / (300 * 299).
    p = stopping.buscar_p_value(300, 19, 60, 0, 0.95)
    assert p == pytest.approx(240 * 239 / (300 * 299))
    assert stopping.buscar_should_stop(300, 19, 60, 0) == (False, p)  # p = 0.64
    stop, p = stopping.buscar_should_stop(300, 19, 290, 0)
    assert stop and p == pytest.approx(comb_cdf(0, 300, 2, 290))
    assert stopping.buscar_p_value(300, 19, 0, 0) == 1.0


def test_heuristic():
    assert stopping.consecutive_excludes(["include", "exclude", "exclude"]) == 2
    assert stopping.consecutive_excludes(["exclude", "maybe"]) == 0
    assert stopping.heuristic_should_stop(["include"] + ["exclude"] * 3, 3)
    assert not stopping.heuristic_should_stop(["exclude", "include", "exclude", "exclude"], 3)


def test_urn_bounds_and_recall_from_sample():
    low, high = stopping.urn_includes_bounds(200, 50, 5, 0.95)
    # each bound is one-sided at alpha = 0.05, where a tail crosses it (checked by counting)
    upper = lambda K: 1 - comb_cdf(4, 200, K, 50)  # P(X >= 5)
    lower = lambda K: comb_cdf(5, 200, K, 50)      # P(X <= 5)
    assert upper(low) >= 0.05 > upper(low - 1)
    assert lower(high) >= 0.05 > lower(high + 1)
    est = stopping.recall_from_sample(r_seen=25, urn_size=200, n_sample=50, k_sample=5)
    assert est["recall"] == pytest.approx(25 / (25 + 5 / 50 * 200 - 5))
    assert est["low"] == pytest.approx(25 / (25 + high - 5))
    assert est["high"] == pytest.approx(25 / (25 + low - 5))
    assert est["low"] < est["recall"] < est["high"] <= 1
    # nothing in the sample: the upper bound is 1 (no include need be missed)
    assert stopping.recall_from_sample(10, 300, 60, 0)["high"] == 1.0


def test_recall_lower_bound_by_hand():
    # 40 includes before the sample, 1 in a sample of 751 from an urn of 1000. H0 "recall <
    # 0.95" needs 41/0.95 = 43.2, i.e. >= 44 includes in all, >= 4 in the urn.
    N, r_before, k = 1000, 40, 1
    assert stopping.buscar_k_h0(r_before, r_before + k, 0.95) == 4
    # n = 751: P(X <= 1 | K = 4) < 0.05, the test rejects; K = 3 it does not reject, so the
    # lower bound is 41 / (40 + 3) = 0.953 >= 0.95
    assert hypergeom.cdf(1, N, 4, 751) < 0.05 <= hypergeom.cdf(1, N, 3, 751)
    assert stopping.buscar_should_stop(N, r_before, 751, k) == (
        True, pytest.approx(hypergeom.cdf(1, N, 4, 751)))
    assert stopping.urn_includes_bounds(N, 751, k)[1] == 3
    est = stopping.recall_from_sample(r_before + k, N, 751, k)
    assert est["low"] == pytest.approx(41 / 43) and est["low"] >= 0.95
    # one record fewer: K = 4 is not rejected (p = 0.0504), the bound is 41 / 44 < 0.95
    assert hypergeom.cdf(1, N, 4, 750) >= 0.05
    assert stopping.buscar_should_stop(N, r_before, 750, k)[0] is False
    assert stopping.recall_from_sample(r_before + k, N, 750, k)["low"] == pytest.approx(41 / 44)


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_recall_lower_bound_agrees_with_the_buscar_test(confidence):
    """The reported lower bound is >= target exactly when the BUSCAR test says stop."""
    cases = stops = 0
    for urn in (1, 2, 7, 57, 300, 1000):
        for n in sorted({min(urn, m) for m in (1, 2, urn // 3 or 1, urn // 2 or 1, urn - 1 or 1)}
                        | {urn}):
            for k in sorted({0, 1, 2, 5, n // 2, n}):
                if k > n:
                    continue
                for r_before in (0, 1, 3, 19, 95):
                    if r_before + k == 0:  # nothing found: no recall to bound
                        continue
                    est = stopping.recall_from_sample(r_before + k, urn, n, k, confidence)
                    assert est["low"] <= est["high"] <= 1
                    for target in (0.5, 0.8, 0.9, 0.95, 1.0):
                        stop, p = stopping.buscar_should_stop(urn, r_before, n, k, target,
                                                              confidence)
                        assert stop == (p < 1 - confidence)
                        assert (est["low"] >= target) == stop, (urn, n, k, r_before, target,
                                                                est, p)
                        cases += 1
                        stops += stop
    assert cases > 1500 and 0 < stops < cases


def test_recall_from_model_is_an_interval():
    est = stopping.recall_from_model(5, [2.0, 1.5, -1.0, -1.2, -0.8, 1.8], [1, 1, 0, 0, 0, 1],
                                     [-1.5] * 100)
    assert 0 < est["low"] <= est["recall"] <= est["high"] <= 1 and est["method"] == "model"
    assert stopping.recall_from_model(0, [1.0], [1], [0.0])["recall"] is None
    assert stopping.format_recall(est).startswith("recall ~")


def automation_rows(db):
    with open_review(db) as r:
        return list(r.db.query("select * from ta_decisions where origin = 'automation'"))


def test_heuristic_stop_excludes_the_rest_by_automation(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    res = CliRunner().invoke(cli, ["--db", str(db), "screen", "--reviewer", "alice", "--stop",
                                   "heuristic", "--stop-after", "3", "--json", "--yes"],
                             input="i\ne\ne\nm\ne\ne\ne\ne\n", catch_exceptions=False)
    out = json.loads(res.stdout)
    assert out["stopped"]["rule"] == "heuristic" and out["stopped"]["n_automation"] == 23
    assert "stopping rule met (3 consecutive excludes)" in res.stderr
    assert "(revisiting a maybe)" in res.stderr  # maybes are still revisited after the stop
    auto = automation_rows(db)
    assert len(auto) == 23 and {a["reviewer"] for a in auto} == {"automation"}
    assert {a["decision"] for a in auto} == {"exclude"}
    with open_review(db) as r:
        human = {d["record_id"] for d in r.db.query(
            "select record_id from ta_decisions where origin = 'human'")}
        assert not human & {a["record_id"] for a in auto}
        assert len(human) == 7
        st = screening_counts(r)
        assert st["excluded_by_automation"] == 23 and st["exclude"] == 6
        ev = json.loads(next(r.db.query(
            "select details from events where action = 'screen.automation_exclude'"))["details"])
        assert ev["n"] == 23 and sorted(ev["record_ids"]) == sorted(a["record_id"] for a in auto)
        stop = next(r.db.query("select * from ta_stopping"))
        assert (stop["rule"], stop["state"], stop["n_automation"]) == ("heuristic", "stopped", 23)
    # the maybe was decided on its revisit: a new session has nothing left
    res = CliRunner().invoke(cli, ["--db", str(db), "screen", "--reviewer", "alice"], input="")
    assert "done: nothing left to screen" in res.output


def test_buscar_session_samples_then_stops(tmp_path):
    """Label truthfully; after 2 consecutive excludes a random sample of the rest starts, and
    the session stops when the hypergeometric test rejects recall < target."""
    db = tmp_path / "r.db"
    build_review(db, n=200, every=20, blank=False).close()  # 10 relevant records
    with open_review(db) as r:
        s = ScreeningSession(r, "alice", stop="buscar", stop_after=5, target_recall=0.8,
                             confidence=0.9, seed=3)
        sample_seen = []
        while True:
            shown = s.next()
            if shown is None:
                break
            if shown.phase == "sample":
                sample_seen.append(shown.record_id)
            s.decide(shown, "include" if is_relevant(r, shown.record_id) else "exclude")
        assert s.stopped and s.stopped["rule"] == "buscar"
        row = next(r.db.query("select * from ta_stopping"))
        order = json.loads(row["sample_order"])
        assert order[:len(sample_seen)] == sample_seen  # the stored random order was followed
        n = len(sample_seen)
        k = sum(is_relevant(r, rid) for rid in sample_seen)
        K = math.floor((row["r_before"] + k) / 0.8 + 1e-9) - row["r_before"] + 1
        p = hypergeom.cdf(k, row["urn_size"], K, n)
        assert row["p_value"] == pytest.approx(p) and p < 0.1
        # one sample record fewer would not have passed (the session stopped at the first pass)
        k1 = k - is_relevant(r, sample_seen[-1])
        K1 = math.floor((row["r_before"] + k1) / 0.8 + 1e-9) - row["r_before"] + 1
        assert hypergeom.cdf(k1, row["urn_size"], K1, n - 1) >= 0.1
        # the recall shown at the stop has its lower bound at or above the target
        assert s.recall_estimate() == s.stopped["recall"]
        assert s.stopped["recall"]["low"] >= 0.8
        assert stopping.recall_from_sample(row["r_before"] + k1, row["urn_size"], n - 1, k1,
                                           0.9)["low"] < 0.8
        assert row["urn_size"] == 200 - row["n_screened_before"]
        final = final_decisions(r)
        assert len(final) == 200
        assert len(automation_rows(db)) == row["urn_size"] - n == row["n_automation"]
        assert s.recall_estimate()["method"] == "sample"


def test_buscar_sample_resumes_in_the_same_order(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=100, every=10, blank=False).close()
    with open_review(db) as r:
        s = ScreeningSession(r, "alice", stop="buscar", stop_after=3, seed=1)
        for _ in range(40):
            shown = s.next()
            s.decide(shown, "include" if is_relevant(r, shown.record_id) else "exclude")
            if s.sampling and shown.phase == "sample":
                break
        assert s.sampling is not None
        nxt = s.next()
    with open_review(db) as r:
        s2 = ScreeningSession(r, "alice", stop="buscar", stop_after=3, seed=1)
        again = s2.next()
    assert again.phase == "sample" and again.record_id == nxt.record_id


def test_records_added_after_a_stop_get_a_fresh_run(tmp_path):
    from toolkit.records import make_record
    from toolkit.store import now_iso

    db = tmp_path / "r.db"
    build_review(db, n=10).close()
    args = ["--db", str(db), "screen", "--reviewer", "alice", "--stop", "heuristic",
            "--stop-after", "2", "--yes"]
    CliRunner().invoke(cli, args, input="e\ne\n", catch_exceptions=False)
    assert len(automation_rows(db)) == 8
    with open_review(db) as r, r.atomic():
        r.db["records"].insert_all([dict(make_record({"source_id": f"new{i}", "title": f"t {i}"},
                                                     source="PubMed"), added_at=now_iso())
                                    for i in range(3)])
    res = CliRunner().invoke(cli, args, input="e\nq\n", catch_exceptions=False)
    assert "stopping rule met" not in res.output and "remaining 2" in res.output
    res = CliRunner().invoke(cli, args, input="e\n", catch_exceptions=False)
    assert "stopping rule met" in res.output and len(automation_rows(db)) == 9


def test_recall_from_model_recovers_a_known_calibration():
    import numpy as np

    rng = np.random.default_rng(7)
    truth = lambda s: 1 / (1 + np.exp(-(2.0 * s - 3.0)))  # the true P(include | score)
    s_lab = rng.normal(0, 1.5, 4000)
    y = (rng.random(4000) < truth(s_lab)).astype(int)
    s_unl = rng.normal(-1, 1, 5000)
    missed = truth(s_unl).sum()  # expected includes among the unscreened, from the true model
    found = int(y.sum())
    est = stopping.recall_from_model(found, s_lab, y, s_unl)
    assert est["recall"] == pytest.approx(found / (found + missed), rel=0.03)
    assert est["low"] <= found / (found + missed) <= est["high"]
    # fewer labels: the same point roughly, but a wider interval (calibration uncertainty)
    few = stopping.recall_from_model(int(y[:200].sum()), s_lab[:200], y[:200], s_unl)
    assert (few["high"] - few["low"]) > (est["high"] - est["low"])
    # deterministic (seeded draws)
    assert stopping.recall_from_model(found, s_lab, y, s_unl) == est


def test_buscar_through_the_cli(tmp_path):
    # Nothing relevant is found: r_seen = 0, so H0 needs K = 1 include in the urn of 57 and
    # p = P(X = 0) = 1 - n/57, which drops below 1 - 0.5 at n = 29 sampled records.
    db = tmp_path / "r.db"
    build_review(db, n=60, blank=False).close()
    res = CliRunner().invoke(cli, ["--db", str(db), "screen", "--reviewer", "alice", "--stop",
                                   "buscar", "--stop-after", "3", "--confidence", "0.5", "--yes"],
                             input="e\n" * 40, catch_exceptions=False)
    assert "3 consecutive excludes: now a random sample of the 57 unscreened" in res.output
    assert res.output.count("(random sample for the stopping rule)") == 29
    assert re.search(r"stopping rule met \(BUSCAR: .*p = 0\.4912, 0 includes in a random "
                     r"sample of 29\)", res.output), res.output[-600:]
    assert len(automation_rows(db)) == 28
    assert 1 - 29 / 57 == pytest.approx(0.4912, abs=1e-4)


def test_a_stopping_rule_asks_before_it_excludes_by_automation(tmp_path):
    """Without --yes the reviewer is asked; 'n' keeps screening (nothing excluded) and the
    question comes again only after --stop-after more decisions; 'y' stops."""
    db = tmp_path / "r.db"
    build_review(db, n=20, blank=False).close()
    args = ["--db", str(db), "screen", "--reviewer", "alice", "--stop", "heuristic",
            "--stop-after", "3", "--json"]
    # three excludes: asked, answer n; two more excludes: not asked; a third: asked, answer y
    res = CliRunner().invoke(cli, args, input="e\ne\ne\nn\ne\ne\ne\ny\n",
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert res.stderr.count("exclude them and stop? [y]es / [n]o, keep screening") == 2
    assert "the 17 unscreened records would be recorded as excluded by automation" in res.stderr
    # asked before the "saved:" line of the decision that met the rule: it says it is saved
    assert "(your decision is saved) stopping rule met (3 consecutive excludes)" in res.stderr
    assert "not stopped: screening goes on (asked again after 3 more decisions)" in res.stderr
    out = json.loads(res.stdout)
    assert out["stopped"]["n_automation"] == 14 and out["decided_this_session"] == 6
    assert len(automation_rows(db)) == 14
    with open_review(db) as r:
        declined = [json.loads(e["details"]) for e in r.db.query(
            "select details from events where action = 'screen.stop_declined'")]
    assert [d["n_records"] for d in declined] == [17]


def test_a_declined_stop_excludes_nothing(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=10, blank=False).close()
    res = CliRunner().invoke(cli, ["--db", str(db), "screen", "--reviewer", "alice", "--stop",
                                   "heuristic", "--stop-after", "2"],
                             input="e\ne\nn\nq\n", catch_exceptions=False)
    assert "exclude them and stop?" in res.output and "quit:" in res.output
    assert automation_rows(db) == []
