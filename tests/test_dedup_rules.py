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
    # no volume on one side: nothing but title and authors vouches for the pair
    a = dict(ADELI, doi="")
    b = dict(ADELI, doi="", volume="", pages="400-408")
    assert decide(a, b) == (UNCERTAIN, "pages-differ", 100.0)


def test_whole_citation_but_the_first_page_agrees_is_duplicate():
    # Ovid garbles supplement page ranges ("S417-S429" -> "Suppl-29"); title, authors,
    # journal, volume and year all agree
    a = dict(title="Cervical squamous and glandular intraepithelial neoplasia: Identification "
                   "and current management approaches", authors="Wright, V C", year="2003",
             journal="Salud Publica de Mexico", volume="45", pages="S417-S429")
    b = dict(a, title="Cervical squamous and glandular intraepithelial neoplasia: "
                      "identification and current management approaches. [Review] [87 refs]",
             pages="Suppl-29")
    # "Suppl-29" is not a page range, so the first pages are not a difference at all
    assert decide(a, b) == (DUPLICATE, "title-authors-match", 100.0)


def test_unrelated_abstracts_sharing_a_supplement_doi_are_not_duplicates():
    a = dict(title="A sodium glucose cotransporter-2 inhibitor prevents the progression of "
                   "macrophage-driven atherosclerosis", authors="Terasaki M.Hiromura M.",
             year="2015", journal="Diabetes", volume="64", pages="A134-A135",
             doi="10.2337/db15386741")
    b = dict(a, title="A DPP-4 inhibitor but not incretins suppresses the progression of "
                      "abdominal aorta aneurysms in angiotensin II-infused mice",
             authors="Kohashi K.Mori Y.", pages="A134")
    assert decide(a, b).decision == NOT


# --- rules from the second round (cardiac, SRA-DM and digital-work error analysis) ------------

ALTITUDE = dict(title="Altitude exposure induces hypoxic preconditioning of the heart",
                authors="Tanaka S.Karck M.Steinhoff G.Haverich A.", year="1998",
                journal="Langenbecks Arch Chir Suppl Kongressbd", volume="115", issue="Suppl I",
                pages="669-74")


def test_language_tag_and_original_title_are_not_part_of_the_title():
    translated = dict(ALTITUDE, title="Altitude exposure induces hypoxic preconditioning of "
                                      "the heart. German\nHohenexposition induziert hypoxische "
                                      "Prakonditionierung des Herzens", pages="669-674")
    assert title_key(translated["title"]) == title_key(ALTITUDE["title"])
    assert title_key("Donor heart preservation. Japanese") == "donor heart preservation"
    # a language word inside the title is kept
    assert title_key("Validation of the Chinese version of the SF-36") == \
        "validation of the chinese version of the sf 36"
    assert decide(ALTITUDE, translated).decision == DUPLICATE


def test_ovid_and_medline_notes_are_dropped_from_titles():
    assert title_key("Anti-Factor H autoantibodies in a renal transplant recipient.[Erratum "
                     "appears in Am J Transplant. 2009 Sep;9(9):2205 Note: Niauif, P [added]]") \
        == "anti factor h autoantibodies in a renal transplant recipient"
    assert title_key("Cervical cancer screening programs in Latin America. [Review] [42 refs]") \
        == "cervical cancer screening programs in latin america"


def test_unicode_dashes_separate_words_as_hyphens_do():
    assert title_key("Eculizumab for Atypical Hemolytic–Uremic Syndrome") == \
        title_key("Eculizumab for atypical hemolytic-uremic syndrome")


def test_spreadsheet_error_is_no_title():
    assert title_key("#NAME?") == ""


@pytest.mark.parametrize("raw, expected", [
    ("II-221-5; discussion II-225-6", ("ii221", "ii225")), ("II221-II226", ("ii221", "ii226")),
    ("S-12-S-14", ("s12", "s14")),
])
def test_page_range_prefixes_and_discussion(raw, expected):
    assert page_range(raw) == expected


