"""Streaming one LLM reply: the single coroutine both dispatchers run.

In the embedded mode it runs as an asyncio task in the web process; with
Redis it runs in a Celery worker. Either way each delta is published to the
conversation's watchers (its visitor and the consoles that have it open), a
cancel on the conversation's control group stops it at once, and ownership is
checked again before anything is saved.
"""

import asyncio
import logging
import time

import openai
from channels.layers import get_channel_layer
from django.conf import settings
from openai import AsyncOpenAI

from conversations.broadcast import CANCEL_HANDLER, reply_control_group
from conversations.events import reply_start_event
from conversations.llm import llm_client, llm_configured
from conversations.replies.context import (
    ReplyContext,
    StreamState,
    reply_context_load,
    reply_event_publish,
)
from conversations.replies.endings import (
    EmptyReply,
    LLMNotConfigured,
    stream_cancelled,
    stream_failed,
    stream_finished,
)
from conversations.replies.frames import DeltaFrames
from helpdesk import metrics
from helpdesk.db_async import database_sync_to_async

logger = logging.getLogger(__name__)

__all__ = [
    "EmptyReply",
    "LLMNotConfigured",
    "llm_reply_stream",
    "reply_context_load",
]


async def llm_reply_stream(
    *, conversation_id: int, reply_id: str, grounding_entry_ids: list[int] | None = None
) -> str:
    """Stream, save and broadcast one reply. Returns the outcome, for logs and tests."""
    layer = get_channel_layer()
    control = await layer.new_channel()
    group = reply_control_group(conversation_id)
    # Subscribed before the reply is read: a cancel sent before this is seen by the
    # read (the reply is no longer pending), one sent after it reaches `control`.
    await layer.group_add(group, control)
    try:
        context = await database_sync_to_async(reply_context_load)(
            conversation_id=conversation_id,
            reply_id=reply_id,
            grounding_entry_ids=grounding_entry_ids,
        )
        if context is None:
            logger.info(
                "reply %s for conversation %s is stale; not started",
                reply_id,
                conversation_id,
                extra={"tier": "llm", "decision": "stale", "conversation_id": conversation_id},
            )
            return "stale"
        return await _stream_with_cancel(context, layer, control)
    finally:
        await layer.group_discard(group, control)


async def _wait_for_cancel(layer, control: str, reply_id: str) -> str:
    while True:
        message = await layer.receive(control)
        if message.get("type") == CANCEL_HANDLER and message.get("reply_id") == reply_id:
            return str(message.get("reason") or "cancelled")


