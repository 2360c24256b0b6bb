"""Screening aids shared by `review screen` and `review serve`: stemmed keyword highlighting,
title/abstract exclusion reasons from the criteria file (stored with the decision), the recall
curve."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from screen_helpers import build_review
from toolkit.cli import cli
from toolkit.errors import ReviewError
from toolkit.screening.criteria import load_screening_criteria
from toolkit.screening.curve import recall_curve, recall_curve_png
from toolkit.screening.decisions import record_decision, save_decision, undo_last
from toolkit.screening.highlight import Highlighter
from toolkit.screening.prompts import format_record
from toolkit.store import open_review


def marked(h: Highlighter, text: str) -> list[tuple[str, str]]:
    return [(text[a:b], kind) for a, b, kind in h.spans(text)]


# -- highlighting -----------------------------------------------------------------------------

def test_highlight_matches_stemmed_forms_case_insensitively():
    h = Highlighter(include=["ablation", "randomised"], exclude=["survey"])
    text = "Ablations and ABLATED tissue; a randomised trial, not surveys or a surveyor."
    assert marked(h, text) == [("Ablations", "include"), ("ABLATED", "include"),
                               ("randomised", "include"), ("surveys", "exclude")]


def test_highlight_phrases_prefixes_and_longest_match():
    h = Highlighter(include=["pulmonary vein", "metasta*"], exclude=["vein", "case report"])
    text = "Pulmonary veins; a vein. Metastases, metastasis, metastatic. Case reports."
    assert marked(h, text) == [("Pulmonary veins", "include"), ("vein", "exclude"),
                               ("Metastases", "include"), ("metastasis", "include"),
                               ("metastatic", "include"), ("Case reports", "exclude")]


def test_highlight_segments_rebuild_the_text_and_html_escapes_it():
    h = Highlighter(include=["cryoablation"])
    text = 'A <script>alert("x")</script> & cryoablation.'
    assert "".join(p for p, _ in h.segments(text)) == text
    html = str(h.html(text))
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp;" in html
    assert '<mark class="hl-include">cryoablation</mark>' in html


def test_terminal_record_marks_terms_and_keywords_with_ansi():
    h = Highlighter(include=["cryoablation"], exclude=["survey"])
    row = {"title": "Cryoablation outcomes", "abstract": "A survey of centres.",
           "authors": json.dumps(["Smith, J"]), "journal": "J", "year": 2020,
           "keywords": json.dumps(["cryoablation", "spine"])}
    out = format_record(row, 60, h)
    green, red = "\x1b[32m", "\x1b[31m"
    assert f"{green}\x1b[1m\x1b[4mCryoablation\x1b[0m" in out
    assert f"{red}\x1b[1m\x1b[4msurvey\x1b[0m" in out
    assert "keywords: " in out and out.count(green) == 2  # title + keyword (not "spine")
    plain = format_record(row, 60)  # no highlighter: no colour but the bold title
    assert green not in plain and red not in plain


def test_highlighter_refuses_a_language_without_stemmer():
    with pytest.raises(ValueError, match="no Snowball stemmer"):
        Highlighter(include=["x"], language="klingon")


# -- the criteria file ------------------------------------------------------------------------

def write(tmp_path, text):
    p = tmp_path / "criteria.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_criteria_without_the_keys_or_without_a_file_mean_no_reasons_no_highlight(tmp_path):
    for c in (load_screening_criteria(tmp_path / "absent.yaml"),
              load_screening_criteria(write(tmp_path, "inclusion: [a]\n"))):
        assert c.ta_reasons == [] and not c.highlighter
        assert c.reason(None) is None and c.reason("  ") is None


def test_reasons_are_named_by_number_or_name(tmp_path):
    c = load_screening_criteria(write(tmp_path, "ta_reasons: [wrong population, not a trial]\n"))
    assert c.ta_reasons == ["wrong population", "not a trial"]
    assert c.reason("2") == "not a trial"
    assert c.reason("Wrong  Population") == "wrong population"
    with pytest.raises(ReviewError, match="'3' is not one of the title/abstract reasons"):
        c.reason("3")
    with pytest.raises(ReviewError, match="wrong population; not a trial"):
        c.reason("wrong outcome")


@pytest.mark.parametrize("text, message", [
    ("ta_reasons: wrong population\n", "'ta_reasons' must be a list"),
    ("ta_reasons: [a, '']\n", "'ta_reasons' must be a list"),
    ("ta_reasons: [Not a trial, not a  trial]\n", "duplicate reasons"),
    ("ta_reasons: ['12']\n", "cannot be a number"),
    ("highlight: [a]\n", "'highlight' must be a mapping"),
    ("highlight: {include: [a], colour: red}\n", "unknown key"),
    ("highlight: {include: [trials], exclude: [trial]}\n", "both in include and exclude"),
    ("highlight: {include: ['***']}\n", "has no word"),
    ("highlight: {include: [a], language: klingon}\n", "no Snowball stemmer"),
    ("ta_reasons: [a\n", "not valid YAML"),
])
def test_a_malformed_criteria_file_is_one_error_naming_file_and_key(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(ReviewError, match=message) as err:
        load_screening_criteria(p)
    assert str(p) in str(err.value)


def test_the_worked_examples_criteria_file_loads():
    c = load_screening_criteria("screening/criteria.yaml")
    assert "not spinal" in c.ta_reasons and len(c.ta_reasons) == len(set(c.ta_reasons))
    assert marked(c.highlighter, "Percutaneous cryoablation of spinal metastases: a review") == [
        ("Percutaneous", "include"), ("cryoablation", "include"), ("spinal", "include"),
        ("metastases", "include"), ("review", "exclude")]


# -- reasons stored with the decision ---------------------------------------------------------

def test_a_reason_is_stored_with_an_exclusion_and_logged(tmp_path):
    review = build_review(tmp_path / "r.db", n=5)
    row_id = save_decision(review, 1, "exclude", "ann", reason="not a trial", seen=None)
    assert review.db["ta_decisions"].get(row_id)["reason"] == "not a trial"
    ev = json.loads(list(review.db.query(
        "select details from events where action = 'screen.decision'"))[-1]["details"])
    assert ev["reason"] == "not a trial"
    with pytest.raises(ValueError, match="goes with an exclusion"):
        record_decision(review, 2, "include", "ann", reason="not a trial")


def screen(db, keys, *args, reviewer="alice"):
    return CliRunner().invoke(cli, ["--db", str(db), "screen", "--reviewer", reviewer, *args],
                              input="".join(k + "\n" for k in keys), catch_exceptions=False)


def test_review_screen_excludes_with_a_reason_by_digit_or_by_r(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=8).close()
    crit = write(tmp_path, "ta_reasons: [wrong population, wrong intervention, not a trial]\n")
    res = screen(db, ["2", "r", "Not A Trial", "r", "nonsense", "e", "i", "q"],
                 "--criteria", str(crit))
    assert res.exit_code == 0, res.output
    assert "[1-3/r] exclude+reason" in res.output
    assert "saved: exclude (wrong intervention)" in res.output
    assert "saved: exclude (not a trial)" in res.output
    assert "'nonsense' is not one of the title/abstract reasons" in res.output
    with open_review(db) as r:
        got = [(d["decision"], d["reason"]) for d in r.db.query(
            "select decision, reason from ta_decisions order by id")]
    assert got == [("exclude", "wrong intervention"), ("exclude", "not a trial"),
                   ("exclude", None), ("include", None)]


def test_review_screen_stops_on_a_malformed_criteria_file(tmp_path):
    db = tmp_path / "r.db"
    build_review(db, n=4).close()
    crit = write(tmp_path, "ta_reasons: [a, a]\n")
    res = CliRunner().invoke(cli, ["--db", str(db), "screen", "--criteria", str(crit)],
                             input="i\n")
    assert res.exit_code != 0 and "duplicate reasons" in str(res.exception)
    with open_review(db) as r:
        assert r.db["ta_decisions"].count == 0


# -- recall curve ----------------------------------------------------------------------------

def test_recall_curve_counts_includes_in_decision_order_without_undone(tmp_path):
    review = build_review(tmp_path / "r.db", n=6)
    ids = {rid: save_decision(review, rid, d, "ann", seen=None)
           for rid, d in [(1, "include"), (2, "exclude"), (3, "maybe"), (4, "include")]}
    save_decision(review, 5, "include", "bob", seen=None)  # another reviewer's: not on ann's curve
    last = save_decision(review, 6, "include", "ann", seen=None)
    undo_last(review, "ann", seen=last)           # the last one is taken back
    save_decision(review, 2, "include", "ann", seen=ids[2])  # a changed mind counts once
    assert recall_curve(review, "ann") == {"screened": [1, 2, 3, 4], "found": [1, 2, 2, 3]}
    png = recall_curve_png(recall_curve(review, "ann"),
                           {"recall": 0.75, "low": 0.5, "high": 0.9, "method": "model"}, 6)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_export_names_each_reviewers_exclusion_reason(tmp_path):
    from toolkit.screening.export import columns

    review = build_review(tmp_path / "r.db", n=4)
    save_decision(review, 1, "exclude", "bob", reason="not a trial", seen=None)
    save_decision(review, 1, "exclude", "ann", reason="wrong population", seen=None)
    reasoned = save_decision(review, 2, "exclude", "ann", reason="not a trial", seen=None)
    save_decision(review, 2, "include", "ann", seen=reasoned)  # replaces the reasoned one
    cols, values = columns(review)
    assert "ta_reasons" in cols
    assert values[1]["ta_reasons"] == "ann: wrong population; bob: not a trial"
    assert values[2]["ta_reasons"] is None