def test_same_title_and_pagination_is_duplicate_whatever_the_journal_name():
    # MEDLINE's transliterated journal title vs Embase's English one; Chinese names given
    # surname-first in one, given-name-first in the other
    medline = dict(title="Protective effects of sevoflurane pretreatment on myocardial "
                         "ischemia-reperfusion injury in rabbits", authors="Xu J. M.Chang Y. T.",
                   year="2001", journal="Hunan Yi Ke Da Xue Xue Bao", volume="26", issue="1",
                   pages="79-82")
    embase = dict(medline, title=medline["title"] + ". Chinese", authors="Jun-Mei X.Ye-Tian C.",
                  journal="Bulletin of Hunan Medical University")
    assert decide(medline, embase) == (DUPLICATE, "title-pagination-match", 100.0)


def test_two_translations_of_one_title_with_the_same_citation_are_duplicates():
    a = dict(title="Action of dibunol isoptin and their combination in transitory myocardial "
                   "ischemia in waking rabbits", authors="Koniurev E. A.", year="1987",
             journal="Farmakol Toksikol", volume="50", issue="1", pages="61-4")
    b = dict(a, title="Study of effects of dibunol isoptine and their combination in conscious "
                      "rabbits with transient myocardial ischemia. Russian",
             authors="Konorev E. A.", journal="Farmakologiya i Toksikologiya", pages="61-64")
    assert decide(a, b).rule == "citation-authors-match"
    assert decide(a, b).decision == DUPLICATE
    # ... but not two abstracts of one group given the supplement's page range
    c = dict(a, journal="Circulation. Conference: American Heart Association Scientific "
                        "Sessions", pages="1-300", title="Remote conditioning in rabbits")
    d = dict(c, title="Postconditioning with sevoflurane in isolated hearts")
    assert decide(c, d).decision == NOT


def test_recurring_column_in_another_issue_is_not_a_duplicate():
    a = dict(title="Remarks from MIS Quarterly Editor - Editor's Comments",
             authors="Lee, Allen S.", year="2000", journal="MIS Quarterly", volume="24",
             issue="1")
    assert decide(a, dict(a, issue="2")) == (NOT, "issue-differs", 100.0)
    assert decide(a, dict(a, year="2001", volume="25")) == (NOT, "volume-and-year-differ", 100.0)
    assert decide(a, dict(a)).decision == DUPLICATE
    # an article number in the issue field is not an issue: Embase "11 (3)", issue "791"
    b = dict(title="Drugs that reverse disease transcriptomic signatures are more effective in "
                   "a mouse model of dyslipidemia", authors="Wagner A.Cohen N.Kelder T.",
             year="2015", journal="Molecular Systems Biology", volume="11", issue="791")
    assert decide(b, dict(b, issue="3", pages="791")).decision == DUPLICATE


def test_volume_and_issue_count_only_where_the_collection_keeps_them_faithfully():
    from toolkit.dedup.match import FieldTrust, field_trust
    import numpy as np
    a = dict(title="Perioperative nutritional support in patients undergoing hepatectomy for "
                   "hepatocellular carcinoma", authors="Ziegler, T. R.", year="1996",
             journal="Jpen: Journal of Parenteral & Enteral Nutrition", volume="20",
             issue="1112", pages="91-92")
    b = dict(a, journal="JPEN. Journal of parenteral and enteral nutrition", issue="1113")
    # an EndNote export that numbers its records in the issue field
    assert classify(norm(a, 1), norm(b, 2), trust=FieldTrust(issue=False)).decision == DUPLICATE
    assert classify(norm(a, 1), norm(b, 2)).rule == "issue-differs"

    def collection(issue_of_copy):
        norms, pairs = [], []
        for k in range(25):
            rec = dict(a, title=f"{a['title']} in cohort {k:02d} of the trial", pages=f"{k + 1}-{k + 9}",
                       issue="3")
            norms += [norm(rec, 2 * k), norm(dict(rec, issue=issue_of_copy(k)), 2 * k + 1)]
            pairs.append((2 * k, 2 * k + 1))
        return norms, np.array(pairs), np.full(len(pairs), 100.0)
    assert field_trust(*collection(lambda k: "3")) == FieldTrust(volume=True, issue=True)
    assert field_trust(*collection(lambda k: str(1000 + k))).issue is False
    # too few anchor pairs to tell: volume and issue differences are not used
    norms, pairs, sims = collection(lambda k: "3")
    assert field_trust(norms[:10], pairs[:5], sims[:5]) == FieldTrust(volume=False, issue=False)


