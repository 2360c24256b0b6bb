"""The repository as a newcomer finds it: a licence that matches the metadata, no stray
files, no references to a tracker the repository does not have."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def tracked_files() -> list[str]:
    """The repository's files: git's list, or (outside a git checkout) the files on disk
    that are not build or test output."""
    proc = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode == 0:
        return [f for f in proc.stdout.splitlines() if (REPO / f).exists()]
    skip = {".git", "__pycache__", "build", "dist", ".hypothesis", "reproduce_out"}
    return [str(p.relative_to(REPO)) for p in REPO.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(REPO).parts)
            and ".egg-info" not in str(p)]


def test_the_licence_file_matches_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["metadata"]["license"] == "MIT"
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    assert "LICENSE" in tracked_files()


def test_no_stray_databases_or_caches_are_tracked():
    stray = [f for f in tracked_files()
             if re.search(r"\.(sqlite|sqlite3|db)(-wal|-shm)?$", f) or "__pycache__" in f]
    assert stray == []


def test_comments_do_not_cite_tracker_numbers():
    """A tracker number means nothing to a reader of the repository: say what was decided."""
    pattern = re.compile(r"\b(issue|task|ticket)s? #?\d+\b", re.IGNORECASE)
    hits = []
    for f in tracked_files():
        if f.endswith((".py", ".md", ".yaml", ".cfg", ".R")):
            for n, line in enumerate((REPO / f).read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{f}:{n}: {line.strip()}")
    assert hits == []


def pinned_versions() -> dict[str, str]:
    """constraints.txt as {normalised distribution name: version}."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_the_numeric_stack_installed_is_the_pinned_one():
    """Byte-identical outputs need the same numbers underneath: the README installs with
    constraints.txt, and this fails when the running stack is not the pinned one."""
    from importlib.metadata import version

    pins = pinned_versions()
    for dist in ("numpy", "scipy", "scikit-learn", "pandas", "rapidfuzz", "matplotlib"):
        assert version(dist) == pins[dist], f"{dist} {version(dist)} is not the pinned {pins[dist]}"


def test_every_dependency_is_pinned_and_the_readme_installs_with_the_pins():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    wanted = (cfg["options"]["install_requires"] + cfg["options.extras_require"]["test"])
    names = [re.split(r"[<>=!~\[; ]", r.strip(), maxsplit=1)[0] for r in wanted.splitlines()
             if r.strip()]
    pins = pinned_versions()
    assert [n for n in names if re.sub(r"[-_.]+", "-", n).lower() not in pins] == []
    readme = (REPO / "README.md").read_text()
    commands = [line.strip() for line in readme.splitlines()
                if "pip install" in line and line.startswith("    ")]
    assert len(commands) == 2 and all("-c constraints.txt" in c for c in commands)
    # .ci/run runs exactly the README's test command
    assert commands[1] in (REPO / ".ci" / "run").read_text()
