"""Running the web app: waitress (a pure-Python, multi-threaded production WSGI server), bound to
127.0.0.1 unless told otherwise.

Bound to the loopback address, only this machine can reach the app, and the Host header must
name it (``localhost`` or the address), which also stops DNS-rebinding pages from talking to
it. Any other address is announced with a warning: reviewer passwords and sessions then travel
unencrypted over that network (put a TLS proxy in front for that).
"""

from __future__ import annotations

import ipaddress
import threading

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """The warning to print when ``host`` is reachable from other machines (None if not)."""
    if is_loopback(host):
        return None
    return (f"WARNING: serving on {host}, not 127.0.0.1: anyone who can reach this machine on "
            "that address can try to sign in, and passwords and session cookies cross the "
            "network unencrypted (no TLS). Use it only on a network you trust, or behind a "
            "TLS proxy.")


def trusted_hosts(host: str, port: int) -> list[str] | None:
    """Host header values to accept: the loopback names when bound to loopback, else any."""
    if not is_loopback(host):
        return None
    names = {host, "localhost", "127.0.0.1", "[::1]"}
    return sorted(names | {f"{n}:{port}" for n in names})


def make_server(app, host: str = "127.0.0.1", port: int = 0, threads: int = 8):
    """A waitress server for ``app`` (``port`` 0: a free port, see ``server.effective_port``);
    call ``server.run()`` to serve and ``server.close()`` to stop."""
    from waitress import create_server

    return create_server(app, host=host, port=port, threads=threads, ident="review",
                         clear_untrusted_proxy_headers=True)


def serve(db_path, *, host: str = "127.0.0.1", port: int = 8765, criteria_path=None,
          screening: dict | None = None, threads: int = 8, say=None, ready=None) -> None:
    """Serve the review at ``db_path`` until interrupted (`review serve`). ``say(text)`` tells
    the person who started it (default: stderr); ``ready(info)`` is called once listening, with
    {"url", "host", "port", "records", "reviewers"}."""
    import sys

    from ..errors import ReviewError
    from ..screening.accounts import list_reviewers
    from ..store import open_review
    from .app import create_app

    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    warning = exposure_warning(host)
    if warning:
        say("!" * 78 + "\n" + warning + "\n" + "!" * 78)
    with open_review(db_path, command="serve") as review:
        names = [a["name"] for a in list_reviewers(review)]
        n_records = review.db["records"].count
    app = create_app(db_path, criteria_path=criteria_path, screening=screening,
                     trusted_hosts=trusted_hosts(host, port))
    try:
        server = make_server(app, host, port, threads)
    except OSError as exc:
        raise ReviewError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                          "choose another --port") from None
    state = app.extensions["review"]
    for name in names:  # prepare every reviewer's queue now (the features are built once)
        state.desk(name)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{server.effective_port}/"
    say(f"review serve: {url} ({n_records} records; "
        + (f"reviewers: {', '.join(names)}" if names else
           "no reviewer accounts yet: add one with `review reviewer add NAME`")
        + "); Ctrl+C stops")
    if ready is not None:
        ready({"url": url, "host": host, "port": int(server.effective_port), "records": n_records,
               "reviewers": names})
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        state.close()


class BackgroundServer:
    """The app served from a daemon thread (tests and benchmarks): ``url``, ``stop()``."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, threads: int = 8):
        self.app = app
        self.server = make_server(app, host, port, threads)
        self.url = f"http://{host}:{self.server.effective_port}"
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):  # the sockets closed under the loop by stop()
            if not self._stopping:
                raise

    def stop(self) -> None:
        self._stopping = True
        self.server.task_dispatcher.shutdown(timeout=5)  # let running requests finish
        self.server.close()
        self._thread.join(timeout=5)
        state = self.app.extensions.get("review")
        if state is not None:
            state.close()
