"""Periodic sweeps inside the web process when there is no Celery beat.

In production beat runs conversations.tasks.close_idle_conversations and
conversations.tasks.reap_stale_replies; in the embedded mode the first socket
to connect starts the same two loops on the server's event loop, calling the
same services at the same intervals. The reaper matters here too: a web
process restarted mid-stream leaves its replies pending, and this is what
fails them to the fallback once the server is back.
"""

import asyncio
import logging
from collections.abc import Callable

from django.conf import settings

from conversations.services import (
    attachments_sweep_unsent,
    conversations_close_idle,
    replies_reap_stale,
)
from helpdesk.db_async import database_sync_to_async

logger = logging.getLogger(__name__)

_started: set[int] = set()
_tasks: set[asyncio.Task] = set()


def _interval(entry: str) -> float:
    return float(settings.CELERY_BEAT_SCHEDULE[entry]["schedule"])


async def sweeper_ensure_started() -> None:
    if not settings.HELPDESK_INPROCESS_SWEEPER:
        return
    loop = asyncio.get_running_loop()
    if id(loop) in _started:
        return
    _started.add(id(loop))
    for loop_forever in (
        _sweep_forever(_interval("close-idle-conversations")),
        _reap_forever(_interval("reap-stale-replies")),
        _every(
            _interval("sweep-unsent-attachments"),
            "unsent-attachment sweep",
            lambda: [None] * attachments_sweep_unsent(),
            "deleted %s attachments never sent",
        ),
    ):
        task = loop.create_task(loop_forever)
        _tasks.add(task)


async def _sweep_forever(interval: float) -> None:
    await _every(interval, "idle sweep", conversations_close_idle, "closed %s idle conversations")


async def _reap_forever(interval: float) -> None:
    await _every(
        interval, "stale-reply reap", replies_reap_stale, "reaped %s replies whose streamer died"
    )


async def _every(interval: float, what: str, sweep: Callable[[], list[int]], done: str) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            ids = await database_sync_to_async(sweep)()
            if ids:
                logger.info(done, len(ids))
        except Exception:
            logger.exception("%s failed; will try again", what)
