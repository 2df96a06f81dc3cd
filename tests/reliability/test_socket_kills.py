"""Visitor sockets killed at random points lose nothing and duplicate nothing.

Promise (docs/security.md, Reliability): a message is acked only after it is
committed; a resend with the same client_id is not duplicated; a reconnect
replays everything after the client's last seen id, including bot replies
completed while no socket was connected.

The consumers run in this process over the real Redis channel layer and
PostgreSQL; replies stream inline from the fake LLM, slowly enough to be in
flight when a socket dies. Two ways to kill a socket: `close` (the server sees
the connection drop: websocket.disconnect is queued behind the frame being
handled) and `cancel` (the consumer's task is cancelled wherever it is, as a
dying web process would stop it).
"""

import asyncio
import contextlib
import random

import pytest
from channels.db import database_sync_to_async

from conversations.fake_llm import FakeLLMServer
from conversations.models import Conversation, Message
from tests.factories import SiteFactory
from tests.reliability.conftest import (
    Memory,
    after_their_end,
    as_rows,
    connect,
    pump,
    pump_quietly,
    visible_rows_async,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPLY = "Your parcel ships from our warehouse within two working days of the order."
MESSAGES = 15
KILL_POINTS = ("before_ack", "after_ack", "mid_stream", "mid_stream", "no_kill")


@pytest.fixture
def llm(settings):
    with FakeLLMServer() as server:
        server.configure(reply=REPLY, ttft=0.05, tokens_per_second=30)
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = "test-key"
        settings.HELPDESK_LLM_RUNNER = "inline"
        yield server


async def kill(client, how: str) -> None:
    if how == "close":
        await client.communicator.disconnect()
        return
    client.communicator.future.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await client.communicator.future


def is_ack_for(client_id: str):
    def predicate(event: dict) -> bool:
        if event["type"] == "error":
            pytest.fail(f"error instead of an ack for {client_id}: {event}")
        return event["type"] == "ack" and event["client_id"] == client_id

    return predicate


async def reconnect(site, memory: Memory):
    client = await connect(site, memory)
    welcome = await pump(client, memory, lambda e: e["type"] == "welcome", timeout=10)
    if welcome["conversation"] is not None:
        # The replay ends with the conversation's state.
        await pump(client, memory, lambda e: e["type"] == "state", timeout=10)
    return client


async def resend_unacked(client, memory: Memory) -> None:
    for client_id, text in memory.unacked():
        await client.send({"type": "message", "client_id": client_id, "text": text})
        await pump(client, memory, is_ack_for(client_id), timeout=10)


def reply_settled(conversation_id: int) -> bool:
    return Conversation.objects.get(pk=conversation_id).pending_reply_id is None


@pytest.mark.parametrize("how", ["close", "cancel"])
async def test_random_socket_kills_lose_and_duplicate_nothing(llm, relaxed_limits, how):
    site = await database_sync_to_async(SiteFactory)(allowed_origins="http://shop.test")
    rng = random.Random(1234)
    memory = Memory()
    client = await reconnect(site, memory)
    kills = 0
    for index in range(MESSAGES):
        client_id = f"kill-{how}-{index}"
        text = f"question {index}: where does parcel number {index} ship from?"
        memory.sent[client_id] = text
        await client.send({"type": "message", "client_id": client_id, "text": text})
        point = rng.choice(KILL_POINTS)
        if point == "before_ack":
            await asyncio.sleep(rng.uniform(0, 0.02))
        else:
            await pump(client, memory, is_ack_for(client_id), timeout=10)
        if point == "mid_stream":
            seq = rng.randint(0, 6)
            await pump(
                client,
                memory,
                lambda e, seq=seq: (
                    (e["type"] == "reply.delta" and e["seq"] >= seq) or e["type"] == "reply.end"
                ),
                timeout=10,
            )
        if point == "no_kill":
            start = await pump(client, memory, lambda e: e["type"] == "reply.start", timeout=10)
            await pump(
                client,
                memory,
                lambda e, rid=start["reply_id"]: e["type"] == "reply.end" and e["reply_id"] == rid,
                timeout=10,
            )
            continue
        await kill(client, how)
        kills += 1
        # Away for a while: a reply in flight may well finish meanwhile.
        await asyncio.sleep(rng.uniform(0.1, 1.0))
        client = await reconnect(site, memory)
        await resend_unacked(client, memory)

    assert not memory.unacked()
    conversation_ids = await database_sync_to_async(
        lambda: set(
            Message.objects.filter(client_id__in=list(memory.sent)).values_list(
                "conversation_id", flat=True
            )
        )
    )()
    assert len(conversation_ids) == 1, conversation_ids
    (conversation_id,) = conversation_ids

    # Let the last reply finish while the socket listens, then come back once more.
    for _ in range(100):
        await pump_quietly(client, memory, 0.1)
        if await database_sync_to_async(reply_settled)(conversation_id):
            break
    else:
        pytest.fail("the last reply never settled")
    await kill(client, how)
    client = await reconnect(site, memory)
    await pump_quietly(client, memory, 0.3)
    await client.close()

    rows = await visible_rows_async(conversation_id)
    # Every message sent exactly once; every ack names a committed row of that message.
    by_client_id = {}
    for row in rows:
        if row["client_id"]:
            by_client_id.setdefault(row["client_id"], []).append(row)
    for client_id, text in memory.sent.items():
        assert [r["text"] for r in by_client_id.get(client_id, [])] == [text], client_id
    for client_id, message_id in memory.acked.items():
        assert [r["id"] for r in by_client_id[client_id]] == [message_id]

    # What this browser saw, live or replayed, across all its sockets is the database.
    seen = [memory.seen[i] for i in sorted(memory.seen)]
    assert [(m["id"], m["author"], m["text"]) for m in seen] == [
        (r["id"], r["author_kind"], r["text"]) for r in rows
    ]

    assert after_their_end(memory.events) == []

    # A fresh replay from the start is the database too.
    fresh = Memory()
    fresh.token = memory.token
    replay_client = await connect(site, fresh)
    welcome = await pump(replay_client, fresh, lambda e: e["type"] == "welcome", timeout=10)
    assert welcome["conversation"]["id"] == conversation_id
    replayed = []
    while (event := await replay_client.receive()) and event["type"] == "message":
        replayed.append(event["message"])
    assert event["type"] == "state"
    await replay_client.close()
    assert as_rows(replayed) == rows

    # The last question was answered by the LLM, in full.
    bot = [r for r in rows if r["author_kind"] == "bot"]
    assert rows[-1]["author_kind"] == "bot" and rows[-1]["text"] == REPLY
    assert sum(1 for r in bot if r["text"] == REPLY) >= 2
    # The scenario did what it claims: sockets died, and some finished replies
    # reached the browser only through a replay.
    assert kills >= MESSAGES // 2
    assert memory.replayed_bot & {r["id"] for r in bot}
