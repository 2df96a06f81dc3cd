"""Every LLM fault ends in a polite fallback and a conversation waiting for a human."""

import socket

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(transactional_db):
    return SiteFactory(
        allowed_origins="http://shop.test", llm_first_token_timeout_seconds=1, llm_timeout_seconds=2
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def ask_and_expect_fallback(visitor_factory, site, *, language: str = "en") -> dict:
    visitor = await visitor_factory(site)
    await visitor.hello(language=language)
    ack = await visitor.say("What is the meaning of your brand name?")
    events = await visitor.receive_until(lambda e: e["type"] == "state", timeout=15)
    end = next(e for e in events if e["type"] == "reply.end")
    assert end["message"]["author"] == "bot" and end["message"]["source"] == "system"
    assert events[-1]["state"] == "waiting"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=ack["conversation_id"])
    assert conversation.state == "waiting" and conversation.pending_reply_id is None
    return {"end": end, "events": events, "conversation": conversation}


async def test_connection_refused(site, visitor_factory, settings):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{closed_port()}/v1"
    settings.OPENAI_API_KEY = "k"
    result = await ask_and_expect_fallback(visitor_factory, site)
    assert "APIConnectionError" in result["conversation"].escalation_reason


@pytest.mark.parametrize("mode", ["http_500", "http_429"])
async def test_http_errors(site, visitor_factory, fake_llm, mode, settings):
    # One retry (before any text was shown) fits the 1 s first-token limit with room to spare.
    settings.LLM_RETRIES_BEFORE_FIRST_TOKEN = 1
    fake_llm.configure(mode=mode)
    result = await ask_and_expect_fallback(visitor_factory, site, language="zh-CN")
    assert "同事" in result["end"]["message"]["text"]
    assert len(fake_llm.requests) == 2


async def test_stall_before_first_token_hits_the_first_token_timeout(
    site, visitor_factory, fake_llm
):
    fake_llm.configure(mode="stall_before_first_token")
    result = await ask_and_expect_fallback(visitor_factory, site)
    assert not [e for e in result["events"] if e["type"] == "reply.delta"]
    assert "Timeout" in result["conversation"].escalation_reason


async def test_stall_mid_stream_hits_the_reply_timeout(site, visitor_factory, fake_llm):
    fake_llm.configure(mode="stall_mid_stream")
    result = await ask_and_expect_fallback(visitor_factory, site)
    assert [e for e in result["events"] if e["type"] == "reply.delta"], (
        "some text was streamed first"
    )
    assert "Timeout" in result["conversation"].escalation_reason


@pytest.mark.parametrize("mode", ["malformed", "disconnect"])
async def test_broken_streams(site, visitor_factory, fake_llm, mode):
    fake_llm.configure(mode=mode)
    await ask_and_expect_fallback(visitor_factory, site)


async def test_llm_output_with_a_blocked_word_is_never_saved(site, visitor_factory, fake_llm):
    from kb.models import SensitiveWord
    from tests.factories import SensitiveWordFactory

    await database_sync_to_async(SensitiveWordFactory)(
        word="competitor.example", action=SensitiveWord.Action.BLOCK
    )
    fake_llm.configure(reply="You could also buy it at competitor.example instead.")
    result = await ask_and_expect_fallback(visitor_factory, site)
    shown = "".join(e["text"] for e in result["events"] if e["type"] == "reply.delta")
    assert "competitor.example" not in shown


async def test_llm_output_is_masked_before_it_is_streamed_or_saved(site, visitor_factory, fake_llm):
    from kb.models import SensitiveWord
    from tests.factories import SensitiveWordFactory

    await database_sync_to_async(SensitiveWordFactory)(
        word="darn", action=SensitiveWord.Action.MASK
    )
    fake_llm.configure(reply="Well darn, that item is sold out.", chunk_count=12)
    visitor = await visitor_factory(site)
    await visitor.hello()
    await visitor.say("Is the red scarf available?")
    events = await visitor.receive_until(lambda e: e["type"] == "reply.end")
    shown = "".join(e["text"] for e in events if e["type"] == "reply.delta")
    assert shown == events[-1]["message"]["text"] == "Well ****, that item is sold out."
