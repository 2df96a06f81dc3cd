"""A reply's deltas: to the visitor always, to the consoles only while one watches; the
after-commit publishes a consumer holds back until it has answered its socket."""

import asyncio
import contextlib
import os

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction

from conversations import broadcast
from conversations.broadcast import (
    ConsolesWatching,
    broadcast_after_commit,
    conversation_agents_group,
    conversation_group,
    held_publishes_send,
    publishes_held,
    watchers_event_publish,
)
from helpdesk.db_async import database_sync_to_async
from helpdesk.pipelined_channel_layer import PipelinedPubSubChannelLayer

pytestmark = pytest.mark.integration


class SendsRecorded:
    """The layer, with the groups it was asked to publish to recorded."""

    def __init__(self, layer) -> None:
        self.layer = layer
        self.groups: list[str] = []

    async def group_send(self, group: str, message: dict):
        self.groups.append(group)
        return await self.layer.group_send(group, message)


def delta(seq: int) -> dict:
    return {"type": "reply.delta", "reply_id": "r1", "seq": seq, "text": f"w{seq} "}


async def receive_seqs(layer, channel: str, count: int) -> list[int]:
    messages = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]
    return [message["event"]["seq"] for message in messages]


async def test_consoles_copy_is_left_out_until_a_console_watches_then_every_delta_reaches_it(
    monkeypatch,
):
    monkeypatch.setattr(broadcast, "CONSOLES_RECHECK_SECONDS", 0.2)
    worker = SendsRecorded(get_channel_layer())
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: worker)
    # The web process with the visitor and, later, the console: a layer of its own.
    web = PipelinedPubSubChannelLayer(
        hosts=[{"address": os.environ["REDIS_URL"], "socket_timeout": None}],
        prefix=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
    )
    conversation_id = 987_654
    visitor = await web.new_channel()
    await web.group_add(conversation_group(conversation_id), visitor)
    consoles = ConsolesWatching()
    try:
        for seq in range(5):
            await watchers_event_publish(
                conversation_id=conversation_id, event=delta(seq), consoles=consoles
            )
        agents = conversation_agents_group(conversation_id)
        # The first delta found no console; the next four left the consoles out.
        assert worker.groups.count(agents) == 1
        assert worker.groups.count(conversation_group(conversation_id)) == 5
        assert await receive_seqs(web, visitor, 5) == [0, 1, 2, 3, 4]

        console = await web.new_channel()
        await web.group_add(agents, console)
        await asyncio.sleep(0.25)
        for seq in range(5, 10):
            await watchers_event_publish(
                conversation_id=conversation_id, event=delta(seq), consoles=consoles
            )
        assert worker.groups.count(agents) == 6
        assert await receive_seqs(web, console, 5) == [5, 6, 7, 8, 9]
        assert await receive_seqs(web, visitor, 5) == [5, 6, 7, 8, 9]
    finally:
        await web.flush()


async def test_a_layer_that_does_not_count_receivers_always_sends_the_consoles_copy(monkeypatch):
    layer = SendsRecorded(InMemoryChannelLayer())
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    consoles = ConsolesWatching()
    for seq in range(3):
        await watchers_event_publish(conversation_id=5, event=delta(seq), consoles=consoles)
    assert layer.groups == [conversation_group(5), conversation_agents_group(5)] * 3


async def test_several_sends_arrive_in_order_and_one_failing_group_does_not_stop_the_others(
    monkeypatch, caplog
):
    layer = get_channel_layer()
    console = await layer.new_channel()
    await layer.group_add("first", console)
    await layer.group_add("third", console)

    class FailingSecond(SendsRecorded):
        async def group_send(self, group: str, message: dict):
            if group == "second":
                raise ConnectionError("redis went away")
            return await super().group_send(group, message)

    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: FailingSecond(layer))
    try:
        await broadcast.group_sends_publish(
            [(name, {"type": "x", "n": name}) for name in ("first", "second", "third")]
        )
        received = [await asyncio.wait_for(layer.receive(console), 5) for _ in range(2)]
        assert [message["n"] for message in received] == ["first", "third"]
        assert "broadcast failed: second" in caplog.text
    finally:
        await layer.group_discard("first", console)
        await layer.group_discard("third", console)


@contextlib.asynccontextmanager
async def _listening(conversation_id: int):
    """A channel in the conversation's group, with a read already waiting on it."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(conversation_group(conversation_id), channel)
    receiving = asyncio.ensure_future(layer.receive(channel))
    try:
        yield layer, channel, receiving
    finally:
        receiving.cancel()
        await layer.group_discard(conversation_group(conversation_id), channel)


def _note_committed(conversation_id: int, text: str) -> None:
    with transaction.atomic():
        broadcast_after_commit(
            conversation_id=conversation_id,
            site_id=1,
            events=[{"type": "note", "text": text}],
            audience="visitor",
        )


@pytest.mark.django_db(transaction=True)
async def test_held_publishes_wait_for_the_caller_then_go_out_in_commit_order():
    conversation_id = 987_655

    def two_commits() -> list:
        with publishes_held() as held:
            _note_committed(conversation_id, "first")
            _note_committed(conversation_id, "second")
        return held

    async with _listening(conversation_id) as (layer, channel, receiving):
        held = await database_sync_to_async(two_commits)()
        assert [message["event"]["text"] for _, message in held] == ["first", "second"]
        await asyncio.sleep(0.3)
        assert not receiving.done(), "a held publish went out before the caller sent it"

        await held_publishes_send(held)
        first = await asyncio.wait_for(receiving, 5)
        second = await asyncio.wait_for(layer.receive(channel), 5)
        assert [first["event"]["text"], second["event"]["text"]] == ["first", "second"]


@pytest.mark.django_db(transaction=True)
async def test_publishes_outside_a_held_block_go_out_at_commit():
    conversation_id = 987_656
    async with _listening(conversation_id) as (_, _, receiving):
        await database_sync_to_async(_note_committed)(conversation_id, "now")
        message = await asyncio.wait_for(receiving, 5)
        assert message["event"]["text"] == "now"
