"""LLM replies streamed by a real Celery worker through the real Redis channel layer.

The visitor sockets are real Channels consumers in this process; the worker
is a separate `celery worker --pool threads` process; both talk through Redis
and PostgreSQL, and the LLM is the project's fake OpenAI-compatible server.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async

from conversations.fake_llm import FakeLLMServer
from conversations.models import Message
from tests.conversations.conftest import open_visitor
from tests.factories import ConversationFactory, EntryFactory, MessageFactory, SiteFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPLY = "We do offer gift wrapping with a handwritten card for three dollars per parcel."


@pytest.fixture
def llm_server():
    with FakeLLMServer() as server:
        server.configure(reply=REPLY, ttft=0.05, tokens_per_second=50)
        yield server


@pytest.fixture
def celery_worker(start_celery_worker, llm_server):
    return start_celery_worker(llm_base_url=llm_server.base_url, name="stream").process


@pytest.fixture
def site(transactional_db):
    site = SiteFactory(allowed_origins="http://shop.test")
    EntryFactory(
        site=site, question="Do you offer gift wrapping?", answer="Yes, for $3 per parcel."
    )
    EntryFactory(site=site, question="How long does shipping take?", answer="3-5 business days.")
    return site


async def test_worker_streams_deltas_in_order_and_the_prompt_has_grounding_and_last_five_turns(
    site, celery_worker, llm_server
):
    conversation = await database_sync_to_async(ConversationFactory)(visitor__site=site)
    history = [
        "hi there",
        "Hello! How can I help?",
        "I have a question",
        "Sure, go ahead.",
        "about presents",
        "What would you like to know?",
    ]
    for index, text in enumerate(history):
        await database_sync_to_async(MessageFactory)(
            conversation=conversation,
            text=text,
            author_kind="visitor" if index % 2 == 0 else "bot",
            source="visitor" if index % 2 == 0 else "llm",
        )
    from conversations.visitor_tokens import visitor_token_issue

    token = visitor_token_issue(anonymous_id=conversation.visitor.anonymous_id, site_id=site.pk)
    visitor, connected, _ = await open_visitor(site)
    assert connected
    await visitor.hello(token=token, last_seen_id=10**9)
    question = "could you wrap a gift for my mother, with a note?"
    ack = await visitor.say(question)
    assert ack["conversation_id"] == conversation.pk
    events = await visitor.receive_until(lambda e: e["type"] == "reply.end", timeout=30)
    await visitor.close()

    stream = [e for e in events if e["type"].startswith("reply.")]
    assert stream[0]["type"] == "reply.start"
    deltas = [e for e in stream if e["type"] == "reply.delta"]
    assert len(deltas) >= 5
    assert [d["seq"] for d in deltas] == list(range(len(deltas)))
    saved = await database_sync_to_async(Message.objects.get)(pk=stream[-1]["message"]["id"])
    assert saved.text == "".join(d["text"] for d in deltas) == REPLY
    assert saved.source == "llm" and saved.completion_tokens == len(deltas)

    (request,) = llm_server.requests
    messages = request["body"]["messages"]
    assert messages[0] == {"role": "system", "content": site.system_prompt}
    assert messages[1]["role"] == "system"
    assert "Do you offer gift wrapping?" in messages[1]["content"]
    assert "Yes, for $3 per parcel." in messages[1]["content"]
    assert question not in messages[0]["content"] + messages[1]["content"]
    turns = messages[2:]
    assert [t["content"] for t in turns] == [*history[-4:], question]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant", "user"]


async def test_one_hundred_concurrent_streams_lose_nothing(site, celery_worker, llm_server):
    llm_server.configure(tokens_per_second=20)
    visitors = []
    for _ in range(100):
        visitor, connected, _ = await open_visitor(site)
        assert connected
        visitors.append(visitor)
    await asyncio.gather(*(v.hello() for v in visitors))

    async def ask(visitor, index: int):
        await visitor.say(f"question number {index}: can you engrave a bracelet?")
        return await visitor.receive_until(lambda e: e["type"] == "reply.end", timeout=90)

    results = await asyncio.gather(*(ask(v, i) for i, v in enumerate(visitors)))
    for visitor in visitors:
        await visitor.close()
    expected_pieces = len(REPLY.split(" "))
    for events in results:
        deltas = [e for e in events if e["type"] == "reply.delta"]
        # Pieces that arrive while a frame is on its way share the next one.
        assert [d["seq"] for d in deltas] == list(range(len(deltas)))
        assert 1 <= len(deltas) <= expected_pieces
        assert "".join(d["text"] for d in deltas) == REPLY
        assert events[-1]["message"]["text"] == REPLY
    assert len(llm_server.requests) == 100
    saved = await database_sync_to_async(Message.objects.filter(source="llm", text=REPLY).count)()
    assert saved == 100


async def test_takeover_while_the_worker_streams_silences_the_bot_at_once(
    site, celery_worker, llm_server, agent_factory
):
    from conversations import services
    from tests.factories import AgentFactory

    llm_server.configure(
        reply=" ".join(f"word{i}" for i in range(60)), ttft=0.05, tokens_per_second=10
    )
    alice = await database_sync_to_async(AgentFactory)(display_name="Alice")
    console = await agent_factory(alice.user)
    visitor, connected, _ = await open_visitor(site)
    assert connected
    await visitor.hello()
    ack = await visitor.say("tell me a long story about your warehouse")
    # The console has the conversation open: the worker's deltas reach it too.
    await console.act("watch", ack["conversation_id"])
    watched = await console.receive_until(lambda f: f["type"] == "watching")
    events = await visitor.receive_until(
        lambda e: e["type"] == "reply.delta" and e["seq"] >= 2, timeout=20
    )
    reply_id = events[-1]["reply_id"]

    await database_sync_to_async(services.conversation_take_over)(
        conversation_id=ack["conversation_id"], agent=alice
    )
    after_takeover = await visitor.receive_until(lambda e: e["type"] == "reply.end", timeout=20)
    after_takeover += await visitor.drain(1.5)
    state_at = next(i for i, e in enumerate(after_takeover) if e["type"] == "state")
    assert after_takeover[state_at]["state"] == "human"
    late = [e for e in after_takeover[state_at:] if e["type"] == "reply.delta"]
    assert late == [], "no delta reaches the visitor after the takeover"
    ends = [e for e in after_takeover if e["type"] == "reply.end"]
    assert ends == [{"type": "reply.end", "reply_id": reply_id, "message": None}]
    # Nothing more from the bot, even though the LLM had 50+ words left to send.
    assert not [e for e in after_takeover[state_at:] if e["type"].startswith("reply.")][1:]
    await visitor.close()

    frames = watched + await console.receive_until(
        lambda f: f["type"] == "event" and f["event"]["type"] == "reply.end", timeout=20
    )
    state_at = next(
        i
        for i, f in enumerate(frames)
        if f["type"] == "event" and f["event"]["type"] == "state" and f["event"]["state"] == "human"
    )
    assert [
        f for f in frames[:state_at] if f["type"] == "event" and f["event"]["type"] == "reply.delta"
    ], "the watching console saw the stream"
    assert not [
        f for f in frames[state_at:] if f["type"] == "event" and f["event"]["type"] == "reply.delta"
    ]
    bot_messages = await database_sync_to_async(
        Message.objects.filter(conversation_id=ack["conversation_id"], author_kind="bot").count
    )()
    assert bot_messages == 0


async def _grounding_for(site, llm_server, question: str) -> str:
    """The KB block of the prompt the worker sent the LLM for a new visitor's question."""
    llm_server.clear_requests()
    visitor, connected, _ = await open_visitor(site)
    assert connected
    await visitor.hello()
    await visitor.say(question)
    await visitor.receive_until(lambda e: e["type"] == "reply.end", timeout=30)
    await visitor.close()
    (request,) = llm_server.requests
    return request["body"]["messages"][1]["content"]


