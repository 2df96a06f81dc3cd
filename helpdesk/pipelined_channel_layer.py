"""channels_redis's pub/sub layer with its publishes pipelined, one Redis round trip per batch.

`RedisPubSubChannelLayer` publishes under a lock per shard, one round trip at a
time: every `send` and `group_send` of a process waits for the one before it to
be answered. A Celery worker streaming 300 replies makes ~1,000 publishes a
second, each a socket write and a wait for Redis to be scheduled and answer, and
on a busy machine they queue behind that lock. Here a publish made while nothing
is on the wire goes out at once, as before; those made while one is on the wire
join the shard's outbox, and one writer task sends whatever has gathered as one
pipeline (a single write, the replies read together). Under load N publishes
cost one round trip.

Order is kept: the outbox is first in, first out and one batch is on the wire at
a time, so a stream's deltas reach Redis in the order they were published.
`publish` still returns only once Redis has answered, with its count of
subscribers that got the message (`group_send` returns it too: 0 means no
process has that group's consumers; the stream uses it to skip the consoles'
copy of a delta when no console watches the conversation).

It builds on channels_redis 4.x's shard connection (`_lock`, `_redis`,
`_ensure_redis`); tests/helpdesk/test_pipelined_channel_layer.py runs against
the installed version, so an upgrade that changes them fails there first.
"""

import asyncio

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts

# A burst larger than this goes out as several pipelines, so that one huge
# batch does not hold every publisher until all of it is answered.
BATCH_LIMIT = 500


class PipelinedShardConnection(RedisSingleShardConnection):
    def __init__(self, host, channel_layer) -> None:
        super().__init__(host, channel_layer)
        self._outbox: list[tuple[str, bytes, asyncio.Future]] = []
        self._busy = False  # a publish or a batch is on the wire
        self._writer: asyncio.Task | None = None

    async def publish(self, channel: str, message: bytes) -> int:
        if self._busy:
            answered = asyncio.get_running_loop().create_future()
            self._outbox.append((channel, message, answered))
            # A caller cancelled while waiting cancels only its wait: the message is
            # still sent, as one already written to the socket would be.
            return await answered
        # Nothing on the wire: send this one now, as the stock layer does (no hop
        # through the writer task); what gathers meanwhile goes out as one batch.
        self._busy = True
        try:
            async with self._lock:
                self._ensure_redis()
                return int(await self._redis.publish(channel, message))
        finally:
            self._write_gathered()

    def _write_gathered(self) -> None:
        if self._outbox:
            self._writer = asyncio.ensure_future(self._write())
        else:
            self._busy = False

    async def _write(self) -> None:
        try:
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
                except Exception as error:
                    _fail(batch, error)
                    continue
                except BaseException as error:  # cancelled: the loop is closing
                    _fail(batch, error)
                    _fail(self._outbox, error)
                    self._outbox = []
                    raise
                for (_, _, answered), count in zip(batch, counts, strict=True):
                    if not answered.done():
                        answered.set_result(int(count))
        finally:
            self._busy = False

    async def flush(self) -> None:
        # Let what was published go out before the connection closes.
        while self._busy:
            writer = self._writer
            if writer is not None and not writer.done():
                await asyncio.gather(writer, return_exceptions=True)
            else:
                await asyncio.sleep(0.001)  # the publish on the wire, then its writer
        await super().flush()


def _fail(batch: list[tuple[str, bytes, asyncio.Future]], error: BaseException) -> None:
    for _, _, answered in batch:
        if not answered.done():
            answered.set_exception(error)


class PipelinedPubSubLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, hosts=None, **kwargs) -> None:
        super().__init__(*args, hosts=hosts, **kwargs)
        self._shards = [PipelinedShardConnection(host, self) for host in decode_hosts(hosts)]

    async def send(self, channel: str, message: dict) -> int:
        shard = self._get_shard(channel)
        return await shard.publish(channel, self.channel_layer.serialize(message))

    async def group_send(self, group: str, message: dict) -> int:
        """Publish to the group; returns how many processes subscribed to it got the message."""
        return await self.send(self._get_group_channel_name(group), message)


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
