"""Normalisers and pair rules of deduplication, one real-looking pair per rule.

Records are modelled on entries of the ASySD diabetes/neuroimaging exports
(../shared/data/dedup, see tests/data/dedup/SOURCES.md): the field formats (run-together
EndNote authors, Excel-damaged pages, latin-1 mojibake, Embase conference journals) are theirs;
the not-duplicate partners (erratum, reply, part 2, ...) follow how MEDLINE/Embase title them.
"""

from __future__ import annotations

import pytest

from toolkit.dedup.match import DUPLICATE, NOT, UNCERTAIN, classify
from toolkit.dedup.normalise import (author_surnames, fix_mojibake, journals_compatible,
                                     normalise_record, page_range, title_key)
from toolkit.records import make_record

ADELI = dict(title="Intestinal lipoprotein overproduction in insulin-resistant states",
             authors="Adeli K.Lewis G. F.", year="2008", journal="Curr Opin Lipidol",
             volume="19", issue="3", pages="221-8", doi="10.1097/MOL.0b013e3282ffaf82")


def norm(fields: dict, rid: int = 1, source: str = "PubMed"):
    row = make_record(fields, source=source)
    row["id"] = rid
    return normalise_record(row)


def decide(a: dict, b: dict):
    return classify(norm(a, 1), norm(b, 2))


# --- normalisers ------------------------------------------------------------------------------

def test_mojibake_is_repaired():
    assert fix_mojibake("KÃ¶nig") == "König"
    assert fix_mojibake("Ã\u0089tude â€“ rÃ©sultats") == "Étude – résultats"
    assert fix_mojibake("plain text") == "plain text"


def test_title_key_folds_case_punctuation_html_latex_diacritics():
    assert title_key("Effects of <i>GLP-1</i> on $\\beta$-cells in König's mice.") == \
        "effects of glp 1 on beta cells in konig s mice"
    assert title_key("Effects of GLP-1 on β-cells in KÃ¶nig's mice") == \
        "effects of glp 1 on beta cells in konig s mice"
    assert title_key("Temozolomide: Temodal. [Japanese]") == title_key("[Temozolomide: Temodal]")
    assert title_key("Variant of Rett syndrome.[Erratum appears in Neuropediatrics. "
                     "2012 Jun;43(3):166]") == "variant of rett syndrome"


@pytest.mark.parametrize("raw, expected", [
    ("Adeli K.Lewis G. F.", ["adeli", "lewis"]),
    ("ChangT.K.ChenH.WaxmanD.J.", ["chang", "chen", "waxman"]),
    ("Al-Dwairi A.Mercado C. P.Von Deimling A.", ["aldwairi", "mercado", "vondeimling"]),
    ("Adeli, Khosrow; Lewis, Gary F.", ["adeli", "lewis"]),
    ("Khosrow Adeli and Gary F. Lewis", ["adeli", "lewis"]),
    ("EngerstrÃ¶m I.Calabrese O.", ["engerstrom", "calabrese"]),
])
def test_author_surnames_in_export_formats(raw, expected):
    assert author_surnames(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("221-8", ("221", "228")), ("221-228", ("221", "228")), ("06-Oct", ("6", "10")),
    ("01-Nov", ("1", "11")), ("Jan-30", ("1", "30")), ("H887-94", ("h887", "h894")),
    ("S284-S285", ("s284", "s285")), ("e001469", ("e1469", "")), ("", ("", "")),
    ("1405–1412", ("1405", "1412")),
])
def test_page_range(raw, expected):
    assert page_range(raw) == expected


def test_journal_abbreviations_match_full_names():
    from toolkit.dedup.normalise import journal_key as jk
    assert journals_compatible(jk("Curr Opin Lipidol"), jk("Current Opinion in Lipidology"))
    assert journals_compatible(jk("J Am Heart Assoc"),
                               jk("Journal of the American Heart Association"))
    assert journals_compatible(jk("Arteriosclerosis Thrombosis and Vascular"),
                               jk("Arterioscler Thromb Vasc Biol"))
    assert journals_compatible(jk("Endocrine Reviews. Conference: 94th Annual Meeting"),
                               jk("Endocr Rev"))
    assert not journals_compatible(jk("Diabetes"), jk("Cardiovascular Research"))


