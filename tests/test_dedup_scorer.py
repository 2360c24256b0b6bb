"""The classes of pairs that deduplication missed on exports it had never seen, each with a
duplicate and a not-duplicate partner, decided by the hand rules with the shipped pair scorer;
the scorer itself (explanations, the model file, a deterministic fit); and a merge the scorer
made, named in the store.

The records are modelled on entries of the ASySD / SRA-DM exports (tests/data/dedup/SOURCES.md
names them) and on how Ovid/Embase, JSTOR and Web of Science print the same fields: Ovid's whole
source string in the journal field, a month or "var.pagings" in pages, an Excel date in issue,
a JSTOR DOI beside the publisher's, "1017-+" pages, full upper-case journal names and given
names spelled out.
"""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.dedup import scorer
from toolkit.dedup.api import deduplicate
from toolkit.dedup.features import FEATURES, LEVELS, levels
from toolkit.dedup.match import DUPLICATE, NOT, UNCERTAIN, FieldTrust, decide
from toolkit.dedup.normalise import normalise_record, pages_trustworthy, split_citation
from toolkit.records import make_record
from toolkit.store import create_review, now_iso


def norm(fields: dict, rid: int):
    row = make_record(fields, source="Embase")
    row["id"] = rid
    return normalise_record(row)


def judge(a: dict, b: dict, model="shipped"):
    m = scorer.shipped() if model == "shipped" else model
    return decide(norm(a, 1), norm(b, 2), None, FieldTrust(), m)


VACCINE = dict(
    title="Immunogenicity and safety of an AS03-adjuvanted H1N1 pandemic vaccine in healthy "
          "adults aged 18-60 years",
    authors="Roman F.; Vaman T.; Gerlach B.; Markendorf A.; Gillard P.; Devaster J. M.",
    year="2010", journal="Vaccine", volume="28", issue="32", pages="5203-5211")
# Ovid's Embase export of the same paper: the citation in the journal field, no volume, the
# publication month in pages and an Excel date in issue
OVID = dict(VACCINE, journal="Vaccine.28 (32) ()(pp 5203-5211) 2010.Date of Publication: 19 "
                             "Jul 2010", volume="", issue="01-Feb", pages="July")

PERIO = dict(title="Periodontal disease and the risk of incident coronary heart disease in a "
                   "population-based cohort",
             authors="Van Dyke T. E.; Sheilesh D.", year="2009", journal="J Periodontol",
             volume="80", issue="4", pages="1017-1022", doi="10.1902/jop.2009.080590")


# --- Ovid/Embase shifted fields ---------------------------------------------------------------

def test_ovid_source_string_in_the_journal_field_is_split():
    assert split_citation(OVID["journal"]) == {
        "journal": "Vaccine", "volume": "28", "issue": "32", "pages": "5203-5211",
        "year": "2010"}
    n = norm(OVID, 1)
    assert (n.journal, n.volume, n.issue, n.page_first, n.page_last) == (
        "vaccine", "28", "32", "5203", "5211")


@pytest.mark.parametrize("pages", ["July", "Septemper", "Dec-19", "var.pagings",
                                   "No Pagination Specified", "[Epub ahead of print]"])
def test_pages_that_are_not_a_page_range_are_not_trusted(pages):
    assert not pages_trustworthy(pages)


@pytest.mark.parametrize("pages", ["5203-5211", "1017-+", "221-8", "e1234", "S12-S14", "iii-iv",
                                   "06-Oct"])
def test_page_ranges_are_trusted(pages):
    # "06-Oct" can only be pages 6-10 turned into a date (a date would carry a year)
    assert pages_trustworthy(pages)


