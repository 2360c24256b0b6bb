import pytest

from eutils_fake import FakeEutils
from openalex_fake import FakeOpenAlex


def _fake_servers(monkeypatch, make, env_prefix):
    """(start, servers): ``start(*args, **kw)`` makes a fake server with ``make``, starts it on
    127.0.0.1 and points ``<env_prefix>_URL`` at it (with a short timeout and backoff)."""
    servers = []

    def start(*args, **kw):
        fake = make(*args, **kw)
        url = fake.start()
        servers.append(fake)
        monkeypatch.setenv(f"{env_prefix}_URL", url)
        monkeypatch.setenv(f"{env_prefix}_TIMEOUT", "2")
        monkeypatch.setenv(f"{env_prefix}_BACKOFF", "0.05")
        return fake

    return start, servers


@pytest.fixture
def fake_eutils(monkeypatch):
    """Start a fake E-utilities server on 127.0.0.1 and point REVIEW_EUTILS_URL at it."""
    start, servers = _fake_servers(
        monkeypatch, lambda n_records=1200, **kw: FakeEutils(n_records=n_records, **kw),
        "REVIEW_EUTILS")
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def fake_openalex(monkeypatch):
    """Start a fake OpenAlex API on 127.0.0.1 and point REVIEW_OPENALEX_URL at it."""
    start, servers = _fake_servers(monkeypatch, FakeOpenAlex, "REVIEW_OPENALEX")
    yield start
    for s in servers:
        s.stop()