# --- duplicate rules --------------------------------------------------------------------------

def test_same_doi_is_duplicate_even_if_formatted_differently():
    b = dict(ADELI, pages="221-228", doi="http://dx.doi.org/10.1097/MOL.0b013e3282ffaf82")
    assert decide(ADELI, b).decision == DUPLICATE
    c = dict(ADELI, doi="10.1016/s0025-7753%2817%2930624-3")
    d = dict(ADELI, doi="10.1016/S0025-7753(17)30624-3")
    assert decide(c, d) == (DUPLICATE, "same-identifier", 100.0)


def test_missing_doi_but_title_authors_journal_pages_match_is_duplicate():
    pubmed = dict(title="Dipeptidyl-peptidase-4 inhibitor alogliptin attenuates arterial "
                        "inflammation and neointimal formation after injury in low-density "
                        "lipoprotein (LDL) receptor-deficient mice",
                  authors="Akita K.Isoda K.Shimada K.Daida H.", year="2015",
                  journal="J Am Heart Assoc", volume="4", issue="3", pages="e001469", doi="")
    embase = dict(pubmed, authors="Akita, K.; Isoda, K.; Shimada, K.; Daida, H.",
                  journal="Journal of the American Heart Association",
                  doi="10.1161/JAHA.114.001469")
    d = decide(pubmed, embase)
    assert d.decision == DUPLICATE and d.rule == "title-authors-match"


def test_run_together_authors_and_short_page_ranges_match():
    b = dict(ADELI, authors="Adeli, Khosrow; Lewis, Gary F.", pages="221-228", doi="",
             journal="Current Opinion in Lipidology")
    assert decide(dict(ADELI, doi=""), b).decision == DUPLICATE


def test_excel_mangled_pages_match():
    a = dict(title="Glucagon-like peptide-1 receptor agonists and neuroprotection in "
                   "Parkinson's disease", authors="Athauda D.Foltynie T.", year="2016",
                   journal="Parkinsonism and Related Disorders", volume="32", pages="06-Oct")
    b = dict(a, pages="6-10", journal="Parkinsonism Relat Disord")
    d = decide(a, b)
    assert d.decision == DUPLICATE


def test_mojibake_title_and_authors_match():
    a = dict(title="Variant of Rett syndrome and CDKL5 gene: clinical and autonomic "
                   "description of 10 cases in KÃ¶nigsberg", authors="Pini G.EngerstrÃ¶m I.",
             year="2012", journal="Neuropediatrics", volume="43", pages="37-43")
    b = dict(a, title="Variant of Rett syndrome and CDKL5 gene: Clinical and autonomic "
                      "description of 10 cases in Königsberg", authors="Pini G.Engerström I. W.")
    d = decide(a, b)
    assert d.decision == DUPLICATE and d.score == 100.0


def test_epub_and_print_year_one_apart_is_duplicate():
    a = dict(ADELI, doi="", year="2007")
    assert decide(a, dict(ADELI, doi="")).decision == DUPLICATE


def test_wrong_doi_but_whole_citation_agrees_is_duplicate():
    a = dict(title="Familial Creutzfeldt-Jakob disease: A neuropsychological case study",
             authors="Gass C. S.Luis C. A.Meyers T. L.Kuljis R. O.", year="2000",
             journal="Archives of Clinical Neuropsychology", volume="15", pages="165-175",
             doi="10.1016/s0887-6177(99)00011-6")
    b = dict(a, doi="10.1097/SPC.0000000000000365")
    assert decide(a, b) == (DUPLICATE, "doi-differs-citation-agrees", 100.0)


# --- not-duplicate rules ----------------------------------------------------------------------

def test_erratum_is_not_its_article():
    err = dict(ADELI, title="Erratum: Intestinal lipoprotein overproduction in "
                            "insulin-resistant states", pages="563", doi="")
    d = decide(dict(ADELI, doi=""), err)
    assert d == (NOT, "notice-differs", d.score)