@pytest.mark.parametrize("shifted", [
    {},  # the source string gives volume, issue and pages
    {"journal": "Vaccine", "pages": "var.pagings", "issue": ""},
    {"journal": "Vaccine", "pages": "Septemper", "issue": "01-Feb", "volume": ""},
    {"journal": "Vaccine", "pages": "Dec-19", "volume": "28"},  # a month and year, not 12-19
])
def test_ovid_record_with_shifted_fields_is_a_duplicate(shifted):
    d = judge(VACCINE, dict(OVID, **shifted))
    assert d.decision == DUPLICATE, d
    # the hand rules alone agree: an untrustworthy field is no contradiction
    assert judge(VACCINE, dict(OVID, **shifted), model=None).decision == DUPLICATE


def test_ovid_record_of_another_paper_or_year_is_not_a_duplicate():
    other = dict(OVID, title="Safety of a seasonal influenza vaccine given with an adjuvanted "
                             "H1N1 vaccine in older adults",
                 journal="Vaccine.28 (32) ()(pp 5212-5220) 2010.Date of Publication: 19 Jul 2010")
    assert judge(VACCINE, other).decision == NOT
    later = dict(OVID, year="2012", journal="Vaccine.30 (4) ()(pp 700-708) 2012.")
    assert judge(VACCINE, later) == (NOT, "years-apart", 100.0)


def test_trustworthy_pages_that_differ_still_contradict():
    # both page fields are real ranges and the years differ: two papers
    a = dict(PERIO, doi="")
    b = dict(PERIO, doi="", pages="1117-1122", year="2010", volume="81")
    assert judge(a, b).decision == NOT


# --- two DOIs, or a DOI on one record only ----------------------------------------------------

def test_same_article_under_a_publisher_and_a_jstor_doi_is_a_duplicate():
    jstor = dict(PERIO, doi="10.2307/23456789", journal="JOURNAL OF PERIODONTOLOGY",
                 pages="1017-+")
    assert judge(PERIO, jstor) == (DUPLICATE, "doi-differs-citation-agrees", 100.0)


def test_doi_on_one_record_only_is_a_duplicate():
    assert judge(PERIO, dict(PERIO, doi="", journal="JOURNAL OF PERIODONTOLOGY")).decision \
        == DUPLICATE


def test_yearly_editorials_with_their_own_dois_are_not_duplicates():
    ed = dict(title="Editorial", authors="Avison D. E.; Fitzgerald G.",
              journal="Information Systems Journal", issue="1", pages="1-2")
    a = dict(ed, year="2000", volume="10", doi="10.1046/j.1365-2575.2000.010001001.x")
    b = dict(ed, year="2001", volume="11", doi="10.1046/j.1365-2575.2001.011001001.x")
    assert judge(a, b).decision == NOT


# --- author format, journal abbreviation, "1017-+" pages -------------------------------------

@pytest.mark.parametrize("authors", ["Van Dyke Thomas E.; Sheilesh Dave",
                                     "Van Dyke, Thomas E.; Sheilesh, Dave"])
def test_given_names_spelled_out_are_the_same_authors(authors):
    other = dict(PERIO, authors=authors, doi="", journal="JOURNAL OF PERIODONTOLOGY")
    assert judge(PERIO, other).decision == DUPLICATE
    lv = levels(norm(PERIO, 1), norm(other, 2), 100.0)
    assert lv["authors"] in ("same", "same-names")


def test_another_author_with_another_citation_is_not_a_duplicate():
    other = dict(PERIO, authors="Van Dam T. E.; Sheilesh D.", year="2011", volume="82",
                 pages="117-122", doi="")
    assert judge(PERIO, other).decision == NOT


def test_journal_abbreviation_and_full_upper_case_name_are_one_journal():
    assert judge(PERIO, dict(PERIO, journal="JOURNAL OF PERIODONTOLOGY", doi="")).decision \
        == DUPLICATE


def test_another_journal_with_another_citation_is_not_a_duplicate():
    other = dict(PERIO, journal="JOURNAL OF PERIODONTAL RESEARCH", volume="44", issue="2",
                 pages="201-207", doi="")
    assert judge(PERIO, other).decision == NOT


def test_open_last_page_matches_the_full_range():
    assert judge(PERIO, dict(PERIO, pages="1017-+", doi="")).decision == DUPLICATE


# --- what reviewers rely on stays, whatever the scorer would say --------------------------------

