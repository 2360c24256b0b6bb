"""The `review` command as a whole: one module per stage, subcommands, the old spellings,
`--db` in either place, paths that do not exist, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from screen_helpers import build_review as build_screen_review
from screen_helpers import run_main
from toolkit.cli import STAGES, cli

try:
    from test_extraction_support import build_review
except ImportError:  # tests/ made a package
    from tests.test_extraction_support import build_review

REPO = Path(__file__).resolve().parent.parent


def _walk(cmd: click.Command, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def test_every_command_has_help_and_takes_db_after_the_subcommand():
    seen = set()
    for path, cmd in _walk(cli):
        if not path:
            continue
        seen.add(path[0])
        assert (cmd.help or "").strip(), f"`review {' '.join(path)}` has no help"
        assert any(p.name == "db" for p in cmd.params), path
    # every stage module's commands are wired in, and nothing else
    assert seen == {c.name for stage in STAGES for c in stage.COMMANDS}


def test_db_after_the_subcommand(tmp_path):
    db = tmp_path / "r.db"
    build_screen_review(db).close()
    code, out, err = run_main(["status", "--db", str(db), "--json"])
    assert code == 0, err
    assert json.loads(out)["records"] == 30
    # after a subcommand of a group too, and it wins over the one before
    code, out, err = run_main(["--db", str(tmp_path / "other.db"), "conflicts", "list",
                               "--db", str(db), "--json"])
    assert code == 0, err
    assert json.loads(out)["n_unresolved"] == 0
    # a stage's default subcommand with only --db after the stage (nothing else to parse)
    code, out, err = run_main(["conflicts", "--db", str(db)])
    assert code == 0, err
    assert "unresolved" in out
    code, out, err = run_main(["dedup", f"--db={db}"])
    assert code == 0, err
    code, out, err = run_main(["dedup", "--db"])  # no value: click's own message
    assert code == 1 and "requires an argument" in err
    code, out, _ = run_main(["screen", "--help"])
    assert "Without a subcommand: `review screen run`" in out


def test_a_store_in_a_folder_that_does_not_exist_is_one_clear_error(tmp_path):
    missing = tmp_path / "missing" / "dir" / "r.db"
    for args in (["--db", str(missing), "init"], ["init", "--db", str(missing)],
                 ["--db", str(missing), "status"]):
        code, out, err = run_main(args)
        assert code == 1
        assert err.startswith("review: error: folder ") and "does not exist" in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "missing").exists()


def test_output_paths_in_missing_folders_are_refused_not_created(tmp_path):
    db = tmp_path / "r.db"
    build_screen_review(db).close()
    table = tmp_path / "t.csv"
    table.write_text("study,events,total\nA,3,10\nB,5,12\n")
    for args in (["export", "--out", str(tmp_path / "nodir" / "x.csv")],
                 ["pool", str(table), "--measure", "PLO", "--events", "events", "--total",
                  "total", "--study", "study", "--forest",
                  str(tmp_path / "nodir" / "f.png")],
                 ["prisma", "--format", "csv", "--out", str(tmp_path / "nodir" / "p.csv")],
                 ["simulate", str(table), "--out", str(tmp_path / "nodir" / "s.csv")],
                 ["reproduce", "--out", str(tmp_path / "nodir" / "deeper" / "out")]):
        code, out, err = run_main(["--db", str(db), *args])
        assert code == 1, (args, err)
        assert "review: error:" in err and "does not exist" in err, (args, err)
        assert "Traceback" not in err
        assert not (tmp_path / "nodir").exists(), args


@pytest.mark.parametrize("old, new", [
    (["dedup", "--review"], ["dedup", "review"]),
    (["screen", "--import", "DEC"], ["screen", "import", "DEC"]),
    (["conflicts", "--resolve", "1", "--decision", "include"],
     ["conflicts", "resolve", "1", "--decision", "include"]),
])
def test_old_spellings_still_work_and_say_the_new_one(tmp_path, old, new):
    """The mode flags of the last release are hidden aliases: same result, and a note."""
    results = []
    for i, args in enumerate((old, new)):
        db = tmp_path / f"r{i}.db"
        build_screen_review(db).close()
        (tmp_path / "dec.csv").write_text("record_id,decision\n1,include\n2,exclude\n")
        args = [str(tmp_path / "dec.csv") if a == "DEC" else a for a in args]
        code, out, err = run_main(["--db", str(db), *args, "--json"], input="q\n")
        assert code == 0, err
        results.append((json.loads(out), err))
    (old_out, old_err), (new_out, new_err) = results
    for out in (old_out, new_out):
        out.pop("decision_id", None)
    assert old_out == new_out
    assert f"is now `review {' '.join(new[:2])}" in old_err
    assert "is now" not in new_err


def test_old_extract_and_fulltext_spellings_match_the_new(tmp_path):
    results = []
    for i, sub in enumerate((["--summary"], ["summary"])):
        d = tmp_path / str(i)
        d.mkdir()
        r = build_review(d)
        db = r.path
        r.close()
        code, out, err = run_main(["--db", str(db), "fulltext", *sub, "--json"])
        assert code == 0, err
        results.append(json.loads(out))
        code, out, err = run_main(["--db", str(db), "extract",
                                   *(["--compare"] if i == 0 else ["compare"]), "--json"])
        assert code == 0, err
        assert json.loads(out)["disagreements"] == []
        assert ("is now `review extract compare`" in err) == (i == 0)
    assert results[0] == results[1]


def test_ctrl_c_at_a_prompt_exits_130_and_keeps_what_was_saved(tmp_path):
    """click turns Ctrl-C at a line prompt into Abort; that is an interrupt (130), not an
    error (1), and the decision saved before it is kept."""
    r = build_review(tmp_path)
    db = r.path
    r.close()
    env = dict(os.environ, PYTHONPATH=str(REPO), REVIEW_REVIEWER="ann")
    proc = subprocess.Popen([sys.executable, "-m", "toolkit.cli", "--db", str(db), "fulltext"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    proc.stdin.write("i\n")
    proc.stdin.flush()

    def saved() -> int:
        con = sqlite3.connect(db)
        try:
            return con.execute("select count(*) from ft_decisions").fetchone()[0]
        finally:
            con.close()

    deadline = time.time() + 30  # until the first decision is saved and the next prompt is up
    while not saved() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted; everything saved so far is kept" in err
    assert saved() == 1


def test_init_writes_starter_files_that_the_stages_read(tmp_path):
    from toolkit.extraction.forms import find_form
    from toolkit.fulltext import default_criteria_path, load_criteria
    from toolkit.store import open_review

    db = tmp_path / "r.db"
    code, out, err = run_main(["--db", str(db), "init", "--title", "Drug X: a review #1",
                               "--json"])
    assert code == 0, err
    assert json.loads(out)["starter_files"] == {
        "written": ["screening/criteria.yaml", "extraction/forms/form.yaml"], "kept": []}
    with open_review(db) as r:
        crit = load_criteria(default_criteria_path(r))
        assert "wrong population" in crit["fulltext_reasons"]
        from toolkit.screening.criteria import load_screening_criteria
        screening = load_screening_criteria(default_criteria_path(r))
        assert "wrong study design" in screening.ta_reasons  # keys 1-9 in `review screen`
        form = find_form(r, None)  # the only form there is
        assert form.title == "Drug X: a review #1"
        assert {"response", "age"} <= set(form.outcomes)
    # an edited criteria file is never overwritten by a second init
    (tmp_path / "screening" / "criteria.yaml").write_text("fulltext_reasons: [mine]\n")
    code, out, err = run_main(["--db", str(tmp_path / "second.db"), "init", "--json"])
    assert code == 0, err
    assert json.loads(out)["starter_files"]["written"] == []
    assert (tmp_path / "screening" / "criteria.yaml").read_text() == "fulltext_reasons: [mine]\n"
    # and they can be left out
    other = tmp_path / "other"
    other.mkdir()
    code, out, err = run_main(["--db", str(other / "r.db"), "init", "--no-starter-files"])
    assert code == 0 and sorted(p.name for p in other.iterdir()) == ["r.db"]


def test_screen_explains_an_empty_or_undeduplicated_store(tmp_path):
    from toolkit.store import create_review

    db = tmp_path / "empty.db"
    create_review(db).close()
    code, out, err = run_main(["--db", str(db), "screen"], input="q\n")
    assert code == 1
    assert err.strip() == ("review: error: no records to screen yet: add some with `review "
                           "import FILE` or `review search pubmed QUERY`, then `review dedup`")
    db = tmp_path / "r.db"
    build_screen_review(db).close()
    code, out, err = run_main(["--db", str(db), "screen"], input="q\n")
    assert code == 0
    assert ("review: warning: the 30 records were never deduplicated, so duplicates will be "
            "shown as records of their own; run `review dedup` first") in err
    code, out, err = run_main(["--db", str(db), "dedup", "--json"])
    assert code == 0, err
    code, out, err = run_main(["--db", str(db), "screen"], input="q\n")
    assert code == 0 and "deduplicated" not in err