def test_same_abstract_at_two_meetings_is_not_merged():
    a = dict(title="Mitochondrial depolarization is not responsible for cardioprotection during "
                   "ischemic preconditioning",
             authors="Lee D. S.Quarrie R.Steinbaugh G.Pfeiffer D.Zweier J.Crestanello J.",
             year="2010", journal="J Am Coll Cardiol", volume="55 (10 SUPPL 1)",
             pages="A115.E1077")
    b = dict(a, authors="Lee D.Quarrie R.Cramer B.Steinbaugh G.Pfeiffer D. R.Zweier J. L.",
             journal="FASEB Journal", volume="24", pages="")
    assert decide(a, b).decision != DUPLICATE


def test_different_dois_and_last_pages_are_different_editorials():
    a = dict(title="Editorial Introduction", authors="Zwass, Vladimir", year="2015",
             journal="Journal of Management Information Systems", volume="32", pages="1--8",
             doi="10.1080/07421222.2015.1029378")
    b = dict(a, pages="1--3", doi="10.1080/07421222.2015.1063266")
    assert decide(a, b) == (NOT, "doi-differs", 100.0)


def test_errata_in_web_of_science_and_embase_form_are_notices():
    art = dict(title="Eculizumab for atypical hemolytic-uremic syndrome",
               authors="Nurnberger, J. and Philipp, T. and Witzke, O.", year="2009",
               journal="New England Journal of Medicine", volume="360", pages="542-544")
    wos = dict(art, title="Eculizumab for Atypical Hemolytic-Uremic Syndrome (vol 360, pg 542, "
                          "2009)", pages="2487")
    embase = dict(art, title="Eculizumab for atypical hemolytic-uremic syndrome (New England "
                             "Journal of Medicine (2009) 360 (542-544))", authors="Philipp, T.",
                  pages="2487-2487")
    assert decide(art, wos).rule == "notice-differs"
    assert decide(art, embase).rule == "notice-differs"
    assert decide(wos, embase).decision == DUPLICATE


def test_title_with_a_subtitle_added_is_scored_when_the_citation_agrees():
    """Below the title floor (ratio 71) the pair is still classified, because year, volume and
    first page agree."""
    import numpy as np
    from toolkit.dedup.match import score_pairs
    a = dict(title="Gateways to clinical trials", authors="BayÃ©s M.Rabasseda X.Prous J. R.",
             year="2003", journal="Methods and findings in experimental and clinical "
                                  "pharmacology", volume="25", issue="1", pages="53-76")
    b = dict(a, title="Gateways to clinical trials - January/February 2003",
             authors="Bayes M.Rabasseda X.Prous J. R.")
    out, _ = score_pairs([norm(a, 1), norm(b, 2)], np.array([[0, 1]]))
    assert [(i, j, d.decision) for i, j, d in out] == [(0, 1, DUPLICATE)]


def test_embase_source_string_in_the_journal_field_gives_the_citation():
    medline = dict(title="Cognitive behavioural therapy for depression in primary care",
                   authors="Smith A.Jones B.", year="2013", journal="J Affect Disord",
                   volume="150", issue="3", pages="1031-8")
    embase = dict(medline, journal="Journal of Affective Disorders (2013) 150:3 (1031-1038). "
                                   "Date of Publication: 1 Sep 2013", volume="", issue="",
                  pages="")
    n = norm(embase)
    assert (n.journal, n.volume, n.issue, n.page_first, n.page_last) == \
        ("journal affective disorders", "150", "3", "1031", "1038")
    assert decide(medline, embase).rule == "title-authors-match"
    # NLM's "J Appl Physiol (1985)" is a journal name, not a citation
    assert norm(dict(medline, journal="J Appl Physiol (1985)")).journal == "j appl physiol 1985"