async def test_kb_edit_applies_to_the_next_reply_in_the_worker_without_restart(
    site, celery_worker, llm_server
):
    from kb.models import Entry

    before = await _grounding_for(site, llm_server, "could you gift wrap my order with a ribbon?")
    assert "Yes, for $3 per parcel." in before

    entry = await database_sync_to_async(Entry.objects.get)(question="Do you offer gift wrapping?")
    entry.answer = "Yes, gift wrapping is now free."
    await database_sync_to_async(entry.save)()

    after = await _grounding_for(site, llm_server, "could you gift wrap my order with a bow?")
    assert "Yes, gift wrapping is now free." in after and "$3" not in after


async def test_the_worker_grounds_on_the_entries_the_web_process_matched(
    site, start_celery_worker, llm_server
):
    """The web process embeds the question to route it; the worker takes the entries it
    chose instead of embedding the question a second time. A worker without the
    semantic tier shows which happened: on its own it would ground on nothing."""
    from kb.matching import Thresholds, kb_match
    from kb.matching.site_index import index_build

    start_celery_worker(
        llm_base_url=llm_server.base_url, name="lexical", env={"KB_EMBEDDINGS": "off"}
    )
    question = "can my present come in nice paper?"
    web = await database_sync_to_async(kb_match)(site=site, text=question)
    assert web.tiers == ("lexical", "semantic")
    assert web.decision == "ground"
    assert [c.question for c in web.candidates] == ["Do you offer gift wrapping?"]
    lexical = await database_sync_to_async(index_build)(site_id=site.pk, embedder=None)
    assert lexical.tiers == ("lexical",)
    assert lexical.match(text=question, thresholds=Thresholds()).decision == "none"

    grounding = await _grounding_for(site, llm_server, question)
    assert "Yes, for $3 per parcel." in grounding
    assert "3-5 business days." not in grounding
