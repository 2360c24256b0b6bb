"""Every CSV a user gives is read whether its cells are separated by commas, semicolons
(Excel in locales with a decimal comma) or tabs."""

from __future__ import annotations

import csv
import json

import pytest

from screen_helpers import build_review, run_main
from toolkit.csvdialect import delimiter_of
from toolkit.store import create_review, open_review


@pytest.mark.parametrize("header, sep", [
    ("Title;Abstract;Year", ";"), ("title,abstract,year", ","), ("title\tabstract", "\t"),
    ("title", ","), ('"Title";"Abstract"', ";"), ('"Title, main";Abstract;Year', ";"),
    ("Title;Abstract, short;Year", ";"), ("", ","),
])
def test_delimiter_is_judged_by_the_header(header, sep):
    assert delimiter_of(header) == sep


@pytest.mark.parametrize("sep", [";", "\t", ","])
def test_import_reads_semicolon_and_tab_files(tmp_path, sep):
    rows = [["Title", "Abstract", "Year", "DOI"],
            ["Cryoablation of the spine", "Pain fell; tumours were controlled, mostly.", "2020",
             "10.1000/a1"],
            ["Microwave ablation", "A second, unrelated; study", "2019", "10.1000/b2"]]
    f = tmp_path / "export.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:  # cells quoted as Excel quotes them
        csv.writer(fh, delimiter=sep, lineterminator="\n").writerows(rows)
    db = tmp_path / "r.db"
    create_review(db).close()
    code, out, err = run_main(["--db", str(db), "import", str(f), "--json"])
    assert code == 0, err
    assert json.loads(out)["records_added"] == 2
    with open_review(db) as r:
        got = [(x["title"], x["abstract"], x["year"], x["doi"]) for x in
               r.db.query("select title, abstract, year, doi from records order by id")]
    assert got == [("Cryoablation of the spine", "Pain fell; tumours were controlled, mostly.",
                    2020, "10.1000/a1"), ("Microwave ablation", "A second, unrelated; study",
                                          2019, "10.1000/b2")]


def test_screen_import_reads_a_semicolon_file(tmp_path):
    db = tmp_path / "r.db"
    build_review(db).close()
    f = tmp_path / "d.csv"
    f.write_text("record_id;decision;note\n1;include;fits; clearly\n2;exclude;\n")
    code, out, err = run_main(["--db", str(db), "screen", "import", str(f), "--reviewer",
                               "bob", "--json"])
    assert code == 0, err
    res = json.loads(out)
    assert (res["include"], res["exclude"]) == (1, 1)


def test_pool_reads_a_semicolon_file_with_the_same_result(tmp_path):
    rows = [("A", 3, 10), ("B", 5, 12), ("C", 9, 20)]
    results = []
    for sep in (",", ";", "\t"):
        f = tmp_path / f"t{ord(sep)}.csv"
        f.write_text(sep.join(["study", "events", "total"]) + "\n"
                     + "".join(sep.join(map(str, r)) + "\n" for r in rows))
        code, out, err = run_main(["pool", str(f), "--measure", "PLO", "--events", "events",
                                   "--total", "total", "--study", "study", "--json"])
        assert code == 0, err
        results.append(json.loads(out)["estimate"])
    assert results[0] == results[1] == results[2]
