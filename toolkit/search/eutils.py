"""A polite NCBI E-utilities HTTP client: rate limit, retries with exponential backoff
(honouring Retry-After) on 429, 5xx, connection errors and timeouts.

The base URL is NCBI's unless env ``REVIEW_EUTILS_URL`` overrides it (tests point it at a fake
server on 127.0.0.1).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import requests

from .. import __version__
from ..errors import ReviewError

NCBI_BASE = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
RETRY_STATUS = {429, 500, 502, 503, 504}


def base_url() -> str:
    return os.environ.get("REVIEW_EUTILS_URL", NCBI_BASE).rstrip("/")


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
                last_error = f"{type(exc).__name__}: {exc}"
            if attempt == self.max_retries:
                break
            delay = min(self.max_backoff, self.backoff * (2 ** attempt))
            if retry_after is not None:
                delay = max(delay, retry_after)
            time.sleep(delay)
        raise ReviewError(f"E-utilities {endpoint} failed after {self.max_retries + 1} attempts "
                          f"({last_error}); rerun with --resume to continue where it stopped")


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