@pytest.mark.parametrize("other, rule", [
    (dict(PERIO, title="Erratum: " + PERIO["title"], pages="1400", doi=""), "notice-differs"),
    (dict(PERIO, title="Comment on: " + PERIO["title"], pages="1400", doi=""),
     "notice-differs"),
    (dict(PERIO, journal="Journal of Periodontology. Conference: 95th Annual Meeting of the "
                         "American Academy of Periodontology", issue="8 Suppl", pages="S12",
          year="2008", doi=""), "conference-vs-paper"),
])
def test_notices_and_conference_abstracts_stay_separate(other, rule):
    assert judge(PERIO, other)[:2] == (NOT, rule)


def test_parts_of_a_series_stay_separate():
    a = dict(PERIO, title=PERIO["title"] + ": part 1", doi="")
    b = dict(PERIO, title=PERIO["title"] + ": part 2", pages="1023-1030", doi="")
    assert judge(a, b)[:2] == (NOT, "part-differs")


def test_titles_differing_in_a_number_are_never_merged_by_the_scorer():
    focus = dict(title="FOCUS 1: a randomized, double-blinded, multicentre, Phase III trial of "
                       "ceftaroline fosamil versus ceftriaxone in community-acquired pneumonia",
                 authors="File Jr, T. M. and Low, D. E. and Eckburg, P. B.", year="2011",
                 journal="Journal of Antimicrobial Chemotherapy", volume="66",
                 pages="iii19-iii32")
    other = dict(focus, title=focus["title"].replace("FOCUS 1", "FOCUS 2"),
                 authors="Low, D. E. and File Jr, T. M. and Eckburg, P. B.",
                 pages="iii33-iii44")
    assert judge(focus, other).decision != DUPLICATE


# --- the scorer settles what the rules leave open, and says why ---------------------------------

# The same article online first (pages 1-6, spread by a spreadsheet into "01-Jun") and in print
# (respiratory set; the issue field there holds record numbers, left out): the rules cannot
# tell (pages-differ); the scorer can.
KWON = dict(title="Management of peripancreatic fluid collections following partial "
                  "pancreatectomy: a comparison of percutaneous versus EUS-guided drainage",
            authors="Kwon, Y. M. and Gerdes, H. and Schattner, M. A. and Brown, K. T. and "
                    "Covey, A. M. and Getrajdman, G. I. and Solomon, S. B.",
            year="2013", journal="Surgical Endoscopy", volume="", pages="01-Jun")
KWON_PRINT = dict(KWON, journal="Surg Endosc", volume="27", pages="2422-2427")


def test_scorer_settles_an_uncertain_pair_and_names_its_reasons():
    assert judge(KWON, KWON_PRINT, model=None)[:2] == (UNCERTAIN, "pages-differ")
    d = judge(KWON, KWON_PRINT)
    assert d.decision == DUPLICATE and d.rule.startswith("pair-score 0.9")
    assert "title=exact +" in d.rule and "year=same +" in d.rule


def test_scorer_closes_an_uncertain_pair_it_finds_unlikely():
    other = dict(PERIO, journal="JOURNAL OF PERIODONTAL RESEARCH", volume="44", issue="2",
                 pages="201-207", doi="")
    assert judge(PERIO, other, model=None)[:2] == (UNCERTAIN, "pages-differ")
    d = judge(PERIO, other)
    assert d.decision == NOT and d.rule.startswith("pair-score 0.0")
    assert "(pages-differ)" in d.rule


ZUBER = dict(title="New insights into postrenal transplant hemolytic uremic syndrome",
             authors="Zuber, J and Le Quintrec, M", year="2011", journal="Nat Rev Nephrol",
             volume="7", issue="1", pages="23-35")
ZUBER_BARE = dict(ZUBER, title="", authors="Zuber, J. and Le Quintrec, M.")  # no title


