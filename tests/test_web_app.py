"""The web app's rules through Flask's test client (fast; the browser tests are in
test_web_browser.py): sign-in, CSRF, sessions, roles, blinding, refused stale forms."""

from __future__ import annotations

import html
import re

import pytest

from web_helpers import PASSWORDS, csrf_of, make_review
from toolkit.screening import accounts
from toolkit.store import open_review
from toolkit.web.app import create_app
from toolkit.web.server import exposure_warning, is_loopback, trusted_hosts


@pytest.fixture
def app(tmp_path):
    db, criteria = make_review(tmp_path, n=12)
    app = create_app(db, criteria_path=criteria, screening={"seed": 1})
    app.db = db
    yield app
    app.extensions["review"].close()


def sign_in(client, name, password=None):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf_token": token, "name": name,
                                       "password": password or PASSWORDS[name]})


def card(client) -> tuple[int | None, dict]:
    """(record id on the card, the decide form's fields) of the screening page."""
    html = client.get("/screen").text
    m = re.search(r'id="card" data-record="(\d+)"', html)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    undo = re.search(r'name="expect" value="(\d+)"', html)
    fields["expect"] = undo.group(1) if undo else None
    return (int(m.group(1)) if m else None), fields


def decide(client, fields, decision, **extra):
    data = {k: fields[k] for k in ("csrf_token", "record_id", "token")}
    return client.post("/decide", data=dict(data, decision=decision, **extra),
                       follow_redirects=True)


def live(db, reviewer):
    with open_review(db) as r:
        return list(r.db.query("select record_id, decision, reason, note from ta_decisions "
                               "where reviewer = ? and undone_at is null order by id",
                               [reviewer]))


def test_wrong_password_and_unknown_name_are_refused_alike(app):
    c = app.test_client()
    for name, pw in (("ann", "not-her-password"), ("nobody", PASSWORDS["ann"])):
        res = sign_in(c, name, pw)
        assert res.status_code == 401 and "wrong name or password" in res.text
    assert c.get("/screen").status_code == 302  # still signed out: to the login page
    res = sign_in(c, "ann")
    assert res.status_code == 303 and res.headers["Location"].endswith("/screen")
    assert 'id="me">ann<' in c.get("/screen").text


def test_repeated_failures_lock_the_name_out(app):
    c = app.test_client()
    for _ in range(5):
        assert sign_in(c, "bob", "guess-guess").status_code == 401
    res = sign_in(c, "bob")  # even the right password, for now
    assert res.status_code == 429 and "too many failed sign-ins" in res.text
    assert sign_in(c, "ann").status_code == 303  # other names are not affected


def test_forms_without_or_with_a_forged_csrf_token_are_refused(app):
    c = app.test_client()
    sign_in(c, "ann")
    rid, f = card(c)
    base = {"record_id": f["record_id"], "token": f["token"], "decision": "include"}
    for data in (base, dict(base, csrf_token="forged"),
                 dict(base, csrf_token=f["csrf_token"][:-3] + "abc")):
        res = c.post("/decide", data=data)
        assert res.status_code == 400 and "The form was refused" in res.text
    assert c.post("/login", data={"name": "ann", "password": PASSWORDS["ann"]}).status_code \
        == 400
    assert live(app.db, "ann") == []
    assert decide(c, f, "include").status_code == 200
    assert [d["record_id"] for d in live(app.db, "ann")] == [rid]


def test_another_reviewers_token_or_session_is_refused(app, tmp_path):
    ann, bob = app.test_client(), app.test_client()
    sign_in(ann, "ann")
    sign_in(bob, "bob")
    _, fa = card(ann)
    _, fb = card(bob)
    # bob's CSRF token in ann's session
    res = ann.post("/decide", data=dict(fa, csrf_token=fb["csrf_token"], decision="include"))
    assert res.status_code == 400
    # a field naming another reviewer changes nothing: the session says who decides
    decide(ann, fa, "exclude", reviewer="bob")
    assert len(live(app.db, "ann")) == 1 and live(app.db, "bob") == []
    # a session cookie made by another server (another key) is not a session here
    (tmp_path / "other").mkdir()
    db2, crit2 = make_review(tmp_path / "other", n=3)
    other = create_app(db2, criteria_path=crit2)
    forger = other.test_client()
    sign_in(forger, "ann")
    cookie = forger.get_cookie(other.config["SESSION_COOKIE_NAME"]).value
    stranger = app.test_client()
    stranger.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    assert stranger.get("/screen").status_code == 302
    other.extensions["review"].close()


