"""The commands of living reviews and search quality, through `review`'s entry point: `search
check`, `update`, `import --update`, `snowball`, `prisma --update`."""

import csv
import datetime as dt
import hashlib
import json
import socket
import time
from pathlib import Path

from eutils_fake import article_xml
from openalex_fake import make_work
from screen_helpers import run_main

ROWS = list(csv.DictReader(open(Path(__file__).parent / "data" / "screening"
                                / "kitchenham_200.csv", encoding="utf-8")))


def articles(rows, edat):
    return [(str(30_000_000 + i), dt.date(2015, 1, 1), edat,
             article_xml(str(30_000_000 + i), ROWS[i]["title"], doi=f"10.5555/fake.{i}",
                         abstract=ROWS[i]["abstract"], date=dt.date(2015, 1, 1)))
            for i in rows]


def run(*args):
    code, out, err = run_main([*map(str, args)])
    return code, (json.loads(out) if "--json" in args and out.strip() else out), err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_search_check_update_import_and_prisma(tmp_path, fake_eutils, monkeypatch):
    fake = fake_eutils(0)
    fake.add(articles(range(20), dt.date(2023, 1, 10)))
    db = tmp_path / "review.db"
    monkeypatch.setenv("REVIEW_NOW", "2023-06-01T12:00:00+00:00")
    assert run("init", "--db", db)[0] == 0
    code, out, err = run("search", "pubmed", "software[ti] OR review[ti]", "--api-key", "k",
                         "--db", db, "--json")
    assert code == 0, err
    found = out["retrieved"]

    # search check: by default the saved search; nothing is written to the store
    known = tmp_path / "known.txt"
    known.write_text("30000001\n30000002\n10.5555/fake.3\n")
    before = digest(db)
    code, check, err = run("search", "check", "--known", known, "--api-key", "k", "--db", db,
                           "--json")
    assert code == 0, err
    assert check["query"] == "software[ti] OR review[ti]" and check["count"] == found
    assert check["known"] == 3 and check["n_retrieved"] + check["n_missed"] == 3
    assert digest(db) == before
    code, text, _ = run("search", "check", "nothing[ti]", "--known", known, "--api-key", "k",
                        "--db", db)
    assert code == 0 and "retrieves 0 of 3 known studies" in text and "missed:" in text
    code, _, err = run("search", "check", "--known", known, "--db", tmp_path / "none.db")
    assert code == 1 and "give a QUERY" in err and not (tmp_path / "none.db").exists()

    # screen everything there is, then the database grows and the review is updated
    from toolkit.screening.decisions import record_decision
    from toolkit.store import open_review

    review = open_review(db)
    with review.atomic():
        for (rid,) in review.db.execute("select id from records").fetchall():
            record_decision(review, rid, "exclude", "ann")
    review.close()
    fake.add(articles(range(20, 40), dt.date(2023, 8, 1)))
    monkeypatch.setenv("REVIEW_NOW", "2023-09-01T12:00:00+00:00")
    code, upd, err = run("update", "--api-key", "k", "--db", db, "--json")
    assert code == 0, err
    new_found = sum(1 for i in range(20, 40)
                    if {"software", "review"} & set(ROWS[i]["title"].lower().split()))
    assert upd["update_id"] == 1 and upd["new_records"] == len(upd["queued"]) == new_found
    code, status, _ = run("status", "--db", db, "--json")
    assert status["stages"]["updates"] == (f"1 update; the latest started 2023-09-01 (complete):"
                                           f" {new_found} new records, {new_found} still to "
                                           f"screen (queued first)")

    # an Embase export made after the update began belongs to it; the next one, imported
    # with --update, adds only the record not stored yet (same accession = already there)
    export = tmp_path / "embase.csv"
    export.write_text("ID,Title,Year\nE1,A study nobody has seen before,2023\n")
    assert run("import", export, "--source", "Embase", "--db", db, "--json")[0] == 0
    export2 = tmp_path / "embase2.csv"
    export2.write_text("ID,Title,Year\nE1,A study nobody has seen before,2023\n"
                       "E2,Another unseen study of review methods,2023\n")
    code, imp, err = run("import", export2, "--update", "--source", "Embase", "--db", db,
                         "--json")
    assert code == 0, err
    assert (imp["update_id"], imp["records_added"], imp["already_present"]) == (1, 1, 1)
    code, text, _ = run("import", export2, "--update", "--db", db)
    assert code == 0 and "already imported" in text

    # PRISMA of the update, before its records are screened: a clear error; then the flow
    code, _, err = run("prisma", "--update", "1", "--db", db, "--format", "json")
    assert code == 1 and "not finished in update 1" in err
    review = open_review(db)
    with review.atomic():
        for (rid,) in review.db.execute(
                "select id from records where id not in (select record_id from "
                "ta_decisions)").fetchall():
            record_decision(review, rid, "exclude", "ann")
    review.close()
    code, flow, err = run("prisma", "--update", "1", "--db", db, "--format", "json", "--json")
    assert code == 0, err
    assert flow["counts"]["identified_by_database"] == {"PubMed": new_found, "Embase": 2}
    assert flow["content"]["previous_studies"] == 0
    code, _, err = run("prisma", "--update", "3", "--db", db)
    assert code == 1 and "no update 3" in err


def test_snowball_command_and_no_network(tmp_path, fake_openalex, monkeypatch):
    fake = fake_openalex([make_work(1, "Seed study", doi="10.1000/seed.1", refs=(2,)),
                          make_work(2, ROWS[0]["title"], doi="10.1000/ref.2"),
                          make_work(3, ROWS[1]["title"], doi="10.1000/cit.3", refs=(1,))])
    db = tmp_path / "review.db"
    run("init", "--db", db)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("10.1000/seed.1\n")
    code, out, err = run("snowball", "--from", seeds, "--email", "me@example.org", "--db", db,
                         "--json")
    assert code == 0, err
    assert (out["backward_works"], out["forward_works"], out["records_added"]) == (1, 1, 2)
    code, out, err = run("snowball", "--from", seeds, "--backward", "--db", db, "--json")
    assert out["directions"] == ["backward"] and out["already_present"] == 1
    # no network: one line, at once
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setenv("REVIEW_OPENALEX_URL", f"http://127.0.0.1:{port}")
    t0 = time.monotonic()
    code, out, err = run("snowball", "--from", seeds, "--db", db)
    assert code == 1 and time.monotonic() - t0 < 2
    assert err == (f"review: error: cannot connect to 127.0.0.1:{port}; check the network "
                   "connection (or REVIEW_OPENALEX_URL)\n")
