"""The polite HTTP client the network-facing sources share (E-utilities, OpenAlex): a minimum
interval between requests and one retry policy.

Retried, with exponential backoff (honouring Retry-After): what the server may get over —
HTTP 429 and 5xx, a read timeout, a connection dropped in the middle of an answer, a truncated
or invalid body (``validate`` raises :class:`TransientError`). Each retry is announced through
``on_retry``, so a wait is never silent. Not retried: a host that cannot be reached at all (its
name does not resolve, the connection is refused or cannot be made in time). Without network a
command fails at once with one line that names the environment variable overriding the base
URL, instead of a minute of silent retries.

Each service has a base URL (its real one unless ``<prefix>_URL`` overrides it; tests point it
at a fake server on 127.0.0.1) and ``<prefix>_TIMEOUT`` / ``_RETRIES`` / ``_BACKOFF`` to tune
the client (``REVIEW_EUTILS_...``, ``REVIEW_OPENALEX_...``).
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

RETRY_STATUS = {429, 500, 502, 503, 504}


class TransientError(Exception):
    """A failure worth retrying (HTTP 429/5xx, timeout, connection error, bad payload)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class UnreachableError(ReviewError):
    """The host cannot be reached at all (no network, a wrong URL): retrying will not help."""


def unreachable_reason(exc: requests.RequestException, url: str) -> str | None:
    """Why the host of ``url`` cannot be reached, when ``exc`` says so (its name does not
    resolve, the connection is refused or times out); None for failures that a retry may get
    over (a read timeout, a connection dropped mid-answer)."""
    host = urlsplit(url).netloc or url
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NameResolutionError):
        return f"cannot resolve the name {urlsplit(url).hostname!r}"
    if isinstance(exc, requests.ConnectTimeout) and not isinstance(reason, NewConnectionError):
        return f"no connection to {host} within the timeout"
    if isinstance(reason, NewConnectionError):
        return f"cannot connect to {host}"
    return None


def short_failure(exc: Exception) -> str:
    """A one-line name for a network failure (requests' messages run to hundreds of characters)."""
    if isinstance(exc, requests.ReadTimeout):
        return "no answer within the timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    return f"connection lost ({type(exc).__name__})"


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
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


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _short_text(text: str, n: int = 200) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[:n] + "..."


@dataclass
class PoliteClient:
    """``get(path, params, validate=None, post=False, missing_ok=False) -> bytes | None`` with
    a minimum interval between requests and the retry policy of the module docstring.

    ``service`` names the API in messages ("OpenAlex"); ``env_prefix`` ("REVIEW_OPENALEX")
    names its environment variables; ``default_params`` go with every request (subclasses may
    add more in :meth:`_params`). ``requests_made`` counts every HTTP request, retries included;
    ``on_retry(message)`` is called before each retry.
    """

    base: str = ""
    service: str = "the server"
    env_prefix: str = "REVIEW_HTTP"
    min_interval: float = 0.1
    default_params: dict = field(default_factory=dict)
    timeout: float | None = None
    max_retries: int | None = None
    backoff: float | None = None
    max_backoff: float = 60.0
    connect_timeout: float = 10.0
    requests_made: int = 0
    on_retry: object = None

    def __post_init__(self):
        self.base = self.base.rstrip("/")
        if self.timeout is None:
            self.timeout = env_float(f"{self.env_prefix}_TIMEOUT", 30.0)
        if self.max_retries is None:
            self.max_retries = int(env_float(f"{self.env_prefix}_RETRIES", 6))
        if self.backoff is None:
            self.backoff = env_float(f"{self.env_prefix}_BACKOFF", 1.0)
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

    def _params(self, params: dict | None) -> dict:
        return {**self.default_params,
                **{k: v for k, v in (params or {}).items() if v is not None}}

    def _name(self, path: str) -> str:
        """How messages name a request to ``path``."""
        return path

    def get(self, path: str, params: dict | None = None, validate=None, post: bool = False,
            missing_ok: bool = False) -> bytes | None:
        """The body of the answer to ``base/path`` with ``params`` (a form body when ``post``);
        None for HTTP 404 when ``missing_ok``. ``validate(body)`` may raise
        :class:`TransientError` (e.g. a truncated body) so the request is made again."""
        url = f"{self.base}/{path.lstrip('/')}"
        name = self._name(path)
        query = self._params(params)
        timeout = (min(self.connect_timeout, self.timeout), self.timeout)
        last_error = "no attempt"
        for attempt in range(self.max_retries + 1):
            self._wait_turn()
            self.requests_made += 1
            wait_at_least = None
            try:
                if post:
                    resp = self.session.post(url, data=query, timeout=timeout)
                else:
                    resp = self.session.get(url, params=query, timeout=timeout)
                if resp.status_code in RETRY_STATUS:
                    raise TransientError(f"HTTP {resp.status_code}",
                                         retry_after(resp.headers.get("Retry-After")))
                if resp.status_code == 404 and missing_ok:
                    return None
                if resp.status_code >= 400:
                    raise ReviewError(f"{self.service} {name} answered HTTP {resp.status_code}: "
                                      f"{_short_text(resp.text)}")
                body = resp.content
                if validate is not None:
                    validate(body)
                return body
            except TransientError as exc:
                last_error, wait_at_least = str(exc), exc.retry_after
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                why = unreachable_reason(exc, url)
                if why is not None:
                    raise UnreachableError(f"{why}; check the network connection (or "
                                           f"{self.env_prefix}_URL)") from None
                last_error = short_failure(exc)
            if attempt == self.max_retries:
                break
            delay = min(self.max_backoff, self.backoff * (2 ** attempt))
            if wait_at_least is not None:
                delay = max(delay, wait_at_least)
            if self.on_retry is not None:
                self.on_retry(f"{self.service} {name}: {last_error}; retrying in {delay:.3g} s "
                              f"(attempt {attempt + 2} of {self.max_retries + 1})")
            time.sleep(delay)
        raise ReviewError(f"{self.service} {name} failed {self.max_retries + 1} times "
                          f"({last_error})")
