"""`review serve` in a real browser: headless Chromium (Debian's package, driven by Playwright)
against the app served by waitress on 127.0.0.1 from a thread.

Covers sign-in, screening with the keys, undo, blinding, conflict resolution, refused forms, and
two browsers (two reviewers) and two tabs (one reviewer) on one review at once, and two
terminals beside two browsers: every decision a page or a terminal confirmed is in the store
exactly once, and nothing else is.
"""

from __future__ import annotations

from web_helpers import (browser, card_record, page, playwright_driver,  # noqa: F401
                         press, second_browser, second_browser_session, served, sign_in)
from toolkit.store import open_review


def live(db, reviewer=None):
    sql = ("select record_id, reviewer, decision, reason, note from ta_decisions "
           "where undone_at is null and origin = 'human'")
    args = []
    if reviewer:
        sql += " and reviewer = ?"
        args.append(reviewer)
    with open_review(db) as r:
        return list(r.db.query(sql + " order by id", args))


def flash(page) -> str:
    el = page.query_selector(".flash")
    return el.inner_text() if el else ""


def test_sign_in_screen_with_keys_reason_note_and_undo(served, page):
    sign_in(page, served.url, "ann", "wrong password")
    assert page.inner_text("#login-error") == "wrong name or password"
    assert page.query_selector("#card") is None
    sign_in(page, served.url, "ann")
    assert page.inner_text("#me") == "ann"
    # the card: title, abstract, journal and year, the highlight terms marked
    assert page.inner_text("#journal") == "J Test" and page.inner_text("#year").isdigit()
    marks = page.eval_on_selector_all("#card mark", "ms => ms.map(m => [m.className, "
                                      "m.textContent.toLowerCase()])")
    if page.inner_text("#title").startswith("Cryoablation"):
        assert marks == [["hl-include", "cryoablation"], ["hl-include", "cryoablation"],
                         ["hl-include", "pulmonary vein"]]
    else:
        assert marks == [["hl-exclude", "software"], ["hl-exclude", "software"],
                         ["hl-exclude", "survey"]]
    seen = []
    for key in ("i", "e", "m", "2"):
        seen.append(card_record(page))
        press(page, key)
        assert flash(page).startswith("saved:")
    # the answer to a decision is the next card, at /screen: reloading sends nothing again
    assert page.url == served.url + "/screen"
    page.reload()
    assert len(live(served.db, "ann")) == 4 and card_record(page) not in seen
    # a note, typed after n, goes with the next decision
    page.keyboard.press("n")
    page.keyboard.type("not randomised")
    page.keyboard.press("Enter")  # leaves the field, decides nothing
    assert len(live(served.db, "ann")) == 4
    seen.append(card_record(page))
    press(page, "e")
    got = [(d["record_id"], d["decision"], d["reason"], d["note"]) for d in live(served.db)]
    assert got == [(seen[0], "include", None, None), (seen[1], "exclude", None, None),
                   (seen[2], "maybe", None, None),
                   (seen[3], "exclude", "wrong intervention", None),
                   (seen[4], "exclude", None, "not randomised")]
    # the model ranks once there is an include and an exclude (retraining runs in the
    # background in the server: wait for it, then the record undone is shown with its rank)
    served.app.extensions["review"].desk("ann").session.ranker.wait(timeout=30)
    press(page, "u")
    assert flash(page).startswith(f"undone: exclude · record {seen[4]}")
    assert card_record(page) == seen[4]
    assert "model's rank" in page.inner_text("#rank")
    assert [d["record_id"] for d in live(served.db)] == seen[:4]


def test_missing_or_forged_csrf_token_is_refused_in_the_browser(served, page):
    sign_in(page, served.url, "ann")
    for change in ("el => el.remove()", "el => el.value = 'forged'"):
        page.eval_on_selector("#decide input[name=csrf_token]", change)
        press(page, "i")
        assert "The form was refused" in page.inner_text("#error")
        page.goto(served.url + "/screen")
    assert live(served.db) == []


def test_blinding_then_conflicts_resolved_by_the_resolver(served, page, second_browser):
    bob = second_browser.new_page()
    try:
        sign_in(page, served.url, "ann")
        sign_in(bob, served.url, "bob")
        ann_done, bob_done = {}, {}
        for _ in range(4):  # each screens four records: ann includes, bob excludes
            ann_done[card_record(page)] = "include"
            press(page, "i")
            bob_done[card_record(bob)] = "exclude"
            press(bob, "e")
        shared = sorted(set(ann_done) & set(bob_done))
        # blinded: neither sees the other's decisions, and conflicts are not theirs to see
        for p, other in ((page, "bob"), (bob, "ann")):
            p.goto(served.url + "/progress")
            assert other not in p.inner_text("main")
            p.goto(served.url + "/conflicts")
            assert "Not for your account" in p.inner_text("#error")
        # the resolver (in ann's browser, after signing out) opens and resolves
        page.goto(served.url + "/screen")
        with page.expect_navigation():
            page.click("text=Sign out")
        sign_in(page, served.url, "rita")
        page.goto(served.url + "/conflicts")
        assert f"{len(shared)} record(s)" in page.inner_text("#blinded")
        with page.expect_navigation():
            page.click("#open-conflicts")
        listed = [int(x) for x in page.eval_on_selector_all(
            ".conflict", "els => els.map(e => e.dataset.record)")]
        assert sorted(listed) == shared
        assert shared  # the same seed: both start with the same seeded random order
        first = shared[0]
        # Enter in the note field resolves nothing (the form's first button is no answer)
        page.fill(f"#r{first} input[name=note]", "not sure yet")
        page.press(f"#r{first} input[name=note]", "Enter")
        page.wait_for_timeout(300)
        with open_review(served.db) as r:
            assert r.db.execute("select count(*) from ta_decisions where origin = "
                                "'resolution'").fetchone()[0] == 0
        page.fill(f"#r{first} input[name=note]", "meets the criteria")
        with page.expect_navigation():
            page.click(f"#r{first} button[value=include]")
        assert flash(page) == f"record {first} resolved: include"
        with open_review(served.db) as r:
            res = list(r.db.query("select record_id, reviewer, decision, note from "
                                  "ta_decisions where origin = 'resolution'"))
        assert res == [{"record_id": first, "reviewer": "rita", "decision": "include",
                        "note": "meets the criteria"}]
        # opened: bob may now look (no resolve buttons)
        bob.goto(served.url + "/conflicts")
        assert "ann vs bob" in bob.inner_text("#kappa")
        assert bob.query_selector("form.resolve") is None
    finally:
        bob.close()


