"""Pairs the rules decide since round 9 of docs/dedup.md: MEDLINE's bracketed translated titles, an
issue typed wrong on an otherwise identical record, short titles without a volume, letter-
prefixed last pages, page counts, a year in the volume field, conference papers against records
that are no journal paper, and proceedings papers whose titles fall below the floor. Each has a
duplicate and a not-duplicate partner.

The records are modelled on entries of the SRA-DM respiratory and stroke exports and the
digital_work set that the BibDedupe 0.7.2 wheel ships (benchmarks/dedup_sets.py): their field
formats are theirs, the partners follow how MEDLINE, Embase and PsycINFO print such records."""

from __future__ import annotations

import numpy as np

from toolkit.dedup.features import levels
from toolkit.dedup.match import DUPLICATE, NOT, classify, title_scored
from toolkit.dedup.normalise import is_translated_title, normalise_record, pages_trustworthy
from toolkit.records import make_record


def norm(fields: dict, rid: int = 1):
    row = make_record(fields, source="PubMed")
    row["id"] = rid
    return normalise_record(row)


def decide(a: dict, b: dict):
    return classify(norm(a, 1), norm(b, 2))


# --- MEDLINE's translated titles ----------------------------------------------------------------

# The same French paper: Embase's own English title, and MEDLINE's bracketed translation
FRENCH = dict(title="Antibiotic prophylaxis in pulmonary surgery. A controlled double-blind "
                    "study of amoxicillin versus cefamandol",
              authors="Train, M. and Soulard, D. and Bouyer, L. and Bizouarn, P.",
              year="1994", journal="Ann Fr Anesth Reanim", volume="13", pages="280-284")
FRENCH_MEDLINE = dict(FRENCH, title="[Comparison of amoxicillin and cefamandole in the "
                                    "prevention of bronchopulmonary infections in pulmonary "
                                    "surgery].",
                      journal="Annales Francaises d Anesthesie et de Reanimation")


def test_translated_title_is_recognised():
    assert is_translated_title(FRENCH_MEDLINE["title"])
    assert is_translated_title("[Postoperative immunostimulation in bronchial carcinoma] "
                               "[Review] [23 refs]")
    assert not is_translated_title("[Erratum] Title of the article")
    assert not is_translated_title(FRENCH["title"])


def test_translated_title_with_the_whole_pagination_is_a_duplicate():
    d = decide(FRENCH, FRENCH_MEDLINE)
    assert d.score < 70 and d[:2] == (DUPLICATE, "translated-title-citation-match")
    # the German paper of the same kind, one record without authors
    german = dict(title="[Postoperative immunostimulation in non-small-cell bronchial carcinoma. "
                        "Outcome and complications]", authors="Toomes, H.", year="1984",
                  journal="Deutsche Medizinische Wochenschrift", volume="109", pages="935-940")
    other = dict(german, title="Postoperative local immunostimulation in non-oatcell bronchial "
                               "carcinoma", authors="", journal="Dtsch-Med-Wochenschr")
    assert decide(german, other).decision == DUPLICATE


def test_translated_title_is_not_enough_without_the_citation_or_related_words():
    # other pages: another paper of the same authors
    assert decide(FRENCH, dict(FRENCH_MEDLINE, pages="285-290")).decision != DUPLICATE
    # other authors on the same pages: a data error, not a translation
    assert decide(FRENCH, dict(FRENCH_MEDLINE, authors="Dupont, J. and Martin, C.")
                  ).decision != DUPLICATE
    # a bracketed title sharing no word with the other is not a rendering of it
    unrelated = dict(FRENCH_MEDLINE, title="[Epidural analgesia after thoracotomy: a survey].")
    assert decide(FRENCH, unrelated).decision != DUPLICATE


# --- an issue typed wrong, and a column in another issue ---------------------------------------

BALON = dict(title="Review of Memory rehabilitation. Integrating theory and practice",
             authors="Balon, Richard", year="2010", journal="Annals of Clinical Psychiatry",
             volume="22", issue="3", pages="139-140")


def test_long_title_on_the_same_pages_is_not_split_by_its_issue():
    assert decide(BALON, dict(BALON, issue="2")).decision == DUPLICATE
    # other pages in another issue: the rule still holds
    assert decide(BALON, dict(BALON, issue="2", pages="88-89")).rule == "issue-differs"


