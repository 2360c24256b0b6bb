"""`review import` on the real PubMed/Embase samples, and every bad input of the contract."""

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.store import create_review, open_review

DATA = Path(__file__).parent / "data" / "formats"


def review_cli(db, *args):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "review.db"
    create_review(path, title="t").close()
    return path


def snapshot(db):
    """Everything in the store except the audit log, to prove a failed import wrote nothing."""
    r = open_review(db)
    out = {t: list(r.db[t].rows) for t in ("records", "searches", "record_searches")}
    r.close()
    return out


def test_acceptance_sequence(db):
    r1 = review_cli(db, "import", str(DATA / "embase_asreview.ris"), "--source", "Embase",
                    "--json")
    assert r1.exit_code == 0, r1.output
    o1 = json.loads(r1.output)
    assert {"file", "format", "source", "records_read", "records_added",
            "already_present"} <= set(o1)
    assert (o1["format"], o1["source"], o1["records_read"], o1["records_added"]) == \
        ("ris", "Embase", 6, 6)
    o2 = json.loads(review_cli(db, "import", str(DATA / "pubmed_efetch_asreview_10articles.xml"),
                               "--source", "PubMed", "--json").output)
    assert (o2["format"], o2["records_read"], o2["records_added"]) == ("pubmed-xml", 10, 10)
    st = json.loads(review_cli(db, "status", "--json").output)
    assert st["records"] == 16 and st["by_source"] == {"Embase": 6, "PubMed": 10}
    exp = review_cli(db, "export", "--format", "csv")
    assert exp.exit_code == 0
    header = exp.output.splitlines()[0].split(",")
    assert header[:10] == ["id", "source", "source_id", "pmid", "doi", "title", "abstract",
                           "authors", "journal", "year"]
    again = json.loads(review_cli(db, "import", str(DATA / "embase_asreview.ris"), "--source",
                                  "Embase", "--json").output)
    assert again["records_added"] == 0 and again["already_present"] == 6
    assert json.loads(review_cli(db, "status", "--json").output)["records"] == 16


def test_embase_ris_fields_normalised(db):
    review_cli(db, "import", str(DATA / "embase_asreview.ris"))
    r = open_review(db)
    row = list(r.db.query("select * from records where source_id = 'L373791783'"))[0]
    assert row["source"] == "Embase"  # from `DB  - Embase`, file starts with a BOM
    assert row["doi"] == "10.4103/2303-9027.138783"
    assert json.loads(row["authors"]) == ["Liu, R", "Adler, DG"]
    assert row["year"] == 2014 and row["pages"] == "152-160"
    assert row["title"].startswith("Duplication cysts")
    raw = json.loads(row["raw"])
    assert raw["name_of_database"] == "Embase"
    assert row["pmid"] is None  # an Embase-only record
    # a record also in MEDLINE (`DB  - Medline`) carries its PMID in C5
    medline = list(r.db.query("select * from records where source_id = 'L39097156'"))[0]
    assert medline["pmid"] == "15368318"


def test_pubmed_xml_fields(db):
    review_cli(db, "import", str(DATA / "pubmed_efetch_biopython_pubmed4.xml"))
    r = open_review(db)
    row = list(r.db.query("select * from records"))[0]
    assert row["pmid"] == "27797938" and row["doi"] == "10.1136/gutjnl-2016-312510"
    assert row["title"].startswith("Leucocyte telomere length, genetic variants at the TERT")
    assert row["abstract"].startswith("OBJECTIVE: Telomere shortening")
    assert json.loads(row["authors"])[:2] == ["Bao, Y", "Prescott, J"]
    assert (row["journal"], row["year"], row["volume"], row["issue"]) == ("Gut", 2017, "66", "6")


@pytest.mark.parametrize("name", ["embase_asreview.csv", "embase_newpage_asreview.csv"])
def test_embase_csv(db, name):
    out = json.loads(review_cli(db, "import", str(DATA / name), "--json").output)
    assert out["format"] == "embase-csv" and out["source"] == "Embase" and out["records_read"] == 6
    r = open_review(db)
    row = list(r.db.query("select * from records where title like 'Endoscopic ultrasound-guided%'"))[0]
    assert (row["journal"], row["year"], row["volume"], row["issue"], row["pages"]) == \
        ("Cancer", 2004, "102", "4", "253-258")
    assert row["doi"] == "10.1002/cncr.20369"
    assert json.loads(row["authors"])[0] == "Eloubeidi, MA"
    if name == "embase_newpage_asreview.csv":
        assert "TEST" in row["abstract"]  # the abstract with line breaks was kept whole


