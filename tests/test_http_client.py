"""The shared polite HTTP client: what is retried (server-side errors, timeouts, cut answers)
and what fails at once (no network), against the fake OpenAlex server."""

import socket
import time

import pytest

from openalex_fake import make_work
from toolkit.errors import ReviewError
from toolkit.search.http import PoliteClient, TransientError


def client(url, **kw):
    return PoliteClient(url, "Test API", "REVIEW_TEST", **{"backoff": 0.01, **kw})


def test_read_timeout_is_retried(fake_openalex):
    fake = fake_openalex([make_work(1, "t")], hang_seconds=1.0)
    fake.faults = ["hang"]
    c = client(fake_base(fake), timeout=0.3)
    assert b"W1" in c.get("works/W1")
    assert c.requests_made == 2


def test_retry_after_is_honoured_and_retries_are_announced(fake_openalex):
    fake = fake_openalex([make_work(1, "t")])
    fake.faults = ["429"]
    heard = []
    c = client(fake_base(fake), min_interval=0.0, on_retry=heard.append)
    c.get("works/W1")
    assert heard == ["Test API works/W1: HTTP 429; retrying in 0.2 s (attempt 2 of 7)"]
    (t1, _, _), (t2, _, _) = fake.log
    assert t2 - t1 >= 0.2 - 0.01  # Retry-After: 0.2, though backoff alone is 0.01 s


def test_invalid_body_is_fetched_again_then_gives_up(fake_openalex):
    fake = fake_openalex([make_work(1, "t")])
    fake.faults = ["truncate"] * 10

    def validate(body):
        if not body.endswith(b"}"):
            raise TransientError("cut")

    c = client(fake_base(fake), max_retries=2)
    with pytest.raises(ReviewError, match=r"Test API works/W1 failed 3 times \(cut\)"):
        c.get("works/W1", validate=validate)
    assert c.requests_made == 3


def test_missing_and_refused(fake_openalex):
    fake = fake_openalex([make_work(1, "t")])
    c = client(fake_base(fake))
    assert c.get("works/W2", missing_ok=True) is None
    with pytest.raises(ReviewError, match="Test API works/W2 answered HTTP 404"):
        c.get("works/W2")
    with pytest.raises(ReviewError, match="Test API works answered HTTP 400: .*unknown filter"):
        c.get("works", {"filter": "nonsense:1"})
    assert c.requests_made == 3  # client errors are not retried


def test_name_resolution_failure_is_not_retried(monkeypatch):
    def no_dns(*a, **kw):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    c = client("http://api.example.invalid", backoff=5.0)
    t0 = time.monotonic()
    with pytest.raises(ReviewError) as err:
        c.get("works/W1")
    assert time.monotonic() - t0 < 1 and c.requests_made == 1
    assert str(err.value) == ("cannot resolve the name 'api.example.invalid'; check the network "
                              "connection (or REVIEW_TEST_URL)")


def test_environment_tunes_the_client(monkeypatch):
    monkeypatch.setenv("REVIEW_TEST_TIMEOUT", "7")
    monkeypatch.setenv("REVIEW_TEST_RETRIES", "2")
    monkeypatch.setenv("REVIEW_TEST_BACKOFF", "0.5")
    c = PoliteClient("http://127.0.0.1:9/", "Test API", "REVIEW_TEST")
    assert (c.timeout, c.max_retries, c.backoff, c.base) == (7.0, 2, 0.5, "http://127.0.0.1:9")


def fake_base(fake):
    host, port = fake.server.server_address
    return f"http://{host}:{port}"
