"""Field normalisers and make_record, on the name/DOI/year shapes real exports use.

Expected values are written by hand from the conventions in docs/schema.md (DOI lower case
without prefix, PMID digits, authors "Surname, Initials", integer year)."""

import json

import pytest

from toolkit.records import (is_collective_name, make_record, normalise_author,
                             normalise_authors, normalise_doi, normalise_pmid, normalise_year,
                             split_authors)


@pytest.mark.parametrize("raw, expected", [
    ("10.1002/CNCR.20369", "10.1002/cncr.20369"),
    ("https://doi.org/10.1002/cncr.20369", "10.1002/cncr.20369"),
    ("http://dx.doi.org/10.1002/cncr.20369", "10.1002/cncr.20369"),
    ("https://www.doi.org/10.1002/cncr.20369", "10.1002/cncr.20369"),
    ("doi:10.1002/cncr.20369", "10.1002/cncr.20369"),
    ("DOI: 10.1002/cncr.20369", "10.1002/cncr.20369"),
    ("10.1002/cncr.20369.", "10.1002/cncr.20369"),
    ("10.1002/cncr.20369;", "10.1002/cncr.20369"),
    ("(doi: 10.1002/cncr.20369).", "10.1002/cncr.20369"),
    ("10.1016/S0140-6736(20)30183-5", "10.1016/s0140-6736(20)30183-5"),  # inner brackets kept
    ("10.1136/gutjnl-2016-312510 [doi]", "10.1136/gutjnl-2016-312510"),  # MEDLINE AID
    ("https://doi.org/10.1002%2Fcncr.20369", "10.1002/cncr.20369"),
    ("not a doi", None), ("", None), (None, None),
])
def test_normalise_doi(raw, expected):
    assert normalise_doi(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("27797938", "27797938"), ("PMID: 27797938", "27797938"), ("PMID:27797938", "27797938"),
    (27797938, "27797938"), ("  00123 ", "123"), ("27797938 [pmid]", "27797938"),
    # two ids in one cell: the first, not the digits of both run together
    ("27797938, PMCID: PMC5432", "27797938"),
    ("none", None), ("", None), (None, None), ("000", None),
])
def test_normalise_pmid(raw, expected):
    assert normalise_pmid(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("2014", 2014), (2014, 2014), ("2014 Aug", 2014), ("Spring 1990", 1990),
    ("1998 Dec-1999 Jan", 1998), ("2014/08/01", 2014), ("2014///", 2014), ("2014.0", 2014),
    ("Cancer (2004) 102:4", 2004), ("12345", None), ("n.d.", None), ("0200", None),
    (None, None), (1066, None),
])
def test_normalise_year(raw, expected):
    assert normalise_year(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Adler, Douglas G.", "Adler, DG"),
    ("Adler, Douglas G", "Adler, DG"),
    ("Adler, D.G.", "Adler, DG"),
    ("Adler, D. G.", "Adler, DG"),
    ("Adler DG", "Adler, DG"),
    ("Adler D.G.", "Adler, DG"),
    ("Adler D. G.", "Adler, DG"),
    ("D. G. Adler", "Adler, DG"),
    ("Douglas G. Adler", "Adler, DG"),
    ("Adler, DG", "Adler, DG"),
    ("Adler", "Adler"),
    ("Eloubeidi, Mohamad A.", "Eloubeidi, MA"),
    ("Dupont, Jean-Pierre", "Dupont, JP"),
    ("Dupont J-P", "Dupont, JP"),
    ("van der Berg J", "van der Berg, J"),
    ("Ludwig van Beethoven", "van Beethoven, L"),
    ("de la Cruz", "de la Cruz"),  # a surname alone, particles and all
    ("de la Cruz, María José", "de la Cruz, MJ"),
    ("O'Brien, Seán", "O'Brien, S"),
    ("Smith, 2nd", "Smith"),  # no letters to make initials from
    ("  Adler,   Douglas  G. ;", "Adler, DG"),
    # collective (group) authors are kept as written
    ("PLCO Project Team", "PLCO Project Team"),
    ("ESPGHAN Working Group", "ESPGHAN Working Group"),
    ("Canadian Task Force on Preventive Health Care",
     "Canadian Task Force on Preventive Health Care"),
    ("Cochrane Collaboration", "Cochrane Collaboration"),
    ("", None),
])
def test_normalise_author(raw, expected):
    assert normalise_author(raw) == expected


def test_collective_names():
    assert is_collective_name("International Pancreas Study Group")
    assert not is_collective_name("Adler, Douglas G.")
    assert not is_collective_name("Douglas G. Adler")


@pytest.mark.parametrize("raw, expected", [
    ("Liu R.; Adler D.G.", ["Liu, R", "Adler, DG"]),
    ("Liu R., Adler D.G.", ["Liu, R", "Adler, DG"]),  # Embase CSV "Author Names"
    ("Smith, J., Doe, A.", ["Smith, J", "Doe, A"]),
    ("Smith, John; Doe, Jane", ["Smith, J", "Doe, J"]),
    ("John Smith and Jane Doe", ["Smith, J", "Doe, J"]),
    ("Adler, Douglas G.", ["Adler, DG"]),
    ("", []),
])
def test_split_and_normalise_author_lists(raw, expected):
    assert normalise_authors(raw) == expected


def test_authors_from_a_list_keep_collective_names():
    assert normalise_authors(["Bao, Y", "Prescott J", "PLCO Study Group"]) == \
        ["Bao, Y", "Prescott, J", "PLCO Study Group"]
    assert split_authors("A B; ; C D") == ["A B", "C D"]


def test_make_record_keeps_raw_beside_normalised():
    row = make_record({"source_id": " 123 ", "pmid": "PMID: 123", "doi": "https://doi.org/10.1234/AB",
                       "title": "  A  title\n", "authors": "Smith J; Doe A", "year": "2014 Aug",
                       "keywords": "one; two\nthree", "publication_types": ["Journal Article"]},
                      source="PubMed")
    assert (row["source_id"], row["pmid"], row["pmid_raw"]) == ("123", "123", "PMID: 123")
    assert (row["doi"], row["doi_raw"]) == ("10.1234/ab", "https://doi.org/10.1234/AB")
    assert (row["year"], row["year_raw"]) == (2014, "2014 Aug")
    assert row["title"] == "A title"
    assert json.loads(row["authors"]) == ["Smith, J", "Doe, A"]
    assert row["authors_raw"] == "Smith J; Doe A"
    assert json.loads(row["keywords"]) == ["one", "two", "three"]
    assert json.loads(row["publication_types"]) == ["Journal Article"]
    assert json.loads(row["raw"])["doi"] == "https://doi.org/10.1234/AB"


def test_make_record_content_id_is_stable_and_content_based():
    a = make_record({"title": "T", "authors": ["X, Y"], "year": "2001"}, source="S")
    b = make_record({"title": "T", "authors": ["X, Y"], "year": "2001"}, source="S")
    c = make_record({"title": "T2", "authors": ["X, Y"], "year": "2001"}, source="S")
    assert a["source_id"] == b["source_id"] != c["source_id"]
    assert a["source_id"].startswith("h:")
    # list raw authors are kept as JSON, non-ASCII unescaped
    d = make_record({"title": "T", "authors": ["Müller, Ä"]}, source="S")
    assert d["authors_raw"] == '["Müller, Ä"]' and json.loads(d["authors"]) == ["Müller, Ä"]