def test_title_less_record_matches_its_article_by_citation_and_authors():
    assert judge(ZUBER, ZUBER_BARE, model=None).decision == NOT  # the rules need a title
    assert judge(ZUBER, ZUBER_BARE).decision == DUPLICATE
    assert judge(ZUBER, dict(ZUBER_BARE, issue="3", pages="160-172")).decision == NOT
    # two title-less records do not agree on a title they do not have
    nothing = dict(authors="Anonymous", year="2010", journal="Lancet")
    assert judge(nothing, dict(nothing)).decision == NOT


def test_unrelated_titles_with_one_citation_are_not_merged_by_the_scorer():
    # everything but the title agrees; two unrelated titles are a data error, not a translation
    other = dict(ZUBER, title="Cerebral vasospasm after aneurysmal subarachnoid haemorrhage")
    assert judge(ZUBER, other).decision != DUPLICATE
    from toolkit.dedup.match import UNRELATED_TITLES
    from rapidfuzz import fuzz
    a, b = norm(ZUBER, 1), norm(other, 2)
    assert fuzz.token_set_ratio(a.title, b.title) < UNRELATED_TITLES
    # the same pair with the title missing on one side is merged (test above): it is the
    # unrelated title, not the lack of one, that keeps them apart


def test_merge_by_the_scorer_is_named_in_the_store_and_the_log(tmp_path):
    review = create_review(tmp_path / "r.db")
    for k, fields in enumerate((ZUBER, ZUBER_BARE)):
        row = make_record({"source_id": f"E{k}", **fields}, source="Embase")
        row["added_at"] = now_iso()
        review.db["records"].insert(row)
    out = deduplicate(review)
    assert out["duplicates_removed"] == 1 and out["uncertain_pairs"] == 0
    rules = [r[0] for r in review.db.execute(
        "select rule from cluster_members where role = 'duplicate'")]
    assert len(rules) == 1 and rules[0].startswith("pair-score 0.9")
    assert "authors=same +" in rules[0]
    settings = review.db.execute("select settings from dedup_runs").fetchone()[0]
    assert '"pair_model": ["cardiac"' in settings  # which scorer decided is recorded
    review.close()


# --- the model file and the fit ---------------------------------------------------------------

def test_shipped_model_covers_every_level_and_names_its_training_sets():
    m = scorer.shipped()
    assert set(m.weights) == set(FEATURES)
    assert {"diabetes", "neuroimaging", "cardiac"} <= set(m.trained_on)
    assert not {"srsr", "depression"} & set(m.trained_on)
    # a level of every field for any pair
    lv = levels(norm(PERIO, 1), norm(PERIO, 2), 100.0)
    assert set(lv) == set(LEVELS) and all(f"{f}={v}" in m.weights for f, v in lv.items())


def test_environment_can_choose_rules_alone_or_another_model(monkeypatch, tmp_path):
    monkeypatch.setenv("REVIEW_DEDUP_MODEL", "none")
    assert scorer.shipped() is None
    path = tmp_path / "m.json"
    scorer.save(scorer.PairModel(weights={f: 0.0 for f in FEATURES}, intercept=-1.0), path)
    monkeypatch.setenv("REVIEW_DEDUP_MODEL", str(path))
    assert scorer.shipped().intercept == -1.0


def test_fit_is_deterministic_and_the_file_byte_identical(tmp_path):
    rng = np.random.default_rng(7)
    x = np.zeros((400, len(FEATURES)), dtype=np.float32)
    start = 0
    for lvs in LEVELS.values():  # one level per field, as feature_matrix gives
        x[np.arange(400), start + rng.integers(0, len(lvs), 400)] = 1
        start += len(lvs)
    exact = FEATURES.index("title=exact")
    y = (x[:, exact] == 1) | (rng.random(400) < 0.1)
    a, b = scorer.fit(x, y, ["s1"]), scorer.fit(x, y, ["s1"])
    scorer.save(a, tmp_path / "a.json")
    scorer.save(b, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    # it learned what the labels say: an exact title weighs for a duplicate
    assert a.weights["title=exact"] > 1.0
    assert scorer.load(tmp_path / "a.json") == a
