"""Make the screenshots of `review serve` in docs/img/ (headless Chromium from Debian's chromium
package, driven by Playwright; nothing is downloaded).

The review is the worked example's PubMed results (queries/results/pubmed.xml) with its
criteria file (screening/criteria.yaml: ta_reasons and highlight terms); reviewer ann signs in
and decides a few records, as a person would with the keys; the pages are then captured.

Usage: python docs/img/screenshots.py   (writes docs/img/review-serve-card.png and
       docs/img/review-serve-progress.png)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from toolkit.importing import import_file  # noqa: E402
from toolkit.screening import accounts  # noqa: E402
from toolkit.store import create_review  # noqa: E402
from toolkit.web.app import create_app  # noqa: E402
from toolkit.web.server import BackgroundServer  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    out = ROOT / "docs" / "img"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "review.db"
        review = create_review(db, title="Cryoablation of spinal metastases")
        import_file(review, ROOT / "queries" / "results" / "pubmed.xml", source="PubMed")
        accounts.add_reviewer(review, "ann", "ann-password")
        review.close()
        app = create_app(db, criteria_path=ROOT / "screening" / "criteria.yaml",
                         screening={"seed": 1})
        server = BackgroundServer(app)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch_persistent_context(
                    str(Path(tmp) / "profile"), executable_path="/usr/bin/chromium",
                    headless=True, args=FLAGS, viewport={"width": 1100, "height": 900})
                page = browser.new_page()
                page.goto(server.url + "/login")
                page.fill("input[name=name]", "ann")
                page.fill("input[name=password]", "ann-password")
                with page.expect_navigation():
                    page.click("button[type=submit]")
                for key in ("i", "e", "4", "i", "2"):
                    with page.expect_navigation():
                        page.keyboard.press(key)
                app.extensions["review"].desk("ann").session.ranker.wait(timeout=60)
                page.goto(server.url + "/screen")
                page.screenshot(path=str(out / "review-serve-card.png"), full_page=True)
                page.goto(server.url + "/progress")
                page.screenshot(path=str(out / "review-serve-progress.png"), full_page=True)
                browser.close()
        finally:
            server.stop()
    print(f"wrote {out / 'review-serve-card.png'} and {out / 'review-serve-progress.png'}")


if __name__ == "__main__":
    main()
