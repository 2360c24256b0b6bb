"""Shared pieces of the web-app tests: a small review with reviewer accounts, the app served by
waitress on 127.0.0.1 (a free port) in a thread, and headless Chromium from Debian's
``chromium`` package driven by Playwright (no browser is downloaded: ``executable_path``).

The browser tests fail, not skip, when Chromium is missing (``apt-get install -y chromium``);
``REVIEW_SKIP_BROWSER=1`` skips them on purpose, with the reason shown.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from screen_helpers import build_review
from toolkit.screening import accounts
from toolkit.web.app import create_app
from toolkit.web.server import BackgroundServer

CHROMIUM = os.environ.get("REVIEW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
PASSWORDS = {"ann": "ann-password-1", "bob": "bob-password-2", "rita": "rita-password-3"}
CRITERIA = """\
inclusion: [cryoablation of the heart]
exclusion: [software]
ta_reasons: [wrong population, wrong intervention, not a trial]
highlight:
  include: [cryoablation, pulmonary vein]
  exclude: [software, survey]
"""


_TEMPLATES: dict[int, Path] = {}


def make_review(tmp_path: Path, n: int = 30):
    """A review of ``n`` records (every 5th about cryoablation), accounts ann and bob
    (screeners) and rita (resolver), and a criteria file. Returns (db path, criteria path).
    The store is made once per size and copied (hashing the passwords takes a while)."""
    import tempfile

    if n not in _TEMPLATES:
        template = Path(tempfile.mkdtemp(prefix="review-web-")) / "review.db"
        review = build_review(template, n=n)
        accounts.add_reviewer(review, "ann", PASSWORDS["ann"])
        accounts.add_reviewer(review, "bob", PASSWORDS["bob"])
        accounts.add_reviewer(review, "rita", PASSWORDS["rita"], role="resolver")
        review.close()
        _TEMPLATES[n] = template
    db = tmp_path / "review.db"
    shutil.copyfile(_TEMPLATES[n], db)
    criteria = tmp_path / "criteria.yaml"
    criteria.write_text(CRITERIA, encoding="utf-8")
    return db, criteria


@pytest.fixture
def served(tmp_path):
    """The app over a fresh review, served on 127.0.0.1; yields the BackgroundServer."""
    db, criteria = make_review(tmp_path)
    server = BackgroundServer(create_app(db, criteria_path=criteria, screening={"seed": 1}))
    server.db = db
    yield server
    server.stop()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def chromium_or_fail() -> str:
    if os.environ.get("REVIEW_SKIP_BROWSER") == "1":
        pytest.skip("REVIEW_SKIP_BROWSER=1: browser tests skipped on purpose")
    path = shutil.which(CHROMIUM) or (CHROMIUM if os.path.isfile(CHROMIUM) else None)
    if path is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y "
                    "chromium) or set REVIEW_CHROMIUM; REVIEW_SKIP_BROWSER=1 skips these tests")
    return path


@pytest.fixture(scope="session")
def playwright_driver():
    path = chromium_or_fail()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    pw.chromium_path = path
    yield pw
    pw.stop()


def launch_browser(pw, user_data_dir: Path):
    """One headless Chromium with a fresh profile (``user_data_dir``): a persistent context,
    which is a whole browser of its own (own cookies, own process)."""
    context = pw.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=pw.chromium_path, headless=True,
        args=CHROMIUM_FLAGS, viewport={"width": 1100, "height": 820})
    context.set_default_timeout(20_000)
    return context


@pytest.fixture(scope="session")
def browser(playwright_driver, tmp_path_factory):
    """A browser shared by the tests (each test clears its cookies)."""
    context = launch_browser(playwright_driver, tmp_path_factory.mktemp("chromium-profile"))
    yield context
    context.close()


@pytest.fixture(scope="session")
def second_browser_session(playwright_driver, tmp_path_factory):
    context = launch_browser(playwright_driver, tmp_path_factory.mktemp("chromium-profile"))
    yield context
    context.close()


@pytest.fixture
def second_browser(second_browser_session):
    """Another browser (own profile, own cookies) for a second reviewer."""
    second_browser_session.clear_cookies()
    return second_browser_session


@pytest.fixture
def page(browser):
    browser.clear_cookies()
    p = browser.new_page()
    yield p
    p.close()


def sign_in(page, url: str, name: str, password: str | None = None) -> None:
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password or PASSWORDS[name])
    with page.expect_navigation():
        page.click("button[type=submit]")


def card_record(page) -> int | None:
    """The record id on the card, or None when nothing is left."""
    card = page.query_selector("#card")
    return int(card.get_attribute("data-record")) if card else None


def press(page, key: str) -> None:
    """Press a key on the screening page and wait for the next page to load."""
    with page.expect_navigation():
        page.keyboard.press(key)
