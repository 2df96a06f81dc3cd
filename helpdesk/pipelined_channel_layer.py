"""channels_redis's pub/sub layer with its publishes pipelined, one Redis round trip per batch.

`RedisPubSubChannelLayer` publishes under a lock per shard, one round trip at a
time: every `send` and `group_send` of a process waits for the one before it to
be answered. A Celery worker streaming 300 replies makes ~1,000 publishes a
second, each a socket write and a wait for Redis to be scheduled and answer, and
on a busy machine they queue behind that lock. Here a publish joins the shard's
outbox; one writer task sends whatever has gathered as one pipeline (a single
write, the replies read together) while the next batch gathers. A lone publish
costs what it did; under load N publishes cost one round trip.

Order is kept: the outbox is first in, first out and one batch is on the wire at
a time, so a stream's deltas reach Redis in the order they were published.
`publish` still returns only once Redis has answered, with its count of
subscribers that got the message (`group_send` returns it too: 0 means no
process has that group's consumers; the stream uses it to skip the consoles'
copy of a delta when no console watches the conversation).
"""

import asyncio
import logging

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts

logger = logging.getLogger(__name__)

# A burst larger than this goes out as several pipelines, so that one huge
# batch does not hold every publisher until all of it is answered.
BATCH_LIMIT = 500


class PipelinedShardConnection(RedisSingleShardConnection):
    def __init__(self, host, channel_layer) -> None:
        super().__init__(host, channel_layer)
        self._outbox: list[tuple[str, bytes, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def publish(self, channel: str, message: bytes) -> int:
        answered = asyncio.get_running_loop().create_future()
        self._outbox.append((channel, message, answered))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())
        # A caller cancelled while waiting cancels only its wait: the message is
        # still sent, as one already written to the socket would be.
        return await answered

    async def _write(self) -> None:
        while self._outbox:
            batch = self._outbox[:BATCH_LIMIT]
            del self._outbox[:BATCH_LIMIT]
            try:
                async with self._lock:
                    self._ensure_redis()
                    pipeline = self._redis.pipeline(transaction=False)
                    for channel, message, _ in batch:
                        pipeline.publish(channel, message)
                    counts = await pipeline.execute()
            except BaseException as error:
                for _, _, answered in batch:
                    if not answered.done():
                        answered.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    self._fail_outbox(error)
                    raise
                continue
            for (_, _, answered), count in zip(batch, counts, strict=True):
                if not answered.done():
                    answered.set_result(int(count))

    def _fail_outbox(self, error: BaseException) -> None:
        batch, self._outbox = self._outbox, []
        for _, _, answered in batch:
            if not answered.done():
                answered.set_exception(error)

    async def flush(self) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            # Let what was published go out before the connection closes.
            await asyncio.gather(writer, return_exceptions=True)
        await super().flush()


class PipelinedPubSubLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, hosts=None, **kwargs) -> None:
        super().__init__(*args, hosts=hosts, **kwargs)
        self._shards = [PipelinedShardConnection(host, self) for host in decode_hosts(hosts)]

    async def send(self, channel: str, message: dict) -> int:
        shard = self._get_shard(channel)
        return await shard.publish(channel, self.channel_layer.serialize(message))

    async def group_send(self, group: str, message: dict) -> int:
        """Publish to the group; returns how many processes subscribed to it got the message."""
        group_channel = self._get_group_channel_name(group)
        shard = self._get_shard(group_channel)
        return await shard.publish(group_channel, self.channel_layer.serialize(message))


class PipelinedPubSubChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self) -> PipelinedPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = PipelinedPubSubLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer
