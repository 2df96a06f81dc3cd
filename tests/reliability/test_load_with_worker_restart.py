"""200 concurrent visitors through web + worker + Redis + PostgreSQL, the worker restarted once.

The visitor consumers run in this process over the real Redis channel layer;
replies stream in a real `celery worker --pool threads` subprocess from the
fake LLM. After about a third of the replies the worker is stopped (SIGTERM,
a warm shutdown) and a new one started. Afterwards every acked message is in
the database, every visitor's replayed transcript equals the database, and
every question got exactly one bot reply (the LLM's, or the fallback when the
watchdog failed a reply the restart interrupted).
"""

import asyncio
import contextlib
import random

import pytest
from channels.db import database_sync_to_async

from conversations.bot_messages import bot_text
from conversations.fake_llm import FakeLLMServer
from conversations.models import Message
from conversations.tasks import reap_stale_replies
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

VISITORS = 200
REPLY = (
    "Our winter coats are lined with recycled wool and keep you warm down to minus twenty degrees."
)
FALLBACK = bot_text("fallback", language="en")
BOUND_SECONDS = 90


@pytest.fixture
def llm():
    with FakeLLMServer() as server:
        server.configure(reply=REPLY, ttft=0.1, tokens_per_second=30)
        yield server


async def test_two_hundred_visitors_survive_a_worker_restart(
    llm, relaxed_limits, start_celery_worker, tmp_path, settings, monkeypatch
):
    # The site has no KB entries: lexical matching alone, in here and in the
    # worker, keeps two CPU cores for what is under test (sockets, Redis,
    # PostgreSQL, the worker) instead of embedding 500 questions.
    settings.KB_EMBEDDINGS = "off"
    monkeypatch.setenv("KB_EMBEDDINGS", "off")
    site = await database_sync_to_async(SiteFactory)(
        allowed_origins="http://shop.test",
        llm_timeout_seconds=5,
        llm_first_token_timeout_seconds=3,
    )
    first_worker = await asyncio.to_thread(
        start_celery_worker, llm_base_url=llm.base_url, concurrency=VISITORS, name="load"
    )
    rng = random.Random(1234)
    plans = [rng.choice((2, 3)) for _ in range(VISITORS)]
    starts = [rng.uniform(0, 15) for _ in range(VISITORS)]
    total = sum(plans)
    memories = [Memory() for _ in range(VISITORS)]
    ends: list[list[dict]] = [[] for _ in range(VISITORS)]  # every reply.end each one got
    done = 0
    a_third_done = asyncio.Event()
    restarted = asyncio.Event()

    async def visitor(index: int, client) -> None:
        nonlocal done
        memory = memories[index]
        # Visitors arrive over a few seconds and read each answer before asking
        # again, as people do; all 200 stay connected throughout.
        await asyncio.sleep(starts[index])
        for question in range(plans[index]):
            if question:
                await asyncio.sleep(rng.uniform(1.0, 3.0))
            client_id = f"load-{index}-{question}"
            text = f"visitor {index} asks {question}: how warm is coat model {index}{question}?"
            memory.sent[client_id] = text
            await client.send({"type": "message", "client_id": client_id, "text": text})
            await pump(
                client,
                memory,
                lambda e, cid=client_id: e["type"] == "ack" and e["client_id"] == cid,
                timeout=30,
            )
            end = await pump(client, memory, lambda e: e["type"] == "reply.end", timeout=60)
            ends[index].append(end)
            done += 1
            if done % 50 == 0:
                print(f"{asyncio.get_running_loop().time() - t0:.1f}s: {done} replies")
            if done >= total // 3:
                a_third_done.set()
            if end["message"] is None or end["message"]["text"] == FALLBACK:
                # The conversation now waits for a human: the bot stays silent.
                return

    async def restart_worker_once() -> None:
        await a_third_done.wait()
        # SIGTERM: Celery's warm shutdown, as CeleryWorker.stop() sends; its
        # wait for the worker's PostgreSQL sessions to end would only time out
        # here (this web process holds sessions of its own) and widen the gap.
        first_worker.process.terminate()
        await asyncio.to_thread(first_worker.process.wait, 30)
        await asyncio.to_thread(
            start_celery_worker, llm_base_url=llm.base_url, concurrency=VISITORS, name="load"
        )
        restarted.set()

    stop_beat = asyncio.Event()

    async def beat() -> None:
        # Production runs the watchdog from Celery beat every 5 s; beat is not
        # running here, so the test calls the same task function every 0.5 s.
        while not stop_beat.is_set():
            await database_sync_to_async(reap_stale_replies)()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_beat.wait(), timeout=0.5)

    clients = []
    for index in range(VISITORS):
        client = await connect(site, memories[index])
        await pump(client, memories[index], lambda e: e["type"] == "welcome", timeout=10)
        clients.append(client)

    t0 = asyncio.get_running_loop().time()
    beat_task = asyncio.create_task(beat())
    restart_task = asyncio.create_task(restart_worker_once())
    try:
        await asyncio.wait_for(
            asyncio.gather(*(visitor(i, c) for i, c in enumerate(clients)), restart_task),
            timeout=BOUND_SECONDS,
        )
        # Anything late (a second reply, a stray fallback) would arrive now.
        await asyncio.gather(
            *(pump_quietly(c, m, 1.0) for c, m in zip(clients, memories, strict=True))
        )
    finally:
        stop_beat.set()
        await beat_task
        restart_task.cancel()
        for client in clients:
            await client.close()
    assert restarted.is_set()

    fallbacks = 0
    late_events = 0
    for index, memory in enumerate(memories):
        assert not memory.unacked(), index
        conversation_ids = {m.get("conversation_id") for m in memory.seen.values()}
        conversation_ids.discard(None)
        conversation_id = memory.conversation_id
        assert conversation_ids <= {conversation_id}, (index, conversation_ids)
        rows = await visible_rows_async(conversation_id)

        # Every acked message is committed, once, with its text.
        visitor_rows = [r for r in rows if r["author_kind"] == "visitor"]
        assert {r["client_id"]: r["id"] for r in visitor_rows} == memory.acked, index
        assert sorted(r["client_id"] for r in visitor_rows) == sorted(memory.acked), index
        assert [r["text"] for r in visitor_rows] == [
            memory.sent[r["client_id"]] for r in visitor_rows
        ]

        # One bot reply per question, none duplicated: visitor, bot, visitor, bot...
        assert [r["author_kind"] for r in rows] == ["visitor", "bot"] * len(visitor_rows), (
            index,
            rows,
        )
        bot_texts = [r["text"] for r in rows if r["author_kind"] == "bot"]
        assert all(t in (REPLY, FALLBACK) for t in bot_texts), (index, bot_texts)
        fallbacks += bot_texts.count(FALLBACK)
        assert [e["message"]["id"] for e in ends[index] if e["message"]] == [
            r["id"] for r in rows if r["author_kind"] == "bot"
        ], index

        # Known race (reported, not asserted: it depends on timing): a reply the
        # watchdog fails just as its stream ends gets a second reply.end
        # (message null) and sometimes a late delta after the fallback.
        late_events += len(after_their_end(memory.events))

        # What the visitor saw live is the database.
        seen = [memory.seen[i] for i in sorted(memory.seen)]
        assert [(m["id"], m["text"]) for m in seen] == [(r["id"], r["text"]) for r in rows], index

    # A reconnect from scratch replays exactly the database, for every visitor.
    async def replay(memory: Memory) -> list[dict]:
        fresh = Memory()
        fresh.token = memory.token
        client = await connect(site, fresh)
        try:
            await pump(client, fresh, lambda e: e["type"] == "welcome", timeout=10)
            replayed = []
            while (event := await client.receive(timeout=10))["type"] == "message":
                replayed.append(event["message"])
            assert event["type"] == "state"
            return replayed
        finally:
            await client.close()

    for memory in memories:
        assert as_rows(await replay(memory)) == await visible_rows_async(memory.conversation_id)

    llm_rows = await database_sync_to_async(
        Message.objects.filter(author_kind="bot", source="llm").count
    )()
    assert llm_rows + fallbacks == sum(len(e) for e in ends)
    print(f"{llm_rows} LLM replies, {fallbacks} fallbacks, {late_events} late stream events")
    # Most replies must be the LLM's. The restart does cost some: replies queued
    # while no worker ran, and the new worker's cold start under a backlog of
    # 150 tasks on 2 cores. They exceed their Site's 5 s limit and the watchdog
    # fails them to the fallback. Measured at 25-32% of 499 here.
    assert fallbacks < total * 2 // 5, f"{fallbacks} fallbacks: the restart lost too many replies"
    second_log = (tmp_path / "load-1.log").read_text(errors="replace")
    assert "stream_llm_reply" in second_log, "the new worker streamed replies too"
