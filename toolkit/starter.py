"""Starter files of a new review: `review init` writes a commented criteria file and an
extraction form beside the store, so `review screen`, `review fulltext` and `review extract`
work from the first day; the user edits them."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

# where each starter goes, relative to the folder that holds the store
STARTERS = {
    Path("screening") / "criteria.yaml": DATA / "starter_criteria.yaml",
    Path("extraction") / "forms" / "form.yaml": DATA / "starter_form.yaml",
}


def write_starter_files(folder: str | Path, title: str | None = None) -> dict[str, list[str]]:
    """Write the starter files into ``folder`` (the store's folder). A file already there is
    kept as it is, and an extraction form already in ``extraction/forms/`` means no starter
    form. Returns {"written": [...], "kept": [...]} as paths relative to ``folder``."""
    folder = Path(folder)
    written, kept = [], []
    for rel, src in STARTERS.items():
        dest = folder / rel
        existing = dest.exists() or (rel.parent.name == "forms" and dest.parent.is_dir()
                                     and any(dest.parent.glob("*.y*ml")))
        if existing:
            kept.append(str(rel if dest.exists() else rel.parent))
            continue
        text = src.read_text(encoding="utf-8")
        if title and rel.name == "form.yaml":
            # a JSON string is a YAML scalar whatever the title holds (colons, quotes, #)
            text = text.replace("title: <the review's title>", f"title: {json.dumps(title)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
        written.append(str(rel))
    return {"written": written, "kept": kept}
