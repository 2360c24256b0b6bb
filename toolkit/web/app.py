"""The web app of `review serve`: screening in a browser over the same store and the same Python
API as `review screen` (:class:`~toolkit.screening.queue.ScreeningSession`).

Flask with Jinja templates and plain HTML forms (a few lines of JavaScript only bind the keys
to the buttons): no front-end build step. Sessions are Flask's signed cookies (a random key per
server start, so restarting the server signs everyone out); every form carries a CSRF token
(Flask-WTF). Reviewers sign in with the accounts of :mod:`toolkit.screening.accounts`.

Pages: ``/login``; ``/screen`` (the card: keys i e m u, 1-9 exclude with a reason);
``/progress`` (counts, recall estimate, stopping rule, recall curve ``/progress/recall.png``);
``/conflicts`` (resolvers; blinded until a resolver opens them); ``/criteria``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

from flask import (Flask, Response, abort, g, redirect, render_template, request, session,
                   url_for)
from flask_wtf.csrf import CSRFError, CSRFProtect

from ..errors import ReviewError
from ..screening import accounts, agreement, blinding
from ..screening.criteria import ScreeningCriteria, load_screening_criteria
from ..screening.curve import recall_curve, recall_curve_png
from ..screening.decisions import resolve
from ..screening.prompts import load_criteria, record_identifiers
from ..screening.queue import screening_counts
from ..screening.stopping import format_recall
from ..store import open_review
from .desk import Desk, FeatureCache, Refused

DECISIONS = ("include", "exclude", "maybe")
MAX_FAILURES = 5          # failed sign-ins for one name ...
FAILURE_WINDOW_S = 300    # ... within this many seconds lock that name out for the rest of it


def host_name(host: str) -> str:
    """A Host header's name without its port, lower case: "[::1]:8765" -> "[::1]"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class ServerState:
    """What the app keeps between requests: the store's path, the criteria, the reviewers'
    desks and a store connection per server thread."""

    def __init__(self, db_path, criteria: ScreeningCriteria, criteria_path, options: dict):
        self.db_path = Path(db_path)
        self.criteria = criteria
        self.criteria_path = criteria_path
        self.options = options
        self.features = FeatureCache()
        self._desks: dict[str, Desk] = {}
        self._lock = threading.Lock()
        # Writes from this server take turns: each reviewer has a connection of their own, and
        # SQLite lets one connection write at a time; queueing here is fair and immediate,
        # where connections racing for the file lock would poll and back off.
        self.write_lock = threading.Lock()
        self._local = threading.local()
        self._failures: dict[str, list[float]] = {}
        self._messages: OrderedDict[str, tuple[str, str, str]] = OrderedDict()

    def store(self):
        """This thread's connection to the store (SQLite connections stay in their thread)."""
        review = getattr(self._local, "review", None)
        if review is None:
            review = self._local.review = open_review(self.db_path, command="serve")
        return review

    def desk(self, reviewer: str) -> Desk:
        with self._lock:
            d = self._desks.get(reviewer)
            if d is None:
                d = self._desks[reviewer] = Desk(self.db_path, reviewer, self.options,
                                                 self.features, self.write_lock)
            return d

    def close(self) -> None:
        with self._lock:
            desks, self._desks = list(self._desks.values()), {}
        for d in desks:
            d.close()

    # -- messages after a form ---------------------------------------------------------------
    # What a form did ("saved: include", "already decided in another window") is shown by the
    # page it redirects to, in the tab that sent it: the redirect carries a one-time key
    # (Flask's flashed messages live in the session, which all tabs share).
    def tell(self, reviewer: str, category: str, message: str) -> str:
        key = secrets.token_urlsafe(9)
        with self._lock:
            self._messages[key] = (reviewer, category, message)
            while len(self._messages) > 1000:
                self._messages.popitem(last=False)
        return key

    def told(self, reviewer: str, key: str | None) -> list[tuple[str, str]]:
        with self._lock:
            item = self._messages.pop(key, None) if key else None
        return [item[1:]] if item and item[0] == reviewer else []

    # -- sign-in throttling -------------------------------------------------------------------
    def attempt(self, name: str) -> float | None:
        """Count a sign-in attempt for ``name`` before its password is checked; returns its
        mark (for :meth:`succeeded`), or None when the name is locked out. Checking and
        counting in one step: concurrent guesses cannot all pass the check first."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(name.casefold(), [])
                      if now - t < FAILURE_WINDOW_S]
            if len(recent) >= MAX_FAILURES:
                self._failures[name.casefold()] = recent
                return None
            self._failures[name.casefold()] = recent + [now]
            return now

    def succeeded(self, name: str, mark: float) -> None:
        """A right password: the attempt was no failure."""
        with self._lock:
            recent = self._failures.get(name.casefold(), [])
            if mark in recent:
                recent.remove(mark)


def create_app(db_path, *, criteria_path=None, screening: dict | None = None,
               secret_key: bytes | None = None, trusted_hosts: list[str] | None = None) -> Flask:
    """The Flask app over the review store at ``db_path``.

    ``screening``: keyword arguments of :class:`ScreeningSession` for every reviewer (stop,
    stop_after, target_recall, confidence, seed). ``criteria_path``: the criteria file
    (``ta_reasons``, ``highlight``, and the text shown on the criteria page). ``trusted_hosts``:
    the Host header values accepted (None: any)."""
    open_review(db_path, command="serve").close()  # a missing or foreign file fails here
    criteria = load_screening_criteria(criteria_path)
    app = Flask("toolkit.web", root_path=str(Path(__file__).parent))
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_bytes(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        # one name per store: two servers on one machine (cookies ignore the port) must not
        # overwrite each other's sign-in
        SESSION_COOKIE_NAME="review_session_" + hashlib.sha256(
            str(Path(db_path).resolve()).encode()).hexdigest()[:10],
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as the (12-hour) session
        MAX_CONTENT_LENGTH=64 * 1024,
        TEMPLATES_AUTO_RELOAD=False,
    )
    CSRFProtect(app)
    state = ServerState(db_path, criteria, criteria_path, dict(screening or {}))
    app.extensions["review"] = state

    @app.context_processor
    def _globals():
        me = g.get("me")
        return {"me": me,
                "messages": state.told(me["name"], request.args.get("m")) if me else [],
                "blinded": g.get("blinded", True), "hl": state.criteria.highlighter,
                "ta_reasons": state.criteria.ta_reasons, "format_recall": format_recall}

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != "static":
            resp.headers["Cache-Control"] = "no-store"
        return resp

    allowed_hosts = None if trusted_hosts is None else {host_name(h) for h in trusted_hosts}

    @app.before_request
    def _host():
        # checked here, not with Flask's TRUSTED_HOSTS, which cannot match an IPv6 literal
        # such as [::1]:8765 (it cuts each entry at its first colon)
        if allowed_hosts is not None and host_name(request.host) not in allowed_hosts:
            abort(400)

    @app.before_request
    def _who():
        g.me = None
        name = session.get("reviewer")
        if name is None:
            return
        row = accounts.get_account(state.store(), name)
        if row is None or row["session_epoch"] != session.get("epoch"):
            session.clear()  # removed, or password/role changed since: sign in again
            return
        g.me = accounts.public(row)
        g.blinded = blinding.blinding_state(state.store())["blinded"]

    def back(endpoint: str, category: str, message: str, anchor: str = ""):
        """Redirect (303) to ``endpoint``, which then shows the message in this tab."""
        key = state.tell(g.me["name"], category, message)
        return redirect(url_for(endpoint, m=key) + anchor, code=303)

    def signed_in(role: str | None = None) -> dict:
        if g.me is None:
            abort(redirect(url_for("login")))
        if role is not None and g.me["role"] != role:
            abort(403)
        return g.me

    # -- signing in ----------------------------------------------------------------------------
    @app.get("/login")
    def login():
        return render_template("login.html")

    @app.post("/login")
    def login_post():
        name = (request.form.get("name") or "").strip()
        password = request.form.get("password") or ""
        mark = state.attempt(name)
        if mark is None:
            return render_template("login.html", error=(
                f"too many failed sign-ins for {name!r}; wait a few minutes"), name=name), 429
        account = accounts.verify(state.store(), name, password)
        if account is None:
            return render_template("login.html", error="wrong name or password",
                                   name=name), 401
        state.succeeded(name, mark)
        session.clear()  # a fresh session (and CSRF secret) for the signed-in reviewer
        session.permanent = True
        session["reviewer"], session["epoch"] = account["name"], account["session_epoch"]
        review = state.store()
        with state.write_lock, review.atomic():
            review.log("web.sign_in", {"role": account["role"]}, actor=account["name"])
        state.desk(account["name"])  # starts preparing the reviewer's queue now
        return redirect(url_for("screen"), code=303)

    @app.post("/logout")
    def logout():
        # the session is a signed cookie: a copy of it would outlive session.clear(), so
        # signing out ends every session of the reviewer (all tabs and browsers)
        try:
            if g.me is not None:
                review = state.store()
                with state.write_lock:
                    accounts.end_sessions(review, g.me["name"])
        except ReviewError:  # a store busy too long: this browser is signed out all the same
            pass
        finally:
            session.clear()
        return redirect(url_for("login"), code=303)

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=204)

    @app.get("/")
    def index():
        return redirect(url_for("screen"))

    # -- screening -------------------------------------------------------------------------
    @app.get("/screen")
    def screen():
        return render_screen(signed_in())

    def render_screen(me: dict, told: tuple[str, str] | None = None):
        """The screening page; ``told``: (category, message) of the form just handled.

        A decision or undo answers with the next card itself rather than a redirect to it:
        one round trip instead of two between the key press and the next card. The page then
        sets its address to /screen (app.js), so reloading it asks for the card again and
        never sends the form twice (which the form's token would refuse anyway)."""
        view = state.desk(me["name"]).run(_card_view)
        row = None
        if view["card"] is not None:
            row = next(state.store().db.query("select * from records where id = ?",
                                              [view["card"].shown.record_id]))
            row = dict(row, authors=json.loads(row["authors"] or "[]"),
                       keywords=json.loads(row["keywords"] or "[]"),
                       identifiers=record_identifiers(row))
        # what the session has to say (records that joined or left, a stopping check put
        # off) follows the answer to the form
        told = ([told] if told else []) + [("info", n) for n in view["notices"]]
        return render_template("screen.html", view=view, row=row, told=told)

    @app.post("/decide")
    def decide():
        me = signed_in()
        try:
            record_id = int(request.form["record_id"])
            token = int(request.form["token"])
        except (KeyError, ValueError):
            abort(400)
        decision, _, number = (request.form.get("decision") or "").partition(":")
        if decision not in DECISIONS:
            abort(400)
        note = (request.form.get("note") or "").strip() or None
        try:
            reason = state.criteria.reason(number or request.form.get("reason")) \
                if decision == "exclude" else None
        except ReviewError as exc:
            return render_screen(me, ("error", str(exc)))
        try:
            state.desk(me["name"]).run(Desk.decide, record_id, token, decision, reason, note)
        except (Refused, ReviewError) as exc:
            # refused by this page's check or by the store's (a save that found the record
            # changed, a store busy for too long): nothing was saved, and the tab says so
            return render_screen(me, ("warning", str(exc)))
        return render_screen(me, ("saved", f"saved: {decision}" + (f" ({reason})" if reason
                                                                else "")
                                  + f" · record {record_id}"))

    @app.post("/undo")
    def undo():
        me = signed_in()
        try:
            expect = int(request.form["expect"])
        except (KeyError, ValueError):
            abort(400)
        try:
            row = state.desk(me["name"]).run(Desk.undo, expect)
        except (Refused, ReviewError) as exc:
            return render_screen(me, ("warning", str(exc)))
        if row is None:
            return render_screen(me, ("warning", "nothing to undo"))
        return render_screen(me, ("saved", f"undone: {row['decision']} · record "
                                           f"{row['record_id']}"))

    # -- progress --------------------------------------------------------------------------
    @app.get("/progress")
    def progress():
        me = signed_in()
        view = state.desk(me["name"]).run(_progress_view)
        # the whole review's counts tell how others decided (a resolver who screens could
        # compare them before and after a decision of her own): only once blinding ends
        overall = None if g.blinded else screening_counts(state.store())
        return render_template("progress.html", view=view, overall=overall)

    @app.get("/progress/recall.png")
    def recall_png():
        me = signed_in()
        curve, estimate, n = state.desk(me["name"]).run(_curve_view)
        png = recall_curve_png(curve, estimate, n, title=f"{me['name']}: includes found")
        return Response(png, mimetype="image/png")

    @app.get("/criteria")
    def criteria_page():
        signed_in()
        text = load_criteria(state.criteria_path, width=100)
        return render_template("criteria.html", text=text, path=state.criteria_path)

    # -- conflicts -------------------------------------------------------------------------
    @app.get("/conflicts")
    def conflicts_page():
        me = signed_in()
        review = state.store()
        if g.blinded:
            if me["role"] != "resolver":
                abort(403)
            return render_template("conflicts.html", data=None,
                                   n_shared=blinding.decided_by_several(review))
        data = agreement.conflicts(review)
        reasons = {(r["record_id"], r["reviewer"]): r["reason"] for r in review.db.query(
            "select record_id, reviewer, reason from ta_decisions where undone_at is null "
            "and reason is not null order by id")}
        return render_template("conflicts.html", data=data, reasons=reasons,
                               state=blinding.blinding_state(review))

    @app.post("/conflicts/open")
    def conflicts_open():
        me = signed_in("resolver")
        with state.write_lock:
            blinding.open_conflicts(state.store(), me["name"])
        return back("conflicts_page", "saved",
                    "conflicts opened: reviewers can now see each other's decisions")

    @app.post("/conflicts/close")
    def conflicts_close():
        me = signed_in("resolver")
        with state.write_lock:
            blinding.close_conflicts(state.store(), me["name"])
        return back("conflicts_page", "saved",
                    "blinded again: reviewers see only their own decisions")

    @app.post("/conflicts/resolve")
    def conflicts_resolve():
        me = signed_in("resolver")
        if g.blinded:
            abort(403)
        try:
            record_id = int(request.form["record_id"])
        except (KeyError, ValueError):
            abort(400)
        decision = request.form.get("decision")
        note = (request.form.get("note") or "").strip() or None
        try:
            with state.write_lock:
                resolve(state.store(), record_id, decision, me["name"], note)
        except ReviewError as exc:
            return back("conflicts_page", "error", str(exc), f"#r{record_id}")
        return back("conflicts_page", "saved", f"record {record_id} resolved: {decision}",
                    f"#r{record_id}")

    # -- errors ----------------------------------------------------------------------------
    def error_page(code: int, message: str):
        try:
            return render_template("error.html", code=code, message=message), code
        except Exception:  # no URL adapter (e.g. an untrusted Host header): plain text
            return Response(f"{code}: {message}\n", status=code, mimetype="text/plain")

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return error_page(400, f"The form was refused: {exc.description} Reload the page and "
                               "try again.")

    @app.errorhandler(403)
    def _forbidden(exc):
        return error_page(403, "Not for your account: conflicts are for resolvers, and hidden "
                               "from everyone else until a resolver opens them.")

    @app.errorhandler(404)
    def _missing(exc):
        return error_page(404, "No such page.")

    @app.errorhandler(ReviewError)
    def _review_error(exc):  # e.g. the store stayed busy: the message says what happened
        return error_page(503 if "busy" in str(exc) else 400, str(exc))

    @app.errorhandler(400)
    def _bad(exc):
        return error_page(400, "The request was not understood (a form field is missing or "
                               "malformed, or the Host header is not this server's).")

    return app


# -- views computed on a reviewer's desk thread (they read the session) ----------------------

def _card_view(desk: Desk) -> dict:
    card = desk.current()
    s = desk.session
    # the recall estimate (tens of ms at 20,000 records) is on the progress page, not on
    # every card
    notices, s.notices[:] = list(s.notices), []
    return {"card": card, "counts": s.counts(), "last": desk.last_decision_id(),
            "stopping": s.stopping_status(), "notices": notices}


def _progress_view(desk: Desk) -> dict:
    s = desk.session
    return {"counts": s.counts(), "recall": s.recall_estimate(),
            "stopping": s.stopping_status(), "model": s.model_version}


def _curve_view(desk: Desk):
    s = desk.session
    return recall_curve(desk.review, desk.reviewer), s.recall_estimate(), len(s.pool)
