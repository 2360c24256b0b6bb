"""What the fake servers of the tests (E-utilities, OpenAlex) share: serving on 127.0.0.1 and
misbehaving on request."""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer


def misbehave(handler, fault: str | None, hang_seconds: float) -> bool:
    """Answer the request of ``handler`` with ``fault`` — 429 (with Retry-After: 0.2), 500 or
    503 with an empty body, hang (no answer for ``hang_seconds``), reset (the connection closed
    without an answer) — and return True; False for any other fault (or none)."""
    if fault in ("429", "500", "503"):
        handler.send_response(int(fault))
        if fault == "429":
            handler.send_header("Retry-After", "0.2")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return True
    if fault == "hang":
        time.sleep(hang_seconds)
        return True
    if fault == "reset":
        handler.connection.close()
        return True
    return False


def send(handler, status: int, body: bytes, content_type: str, fault: str | None) -> None:
    """Send ``body`` (cut in half when ``fault`` is "truncate")."""
    if fault == "truncate":
        body = body[: len(body) // 2]
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def serve(handler_class) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``handler_class`` on a free port of 127.0.0.1 in a thread; (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    host, port = server.server_address
    return server, f"http://{host}:{port}"


def stop(server) -> None:
    server.shutdown()
    server.server_close()