def test_two_browsers_and_two_tabs_lose_or_double_nothing(served, browser, second_browser):
    """ann in two tabs of one browser and bob in another browser press keys at the same time.
    A decision a page confirms ("saved") is in the store once; a press refused because the
    other tab already decided that record is said so on the page and saves nothing."""
    browser.clear_cookies()
    tab1, tab2 = browser.new_page(), browser.new_page()
    bob = second_browser.new_page()
    try:
        sign_in(tab1, served.url, "ann")
        tab2.goto(served.url + "/screen")  # same browser: same session
        sign_in(bob, served.url, "bob")
        saved = {"ann": [], "bob": []}
        refused = 0
        for round_ in range(8):
            pages = [(tab1, "ann", "ie"[round_ % 2]), (tab2, "ann", "m"), (bob, "bob", "e")]
            shown = {id(p): card_record(p) for p, _, _ in pages}
            assert shown[id(tab1)] == shown[id(tab2)]  # both tabs show ann's current card
            with tab1.expect_navigation(), tab2.expect_navigation(), bob.expect_navigation():
                for p, _, key in pages:  # all three presses go out before any answer
                    p.keyboard.press(key)
            for p, who, key in pages:
                message = flash(p)
                if message.startswith("saved:"):
                    saved[who].append((shown[id(p)], {"i": "include", "e": "exclude",
                                                      "m": "maybe"}[key]))
                else:
                    assert "already decided in another window" in message, message
                    refused += 1
        assert refused == 8  # exactly one of ann's two tabs won each round
        for who in ("ann", "bob"):
            stored = [(d["record_id"], d["decision"]) for d in live(served.db, who)]
            assert stored == saved[who]
            assert len({rid for rid, _ in stored}) == len(stored)  # no record twice
        assert len(saved["ann"]) == 8 and len(saved["bob"]) == 8
    finally:
        bob.close()
        tab1.close()
        tab2.close()


def test_two_terminals_and_two_browsers_lose_or_double_nothing(served, browser, second_browser):
    """ann and bob each screen in a terminal (`review screen` processes) and in a browser at
    the same time, until their queues are empty. Every decision a terminal or a page said was
    saved is in the store exactly once, nothing else is, and every record is decided once per
    reviewer."""
    import re

    from screen_helpers import Screen

    n = 30  # the served review's size (web_helpers.make_review)
    terminals = {who: Screen(served.db, who) for who in ("ann", "bob")}
    for t in terminals.values():
        t.until(r"^record \d+")
    browser.clear_cookies()
    pages = {"ann": browser.new_page(), "bob": second_browser.new_page()}
    saved = {"ann": [], "bob": []}
    try:
        for who, p in pages.items():
            sign_in(p, served.url, who)

        def browse(key):
            """One key on each page that still shows a card; False when neither does."""
            shown = {who: card_record(p) for who, p in pages.items()}
            active = [who for who, rid in shown.items() if rid is not None]
            for who in active:
                press(pages[who], key)
                message = flash(pages[who])
                if message.startswith("saved:"):
                    saved[who].append((shown[who], message.split()[1]))
                else:  # the other window of the reviewer got there first
                    assert "not saved" in message or "nothing was saved" in message, message
            return bool(active)

        for round_ in range(n // 2):
            key = "ie"[round_ % 2]
            for t in terminals.values():  # the terminals type while the pages are pressed
                t.send(key + "\n")
            browse(key)
        outs = {who: t.finish() for who, t in terminals.items()}  # end of input: quit
        for _ in range(2 * n):  # the browsers screen what is left
            if not browse("e"):
                break
    finally:
        for p in pages.values():
            p.close()
    for who, (out, err) in outs.items():
        assert terminals[who].proc.returncode == 0, err
        terminal_saved = [(int(r), d) for d, r in
                          re.findall(r"saved: (\w+) \(record (\d+)\)", out)]
        assert terminal_saved and saved[who]  # both windows of each reviewer did some work
        stored = [(d["record_id"], d["decision"]) for d in live(served.db, who)]
        assert sorted(stored) == sorted(terminal_saved + saved[who])  # nothing lost
        assert sorted(rid for rid, _ in stored) == list(range(1, n + 1))  # nothing doubled
    with open_review(served.db) as r:
        assert r.db.execute("select count(*) from ta_decisions").fetchone()[0] == 2 * n
