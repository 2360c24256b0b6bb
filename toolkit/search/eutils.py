"""A polite NCBI E-utilities HTTP client: rate limit, retries with exponential backoff
(honouring Retry-After) on what the server may get over: HTTP 429 and 5xx, read timeouts, a
connection dropped mid-answer, a truncated body. A host that cannot be reached at all (its name
does not resolve, the connection is refused or cannot be made in time) is not retried: without
network the command fails at once with one line, instead of a minute of silent retries. Each
retry is announced through ``on_retry``.

The base URL is NCBI's unless env ``REVIEW_EUTILS_URL`` overrides it (tests point it at a fake
server on 127.0.0.1).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from .. import __version__
from ..errors import ReviewError

NCBI_BASE = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
RETRY_STATUS = {429, 500, 502, 503, 504}


def base_url() -> str:
    return os.environ.get("REVIEW_EUTILS_URL", NCBI_BASE).rstrip("/")


class UnreachableError(ReviewError):
    """The host cannot be reached at all (no network, a wrong URL): retrying will not help."""


def unreachable(exc: requests.RequestException, url: str) -> UnreachableError | None:
    """An :class:`UnreachableError` when ``exc`` means the host cannot be reached (its name
    does not resolve, the connection is refused or times out); None for failures that a retry
    may get over (a read timeout, a connection dropped mid-answer)."""
    host = urlsplit(url).netloc or url
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NameResolutionError):
        why = f"cannot resolve the name {urlsplit(url).hostname!r}"
    elif isinstance(exc, requests.ConnectTimeout) and not isinstance(reason, NewConnectionError):
        why = f"no connection to {host} within the timeout"
    elif isinstance(reason, NewConnectionError):
        why = f"cannot connect to {host}"
    else:
        return None
    return UnreachableError(f"{why}; check the network connection (or REVIEW_EUTILS_URL)")


class TransientError(Exception):
    """A failure worth retrying (HTTP 429/5xx, timeout, connection error, bad payload)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class EutilsClient:
    """``get(endpoint, params, validate=None) -> bytes`` with rate limit and retries.

    ``validate(body)`` may raise :class:`TransientError` (e.g. truncated XML) so the request is
    made again. ``requests_made`` counts every HTTP request, retries included.
    """

    api_key: str | None = None
    email: str | None = None
    tool: str = "review-toolkit"
    base: str = field(default_factory=base_url)
    # Environment overrides are read when a client is made (tests shorten them).
    timeout: float = field(default_factory=lambda: _env_float("REVIEW_EUTILS_TIMEOUT", 30.0))
    max_retries: int = field(default_factory=lambda: int(_env_float("REVIEW_EUTILS_RETRIES", 6)))
    backoff: float = field(default_factory=lambda: _env_float("REVIEW_EUTILS_BACKOFF", 1.0))
    max_backoff: float = 60.0
    requests_made: int = 0
    # called as on_retry(message) before each retry, so the wait is never silent
    on_retry: object = None

    def __post_init__(self):
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"review-toolkit/{__version__}"
        # NCBI: at most 3 requests/s without an API key, 10 with one.
        self.min_interval = 1.0 / (10 if self.api_key else 3)
        self._last = 0.0
        self._lock = threading.Lock()

    def _wait_turn(self) -> None:
        with self._lock:
            now = time.monotonic()
            wait = self._last + self.min_interval - now
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def _params(self, params: dict) -> dict:
        p = {k: v for k, v in params.items() if v is not None}
        p["tool"] = self.tool
        if self.email:
            p["email"] = self.email
        if self.api_key:
            p["api_key"] = self.api_key
        return p

    def get(self, endpoint: str, params: dict, validate=None, post: bool = False) -> bytes:
        url = f"{self.base}/{endpoint}"
        last_error = "no attempt"
        for attempt in range(self.max_retries + 1):
            self._wait_turn()
            self.requests_made += 1
            retry_after = None
            try:
                if post:
                    resp = self.session.post(url, data=self._params(params), timeout=self.timeout)
                else:
                    resp = self.session.get(url, params=self._params(params), timeout=self.timeout)
                if resp.status_code in RETRY_STATUS:
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
                    raise TransientError(f"HTTP {resp.status_code}", retry_after)
                if resp.status_code >= 400:
                    raise ReviewError(f"E-utilities {endpoint} answered HTTP {resp.status_code}: "
                                      f"{resp.text[:200]}")
                body = resp.content
                if validate is not None:
                    validate(body)
                return body
            except TransientError as exc:
                last_error = str(exc)
                retry_after = exc.retry_after
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                fatal = unreachable(exc, url)
                if fatal is not None:
                    raise fatal from None
                last_error = _short(exc)
            if attempt == self.max_retries:
                break
            delay = min(self.max_backoff, self.backoff * (2 ** attempt))
            if retry_after is not None:
                delay = max(delay, retry_after)
            if self.on_retry is not None:
                self.on_retry(f"E-utilities {endpoint.removesuffix('.fcgi')}: {last_error}; "
                              f"retrying in {delay:.3g} s "
                              f"(attempt {attempt + 2} of {self.max_retries + 1})")
            time.sleep(delay)
        raise ReviewError(f"E-utilities {endpoint.removesuffix('.fcgi')} failed "
                          f"{self.max_retries + 1} times "
                          f"({last_error})")


def _short(exc: Exception) -> str:
    """A one-line name for a network failure (requests' messages run to hundreds of characters)."""
    if isinstance(exc, requests.ReadTimeout):
        return "no answer within the timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    return f"connection lost ({type(exc).__name__})"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            dt = parsedate_to_datetime(value)
            return max(0.0, dt.timestamp() - time.time())
        except (TypeError, ValueError):
            return None