def test_a_password_change_signs_out_the_old_sessions(app):
    c = app.test_client()
    sign_in(c, "ann")
    assert c.get("/screen").status_code == 200
    with open_review(app.db) as r:
        accounts.set_password(r, "ann", "a new password")
    assert c.get("/screen").status_code == 302
    assert sign_in(c, "ann", "a new password").status_code == 303


def test_keys_reason_note_and_undo_save_what_the_card_showed(app):
    c = app.test_client()
    sign_in(c, "ann")
    r1, f = card(c)
    page = decide(c, f, "exclude:2", note="wrong arm")
    assert "saved: exclude (wrong intervention)" in page.text
    r2, f = card(c)
    decide(c, f, "include")
    assert [(d["record_id"], d["decision"], d["reason"], d["note"]) for d in live(app.db, "ann")] \
        == [(r1, "exclude", "wrong intervention", "wrong arm"), (r2, "include", None, None)]
    r3, f = card(c)
    res = c.post("/undo", data={"csrf_token": f["csrf_token"], "expect": f["expect"]},
                 follow_redirects=True)
    assert f"undone: include · record {r2}" in res.text
    assert card(c)[0] == r2  # the undone record is shown again
    assert [d["record_id"] for d in live(app.db, "ann")] == [r1]
    res = decide(c, card(c)[1], "exclude:9")
    assert "'9' is not one of the title/abstract reasons" in html.unescape(res.text)
    assert len(live(app.db, "ann")) == 1


def test_two_tabs_of_one_reviewer_cannot_decide_one_record_twice(app):
    c = app.test_client()
    sign_in(c, "ann")
    rid, tab1 = card(c)
    rid2, tab2 = card(c)  # a second tab shows the same card
    assert rid2 == rid and tab2["token"] == tab1["token"]
    assert "saved: include" in decide(c, tab1, "include").text
    res = decide(c, tab2, "exclude")
    assert f"record {rid} was already decided in another window (include)" in res.text
    assert [(d["record_id"], d["decision"]) for d in live(app.db, "ann")] == [(rid, "include")]
    # an undo sent from a page that knew an older last decision is refused too
    _, now = card(c)
    decide(c, now, "exclude")
    res = c.post("/undo", data={"csrf_token": tab1["csrf_token"], "expect": now["expect"]},
                 follow_redirects=True)
    assert "nothing was undone" in res.text and len(live(app.db, "ann")) == 2


def test_blinding_and_conflicts_by_role(app):
    ann, bob, rita = app.test_client(), app.test_client(), app.test_client()
    for client, name in ((ann, "ann"), (bob, "bob"), (rita, "rita")):
        sign_in(client, name)
    # both screen the whole review: ann includes everything, bob only record 1
    for client, rule in ((ann, lambda r: "include"),
                         (bob, lambda r: "include" if r == 1 else "exclude")):
        while True:
            rid, f = card(client)
            if rid is None:
                break
            decide(client, f, rule(rid))
    assert ann.get("/conflicts").status_code == 403
    assert "bob" not in ann.get("/progress").text
    page = rita.get("/conflicts").text
    assert "Blinding is on" in page and "12 record(s)" in page and "kappa" not in page
    # a resolver screens too: the whole review's counts would show her how others decided
    assert 'id="overall"' not in rita.get("/progress").text
    assert ann.post("/conflicts/open", data={"csrf_token": card(ann)[1]["csrf_token"]}) \
        .status_code == 403
    token = csrf_of(page)
    rita.post("/conflicts/open", data={"csrf_token": token})
    page = rita.get("/conflicts").text
    assert re.search(r'id="overall">12 of 12 records decided', rita.get("/progress").text)
    # ann and bob agree on 1 of 12 records; ann used one category only, so kappa is 0:
    # p_o = 1/12, p_e = (12/12)(1/12) = 1/12, kappa = (p_o - p_e) / (1 - p_e) = 0
    assert re.search(r"ann vs bob</td><td>12</td>\s*<td>8\.3 %</td>\s*<td class=\"kappa\">"
                     r"0\.000</td>", page)
    assert 'unresolved: <b id="unresolved">11</b>' in page
    rita.post("/conflicts/resolve", data={"csrf_token": token, "record_id": 2,
                                          "decision": "exclude", "note": "no trial"})
    assert 'unresolved: <b id="unresolved">10</b>' in rita.get("/conflicts").text
    with open_review(app.db) as r:
        res = list(r.db.query("select * from ta_decisions where origin = 'resolution'"))
    assert [(x["record_id"], x["reviewer"], x["decision"], x["note"]) for x in res] == \
        [(2, "rita", "exclude", "no trial")]
    opened = ann.get("/conflicts").text  # opened: screeners may look, not resolve
    assert "ann vs bob" in opened and "resolve: include" not in opened
    res = ann.post("/conflicts/resolve", data={"csrf_token": card(ann)[1]["csrf_token"],
                                               "record_id": 3, "decision": "include"})
    assert res.status_code == 403


