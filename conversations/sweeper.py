"""Closing idle conversations inside the web process when there is no Celery beat.

In production beat runs conversations.tasks.close_idle_conversations; in the
embedded mode the first socket to connect starts this loop on the server's
event loop, calling the same service.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from conversations.services import conversations_close_idle

logger = logging.getLogger(__name__)

_started: set[int] = set()
_tasks: set[asyncio.Task] = set()


async def sweeper_ensure_started() -> None:
    if not settings.HELPDESK_INPROCESS_SWEEPER:
        return
    loop = asyncio.get_running_loop()
    if id(loop) in _started:
        return
    _started.add(id(loop))
    task = loop.create_task(
        _sweep_forever(float(settings.CELERY_BEAT_SCHEDULE["close-idle-conversations"]["schedule"]))
    )
    _tasks.add(task)


async def _sweep_forever(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            closed = await database_sync_to_async(conversations_close_idle)()
            if closed:
                logger.info("closed %s idle conversations", len(closed))
        except Exception:
            logger.exception("idle sweep failed; will try again")
