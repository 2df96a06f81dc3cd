"""The pub/sub channel layer with pipelined publishes, against the real Redis.

Two layer objects stand for two processes: one publishes, the other has the
consumers, as a Celery worker and a web process do.
"""

import asyncio
import os
import uuid

import pytest
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError

from helpdesk.pipelined_channel_layer import PipelinedPubSubChannelLayer

pytestmark = pytest.mark.integration


def _layer(prefix: str, address: str | None = None) -> PipelinedPubSubChannelLayer:
    return PipelinedPubSubChannelLayer(
        hosts=[{"address": address or os.environ["REDIS_URL"], "socket_timeout": None}],
        prefix=prefix,
    )


@pytest.fixture
def prefix() -> str:
    # Tests running side by side must not hear each other.
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def layers(prefix):
    publisher, subscriber = _layer(prefix), _layer(prefix)
    yield publisher, subscriber
    await publisher.flush()
    await subscriber.flush()


@pytest.fixture
def pipelines(monkeypatch) -> list[int]:
    """The size of each pipeline sent to Redis."""
    sizes: list[int] = []
    execute = Pipeline.execute

    async def recording(self, *args, **kwargs):
        sizes.append(len(self.command_stack))
        return await execute(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", recording)
    return sizes


async def _receive(layer, channel: str, count: int) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


async def test_concurrent_publishers_share_round_trips_and_keep_their_order(layers, pipelines):
    publisher, subscriber = layers
    channel = await subscriber.new_channel()
    await subscriber.group_add("stream", channel)

    async def stream(name: str) -> None:
        for seq in range(20):
            await publisher.group_send("stream", {"type": "delta", "stream": name, "seq": seq})

    await asyncio.gather(*(stream(f"s{n}") for n in range(30)))
    received = await _receive(subscriber, channel, 600)

    by_stream: dict[str, list[int]] = {}
    for message in received:
        by_stream.setdefault(message["stream"], []).append(message["seq"])
    assert by_stream == {f"s{n}": list(range(20)) for n in range(30)}
    # 30 publishers at once: far fewer round trips than publishes (the first of
    # each quiet moment goes out alone, without a pipeline).
    assert len(pipelines) < 100, pipelines
    assert 600 - len(pipelines) <= sum(pipelines) < 600
    assert max(pipelines) > 1


async def test_a_lone_publish_goes_out_at_once_without_a_pipeline(layers, pipelines):
    publisher, subscriber = layers
    channel = await subscriber.new_channel()
    assert await publisher.send(channel, {"type": "hello", "text": "x"}) == 1
    assert await _receive(subscriber, channel, 1) == [{"type": "hello", "text": "x"}]
    assert pipelines == []


async def test_group_send_returns_how_many_processes_are_subscribed(layers, prefix):
    publisher, subscriber = layers
    another = _layer(prefix)
    try:
        assert await publisher.group_send("watchers", {"type": "x"}) == 0
        first = await subscriber.new_channel()
        second = await subscriber.new_channel()
        await subscriber.group_add("watchers", first)
        await subscriber.group_add("watchers", second)
        # Subscriptions are per process: two consumers of one process count once.
        assert await publisher.group_send("watchers", {"type": "x"}) == 1
        await another.group_add("watchers", await another.new_channel())
        assert await publisher.group_send("watchers", {"type": "x"}) == 2
        await subscriber.group_discard("watchers", first)
        await subscriber.group_discard("watchers", second)
        assert await publisher.group_send("watchers", {"type": "x"}) == 1
    finally:
        await another.flush()


async def test_a_cancelled_publisher_does_not_lose_its_message_or_others(layers):
    publisher, subscriber = layers
    channel = await subscriber.new_channel()
    first = asyncio.create_task(publisher.send(channel, {"type": "m", "n": 1}))
    second = asyncio.create_task(publisher.send(channel, {"type": "m", "n": 2}))
    third = asyncio.create_task(publisher.send(channel, {"type": "m", "n": 3}))
    await asyncio.sleep(0)  # the first is on the wire, the others wait in the outbox
    second.cancel()
    assert await first == 1
    assert await third == 1
    with pytest.raises(asyncio.CancelledError):
        await second
    assert [m["n"] for m in await _receive(subscriber, channel, 3)] == [1, 2, 3]


async def test_flush_sends_what_is_waiting_first(layers):
    publisher, subscriber = layers
    channel = await subscriber.new_channel()
    pending = [
        asyncio.create_task(publisher.send(channel, {"type": "m", "n": n})) for n in range(5)
    ]
    await asyncio.sleep(0)
    await publisher.flush()
    assert [await task for task in pending] == [1] * 5
    assert [m["n"] for m in await _receive(subscriber, channel, 5)] == list(range(5))


async def test_an_unreachable_redis_fails_every_waiting_publish_and_the_next_ones_try_again(
    prefix,
):
    # Nothing listens on port 1: every connect is refused at once.
    layer = _layer(prefix, "redis://127.0.0.1:1/0")
    try:
        results = await asyncio.gather(
            *(layer.group_send("g", {"type": "x", "n": n}) for n in range(10)),
            return_exceptions=True,
        )
        assert len(results) == 10
        assert all(isinstance(result, RedisConnectionError) for result in results), results
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(layer.group_send("g", {"type": "x"}), 10)
    finally:
        await layer.flush()