async def _stream_with_cancel(context: ReplyContext, layer, control: str) -> str:
    started = time.monotonic()
    state = StreamState()
    await reply_event_publish(
        context,
        reply_start_event(reply_id=context.reply_id, conversation_id=context.conversation_id),
    )
    stream_task = asyncio.create_task(_stream(context, state))
    cancel_task = asyncio.create_task(_wait_for_cancel(layer, control, context.reply_id))
    try:
        done, _ = await asyncio.wait(
            {stream_task, cancel_task}, return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:
        # asyncio.wait leaves its tasks running: stop them with us (shutdown drain).
        stream_task.cancel()
        cancel_task.cancel()
        await asyncio.gather(stream_task, cancel_task, return_exceptions=True)
        raise
    if cancel_task in done:
        stream_task.cancel()
        await asyncio.gather(stream_task, return_exceptions=True)
        return await stream_cancelled(context, state, reason=cancel_task.result())
    cancel_task.cancel()
    await asyncio.gather(cancel_task, return_exceptions=True)
    error = stream_task.exception()
    if error is not None:
        return await stream_failed(context, state, error)
    return await stream_finished(context, state, started)


# Waits before retrying a failed request: 0.3 s, then 0.6 s, ...
RETRY_BACKOFF_SECONDS = 0.3


def _retryable(error: BaseException) -> bool:
    """A request that failed before the model said anything and may well work again."""
    if isinstance(error, openai.APITimeoutError):
        return False  # the client's timeout is the whole reply's: no time is left
    if isinstance(error, openai.APIConnectionError):
        return True  # refused, reset, dropped before any text
    return isinstance(error, openai.APIStatusError) and (
        error.status_code >= 500 or error.status_code == 429
    )


async def _stream(context: ReplyContext, state: StreamState) -> None:
    """Stream the reply, retrying a failed request only while nothing has been shown.

    Once a delta went out a retry would show the visitor the start of the
    reply a second time (and a different one: models are not deterministic),
    so from then on any failure goes to the fallback. The retries share the
    first-token budget measured from the first attempt, so they never make
    the visitor wait longer than a single stalled request would.
    """
    if not llm_configured():
        raise LLMNotConfigured
    started = time.monotonic()
    client = llm_client(timeout=context.timeout)
    try:
        retries = 0
        while True:
            try:
                await _stream_attempt(context, state, client, started)
                return
            except Exception as error:
                backoff = RETRY_BACKOFF_SECONDS * 2**retries
                if (
                    state.seq > 0
                    or not _retryable(error)
                    or retries >= settings.LLM_RETRIES_BEFORE_FIRST_TOKEN
                    or time.monotonic() - started + backoff >= context.first_token_timeout
                ):
                    raise
                retries += 1
                metrics.llm_error(error)
                logger.info(
                    "tier=llm decision=retry attempt=%s error=%r conversation=%s reply=%s",
                    retries + 1,
                    error,
                    context.conversation_id,
                    context.reply_id,
                    extra={
                        "tier": "llm",
                        "decision": "retry",
                        "attempt": retries + 1,
                        "error": repr(error),
                        "conversation_id": context.conversation_id,
                        "reply_id": context.reply_id,
                    },
                )
                # Text held back by the filter was never shown: start afresh.
                state.raw = ""
                state.first_token_at = None
                state.prompt_tokens = state.completion_tokens = None
                await asyncio.sleep(backoff)
    finally:
        await client.close()


async def _stream_attempt(
    context: ReplyContext, state: StreamState, client: AsyncOpenAI, started: float
) -> None:
    stream = await asyncio.wait_for(
        client.chat.completions.create(
            model=context.model,
            messages=context.messages,  # type: ignore[arg-type]
            temperature=context.temperature,
            max_tokens=context.max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        ),
        timeout=context.first_token_timeout - (time.monotonic() - started),
    )
    frames = DeltaFrames(context, state)
    loop = asyncio.get_running_loop()

    def ends_after(budget: float) -> float:
        return loop.time() + budget - (time.monotonic() - started)

    # Until the first piece the first-token budget applies, then the whole reply's.
    deadline = asyncio.timeout(ends_after(context.first_token_timeout))
    first = True
    try:
        async with deadline:
            async for chunk in stream:
                if not _chunk_take(state, chunk, started):
                    continue
                if first:
                    first = False
                    deadline.reschedule(ends_after(context.timeout))
                frames.offer()
            if not state.raw.strip():
                raise EmptyReply
            await frames.finish()
    except TimeoutError as error:
        if deadline.expired():
            raise TimeoutError("LLM reply exceeded its time limit") from error
        raise
    finally:
        await frames.settle()


def _chunk_take(state: StreamState, chunk, started: float) -> bool:
    """Record one streamed chunk; True when it added text."""
    if chunk.usage is not None:
        state.prompt_tokens = chunk.usage.prompt_tokens
        state.completion_tokens = chunk.usage.completion_tokens
        metrics.llm_tokens(prompt=state.prompt_tokens, completion=state.completion_tokens)
    piece = chunk.choices[0].delta.content if chunk.choices else None
    if not piece:
        return False
    if state.first_token_at is None:
        state.first_token_at = time.monotonic()
        metrics.llm_first_token(state.first_token_at - started)
    state.raw += piece
    return True
