"""A failed LLM request is retried only while the visitor has seen nothing of the reply.

The fake server's per-request markers cannot differ between attempts (every
attempt sends the same prompt), so a test switches the server's mode from a
thread watching its request log, or counts connections on a raw socket.
"""

import socket
import struct
import threading
import time

import pytest
from channels.db import database_sync_to_async

from conversations.fake_llm.config import DEFAULT_REPLY
from conversations.models import Conversation
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "What is the meaning of your brand name?"


@pytest.fixture
def site(transactional_db):
    return SiteFactory(allowed_origins="http://shop.test")


def switch_mode_after_first_request(fake_llm, mode: str) -> threading.Thread:
    """Serve `mode` from the second request on: the first sees the fault configured now."""

    def watch() -> None:
        deadline = time.monotonic() + 10
        while not fake_llm.requests and time.monotonic() < deadline:
            time.sleep(0.005)
        fake_llm.configure(mode=mode)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


async def ask(
    visitor_factory, site, *, until: str, timings: dict | None = None
) -> tuple[list[dict], dict]:
    visitor = await visitor_factory(site)
    await visitor.hello()
    started = time.monotonic()
    ack = await visitor.say(QUESTION)
    events = await visitor.receive_until(lambda e: e["type"] == until, timeout=15)
    if timings is not None:
        timings["until"] = time.monotonic() - started
    events += await visitor.drain(1.0)  # longer than any backoff: a late retry would show
    return events, ack


async def conversation_of(ack: dict) -> Conversation:
    return await database_sync_to_async(Conversation.objects.get)(pk=ack["conversation_id"])


@pytest.mark.parametrize("fault", ["http_500", "http_429"])
async def test_a_request_failing_before_any_text_is_retried_and_the_reply_streams(
    site, visitor_factory, fake_llm, fault
):
    fake_llm.configure(mode=fault)
    watcher = switch_mode_after_first_request(fake_llm, "normal")
    events, ack = await ask(visitor_factory, site, until="reply.end")
    watcher.join(timeout=5)

    assert len(fake_llm.requests) == 2
    stream = [e["type"] for e in events if e["type"].startswith("reply.")]
    assert stream[0] == "reply.start" and stream[-1] == "reply.end"
    assert set(stream[1:-1]) == {"reply.delta"}, "one reply: the failed attempt showed nothing"
    deltas = [e for e in events if e["type"] == "reply.delta"]
    assert [d["seq"] for d in deltas] == list(range(len(deltas)))
    shown = "".join(d["text"] for d in deltas)
    end = next(e for e in events if e["type"] == "reply.end")
    assert shown == end["message"]["text"] == DEFAULT_REPLY
    assert end["message"]["source"] == "llm"
    assert (await conversation_of(ack)).state == "bot"


async def test_a_stream_dropped_after_text_was_shown_is_not_retried(
    site, visitor_factory, fake_llm
):
    fake_llm.configure(mode="disconnect")  # two pieces, then the connection drops
    events, ack = await ask(visitor_factory, site, until="state")

    assert [e for e in events if e["type"] == "reply.delta"], "some text was shown first"
    end = next(e for e in events if e["type"] == "reply.end")
    assert end["message"]["source"] == "system"
    assert any(e["type"] == "state" and e["state"] == "waiting" for e in events)
    assert len(fake_llm.requests) == 1, "a retry would repeat text the visitor already saw"
    conversation = await conversation_of(ack)
    assert conversation.state == "waiting"
    assert "APIConnectionError" in conversation.escalation_reason


async def test_a_connection_reset_before_any_text_is_retried_then_falls_back(
    site, visitor_factory, settings
):
    """A server that resets every connection: 1 attempt + LLM_RETRIES_BEFORE_FIRST_TOKEN."""
    accepted = 0
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def reset_every_connection() -> None:
        nonlocal accepted
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted += 1
            # SO_LINGER 0: close() sends RST, a "connection reset by peer".
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    thread = threading.Thread(target=reset_every_connection, daemon=True)
    thread.start()
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    settings.OPENAI_API_KEY = "k"
    settings.LLM_RETRIES_BEFORE_FIRST_TOKEN = 2
    try:
        events, ack = await ask(visitor_factory, site, until="state")
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()

    assert accepted == 3
    assert not [e for e in events if e["type"] == "reply.delta"]
    conversation = await conversation_of(ack)
    assert conversation.state == "waiting"
    assert "APIConnectionError" in conversation.escalation_reason


async def test_retries_stop_when_the_first_token_budget_is_spent(
    visitor_factory, fake_llm, settings
):
    site = await database_sync_to_async(SiteFactory)(
        allowed_origins="http://shop.test",
        llm_first_token_timeout_seconds=2,
        llm_timeout_seconds=3,
    )
    settings.LLM_RETRIES_BEFORE_FIRST_TOKEN = 5
    fake_llm.configure(mode="http_500")
    timings: dict = {}
    _, ack = await ask(visitor_factory, site, until="state", timings=timings)

    # Attempts start at about 0 s, 0.3 s and 0.9 s; the next backoff (1.2 s) would
    # start a fourth past the 2 s first-token limit, so the fallback comes at once.
    assert len(fake_llm.requests) == 3
    assert timings["until"] < 2, "the retries never outlast the first-token limit"
    assert "InternalServerError" in (await conversation_of(ack)).escalation_reason


async def test_no_retry_when_retries_are_turned_off(site, visitor_factory, fake_llm, settings):
    settings.LLM_RETRIES_BEFORE_FIRST_TOKEN = 0
    fake_llm.configure(mode="http_500")
    _, ack = await ask(visitor_factory, site, until="state")
    assert len(fake_llm.requests) == 1
    assert (await conversation_of(ack)).state == "waiting"
