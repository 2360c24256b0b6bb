"""The NCBI E-utilities client: the shared polite client (:mod:`toolkit.search.http`: rate
limit, retries of what the server may get over, announced through ``on_retry``; no retry when
the host cannot be reached) with NCBI's rules: at most 3 requests/s without an API key and 10
with one, and ``tool``/``email``/``api_key`` sent with every request.

The base URL is NCBI's unless env ``REVIEW_EUTILS_URL`` overrides it (tests point it at a fake
server on 127.0.0.1); ``REVIEW_EUTILS_TIMEOUT``, ``_RETRIES`` and ``_BACKOFF`` tune the client.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .http import RETRY_STATUS, PoliteClient, TransientError, UnreachableError  # noqa: F401

NCBI_BASE = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"


def base_url() -> str:
    return os.environ.get("REVIEW_EUTILS_URL", NCBI_BASE).rstrip("/")


@dataclass
class EutilsClient(PoliteClient):
    """``get(endpoint, params, validate=None, post=False) -> bytes`` with NCBI's rate limit
    and the shared retries.

    ``validate(body)`` may raise :class:`TransientError` (e.g. truncated XML) so the request is
    made again. ``requests_made`` counts every HTTP request, retries included.
    """

    base: str = field(default_factory=base_url)
    service: str = "E-utilities"
    env_prefix: str = "REVIEW_EUTILS"
    api_key: str | None = None
    email: str | None = None
    tool: str = "review-toolkit"

    def __post_init__(self):
        super().__post_init__()
        # NCBI: at most 3 requests/s without an API key, 10 with one.
        self.min_interval = 1.0 / (10 if self.api_key else 3)

    def _params(self, params: dict | None) -> dict:
        p = super()._params(params)
        p["tool"] = self.tool
        if self.email:
            p["email"] = self.email
        if self.api_key:
            p["api_key"] = self.api_key
        return p

    def _name(self, path: str) -> str:
        return path.removesuffix(".fcgi")