def test_kappa_on_the_page_equals_the_hand_computed_value(app):
    """Two categories, 12 records: ann includes 1-6, bob includes 1-4 and 7-8.
    Agreement 8/12; p_e = (6/12)(6/12) + (6/12)(6/12) = 0.5; kappa = (8/12 - 0.5) / 0.5."""
    with open_review(app.db) as r:
        from toolkit.screening.decisions import save_decision
        for rid in range(1, 13):
            save_decision(r, rid, "include" if rid <= 6 else "exclude", "ann", seen=None)
            save_decision(r, rid, "include" if rid <= 4 or rid in (7, 8) else "exclude", "bob",
                          seen=None)
    rita = app.test_client()
    sign_in(rita, "rita")
    rita.post("/conflicts/open", data={"csrf_token": csrf_of(rita.get("/conflicts").text)})
    expected = (8 / 12 - 0.5) / 0.5
    assert f'<td class="kappa">{expected:.3f}</td>' in rita.get("/conflicts").text


def test_progress_page_and_recall_curve(app):
    c = app.test_client()
    sign_in(c, "ann")
    for decision in ("include", "exclude", "exclude"):
        decide(c, card(c)[1], decision)
    page = c.get("/progress").text
    assert 'id="screened">3<' in page and "recall" in page
    assert "none chosen for this server" in page
    png = c.get("/progress/recall.png")
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data[:4] == b"\x89PNG"


def test_headers_and_trusted_hosts(tmp_path):
    db, criteria = make_review(tmp_path, n=3)
    app = create_app(db, criteria_path=criteria, trusted_hosts=trusted_hosts("127.0.0.1", 8765))
    c = app.test_client()
    res = c.get("/login", headers={"Host": "127.0.0.1:8765"})
    assert res.status_code == 200
    assert "frame-ancestors 'none'" in res.headers["Content-Security-Policy"]
    assert "HttpOnly" in res.headers["Set-Cookie"] and "SameSite=Strict" in res.headers["Set-Cookie"]
    assert c.get("/login", headers={"Host": "attacker.example"}).status_code == 400
    app.extensions["review"].close()


def test_loopback_and_the_warning_for_other_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert exposure_warning("127.0.0.1") is None
    assert not is_loopback("0.0.0.0") and "WARNING" in exposure_warning("0.0.0.0")
    assert trusted_hosts("0.0.0.0", 80) is None


def test_a_save_the_store_refuses_is_shown_not_a_crash(app, monkeypatch):
    """A refusal raised by the screening API itself (e.g. the store's compare-and-set, or a
    store busy for too long) reaches the page as a message; nothing is saved."""
    from toolkit.errors import ReviewError
    from toolkit.screening.queue import ScreeningSession

    def refuse(self, shown, decision, note=None, reason=None):
        raise ReviewError(f"record {shown.record_id} was already decided by you in another "
                          "session: include; not saved")

    c = app.test_client()
    sign_in(c, "ann")
    rid, f = card(c)
    monkeypatch.setattr(ScreeningSession, "decide", refuse)
    res = decide(c, f, "exclude")
    assert res.status_code == 200
    assert f"record {rid} was already decided by you in another session" in res.text
    assert live(app.db, "ann") == []


def test_an_error_of_the_api_on_a_page_is_a_message_not_a_traceback(app, monkeypatch):
    from toolkit.errors import ReviewError
    from toolkit.screening.queue import ScreeningSession

    def busy(self):
        raise ReviewError("the store review.db stayed busy for 60 s; nothing was written")

    c = app.test_client()
    sign_in(c, "ann")
    monkeypatch.setattr(ScreeningSession, "counts", busy)
    res = c.get("/screen")
    assert res.status_code == 503 and "stayed busy for 60 s" in res.text