def test_medline_nbib(db):
    out = json.loads(review_cli(db, "import", str(DATA / "sample.nbib"), "--json").output)
    assert out["format"] == "medline" and out["records_read"] == 2
    r = open_review(db)
    row = list(r.db.query("select * from records where pmid = '27797938'"))[0]
    assert row["doi"] == "10.1136/gutjnl-2016-312510" and row["year"] == 2017
    assert row["title"].endswith("risk of pancreatic cancer.")


def test_generic_csv_columns_case_insensitive(db, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("Record_ID,TITLE,Abstract,Authors,Year,DOI,PMID,Journal\n"
                 "a1,First,abs,Smith J; Doe A,2019,https://doi.org/10.1234/AB,PMID:123,J One\n"
                 "a2,Second,,Roe B,2020,,,J Two\n", encoding="utf-8")
    out = json.loads(review_cli(db, "import", str(f), "--source", "Scopus", "--json").output)
    assert out["format"] == "csv" and out["records_added"] == 2
    r = open_review(db)
    row = r.db["records"].get(1)
    assert (row["source_id"], row["doi"], row["doi_raw"], row["pmid"]) == \
        ("a1", "10.1234/ab", "https://doi.org/10.1234/AB", "123")
    assert json.loads(row["authors"]) == ["Smith, J", "Doe, A"]


def _bad(tmp_path, name, content: bytes):
    f = tmp_path / name
    f.write_bytes(content)
    return f


BAD_INPUTS = {
    "malformed.xml": (b'<?xml version="1.0"?><PubmedArticleSet><PubmedArticle><MedlineCitation>'
                      b"<PMID>1</PMID><Article><ArticleTitle>x</ArticleTitle></Article>"
                      b"</MedlineCitation></PubmedArticle><PubmedArticle><MedlineCitation>"
                      b"<PMID>2</PMID><Article>", "malformed XML at line 1"),
    "no_er.ris": (b"TY  - JOUR\nT1  - A title\nAU  - Smith J\n", "no closing 'ER  - '"),
    "no_ty.ris": (b"T1  - A title\nAU  - Smith J\nER  - \n", "outside a record"),
    "notitle.csv": (b"name,abstract\nx,y\n", "no title column"),
    "empty.ris": (b"", "file is empty"),
    "binary.csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    "latin1.ris": ("TY  - JOUR\nT1  - Etude r\u00e9sum\u00e9\nER  - \n".encode("latin-1"),
                   "not UTF-8"),
    "latin1.csv": ("title,abstract\nok,fine\nCaf\u00e9,x\n".encode("latin-1"), "not UTF-8"),
    "dupids.csv": (b"id,title\nA,First\nB,Second\nA,Third\n", "duplicate id 'A'"),
    "utf16.csv": ("title,abstract\nT,A\n".encode("utf-16"), "UTF-16 text"),
    # an unclosed quote used to swallow the rest of the file into one cell, silently
    "unclosed_quote.csv": (b'title,abstract,year\nOne,"abstract with unclosed quote,2020\n'
                           b"Two,abs,2021\nThree,abs,2022\n", "never closed"),
    "dupcols.csv": (b"title,abstract,title,year\nA real title,abs,Other title,2020\n",
                    "names this column twice"),
    "typeonly.ris": (b"TY  - JOUR\nER  - \n", "record has nothing but its type (TY) tag"),
    "blankrow.csv": (b"title,authors,year\nA real title,Smith J,2020\n,,\n",
                     "row is empty (every cell is blank)"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_error_and_writes_nothing(db, tmp_path, name):
    content, expected = BAD_INPUTS[name]
    # a good import first, so "unchanged" is checked against a non-empty store
    review_cli(db, "import", str(DATA / "embase_asreview.ris"))
    before = snapshot(db)
    f = _bad(tmp_path, name, content)
    res = review_cli(db, "import", str(f))
    assert res.exit_code == 1
    # The message names the file; main() prints "review: error: ..." (checked below)
    assert expected in str(res.exception) and name in str(res.exception)
    assert snapshot(db) == before


def test_errors_name_the_record_and_line(db, tmp_path):
    f = _bad(tmp_path, "two.ris", b"TY  - JOUR\nT1  - One\nER  - \n\nTY  - JOUR\nT1  - Two\n"
                                  b"TY  - JOUR\nER  - \n")
    res = review_cli(db, "import", str(f))
    assert "record 2" in str(res.exception) and "line 7" in str(res.exception)
    f = _bad(tmp_path, "lat.csv", "title\nok\nok2\nCaf\u00e9\n".encode("latin-1"))
    assert "line 4" in str(review_cli(db, "import", str(f)).exception)
    f = _bad(tmp_path, "d.csv", b"id,title\nA,First\nB,Second\nA,Third\n")
    msg = str(review_cli(db, "import", str(f)).exception)
    assert "row 3" in msg and "row 1" in msg


def test_cli_error_line_and_exit_code(db, tmp_path):
    """The console script prints one `review: error:` line and exits 1, no traceback."""
    import subprocess
    import sys

    f = _bad(tmp_path, "no_er.ris", b"TY  - JOUR\nT1  - A title\n")
    proc = subprocess.run([sys.executable, "-m", "toolkit.cli", "--db", str(db), "import",
                           str(f)], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent)
    assert proc.returncode == 1
    assert proc.stderr.startswith("review: error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


def test_missing_store_says_how_to_fix(tmp_path):
    res = review_cli(tmp_path / "none.db", "status")
    assert res.exit_code == 1 and "review init" in str(res.exception)


def test_reimport_is_idempotent_even_when_file_renamed(db, tmp_path):
    src = (DATA / "pubmed_efetch_biopython_pubmed1.xml").read_bytes()
    f = _bad(tmp_path, "renamed.xml", src)
    review_cli(db, "import", str(DATA / "pubmed_efetch_biopython_pubmed1.xml"))
    out = json.loads(review_cli(db, "import", str(f), "--json").output)
    assert out["records_added"] == 0 and out["already_present"] == 2
    r = open_review(db)
    s = list(r.db.query("select file_sha256 from searches"))
    assert s[0]["file_sha256"] == hashlib.sha256(src).hexdigest()


def test_same_generic_csv_under_another_name_is_not_imported_twice(db, tmp_path):
    """A generic CSV's source defaults to its file name: a copy under another name used to be a
    new source, so every record was added a second time."""
    a = _bad(tmp_path, "scopus_a.csv", b"id,title\nS1,First\nS2,Second\n")
    b = _bad(tmp_path, "scopus_a (1).csv", a.read_bytes())
    first = json.loads(review_cli(db, "import", str(a), "--json").output)
    assert first["source"] == "scopus_a" and first["records_added"] == 2
    res = review_cli(db, "import", str(b), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["already_imported"] and out["records_added"] == 0
    assert out["search_id"] == first["search_id"] and out["source"] == "scopus_a"
    assert out["previous_import"]["file_name"] == "scopus_a.csv"
    assert "import #1 from scopus_a.csv" in out["message"]
    assert "'scopus_a', not 'scopus_a (1)'" in out["message"]
    human = review_cli(db, "import", str(b)).output
    assert "already imported as import #1 from scopus_a.csv" in human and "nothing added" in human
    r = open_review(db)
    assert r.db.execute("select count(*) from records").fetchone()[0] == 2
    assert r.db.execute("select count(*) from searches").fetchone()[0] == 1
    # an explicit, different --source does not make the same bytes a new import either
    out = json.loads(review_cli(db, "import", str(b), "--source", "Scopus", "--json").output)
    assert out["records_added"] == 0 and "not 'Scopus'" in out["message"]
    assert r.db.execute("select count(*) from records").fetchone()[0] == 2


@pytest.mark.parametrize("first, second", [("Embase", "embase"), ("embase", "EMBASE "),
                                           ("Scopus", "SCOPUS")])
def test_ris_source_case_variants_are_one_source(db, tmp_path, first, second):
    ris_bytes = (DATA / "embase_asreview.ris").read_bytes()
    o1 = json.loads(review_cli(db, "import", str(DATA / "embase_asreview.ris"), "--source",
                               first, "--json").output)
    assert o1["records_added"] == 6
    # the same bytes under another name and case: already imported, nothing added
    copy = _bad(tmp_path, "copy.ris", ris_bytes)
    o2 = json.loads(review_cli(db, "import", str(copy), "--source", second, "--json").output)
    assert o2["already_imported"] and o2["records_added"] == 0
    assert o2["source"] == o1["source"] and "not '" not in o2["message"]
    # other bytes (one record changed, the others the same) under the other case: the store's
    # spelling is used, so the 5 unchanged records are linked, not stored again
    text = ris_bytes.decode("utf-8").replace("\nER  -", "\nN1  - edited\nER  -", 1)
    assert text.encode("utf-8") != ris_bytes
    edited = _bad(tmp_path, "edited.ris", text.encode("utf-8"))
    o3 = json.loads(review_cli(db, "import", str(edited), "--source", second, "--json").output)
    assert not o3["already_imported"] and o3["source"] == o1["source"]
    assert o3["records_added"] == 0 and o3["already_present"] == 6
    st = json.loads(review_cli(db, "status", "--json").output)
    assert st["records"] == 6 and st["by_source"] == {o1["source"]: 6}


def test_source_spelling_of_pubmed_and_embase(db, tmp_path):
    """With nothing in the store yet, 'pubmed'/'embase' get the importers' own spelling."""
    f = _bad(tmp_path, "x.ris", b"TY  - JOUR\nT1  - One\nER  - \n")
    out = json.loads(review_cli(db, "import", str(f), "--source", "embase", "--json").output)
    assert out["source"] == "Embase"
    assert review_cli(db, "import", str(f), "--source", " ").exit_code == 1


def test_audit_log_is_append_only(db):
    review_cli(db, "import", str(DATA / "embase_asreview.ris"))
    r = open_review(db)
    actions = [e["action"] for e in r.db["events"].rows]
    assert actions == ["init", "import"]
    ev = list(r.db["events"].rows)[1]
    assert json.loads(ev["details"])["records_added"] == 6 and ev["toolkit_version"]
    import sqlite3

    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        r.db.execute("delete from events")


def test_ris_parsing_matches_rispy_with_crlf_and_continuation_lines(tmp_path):
    """Our framing must give exactly rispy's records (continuation lines, CRLF, blank lines)."""
    import rispy

    from toolkit.sources import ris

    text = ("TY  - JOUR\r\nT1  - A long title that\r\n   continues here\r\nAU  - Smith, J\r\n"
            "AU  - Doe, A\r\nKW  - one\r\nKW  - two\r\nN2  - Abstract line one\r\n"
            "line two of the abstract\r\nZZ  - custom\r\nER  - \r\n\r\n"
            "TY  - CONF\r\nT1  - Second\r\nPY  - 2020\r\nER  -\r\n")
    f = tmp_path / "crlf.ris"
    f.write_bytes(text.encode("utf-8"))
    ours = [r.raw for r in ris.read(f)]
    ref = rispy.loads(text.replace("\r\n", "\n"))
    for r in ref:
        if "unknown_tag" in r:
            r["unknown_tag"] = {k: list(v) for k, v in r["unknown_tag"].items()}
    assert ours == [dict(r) for r in ref]
    assert ours[0]["primary_title"] == "A long title that continues here"


# -- generic CSV edge cases -------------------------------------------------------------------

def _titles(db):
    r = open_review(db)
    out = [(row["source_id"], row["title"], row["abstract"], row["year"])
           for row in r.db.query("select * from records order by id")]
    r.close()
    return out


def test_generic_tsv_with_bom_and_quoted_newlines(db, tmp_path):
    f = tmp_path / "scopus.tsv"
    f.write_bytes("\ufeffID\tTitle\tAbstract\tYear\n"
                  'S1\tFirst title\t"Line one\nline two"\t2019\n'
                  "S2\tSecond title\tplain\t2020\n".encode("utf-8"))
    out = json.loads(review_cli(db, "import", str(f), "--source", "Scopus", "--json").output)
    assert out["format"] == "csv" and out["records_read"] == 2
    # the BOM is not part of the first column name, so ID is found; the newline is collapsed
    assert _titles(db) == [("S1", "First title", "Line one line two", 2019),
                           ("S2", "Second title", "plain", 2020)]


def test_csv_quoted_newlines_and_crlf_line_numbers(db, tmp_path):
    f = tmp_path / "x.csv"
    f.write_bytes(b'id,title,abstract\r\nA,"Title, with comma","two\r\nlines"\r\n'
                  b"B,Second,x,EXTRA\r\n")
    res = review_cli(db, "import", str(f))
    assert res.exit_code == 1
    msg = str(res.exception)
    # the second data row is on line 4 (the first row's abstract spans lines 2-3)
    assert "x.csv" in msg and "row 2" in msg and "line 4" in msg and "more cells" in msg
    assert _titles(db) == []


def test_csv_row_without_any_content_is_named(db, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("id,title,abstract\nA,T,\n,,\n", encoding="utf-8")
    msg = str(review_cli(db, "import", str(f)).exception)
    assert "x.csv" in msg and "row 2 (line 3)" in msg and "every cell is blank" in msg
    assert _titles(db) == []


# Rows as the Embase/EndNote exports of a real search give them: two of a 79,880-record export
# had no title, abstract, DOI or PMID but authors, journal, year and pages (which the database
# did return, so PRISMA counts them).
TITLELESS_CSV = (
    "record_id,title,authors,year,journal,volume,issue,pages,doi,abstract\n"
    "id_0000001,New insights into postrenal transplant hemolytic uremic syndrome,"
    "\"Zuber, J and Le Quintrec, M\",2011,Nat Rev Nephrol,7,1,23-35,,\n"
    "id_0000002,,\"Zuber, J. and Le Quintrec, M.\",2011,Nat Rev Nephrol,7,1,23-35,,\n"
    "id_0000003,,Anonymous,2010,Lancet,,,,,\n")


def test_csv_rows_without_title_abstract_doi_or_pmid_are_imported_and_marked(db, tmp_path):
    f = tmp_path / "embase.csv"
    f.write_text(TITLELESS_CSV, encoding="utf-8")
    res = review_cli(db, "import", str(f), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["records_read"], out["records_added"], out["incomplete"]) == (3, 3, 2)
    r = open_review(db)
    rows = list(r.db.query("select source_id, title, journal, incomplete from records "
                           "order by id"))
    events = [json.loads(e["details"]) for e in r.db.query(
        "select details from events where action = 'import'")]
    r.close()
    assert [(x["source_id"], x["incomplete"]) for x in rows] == [
        ("id_0000001", 0), ("id_0000002", 1), ("id_0000003", 1)]
    assert rows[1]["title"] is None and rows[1]["journal"] == "Nat Rev Nephrol"
    assert events[-1]["incomplete"] == 2  # the audit log says so too
    # the summary line says so too, without --json
    f2 = tmp_path / "embase2.csv"
    f2.write_text(TITLELESS_CSV.replace("id_000000", "id_100000"), encoding="utf-8")
    res = review_cli(db, "import", str(f2))
    assert res.exit_code == 0 and "added 3" in res.output and "incomplete 2" in res.output


def test_incomplete_records_flow_to_prisma_dedup_and_screening(tmp_path):
    from toolkit.dedup.api import deduplicate, primary_record_ids
    from toolkit.flow import identified_by_database
    from toolkit.importing import import_file
    from toolkit.screening.queue import ScreeningSession
    f = tmp_path / "embase.csv"
    f.write_text(TITLELESS_CSV, encoding="utf-8")
    r = create_review(tmp_path / "r.db")
    import_file(r, f, source="Embase")
    # PRISMA's "records identified" counts every row the database returned
    assert identified_by_database(r) == {"Embase": 3}
    out = deduplicate(r)
    # the title-less copy of the first article (same authors, journal, volume, issue, pages,
    # year) is its duplicate; the record with nothing but an author, journal and year stays
    assert out["duplicates_removed"] == 1 and out["uncertain_pairs"] == 0
    ids = {row["source_id"]: row["id"] for row in r.db.query("select id, source_id from records")}
    assert sorted(primary_record_ids(r)) == [ids["id_0000001"], ids["id_0000003"]]
    # and screening takes it like any other record (its text is empty)
    session = ScreeningSession(r, "alice", background=False)
    assert ids["id_0000003"] in session.pool
    r.close()


def test_csv_malformed_quotes_name_the_row_and_line(db, tmp_path):
    f = tmp_path / "q.csv"
    f.write_bytes(b'title,abstract,year\r\n\r\nOne,abs,2020\r\nTwo,"abs\r\nmore,2021\r\n'
                  b"Three,x,2022\r\n")
    msg = str(review_cli(db, "import", str(f)).exception)
    # row 2 starts on line 4 (line 2 is blank); the open quote runs to the end, line 6
    assert "q.csv" in msg and "row 2 (line 4)" in msg and "never closed" in msg
    assert "line 6" in msg
    f.write_bytes(b'title,abstract\nOne,x\nTwo,"quoted"tail\n')
    msg = str(review_cli(db, "import", str(f)).exception)
    assert "row 2 (line 3)" in msg and "malformed CSV" in msg and "expected after" in msg
    assert _titles(db) == []
    # quotes that are closed, and quotes inside an unquoted cell, are fine
    f.write_bytes(b'title,abstract\nOne,"a ""quoted"" word, and a comma"\nTwo,5" disc\n')
    assert json.loads(review_cli(db, "import", str(f), "--json").output)["records_added"] == 2
    assert [t[2] for t in _titles(db)] == ['a "quoted" word, and a comma', '5" disc']


def test_csv_duplicate_columns_are_an_error(db, tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("Title,abstract,year, TITLE \nA,abs,2020,B\n", encoding="utf-8")
    res = review_cli(db, "import", str(f))
    assert res.exit_code == 1
    msg = str(res.exception)
    assert "d.csv" in msg and "line 1" in msg and "column 'TITLE'" in msg and "'Title'" in msg
    assert _titles(db) == []
    # empty header cells (e.g. a trailing comma) are not named columns, so not duplicates
    f.write_text("title,abstract,,\nA,abs,,\n", encoding="utf-8")
    assert review_cli(db, "import", str(f)).exit_code == 0


def test_csv_header_only(db, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("id,title\n", encoding="utf-8")
    assert "header but no rows" in str(review_cli(db, "import", str(f)).exception)


# -- MEDLINE ----------------------------------------------------------------------------------

MEDLINE_OK = (DATA / "sample.nbib").read_text(encoding="utf-8")


@pytest.mark.parametrize("text, expected", [
    ("TI  - no PMID first\nAB  - x\n", "must start with 'PMID- '"),
    ("PMID- 1\nTI  - ok\nthis is not a tag line\n", "line 3: not a MEDLINE tag line"),
    ("PMID- 1\nTI  - one\n\nTI  - second record without PMID\n", "record 2"),
    ("PMID- \nTI  - empty pmid\n", "without PMID"),
])
def test_medline_malformed(db, tmp_path, text, expected):
    f = tmp_path / "bad.nbib"
    f.write_text(text, encoding="utf-8")
    res = review_cli(db, "import", str(f), "--format", "medline")
    assert res.exit_code == 1
    assert expected in str(res.exception) and "bad.nbib" in str(res.exception)
    assert _titles(db) == []


def test_medline_crlf_and_empty_tag_value(db, tmp_path):
    text = MEDLINE_OK.replace("\n", "\r\n").replace("PMID- 27797938", "PMID- 27797938\r\nCI  -", 1)
    f = tmp_path / "crlf.nbib"
    f.write_bytes(text.encode("utf-8"))
    out = json.loads(review_cli(db, "import", str(f), "--json").output)
    assert out["format"] == "medline" and out["records_read"] == 2
    r = open_review(db)
    row = list(r.db.query("select * from records where pmid = '27797938'"))[0]
    assert row["doi"] == "10.1136/gutjnl-2016-312510" and "\r" not in row["title"]


# -- PubMed XML: book articles ----------------------------------------------------------------

# A <PubmedBookArticle> shaped as in PubMed's DTD (pubmed_250101.dtd: BookDocument with Book,
# ArticleIdList, AuthorList, PublicationType, Abstract; PubmedBookData): written for this test.
BOOK_XML = b"""<?xml version="1.0" ?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">
<PubmedArticleSet>
<PubmedBookArticle>
  <BookDocument>
    <PMID Version="1">20301295</PMID>
    <ArticleIdList><ArticleId IdType="bookaccession">NBK1116</ArticleId></ArticleIdList>
    <Book>
      <Publisher><PublisherName>University of Washington, Seattle</PublisherName></Publisher>
      <BookTitle book="gene">GeneReviews</BookTitle>
      <PubDate><Year>1993</Year></PubDate>
    </Book>
    <LocationLabel Type="chapter">Introduction</LocationLabel>
    <ArticleTitle book="gene" part="intro">An Introduction to the Test Chapter</ArticleTitle>
    <Language>eng</Language>
    <AuthorList Type="authors">
      <Author><LastName>Adam</LastName><ForeName>Margaret P</ForeName><Initials>MP</Initials></Author>
      <Author><CollectiveName>GeneReviews Study Group</CollectiveName></Author>
    </AuthorList>
    <PublicationType UI="D016454">Review</PublicationType>
    <Abstract><AbstractText>Chapter abstract.</AbstractText></Abstract>
  </BookDocument>
  <PubmedBookData>
    <ArticleIdList>
      <ArticleId IdType="pubmed">20301295</ArticleId>
      <ArticleId IdType="doi">10.5555/NBK1116</ArticleId>
    </ArticleIdList>
  </PubmedBookData>
</PubmedBookArticle>
<PubmedBookArticle>
  <BookDocument>
    <PMID Version="1">30000001</PMID>
    <Book>
      <BookTitle book="whole">A Whole Book Without Chapters</BookTitle>
      <PubDate><Year>2018</Year><Month>Jan</Month></PubDate>
    </Book>
  </BookDocument>
</PubmedBookArticle>
</PubmedArticleSet>
"""


def test_pubmed_book_articles(db, tmp_path):
    f = tmp_path / "books.xml"
    f.write_bytes(BOOK_XML)
    out = json.loads(review_cli(db, "import", str(f), "--json").output)
    assert out["format"] == "pubmed-xml" and out["records_added"] == 2
    r = open_review(db)
    chapter, book = list(r.db.query("select * from records order by id"))
    assert chapter["title"] == "An Introduction to the Test Chapter"
    assert (chapter["pmid"], chapter["doi"], chapter["year"]) == ("20301295", "10.5555/nbk1116",
                                                                  1993)
    assert json.loads(chapter["authors"]) == ["Adam, MP", "GeneReviews Study Group"]
    assert chapter["journal"] == "GeneReviews" and chapter["abstract"] == "Chapter abstract."
    assert json.loads(chapter["publication_types"]) == ["Review"]
    assert (book["title"], book["year"], book["pmid"]) == ("A Whole Book Without Chapters", 2018,
                                                           "30000001")


def test_ris_record_without_content_is_named(db, tmp_path):
    """A record with nothing but its type is an error naming it; one with no title, abstract,
    DOI or PMID but an author and a year is a record (imported, marked incomplete)."""
    f = tmp_path / "x.ris"
    f.write_text("TY  - JOUR\nT1  - Fine\nER  - \n\nTY  - JOUR\nER  - \n", encoding="utf-8")
    msg = str(review_cli(db, "import", str(f)).exception)
    assert "x.ris" in msg and "record 2 (line 5)" in msg
    assert "nothing but its type" in msg and _titles(db) == []
    f.write_text("TY  - JOUR\nT1  - Fine\nER  - \n\nTY  - JOUR\nAU  - Smith, J\nPY  - 2020\n"
                 "ER  - \n", encoding="utf-8")
    out = json.loads(review_cli(db, "import", str(f), "--json").stdout)
    assert (out["records_added"], out["incomplete"]) == (2, 1)
    r = open_review(db)
    flags = [row[0] for row in r.db.execute("select incomplete from records order by id")]
    r.close()
    assert flags == [0, 1]
    # any one of title, abstract, DOI or PMID makes a record complete (a PMID also from an
    # EndNote note or Embase's C5)
    for k, only in enumerate(("N2  - An abstract", "DO  - 10.1/x", "PM  - 12345678",
                              "N1  - PMID: 12345678", "C5  - 12345678\nDB  - Embase")):
        f.write_text(f"TY  - JOUR\nAU  - Smith{k}, J\n{only}\nER  - \n", encoding="utf-8")
        out = json.loads(review_cli(db, "import", str(f), "--json").stdout)
        assert out["incomplete"] == 0, (only, out)


def test_ris_last_er_without_newline(db, tmp_path):
    f = tmp_path / "noeol.ris"
    f.write_bytes(b"TY  - JOUR\nT1  - One\nER  - \n\nTY  - JOUR\nT1  - Two\nER  -")
    out = json.loads(review_cli(db, "import", str(f), "--json").output)
    assert out["records_added"] == 2


def test_usage_errors_are_one_line_and_exit_1(db):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "toolkit.cli", "--db", str(db), "import",
                           "--no-such-flag"], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent)
    assert proc.returncode == 1
    assert proc.stderr.startswith("review: error: ") and len(proc.stderr.splitlines()) == 1
