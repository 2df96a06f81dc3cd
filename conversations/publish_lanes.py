"""Publishing to the channel layer from a thread, without the thread waiting for it.

Events are published after their transaction commits, from the thread that ran
it: a Channels database thread, a Django view's thread, a Celery worker's
database thread. `async_to_sync` made that thread wait while its event loop
published each group message: a hand-off to a loop that is busy under load, then
a Redis round trip per group, with the thread and its database connection held
for all of it (~3 ms per transaction on an idle process, more under load).

When the thread runs on behalf of a running event loop (asgiref records the
loop in the threads it runs sync code in), the publish is handed to that loop and
the thread goes on. The loop publishes each lane's items one at a time, in the
order they were handed over: a conversation is one lane, so its events keep their
order (the visitor's message before the bot's answer to it), while different
conversations publish side by side. Without such a loop (a management command, a
prefork Celery task, a test's own thread) the thread publishes and waits.
"""

import asyncio
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable

from asgiref.sync import SyncToAsync, async_to_sync

logger = logging.getLogger(__name__)

Publish = Callable[[], Awaitable[None]]


class _Lanes:
    """One event loop's queues of pending publishes, by lane; used in the loop's thread only."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queues: dict[str, deque[tuple[Publish, str]]] = {}
        self.draining: set[asyncio.Task] = set()  # the loop keeps only weak references

    def hand_over(self, lane: str, publish: Publish, what: str) -> None:
        queue = self.queues.get(lane)
        if queue is not None:
            queue.append((publish, what))
            return
        self.queues[lane] = deque([(publish, what)])
        task = self.loop.create_task(self._drain(lane))
        self.draining.add(task)
        task.add_done_callback(self.draining.discard)

    async def _drain(self, lane: str) -> None:
        queue = self.queues[lane]
        try:
            while queue:
                publish, what = queue[0]
                await _published_logged(publish, what)
                queue.popleft()
        finally:
            del self.queues[lane]


async def _published_logged(publish: Publish, what: str) -> None:
    try:
        await publish()
    except Exception:
        # The event is already saved; a reconnect replays it. Losing the live
        # push must not turn a committed write into an error for the writer.
        logger.exception("broadcast failed: %s", what)


_lanes_lock = threading.Lock()
_lanes_by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lanes]" = (
    weakref.WeakKeyDictionary()
)


def _lanes_for(loop: asyncio.AbstractEventLoop) -> _Lanes:
    with _lanes_lock:
        lanes = _lanes_by_loop.get(loop)
        if lanes is None:
            lanes = _lanes_by_loop[loop] = _Lanes(loop)
        return lanes


def _loop_of_this_thread() -> asyncio.AbstractEventLoop | None:
    """The running loop this thread does sync work for, as asgiref recorded it."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None  # none, or a parent's from before a fork
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return loop
    return None  # called inside a loop: only a thread may hand over


def publish_in_lane(*, lane: str, publish: Publish, what: str) -> None:
    """Publish `publish()` after the items handed over before it in `lane`.

    Returns at once when this thread works for a running event loop; otherwise
    once it is published. A failure is logged, never raised.
    """
    loop = _loop_of_this_thread()
    if loop is not None:
        try:
            loop.call_soon_threadsafe(_lanes_for(loop).hand_over, lane, publish, what)
            return
        except RuntimeError:
            pass  # the loop closed since the check: publish here instead
    try:
        async_to_sync(_published_logged)(publish, what)
    except Exception:
        logger.exception("broadcast failed: %s", what)