def test_records_an_update_adds_while_the_server_runs_come_next_with_a_word(app, tmp_path):
    """`review import --update` in another process while a reviewer screens in the browser:
    the update's records are the next cards (as in a new terminal session), and the page says
    why, instead of the server hiding them until a restart."""
    from toolkit.living.updates import import_update

    c = app.test_client()
    sign_in(c, "ann")
    decide(c, card(c)[1], "exclude")
    export = tmp_path / "update.csv"
    export.write_text("title,abstract,doi\n" + "".join(
        f"Cryoablation trial {i},Cryoablation of the pulmonary vein in trial {i},10.9/{i}\n"
        for i in range(2)), encoding="utf-8")
    with open_review(app.db) as other:
        queued = {q["record_id"] for q in import_update(other, export, source="Embase")["queued"]}
    assert len(queued) == 2
    on_screen, f = card(c)  # the card on screen stays until it is decided
    assert on_screen not in queued
    page = decide(c, f, "exclude").text
    assert "2 record(s) joined the pool in another process" in page
    first, f = card(c)
    decide(c, f, "include")
    second, _ = card(c)
    assert {first, second} == queued


def test_undo_on_the_page_takes_back_a_decision_made_in_the_terminal(app):
    """The page offers to undo the reviewer's latest decision wherever it was made; the web
    session must know of the terminal's decision to undo it at the first request."""
    from toolkit.screening.queue import ScreeningSession

    c = app.test_client()
    sign_in(c, "ann")
    decide(c, card(c)[1], "exclude")
    card(c)  # the next card is on the page
    with open_review(app.db) as terminal_store:
        t = ScreeningSession(terminal_store, "ann")
        shown = t.next()
        t.decide(shown, "include")
    _, f = card(c)
    res = c.post("/undo", data={"csrf_token": f["csrf_token"], "expect": f["expect"]},
                 follow_redirects=True)
    assert f"undone: include · record {shown.record_id}" in res.text
    assert shown.record_id not in [d["record_id"] for d in live(app.db, "ann")]


def test_undo_after_an_update_arrived_shows_the_undone_record_again(app, tmp_path):
    """u brings back the record just decided, even when an update added records meanwhile (the
    session rebuilt for them must not drop the record the undo put back on screen)."""
    from toolkit.living.updates import import_update

    c = app.test_client()
    sign_in(c, "ann")
    rid, f = card(c)
    decide(c, f, "include")
    export = tmp_path / "update.csv"
    export.write_text("title,abstract,doi\nCryoablation trial 9,Cryoablation of the pulmonary "
                      "vein in trial 9,10.9/9\n", encoding="utf-8")
    with open_review(app.db) as other:
        import_update(other, export, source="Embase")
    _, f = card(c)
    res = c.post("/undo", data={"csrf_token": f["csrf_token"], "expect": f["expect"]},
                 follow_redirects=True)
    assert f"undone: include · record {rid}" in res.text
    assert card(c)[0] == rid


def cookie_name(app) -> str:
    return app.config["SESSION_COOKIE_NAME"]


def test_signing_out_ends_copies_of_the_session_cookie(app):
    """The session is a signed cookie: a copy taken before sign-out must not still work."""
    c = app.test_client()
    sign_in(c, "ann")
    copied = c.get_cookie(cookie_name(app)).value
    c.post("/logout", data={"csrf_token": card(c)[1]["csrf_token"]})
    thief = app.test_client()
    thief.set_cookie(cookie_name(app), copied)
    assert thief.get("/screen").status_code == 302  # to the sign-in page
    sign_in(c, "ann")  # signing in again works
    assert card(c)[0] is not None


def test_signing_out_on_a_busy_store_still_signs_this_browser_out(app, monkeypatch):
    from toolkit.store import StoreBusy

    def busy(review, name):
        raise StoreBusy("the store stayed busy for 60 s")

    c = app.test_client()
    sign_in(c, "ann")
    monkeypatch.setattr(accounts, "end_sessions", busy)
    res = c.post("/logout", data={"csrf_token": card(c)[1]["csrf_token"]})
    assert res.status_code == 303
    assert c.get("/screen").status_code == 302


