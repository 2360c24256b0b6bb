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
