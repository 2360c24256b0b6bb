"""Typed values and derived values (formulas checked against hand computation and t tables)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, strategies as st

from toolkit.extraction import derived
from toolkit.extraction.values import (NOT_REPORTED, format_value, from_row, parse_value,
                                       to_json)


def F(kind, **kw):
    return {"name": "x", "type": kind, "level": "study", **kw}


@pytest.mark.parametrize("kind, text, expected", [
    ("integer", "14", 14),
    ("integer", "0", 0),
    ("number", "12.60", 12.6),
    ("number", "-3", -3),
    ("percent", "47.5%", 47.5),
    ("text", "  France,   Italy ", "France, Italy"),
    ("boolean", "Yes", True),
    ("boolean", "n", False),
    ("date", "2016-03", "2016-03"),
    ("n_of_N", "30/31", {"n": 30, "N": 31}),
    ("n_of_N", "0 of 12", {"n": 0, "N": 12}),
    ("mean_sd", "61.8 (8.2)", {"mean": 61.8, "sd": 8.2}),
    ("mean_sd", "59.7 ± 4.4", {"mean": 59.7, "sd": 4.4}),
    ("mean_sd", "6.8 +/- 2.2", {"mean": 6.8, "sd": 2.2}),
    ("mean_sd", "61.8 (SD 8.2)", {"mean": 61.8, "sd": 8.2}),
    ("mean_sd", "53", {"mean": 53}),
    ("mean_sd", "6.2 (SE 0.4)", {"mean": 6.2, "se": 0.4}),
    ("mean_sd", "-1.5 (95% CI -2.5 to -0.5)", {"mean": -1.5, "ci_low": -2.5, "ci_high": -0.5}),
    ("median_iqr", "10 (IQR 6-14)", {"median": 10, "q1": 6, "q3": 14}),
    ("median_iqr", "61 (range 20 to 73)", {"median": 61, "min": 20, "max": 73}),
    ("median_iqr", "16.5", {"median": 16.5}),
])
def test_parse(kind, text, expected):
    assert parse_value(F(kind), text) == expected


def test_choice_keeps_the_forms_spelling():
    assert parse_value(F("choice", choices=["VAS", "NRS"]), "nrs") == "NRS"


@pytest.mark.parametrize("kind", ["integer", "number", "percent", "text", "boolean", "date",
                                  "n_of_N", "mean_sd", "median_iqr"])
@pytest.mark.parametrize("text", ["NR", "not reported", "n/r", "Not stated"])
def test_not_reported_is_its_own_answer(kind, text):
    value = parse_value(F(kind), text)
    assert value is NOT_REPORTED
    assert to_json(value) is None and from_row("not_reported", None) is NOT_REPORTED
    assert parse_value(F("integer"), "0") == 0 and value != 0
    with pytest.raises(TypeError):  # no accidental truthiness tests
        bool(value)


@pytest.mark.parametrize("kind, text, why", [
    ("integer", "3.5", "not a whole number"),
    ("integer", "many", "not a whole number"),
    ("integer", "", "empty"),
    ("number", "1,5", "not a number"),  # decimal commas are refused, not guessed
    ("percent", "120", "between 0 and 100"),
    ("boolean", "perhaps", "not yes or no"),
    ("date", "2016-13", "not a real date"),
    ("date", "March 2016", "not a date"),
    ("n_of_N", "31/30", "exceeds N"),
    ("n_of_N", "30%", "not 'n of N'"),
    ("n_of_N", "0/0", "N is 0"),
    ("mean_sd", "61.8 (-2)", "negative SD"),
    ("mean_sd", "61.8 (95% CI 62 to 70)", "outside its CI"),
    ("mean_sd", "61.8 (range 2-3)", "in brackets expected"),
    ("mean_sd", "about 60", "not 'mean (SD)'"),
    ("median_iqr", "10 (IQR 12-14)", "outside its IQR"),
    ("median_iqr", "10 (IQR 14-6)", "lower bound exceeds"),
    ("median_iqr", "10 (5-20)", "write 'IQR a-b' or 'range a-b'"),
])
def test_invalid_values_say_why(kind, text, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_value(F(kind), text)


def test_choice_and_ranges():
    with pytest.raises(ValueError, match="not one of VAS, NRS"):
        parse_value(F("choice", choices=["VAS", "NRS"]), "VRS")
    age = F("mean_sd", min=0, max=120)
    with pytest.raises(ValueError, match="above the allowed maximum 120"):
        parse_value(age, "130 (5)")
    with pytest.raises(ValueError, match="below the allowed minimum 1"):
        parse_value(F("integer", min=1), "0")
    with pytest.raises(ValueError, match="N 20 is above"):
        parse_value(F("n_of_N", max=10), "5/20")


@given(st.integers(0, 10**6), st.integers(1, 10**6))
def test_n_of_N_round_trips(a, b):
    n, N = min(a, b), max(a, b)
    v = parse_value(F("n_of_N"), format_value({"n": n, "N": N}))
    assert v == {"n": n, "N": N}


@given(st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3)),
       st.floats(0, 1e4, allow_nan=False).map(lambda x: round(x, 3)))
def test_mean_sd_round_trips(mean, sd):
    v = parse_value(F("mean_sd"), format_value({"mean": mean, "sd": sd}))
    assert math.isclose(v["mean"], mean) and math.isclose(v["sd"], sd)


# -- derived values (Cochrane Handbook 6.5.2.2) ---------------------------------------------------

def test_percent_from_n_of_N():
    assert derived.percent_from_n_of_N(30, 31) == pytest.approx(96.774193548, rel=1e-9)
    assert derived.percent_from_n_of_N(0, 12) == 0.0


def test_sd_from_se():
    # SE 0.5 with n = 100: SD = 0.5 * 10 = 5
    assert derived.sd_from_se(0.5, 100) == pytest.approx(5.0)
    assert derived.sd_from_se(1.2, 36) == pytest.approx(7.2)


def test_sd_from_ci_large_sample_uses_3_92():
    # n = 100: SD = 10 * (64.1 - 59.5) / 3.92 = 11.734693877...
    assert derived.ci_divisor(100) == 3.92
    assert derived.sd_from_ci(59.5, 64.1, 100) == pytest.approx(46 / 3.92, rel=1e-12)


@pytest.mark.parametrize("n, t975", [(25, 2.0639), (10, 2.2622), (14, 2.1604), (2, 12.7062)])
def test_sd_from_ci_small_sample_uses_t(n, t975):
    # t(0.975, n-1) from printed t tables (4 decimals)
    assert derived.ci_divisor(n) == pytest.approx(2 * t975, abs=2e-4)
    assert derived.sd_from_ci(52, 58, n) == pytest.approx(math.sqrt(n) * 6 / (2 * t975),
                                                          rel=1e-4)


def test_sd_of_marks_derivation():
    assert derived.sd_of({"mean": 6, "sd": 1.5}, 14) == (1.5, None)
    sd, how = derived.sd_of({"mean": 6.2, "se": 0.4}, 14)
    assert sd == pytest.approx(0.4 * math.sqrt(14)) and how == "SD = SE*sqrt(n), n=14"
    sd, how = derived.sd_of({"mean": 1.9, "ci_low": 1.0, "ci_high": 2.8}, 14)
    assert sd == pytest.approx(math.sqrt(14) * 1.8 / (2 * 2.1604), rel=1e-4)
    assert "t(0.975,13)" in how
    assert derived.sd_of({"mean": 53}, 14) == (None, "SD not reported")
    assert derived.sd_of({"mean": 6, "se": 1}, None)[0] is None
    with pytest.raises(ValueError):
        derived.sd_from_se(1.0, 0)