def test_reply_and_comment_are_not_the_article():
    art = dict(title="Empagliflozin, cardiovascular outcomes, and mortality in type 2 diabetes",
               authors="Zinman B.Wanner C.Lachin J. M.", year="2016",
               journal="N Engl J Med", volume="373", pages="2117-28")
    reply = dict(art, title=art["title"] + ". Reply", authors="Zinman B.Inzucchi S. E.",
                 volume="374", pages="1094")
    comment = dict(art, title="Comment on: " + art["title"], authors="Smith A.")
    assert decide(art, reply).rule == "notice-differs"
    assert decide(art, comment).rule == "notice-differs"
    assert decide(art, reply).decision == NOT


def test_conference_abstract_and_later_paper_are_not_duplicates():
    abstract = dict(title="Liraglutide reduces atherosclerotic plaque in ApoE-/- mice",
                    authors="Gaspari T.Welungoda I.Widdop R. E.Dear A. E.", year="2012",
                    journal="Diabetes. Conference: 72nd Scientific Sessions of the American "
                            "Diabetes Association", volume="61", pages="A45")
    paper = dict(abstract, journal="Diabetes & Vascular Disease Research", year="2013",
                 volume="10", pages="252-60")
    assert decide(abstract, paper) == (NOT, "conference-vs-paper", 100.0)


def test_part_1_and_part_2_are_not_duplicates():
    p1 = dict(title="Remote ischaemic conditioning. Part 1: basic mechanisms",
              authors="Heusch G.Botker H. E.", year="2015", journal="J Am Coll Cardiol",
              volume="65", pages="177-95")
    p2 = dict(p1, title="Remote ischaemic conditioning. Part 2: clinical trials",
              pages="196-210")
    assert decide(p1, p2).rule == "part-differs"
    p3 = dict(p1, title="Remote ischaemic conditioning: part II")
    p4 = dict(p1, title="Remote ischaemic conditioning: part I")
    assert decide(p3, p4).decision == NOT


def test_same_title_different_years_and_pages_are_not_duplicates():
    a = dict(title="Incretin effects beyond metabolic targets", authors="Deacon C. F.",
             year="2013", journal="Journal of Diabetes", volume="5", pages="4-5")
    b = dict(a, year="2017", volume="9", pages="112-118")
    assert decide(a, b) == (NOT, "years-apart", 100.0)
    c = dict(a, year="2014", volume="6", pages="30-31")
    assert decide(a, c) == (NOT, "pages-and-year-differ", 100.0)


def test_different_pmids_are_not_duplicates():
    a = dict(ADELI, pmid="18460911")
    b = dict(ADELI, pmid="18460912")
    assert decide(a, b).rule == "pmid-differs"


def test_different_dois_with_different_citations_are_not_duplicates():
    a = dict(ADELI, doi="10.1097/MOL.0b013e3282ffaf82")
    b = dict(ADELI, doi="10.1097/MOL.0b013e3282ffaf99", pages="300-305")
    assert decide(a, b) == (NOT, "doi-differs", 100.0)


def test_same_title_pages_differ_same_year_is_uncertain():
    a = dict(ADELI, doi="")
    b = dict(ADELI, doi="", pages="400-408")
    assert decide(a, b) == (UNCERTAIN, "pages-differ", 100.0)


def test_unrelated_abstracts_sharing_a_supplement_doi_are_not_duplicates():
    a = dict(title="A sodium glucose cotransporter-2 inhibitor prevents the progression of "
                   "macrophage-driven atherosclerosis", authors="Terasaki M.Hiromura M.",
             year="2015", journal="Diabetes", volume="64", pages="A134-A135",
             doi="10.2337/db15386741")
    b = dict(a, title="A DPP-4 inhibitor but not incretins suppresses the progression of "
                      "abdominal aorta aneurysms in angiotensin II-infused mice",
             authors="Kohashi K.Mori Y.", pages="A134")
    assert decide(a, b).decision == NOT