def test_short_titled_column_on_the_same_pages_of_another_issue_is_not_a_duplicate():
    notes = dict(title="Editorial Notes", authors="Benbasat, Izak", year="2000",
                 journal="Information Systems Research", volume="11", issue="3", pages="i-ii")
    assert decide(notes, dict(notes, issue="4")).rule == "issue-differs"


# --- short titles without a volume ----------------------------------------------------------------

MUSIC = dict(title="Music therapy for acquired brain injury",
             authors="Bradt, J. and Magee, W. L. and Dileo, C.", year="2010",
             journal="Cochrane Database of Systematic Reviews", issue="7")


def test_short_title_without_volumes_matches_on_issue_authors_and_year():
    full = dict(MUSIC, authors="Bradt, Joke and Magee, Wendy L. and Dileo, Cheryl",
                pages="CD006787")
    assert decide(MUSIC, full)[:2] == (DUPLICATE, "short-title-all-match")
    # the review's update of another year, and another issue of the same year, are not
    assert decide(MUSIC, dict(full, year="2012")).decision != DUPLICATE
    assert decide(MUSIC, dict(full, issue="3")).decision != DUPLICATE


# --- pages and volumes that are not what they seem -----------------------------------------------

def test_last_pages_agree_up_to_a_letter_prefix():
    a = dict(title="Haemolytic uraemic syndrome and its treatment in adults and children",
             authors="Kavanagh, D. and Goodship, T.", year="2011",
             journal="Nephron Clinical Practice", volume="118", issue="1", pages="c37-c42")
    b = dict(a, pages="37-42")
    assert levels(norm(a, 1), norm(b, 2), 100.0)["last_page"] == "same"
    assert decide(a, b).decision == DUPLICATE
    assert levels(norm(a, 1), norm(dict(a, pages="37-48"), 2), 100.0)["last_page"] == "differ"


def test_page_count_of_a_thesis_is_not_a_page():
    assert not pages_trustworthy("215 p")
    assert not pages_trustworthy("xii, 215 pp.")
    assert pages_trustworthy("215") and pages_trustworthy("S215-S216")


def test_a_year_in_the_volume_field_is_not_a_volume_number():
    hbr = dict(title="How an introverted engineer learned to lead a global company",
               authors="Kasriel, S.", year="2016", journal="Harvard Business Review",
               volume="2016", issue="5")
    assert not norm(hbr).volume_plain
    assert norm(dict(hbr, volume="94")).volume_plain
    # so it does not contradict the real volume of the same article
    d = decide(hbr, dict(hbr, volume="94", authors="Kasriel, Stephane"))
    assert d.decision == DUPLICATE


# --- conference papers ---------------------------------------------------------------------------

ICIS = dict(title="Call for bids to improve matching efficiency: evidence from online labor "
                  "markets", authors="Guo, Xue and Gong, Jing and Pavlou, Paul A.",
            year="2017", journal="International Conference on Information Systems",
            pages="1-12")


def test_conference_paper_against_a_record_that_is_no_journal_paper_is_not_a_contradiction():
    other = dict(ICIS, authors="Guo, X. and Gong, J. and Pavlou, P.", year="2018",
                 journal="ICIS : Transforming Society with Digital Innovation", pages="")
    assert decide(ICIS, other).rule != "conference-vs-paper"
    # against a journal paper (a volume and pages) the abstract stays apart
    paper = dict(other, journal="MIS Quarterly", volume="44", pages="101-130")
    assert decide(ICIS, paper)[:2] == (NOT, "conference-vs-paper")


def test_proceedings_papers_on_the_same_pages_are_decided_whatever_their_titles():
    chi = dict(title="Infrastructure in the wild", authors="Soden, Robert and Palen, Leysia",
               year="2016", journal="Proceedings of the 2016 CHI Conference on Human Factors in "
                                    "Computing Systems", pages="2796-2807")
    long_ = dict(chi, title="Infrastructure in the wild: what mapping in post-earthquake Nepal "
                            "reveals about infrastructural emergence",
                 authors="Soden, R. and Palen, L.")
    other = dict(chi, title="Crowdsourced mapping for humanitarian response", pages="2808-2819")
    norms = [norm(chi, 0), norm(long_, 1), norm(other, 2)]
    pairs = np.array([[0, 1], [0, 2]])
    keep, sims, _ = title_scored(norms, pairs)
    assert sims[0] < 70 and list(keep) == [0]  # below the floor, kept by its pages
