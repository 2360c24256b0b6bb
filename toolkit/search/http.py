"""A polite HTTP client for the web APIs the toolkit reads (OpenAlex; E-utilities has its own
client in :mod:`toolkit.search.eutils` and shares its retry vocabulary from there).

Retry policy: what a server, or the road to it, may fix within seconds is retried with
exponential backoff (honouring Retry-After) — HTTP 429 and 5xx, a read timeout, a connection
dropped in the middle of an answer, a truncated or invalid body (``validate`` raises
:class:`TransientError`). What will not fix itself is not retried: a host name that does not
resolve, a refused connection, a connect timeout (no network), a proxy that cannot be reached.
Those fail at once with one line that names the service and the environment variable that
overrides its base URL.

Each service has a base URL (its real one unless ``REVIEW_<NAME>_URL`` overrides it; tests
point it at a fake server on 127.0.0.1) and ``REVIEW_<NAME>_TIMEOUT`` / ``_RETRIES`` /
``_BACKOFF`` to tune the client.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import requests
import urllib3

from .. import __version__
from ..errors import ReviewError
from .eutils import RETRY_STATUS, TransientError, _retry_after

__all__ = ["PoliteClient", "TransientError", "RETRY_STATUS", "unreachable"]


def unreachable(exc: requests.RequestException) -> bool:
    """True when ``exc`` says the host could not be reached at all (name resolution, refused
    connection, connect timeout, proxy), as opposed to a failure while it answered."""
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.ProxyError,
                        requests.exceptions.SSLError)):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # requests wraps urllib3's MaxRetryError
    return isinstance(reason, urllib3.exceptions.NewConnectionError)  # incl. NameResolutionError


def _env(prefix: str, name: str, default: float) -> float:
    return float(os.environ.get(f"{prefix}_{name}", default))


@dataclass
class PoliteClient:
    """``get(path, params, validate=None, missing_ok=False) -> bytes | None`` with a minimum
    interval between requests and the retry policy of the module docstring.

    ``service`` names the API in messages ("OpenAlex"); ``env_prefix`` ("REVIEW_OPENALEX")
    names the environment variables: ``<prefix>_URL`` (read by the caller into ``base``),
    ``_TIMEOUT`` (s), ``_RETRIES`` and ``_BACKOFF`` (s, doubled per attempt).
    ``requests_made`` counts every HTTP request, retries included.
    """

    base: str
    service: str
    env_prefix: str
    min_interval: float = 0.1
    default_params: dict = field(default_factory=dict)
    timeout: float | None = None
    max_retries: int | None = None
    backoff: float | None = None
    max_backoff: float = 60.0
    connect_timeout: float = 10.0
    requests_made: int = 0

    def __post_init__(self):
        self.base = self.base.rstrip("/")
        if self.timeout is None:
            self.timeout = _env(self.env_prefix, "TIMEOUT", 30.0)
        if self.max_retries is None:
            self.max_retries = int(_env(self.env_prefix, "RETRIES", 6))
        if self.backoff is None:
            self.backoff = _env(self.env_prefix, "BACKOFF", 1.0)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"review-toolkit/{__version__}"
        self._last = 0.0
        self._lock = threading.Lock()

    def _wait_turn(self) -> None:
        with self._lock:
            wait = self._last + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def get(self, path: str, params: dict | None = None, validate=None,
            missing_ok: bool = False) -> bytes | None:
        """The body of ``GET base/path?params`` (``None`` for HTTP 404 when ``missing_ok``).

        ``validate(body)`` may raise :class:`TransientError` (e.g. truncated JSON) so the
        request is made again."""
        url = f"{self.base}/{path.lstrip('/')}"
        query = {**self.default_params, **{k: v for k, v in (params or {}).items()
                                            if v is not None}}
        last_error = "no attempt"
        for attempt in range(self.max_retries + 1):
            self._wait_turn()
            self.requests_made += 1
            retry_after = None
            try:
                resp = self.session.get(url, params=query,
                                        timeout=(min(self.connect_timeout, self.timeout),
                                                 self.timeout))
                if resp.status_code in RETRY_STATUS:
                    raise TransientError(f"HTTP {resp.status_code}",
                                         _retry_after(resp.headers.get("Retry-After")))
                if resp.status_code == 404 and missing_ok:
                    return None
                if resp.status_code >= 400:
                    raise ReviewError(f"{self.service} answered HTTP {resp.status_code} for "
                                      f"{path}: {_short(resp.text)}")
                body = resp.content
                if validate is not None:
                    validate(body)
                return body
            except TransientError as exc:
                last_error, retry_after = str(exc), exc.retry_after
            except requests.RequestException as exc:
                if unreachable(exc):
                    raise ReviewError(
                        f"cannot reach {self.service} at {self.base} ({_unreachable_why(exc)});"
                        f" check the network connection, or set {self.env_prefix}_URL"
                    ) from None
                last_error = f"{type(exc).__name__}: {_cause(exc)}"
            if attempt == self.max_retries:
                break
            delay = min(self.max_backoff, self.backoff * (2 ** attempt))
            if retry_after is not None:
                delay = max(delay, retry_after)
            time.sleep(delay)
        raise ReviewError(f"{self.service} {path} failed after {self.max_retries + 1} attempts "
                          f"({last_error})")


def _unreachable_why(exc: requests.RequestException) -> str:
    """Why a host could not be reached, in a few words."""
    if isinstance(exc, requests.ConnectTimeout):
        return "no answer to the connection attempt"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy cannot be reached"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_cause(exc)}"
    text = _cause(exc).lower()
    if any(w in text for w in ("resolve", "name or service", "nodename", "getaddrinfo")):
        return "host name not found"
    if "refused" in text:
        return "connection refused"
    return _cause(exc)


def _short(text: str, n: int = 200) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[:n] + "..."


def _cause(exc: Exception) -> str:
    """The innermost reason of a requests/urllib3 exception, in a few words."""
    seen = set()
    while True:
        inner = getattr(exc, "reason", None) or (exc.args[0] if exc.args else None)
        if not isinstance(inner, Exception) or id(inner) in seen:
            break
        seen.add(id(inner))
        exc = inner
    text = str(exc)
    # urllib3 prefixes messages with the connection object's repr: keep what follows
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    return _short(text, 120)