def test_an_account_removed_and_added_again_does_not_revive_old_sessions(app):
    c = app.test_client()
    sign_in(c, "bob")
    copied = c.get_cookie(cookie_name(app)).value
    with open_review(app.db) as r:
        accounts.remove_reviewer(r, "bob")
        accounts.add_reviewer(r, "bob", "a-new-password-9", role="resolver")
    old = app.test_client()
    old.set_cookie(cookie_name(app), copied)
    assert old.get("/screen").status_code == 302


def test_an_ipv6_loopback_server_accepts_its_own_host_header(tmp_path):
    db, criteria = make_review(tmp_path, n=3)
    app = create_app(db, criteria_path=criteria, trusted_hosts=trusted_hosts("::1", 8765))
    c = app.test_client()
    assert c.get("/login", headers={"Host": "[::1]:8765"}).status_code == 200
    assert c.get("/login", headers={"Host": "[::2]:8765"}).status_code == 400
    assert c.get("/login", headers={"Host": "attacker.example"}).status_code == 400
    app.extensions["review"].close()


def test_two_servers_on_one_machine_keep_their_own_sign_in(tmp_path):
    """Cookies ignore the port: two stores served at once need two cookie names."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    db_a, crit_a = make_review(tmp_path / "a", n=3)
    db_b, crit_b = make_review(tmp_path / "b", n=3)
    app_a, app_b = create_app(db_a, criteria_path=crit_a), create_app(db_b, criteria_path=crit_b)
    again = create_app(db_a, criteria_path=crit_a)
    assert cookie_name(app_a) != cookie_name(app_b)
    assert cookie_name(again) == cookie_name(app_a)  # a restart keeps the name
    for a in (app_a, app_b, again):
        a.extensions["review"].close()


def test_concurrent_wrong_guesses_are_held_to_the_limit(app):
    """Checking the lock-out and counting the attempt are one step: guesses sent at once
    cannot all pass the check before any failure is counted."""
    import threading

    from toolkit.web import app as web_app

    codes, barrier = [], threading.Barrier(12)

    def guess():
        client = app.test_client()
        token = csrf_of(client.get("/login").text)
        barrier.wait()
        codes.append(client.post("/login", data={"csrf_token": token, "name": "ann",
                                                 "password": "wrong"}).status_code)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(401) == web_app.MAX_FAILURES
    assert codes.count(429) == 12 - web_app.MAX_FAILURES


def test_conflicts_page_lists_duplicates_screened_apart(tmp_path, monkeypatch):
    """One paper screened twice with two answers (deduplication found the copy after both
    were screened) is counted unresolved; the resolver must see it and be able to resolve it."""
    import test_dedup_store as dedup_case
    from click.testing import CliRunner

    from toolkit.cli import cli
    from toolkit.dedup import api
    from toolkit.screening import blinding
    from toolkit.screening.decisions import record_decision
    from toolkit.store import create_review

    monkeypatch.setenv("REVIEW_DEDUP_MODEL", "none")  # the rules alone, as in that case
    db = tmp_path / "r.db"
    review = create_review(db)
    r1, r2, r3 = dedup_case._two_plus_one(review)
    primary = review.db.execute("select primary_id from clusters where id = ?",
                                [api.cluster_of(review, r1)]).fetchone()[0]
    with review.atomic():
        record_decision(review, primary, "include", "alice")
        record_decision(review, r3, "exclude", "alice")
    accounts.add_reviewer(review, "rita", PASSWORDS["rita"], role="resolver")
    review.close()
    assert CliRunner().invoke(cli, ["--db", str(db), "dedup", "review"],
                              input="d\nq\n").exit_code == 0
    app = create_app(db)
    c = app.test_client()
    sign_in(c, "rita")
    with open_review(db) as r:
        blinding.open_conflicts(r, "rita")
    page = c.get("/conflicts").text
    assert 'unresolved: <b id="unresolved">1</b>' in page
    assert f'id="r{primary}-d{r3}"' in page and f"record {r3}: <b>exclude</b>" in page
    c.post("/conflicts/resolve", data={"csrf_token": csrf_of(page), "record_id": primary,
                                       "decision": "include"})
    assert 'unresolved: <b id="unresolved">0</b>' in c.get("/conflicts").text
    app.extensions["review"].close()
