import pytest

from eutils_fake import FakeEutils


@pytest.fixture
def fake_eutils(monkeypatch):
    """Start a fake E-utilities server on 127.0.0.1 and point REVIEW_EUTILS_URL at it."""
    servers = []

    def start(n_records: int = 1200, **kw) -> FakeEutils:
        fake = FakeEutils(n_records=n_records, **kw)
        url = fake.start()
        servers.append(fake)
        monkeypatch.setenv("REVIEW_EUTILS_URL", url)
        monkeypatch.setenv("REVIEW_EUTILS_TIMEOUT", "2")
        monkeypatch.setenv("REVIEW_EUTILS_BACKOFF", "0.05")
        return fake

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def fake_openalex(monkeypatch):
    """Start a fake OpenAlex API on 127.0.0.1 and point REVIEW_OPENALEX_URL at it."""
    from openalex_fake import FakeOpenAlex

    servers = []

    def start(works, **kw) -> FakeOpenAlex:
        fake = FakeOpenAlex(works, **kw)
        url = fake.start()
        servers.append(fake)
        monkeypatch.setenv("REVIEW_OPENALEX_URL", url)
        monkeypatch.setenv("REVIEW_OPENALEX_TIMEOUT", "2")
        monkeypatch.setenv("REVIEW_OPENALEX_BACKOFF", "0.05")
        return fake

    yield start
    for s in servers:
        s.stop()