@pytest.mark.parametrize("title, kind", [
    ("Rapid correction of hyponatraemia in the emergency department", ""),
    ("Correction: Rapid treatment of hyponatraemia", "erratum"),
    ("Outcomes of patients withdrawn from dialysis", ""),
    ("Withdrawn: Outcomes of patients on dialysis", "retraction"),
    ("Immune response to influenza vaccination in older adults", ""),
    ("Response to: Immune response to influenza vaccination", "comment"),
    ("Re-infarction after primary angioplasty", ""),
    ("Re: Re-infarction after primary angioplasty", "comment"),
])
def test_notice_words_in_ordinary_titles_are_not_notices(title, kind):
    from toolkit.dedup.normalise import notice_kind
    assert notice_kind(title_key(title), title) == kind


def test_journals_named_like_meetings_are_journals():
    from toolkit.dedup.normalise import is_conference
    for journal in ("Proceedings of the National Academy of Sciences of the United States of "
                    "America", "Proceedings of the Nutrition Society", "Annual Review of Genetics",
                    "Mayo Clinic Proceedings"):
        assert not is_conference(journal, None, None, None), journal
    for journal in ("Proceedings of the Nutrition Society. Conference: Summer Meeting",
                    "Neurology. Conference: 67th American Academy of Neurology Annual Meeting",
                    "Conference proceedings : ... Annual International Conference of the IEEE"):
        assert is_conference(journal, None, None, None), journal
    # PNAS epub year vs print year, MEDLINE abbreviation vs full name: one paper
    a = dict(title="Default-mode network activity distinguishes Alzheimer's disease from "
                   "healthy aging", authors="Greicius M. D.Srivastava G.Reiss A. L.Menon V.",
             year="2004", journal="Proc Natl Acad Sci U S A", volume="101", pages="4637-42")
    b = dict(a, year="2003", journal="Proceedings of the National Academy of Sciences of the "
                                     "United States of America", volume="", pages="")
    assert decide(a, b).decision == DUPLICATE


def test_series_papers_in_one_volume_differing_in_a_number_are_not_merged():
    a = dict(title="Long-term outcomes of bariatric surgery in adolescents: cohort 1 of the "
                   "Teen-LABS registry", authors="Inge T. H.Courcoulas A. P.Jenkins T. M.",
             year="2016", journal="Lancet Diabetes Endocrinol", volume="4", pages="33-41")
    b = dict(a, title=a["title"].replace("cohort 1", "cohort 2"), pages="42-50")
    assert decide(a, b).decision == UNCERTAIN


def test_medline_published_erratum_note_is_not_an_erratum():
    # MEDLINE marks the corrected article itself: "[corrected][published erratum appears in
    # ...]" (stroke set); it is the article, not the erratum notice
    plain = dict(title="Ecologically-oriented neurorehabilitation of memory: robustness of "
                       "outcome across diagnosis and severity",
                 authors="Stringer, A. Y.", year="2011", journal="Brain Injury", volume="25",
                 issue="2", pages="169-178")
    noted = dict(plain, title=plain["title"] + "... [corrected][published erratum appears in "
                                               "Brain Inj. 2013 Mar;27(3):377]")
    assert title_key(noted["title"]) == title_key(plain["title"])
    assert decide(plain, noted).decision == DUPLICATE
    notice = dict(plain, title="Erratum: " + plain["title"], pages="377")
    assert decide(plain, notice)[:2] == (NOT, "notice-differs")


def test_erratum_note_cut_off_by_the_export_is_not_an_erratum():
    # SRA-DM/EndNote exports truncate long titles inside MEDLINE's note (cytology set)
    plain = dict(title="Cervical cancer risk for women undergoing concurrent testing for human "
                       "papillomavirus and cervical cytology: a population-based study in "
                       "routine clinical practice",
                 authors="Katki, H A and Kinney, W K and Fetterman, B", year="2011",
                 journal="The Lancet Oncology", volume="12", pages="663-672")
    cut = dict(plain, title=plain["title"] + ".[Erratum appears in Lancet Oncol. 201",
               journal="Lancet Oncology")
    assert title_key(cut["title"]) == title_key(plain["title"])
    assert decide(plain, cut).decision == DUPLICATE
