"""`watch` / `unwatch` on the agent socket: a conversation's messages and a reply's deltas
reach only the consoles that have it open; every console still sees every reply start
and end, and every row change."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from conversations.broadcast import (
    audience_groups,
    conversation_agents_group,
    conversation_group,
    site_agents_group,
)
from conversations.consumers.agent import WATCH_LIMIT
from tests.factories import EntryFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Do you sell gift wrapping for birthdays?"
REPLY = "Yes, we wrap every gift in recycled paper with a ribbon for three dollars."


@pytest.fixture
def replies(fake_llm):
    fake_llm.configure(reply=REPLY, tokens_per_second=40)
    return fake_llm


async def conversation(visitor_factory, site):
    """A visitor whose first message the KB answered: the conversation exists, nothing streams."""
    visitor = await visitor_factory(site)
    await visitor.hello()
    ack = await visitor.say("how long does shipping take")
    await visitor.receive_until(lambda e: e["type"] == "message" and e["message"]["source"] == "kb")
    return visitor, ack["conversation_id"]


async def ask(visitor, question: str = QUESTION) -> list[dict]:
    """The visitor asks the LLM; returns what the visitor saw, up to the saved reply."""
    await visitor.say(question)
    return await visitor.receive_until(lambda e: e["type"] == "reply.end", timeout=15)


async def watch(console, conversation_id: int) -> dict:
    """The answer to `watch`: `watching` or the `error` that refused it."""
    return (await console.watch(conversation_id))[-1]


async def until_replies_end(console, conversation_ids: set[int], timeout: float = 15) -> list:
    """Every frame until a `reply.end` with a message arrived for each conversation."""
    pending = set(conversation_ids)

    def ended(frame: dict) -> bool:
        if is_event(frame, "reply.end") and frame["event"]["message"] is not None:
            pending.discard(frame["conversation_id"])
        return not pending

    frames = await console.receive_until(ended, timeout=timeout)
    return frames + await console.drain(0.3)


def is_event(frame: dict, kind: str) -> bool:
    return frame["type"] == "event" and frame["event"]["type"] == kind


def events(frames: list[dict], kind: str, conversation_id: int | None = None) -> list[dict]:
    return [
        f["event"]
        for f in frames
        if is_event(f, kind) and conversation_id in (None, f["conversation_id"])
    ]


def group_members(conversation_id: int) -> set[str] | None:
    """Channels in the conversation's watcher group, for the in-process layers (the
    pub/sub Redis layer the tests use, or the in-memory one); None for others."""
    layer = get_channel_layer()
    group = conversation_agents_group(conversation_id)
    if hasattr(layer, "_get_group_channel_name"):  # channels_redis.pubsub, this loop's layer
        group = layer._get_group_channel_name(group)
    groups = getattr(layer, "groups", None)
    return None if groups is None else set(groups.get(group, ()))


def test_each_audience_has_its_groups():
    def groups(audience):
        return audience_groups(conversation_id=3, site_id=1, audience=audience)

    assert groups("all") == [conversation_group(3), site_agents_group(1)]
    assert groups("agents") == [site_agents_group(1)]
    assert groups("visitor") == [conversation_group(3)]
    assert groups("consoles_watching") == [conversation_agents_group(3)]
    assert len({conversation_group(3), conversation_agents_group(3), site_agents_group(3)}) == 3


async def test_the_site_agents_group_carries_every_reply_event_but_its_deltas(
    site, visitor_factory, replies
):
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(site_agents_group(site.pk), listener)
    try:
        visitor, _conversation_id = await conversation(visitor_factory, site)
        seen = await ask(visitor)
        assert len([e for e in seen if e["type"] == "reply.delta"]) >= 3
        kinds = []
        while "reply.end" not in kinds:
            message = await asyncio.wait_for(layer.receive(listener), timeout=5)
            if message["type"] == "conversation.event":  # not a row update (agent.frame)
                kinds.append(message["event"]["type"])
    finally:
        await layer.group_discard(site_agents_group(site.pk), listener)
    assert "reply.start" in kinds and "reply.delta" not in kinds


async def test_a_console_gets_deltas_only_of_the_conversation_it_watches(
    site, alice, bob, agent_factory, visitor_factory, replies
):
    reader, inbox = await agent_factory(alice.user), await agent_factory(bob.user)
    visitor_a, a = await conversation(visitor_factory, site)
    visitor_b, b = await conversation(visitor_factory, site)
    assert await watch(reader, a) == {"type": "watching", "conversation_id": a, "watching": [a]}
    await reader.drain(0.2)
    await inbox.drain(0.2)

    seen_a = await ask(visitor_a)
    seen_b = await ask(visitor_b)
    # The visitors are not affected: each gets its whole stream.
    for seen in (seen_a, seen_b):
        deltas = [e for e in seen if e["type"] == "reply.delta"]
        assert len(deltas) >= 3 and "".join(d["text"] for d in deltas) == REPLY

    read = await until_replies_end(reader, {a, b})
    deltas = events(read, "reply.delta", a)
    assert len(deltas) >= 3 and [d["seq"] for d in deltas] == list(range(len(deltas)))
    assert "".join(d["text"] for d in deltas) == REPLY
    assert events(read, "reply.delta", b) == [], "no deltas of a conversation not watched"
    assert events(read, "reply.end", a)[-1]["message"]["text"] == REPLY
    assert [m["message"]["text"] for m in events(read, "message", a)] == [QUESTION]
    assert events(read, "message", b) == []

    # A console that watches nothing: the inbox still sees both replies start and end,
    # and each visitor's question in its row, but not one message event or token.
    listed = await until_replies_end(inbox, {a, b})
    assert events(listed, "reply.delta") == [] and events(listed, "message") == []
    rows = [f["conversation"] for f in listed if f["type"] == "conversation.updated"]
    for conversation_id in (a, b):
        assert len(events(listed, "reply.start", conversation_id)) == 1
        (end,) = events(listed, "reply.end", conversation_id)
        assert end["message"]["text"] == REPLY and end["message"]["source"] == "llm"
        assert QUESTION in [
            row["last_message"]["text"]
            for row in rows
            if row["id"] == conversation_id and row["last_message"]
        ]


async def test_watching_another_sites_conversation_is_refused_and_joins_nothing(
    site, alice, agent_factory, visitor_factory, replies
):
    other_site = await database_sync_to_async(SiteFactory)(allowed_origins="http://shop.test")
    await database_sync_to_async(EntryFactory)(
        site=other_site, question="How long does shipping take?", answer="A week."
    )
    console = await agent_factory(alice.user)
    visitor, foreign = await conversation(visitor_factory, other_site)

    for conversation_id in (foreign, 10**9):
        refused = await watch(console, conversation_id)
        assert refused["type"] == "error" and refused["code"] == "forbidden"
        assert refused["conversation_id"] == conversation_id
        assert not group_members(conversation_id)
    await console.act("watch", "7")
    bad = (await console.receive_until(lambda f: f["type"] == "error"))[-1]
    assert bad["code"] == "invalid_field"

    await ask(visitor)
    assert not [f for f in await console.drain(0.5) if f.get("conversation_id") == foreign]
    # The socket still works: a conversation of its own site can be watched.
    _visitor, own = await conversation(visitor_factory, site)
    assert (await watch(console, own))["watching"] == [own]


async def test_unwatch_stops_the_deltas(site, alice, agent_factory, visitor_factory, fake_llm):
    fake_llm.configure(reply=" ".join(f"word{i}" for i in range(40)), tokens_per_second=20)
    console = await agent_factory(alice.user)
    visitor, conversation_id = await conversation(visitor_factory, site)
    await watch(console, conversation_id)
    await visitor.say("tell me a long story about your warehouse")
    await console.receive_until(
        lambda f: is_event(f, "reply.delta") and f["event"]["seq"] >= 2, timeout=15
    )

    await console.act("unwatch", conversation_id)
    await console.send({"type": "ping"})
    before = await console.receive_until(lambda f: f["type"] == "pong")
    assert not [f for f in before if f["type"] in ("watching", "error")], "unwatch has no answer"
    assert not group_members(conversation_id)
    after = await until_replies_end(console, {conversation_id}, timeout=20)
    assert events(after, "reply.delta") == [], "no delta after the unwatch"
    assert events(after, "reply.end")[-1]["message"]["text"].startswith("word0 word1")
    # Unwatching again (or a conversation never watched) is harmless and silent.
    await console.act("unwatch", conversation_id)
    await console.act("unwatch", 10**9)
    await console.send({"type": "ping"})
    assert [f["type"] for f in await console.receive_until(lambda f: f["type"] == "pong")] == [
        "pong"
    ]


async def test_watching_mid_stream_shows_the_reply_from_the_next_delta(
    site, alice, agent_factory, visitor_factory, fake_llm
):
    reply = " ".join(f"word{i}" for i in range(40))
    fake_llm.configure(reply=reply, tokens_per_second=20)
    console = await agent_factory(alice.user)
    visitor, conversation_id = await conversation(visitor_factory, site)
    await visitor.say("tell me a long story about your warehouse")
    seen = await visitor.receive_until(
        lambda e: e["type"] == "reply.delta" and e["seq"] >= 3, timeout=15
    )
    reply_id = seen[-1]["reply_id"]

    await console.act("watch", conversation_id)
    frames = await console.receive_until(lambda f: f["type"] == "watching")
    # Every console got the start (the inbox shows the reply in flight), none a delta yet.
    assert [e["reply_id"] for e in events(frames, "reply.start")] == [reply_id]
    assert events(frames, "reply.delta") == []
    frames = await until_replies_end(console, {conversation_id}, timeout=20)
    deltas = events(frames, "reply.delta")
    assert deltas and deltas[0]["seq"] > 0, "joined mid-stream: from the next delta on"
    assert [d["seq"] for d in deltas] == list(range(deltas[0]["seq"], deltas[-1]["seq"] + 1))
    assert reply.endswith("".join(d["text"] for d in deltas))
    assert events(frames, "reply.end")[-1]["message"]["text"] == reply


async def test_the_watch_limit_drops_the_oldest_conversation(
    site, alice, agent_factory, visitor_factory, replies
):
    console = await agent_factory(alice.user)
    opened = [await conversation(visitor_factory, site) for _ in range(WATCH_LIMIT + 1)]
    ids = [conversation_id for _visitor, conversation_id in opened]
    for count, conversation_id in enumerate(ids[:WATCH_LIMIT], start=1):
        assert (await watch(console, conversation_id))["watching"] == ids[:count]
    # Watching one already watched makes it the newest; nothing is dropped.
    assert (await watch(console, ids[0]))["watching"] == [*ids[1:WATCH_LIMIT], ids[0]]
    assert (await watch(console, ids[1]))["watching"] == [*ids[2:WATCH_LIMIT], ids[0], ids[1]]
    # One more than the limit: the one watched longest ago (ids[2]) is dropped.
    last = await watch(console, ids[WATCH_LIMIT])
    assert last["watching"] == [*ids[3:WATCH_LIMIT], ids[0], ids[1], ids[WATCH_LIMIT]]
    assert len(last["watching"]) == WATCH_LIMIT
    assert not group_members(ids[2])
    assert group_members(ids[0]) != set()  # None (an out-of-process layer) or its socket

    (dropped_visitor, dropped), (kept_visitor, kept) = opened[2], opened[WATCH_LIMIT]
    await ask(dropped_visitor)
    await ask(kept_visitor)
    frames = await until_replies_end(console, {dropped, kept})
    assert events(frames, "reply.delta", dropped) == []
    assert "".join(d["text"] for d in events(frames, "reply.delta", kept)) == REPLY


async def test_a_closed_socket_leaves_the_groups_of_what_it_watched(
    site, alice, bob, agent_factory, visitor_factory, replies
):
    console, other = await agent_factory(alice.user), await agent_factory(bob.user)
    visitor, conversation_id = await conversation(visitor_factory, site)
    await watch(console, conversation_id)
    await watch(other, conversation_id)
    members = group_members(conversation_id)
    if members is None:
        pytest.skip("this channel layer keeps its groups out of process")
    assert len(members) == 2
    await console.close()
    assert len(group_members(conversation_id)) == 1
    # The other console still watches it, and gets the deltas.
    await ask(visitor)
    frames = await until_replies_end(other, {conversation_id})
    assert "".join(d["text"] for d in events(frames, "reply.delta")) == REPLY
    await other.close()
    assert not group_members(conversation_id)


async def test_events_reach_a_console_without_a_thread_round_trip_each(
    site, alice, agent_factory, visitor_factory, replies, monkeypatch
):
    # Channels' default dispatch runs close_old_connections in its sync thread before
    # every handler; a console is sent thousands of events a minute, so ours does not.
    hops = []

    async def counted() -> None:
        hops.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counted)
    console = await agent_factory(alice.user)
    visitor, conversation_id = await conversation(visitor_factory, site)
    await watch(console, conversation_id)
    await ask(visitor)
    frames = await until_replies_end(console, {conversation_id})
    assert "".join(d["text"] for d in events(frames, "reply.delta")) == REPLY
    assert len(frames) > 5
    assert hops == []


async def test_a_console_that_connects_mid_reply_finds_the_reply_in_its_row(
    site, alice, visitor_factory, client, fake_llm
):
    from django.urls import reverse

    from conversations.events import ConversationRow
    from tests.protocol import check_typeddict

    fake_llm.configure(reply=REPLY, tokens_per_second=10)
    visitor, conversation_id = await conversation(visitor_factory, site)
    await database_sync_to_async(client.force_login)(alice.user)

    async def row() -> dict:
        response = await database_sync_to_async(client.get)(
            reverse("agent-api-conversations"), {"tab": "bot"}
        )
        (found,) = [r for r in response.json()["conversations"] if r["id"] == conversation_id]
        check_typeddict(found, ConversationRow, "row")
        return found

    assert (await row())["replying_id"] is None
    await visitor.say(QUESTION)
    start = (await visitor.receive_until(lambda e: e["type"] == "reply.start"))[-1]
    await visitor.receive_until(lambda e: e["type"] == "reply.delta")
    # The console loads its lists now, after the reply's start went out.
    assert (await row())["replying_id"] == start["reply_id"]
    await visitor.receive_until(lambda e: e["type"] == "reply.end", timeout=15)
    assert (await row())["replying_id"] is None
