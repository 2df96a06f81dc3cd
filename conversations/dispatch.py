"""Where an LLM reply streams: a Celery worker (with Redis) or the web process itself.

One streaming coroutine (conversations.replies.llm_reply_stream), two
dispatchers, chosen by settings.HELPDESK_LLM_RUNNER.
"""

import asyncio
import contextvars
import logging
import os
import threading

from asgiref.sync import SyncToAsync
from django.conf import settings

logger = logging.getLogger(__name__)

# Strong references: the event loop only keeps weak ones to running tasks.
_inline_tasks: set[asyncio.Task] = set()


def llm_reply_dispatch(*, conversation_id: int, reply_id: str) -> None:
    """Start streaming a reserved reply. Called after the reservation commits."""
    if settings.HELPDESK_LLM_RUNNER == "celery":
        from conversations.tasks import stream_llm_reply

        stream_llm_reply.delay(conversation_id, reply_id)
        return
    _inline_start(conversation_id=conversation_id, reply_id=reply_id)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the async code that called into this sync thread, if any."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    same_process = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid()
    return loop if loop is not None and same_process and loop.is_running() else None


def _inline_start(*, conversation_id: int, reply_id: str) -> None:
    loop = _server_loop()
    if loop is None:
        # No server loop (a management command, a plain script): run to
        # completion on a private loop in a thread.
        threading.Thread(
            target=_run_private_loop, args=(conversation_id, reply_id), daemon=True
        ).start()
        return
    # The task must live on the web server's loop: the in-memory channel
    # layer's queues belong to it.
    # A fresh context: the caller's carries asgiref's "this thread's executor
    # is busy" marker, which would make the task's own DB calls deadlock.
    loop.call_soon_threadsafe(_spawn, conversation_id, reply_id, context=contextvars.Context())


def _spawn(conversation_id: int, reply_id: str) -> None:
    from conversations.replies import llm_reply_stream

    task = asyncio.get_running_loop().create_task(
        llm_reply_stream(conversation_id=conversation_id, reply_id=reply_id),
        context=contextvars.Context(),
    )
    _inline_tasks.add(task)
    task.add_done_callback(_inline_tasks.discard)
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("inline LLM reply failed", exc_info=task.exception())


def _run_private_loop(conversation_id: int, reply_id: str) -> None:
    from conversations.replies import llm_reply_stream

    asyncio.run(llm_reply_stream(conversation_id=conversation_id, reply_id=reply_id))
