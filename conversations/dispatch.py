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

# Strong references (the event loop only keeps weak ones to running tasks),
# with the (conversation_id, reply_id) each one streams, for the shutdown drain.
_inline_tasks: dict[asyncio.Task, tuple[int, str]] = {}

SHUTDOWN_REASON = "web process shut down mid-reply"


def llm_reply_dispatch(
    *, conversation_id: int, reply_id: str, grounding_entry_ids: list[int] | None = None
) -> None:
    """Start streaming a reserved reply. Called after the reservation commits.

    `grounding_entry_ids`: the KB entries the pipeline's match chose for the
    prompt (None: the stream matches the question itself).
    """
    if settings.HELPDESK_LLM_RUNNER == "celery":
        from conversations.tasks import stream_llm_reply

        stream_llm_reply.delay(conversation_id, reply_id, grounding_entry_ids)
        return
    _inline_start(
        conversation_id=conversation_id, reply_id=reply_id, grounding_entry_ids=grounding_entry_ids
    )


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the async code that called into this sync thread, if any."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    same_process = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid()
    return loop if loop is not None and same_process and loop.is_running() else None


def _inline_start(
    *, conversation_id: int, reply_id: str, grounding_entry_ids: list[int] | None
) -> None:
    loop = _server_loop()
    if loop is None:
        # No server loop (a management command, a plain script): run to
        # completion on a private loop in a thread.
        threading.Thread(
            target=_run_private_loop,
            args=(conversation_id, reply_id, grounding_entry_ids),
            daemon=True,
        ).start()
        return
    # The task must live on the web server's loop: the in-memory channel
    # layer's queues belong to it.
    # A fresh context: the caller's carries asgiref's "this thread's executor
    # is busy" marker, which would make the task's own DB calls deadlock.
    loop.call_soon_threadsafe(
        _spawn, conversation_id, reply_id, grounding_entry_ids, context=contextvars.Context()
    )


def _spawn(conversation_id: int, reply_id: str, grounding_entry_ids: list[int] | None) -> None:
    from conversations.replies import llm_reply_stream

    task = asyncio.get_running_loop().create_task(
        llm_reply_stream(
            conversation_id=conversation_id,
            reply_id=reply_id,
            grounding_entry_ids=grounding_entry_ids,
        ),
        context=contextvars.Context(),
    )
    _inline_tasks[task] = (conversation_id, reply_id)
    task.add_done_callback(_forget)
    task.add_done_callback(_log_failure)


def _forget(task: asyncio.Task) -> None:
    _inline_tasks.pop(task, None)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("inline LLM reply failed", exc_info=task.exception())


def _run_private_loop(
    conversation_id: int, reply_id: str, grounding_entry_ids: list[int] | None
) -> None:
    from conversations.replies import llm_reply_stream

    asyncio.run(
        llm_reply_stream(
            conversation_id=conversation_id,
            reply_id=reply_id,
            grounding_entry_ids=grounding_entry_ids,
        )
    )


async def inline_replies_drain(*, grace_seconds: float) -> int:
    """Before this process exits: let its replies finish, hand the rest over.

    Replies streamed by a Celery worker are the worker's business (its warm
    shutdown waits for them). Those streamed on this loop would die with the
    process and leave the visitor watching a half-written reply until the
    stale-reply watchdog notices; instead each gets up to `grace_seconds` to
    finish, and any still running is stopped and failed to the fallback, so
    the conversation waits for a human at once. Returns how many were handed over.
    """
    from conversations.services import llm_reply_abandon
    from helpdesk.db_async import database_sync_to_async

    streaming = dict(_inline_tasks)
    if not streaming:
        return 0
    logger.info("shutdown: waiting up to %.1fs for %s LLM replies", grace_seconds, len(streaming))
    _, unfinished = await asyncio.wait(streaming, timeout=grace_seconds)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    handed_over = 0
    for task in unfinished:
        conversation_id, reply_id = streaming[task]
        message = await database_sync_to_async(llm_reply_abandon)(
            conversation_id=conversation_id, reply_id=reply_id, reason=SHUTDOWN_REASON
        )
        handed_over += message is not None
    logger.warning(
        "shutdown: %s LLM replies finished, %s handed over to the fallback",
        len(streaming) - len(unfinished),
        handed_over,
    )
    return handed_over
