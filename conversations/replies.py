"""Streaming one LLM reply: the single coroutine both dispatchers run.

In the embedded mode it runs as an asyncio task in the web process; with
Redis it runs in a Celery worker. Either way each delta is published to the
conversation's group, a cancel on the conversation's control group stops it
at once, and ownership is checked again before anything is saved.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field

import openai
from channels.layers import get_channel_layer
from django.conf import settings
from openai import AsyncOpenAI

from conversations import services
from conversations.bot_messages import bot_text
from conversations.broadcast import CANCEL_HANDLER, conversation_event_publish, reply_control_group
from conversations.events import reply_delta_event, reply_end_event, reply_start_event
from conversations.leak_guard import LeakGuard
from conversations.llm import GroundingEntry, llm_client, llm_configured, prompt_messages
from conversations.models import Conversation, Message
from conversations.selectors import conversation_recent_turns
from conversations.services.llm_replies import REAPED_CANCEL_REASON
from helpdesk import metrics
from helpdesk.db_async import database_sync_to_async
from kb.filtering import Screener
from kb.matching import kb_match

logger = logging.getLogger(__name__)


@dataclass
class ReplyContext:
    conversation_id: int
    site_id: int
    reply_id: str
    language: str
    model: str
    temperature: float
    max_tokens: int
    timeout: float
    first_token_timeout: float
    messages: list[dict[str, str]]
    screener: Screener
    leak_guard: LeakGuard
    # What the visitor is told when this reply fails, in their language and
    # the Site's wording, keyed like bot_messages.TEXTS ("fallback", "no_llm").
    failure_texts: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamState:
    raw: str = ""
    emitted: int = 0
    seq: int = 0
    first_token_at: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    shown: list[str] = field(default_factory=list)

    @property
    def shown_text(self) -> str:
        return "".join(self.shown)


class OutputBlocked(Exception):
    """The LLM wrote something the sensitive-word filter refuses to show."""


def reply_context_load(*, conversation_id: int, reply_id: str) -> ReplyContext | None:
    conversation = (
        Conversation.objects.select_related("site", "visitor").filter(pk=conversation_id).first()
    )
    if conversation is None or not _is_pending(conversation, reply_id):
        return None
    site = conversation.site
    turns = conversation_recent_turns(conversation_id=conversation_id)
    question = next((t.content for t in reversed(turns) if t.role == "user"), "")
    match = kb_match(site=site, text=question)
    grounding = [
        GroundingEntry(c.entry_id, c.question, c.answer)
        for c in match.candidates
        if c.loose >= site.kb_ground_threshold
    ]
    return ReplyContext(
        conversation_id=conversation_id,
        site_id=site.pk,
        reply_id=reply_id,
        language=conversation.visitor.language,
        model=site.effective_llm_model,
        temperature=site.llm_temperature,
        max_tokens=site.llm_max_tokens,
        timeout=float(site.llm_timeout_seconds),
        first_token_timeout=float(site.llm_first_token_timeout_seconds),
        messages=prompt_messages(
            system_prompt=site.system_prompt, grounding=grounding, turns=turns
        ),
        screener=Screener.for_site(site_id=site.pk),
        leak_guard=LeakGuard.for_prompt(site.system_prompt),
        failure_texts={
            key: bot_text(key, language=conversation.visitor.language, site=site)
            for key in ("fallback", "no_llm")
        },
    )


def _is_pending(conversation: Conversation, reply_id: str) -> bool:
    return (
        conversation.state == Conversation.State.BOT
        and str(conversation.pending_reply_id) == reply_id
    )


def reply_is_pending(*, conversation_id: int, reply_id: str) -> bool:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    return conversation is not None and _is_pending(conversation, reply_id)


async def llm_reply_stream(*, conversation_id: int, reply_id: str) -> str:
    """Stream, save and broadcast one reply. Returns the outcome, for logs and tests."""
    context = await database_sync_to_async(reply_context_load)(
        conversation_id=conversation_id, reply_id=reply_id
    )
    if context is None:
        logger.info(
            "reply %s for conversation %s is stale; not started",
            reply_id,
            conversation_id,
            extra={"tier": "llm", "decision": "stale", "conversation_id": conversation_id},
        )
        return "stale"
    layer = get_channel_layer()
    control = await layer.new_channel()
    group = reply_control_group(conversation_id)
    await layer.group_add(group, control)
    # A cancel sent before the subscription above would be missed: look again.
    if not await database_sync_to_async(reply_is_pending)(
        conversation_id=conversation_id, reply_id=reply_id
    ):
        await layer.group_discard(group, control)
        return "stale"
    try:
        return await _stream_with_cancel(context, layer, control)
    finally:
        await layer.group_discard(group, control)


async def _publish(context: ReplyContext, event: dict) -> None:
    await conversation_event_publish(
        conversation_id=context.conversation_id, site_id=context.site_id, event=event
    )


async def _wait_for_cancel(layer, control: str, reply_id: str) -> str:
    while True:
        message = await layer.receive(control)
        if message.get("type") == CANCEL_HANDLER and message.get("reply_id") == reply_id:
            return str(message.get("reason") or "cancelled")


async def _stream_with_cancel(context: ReplyContext, layer, control: str) -> str:
    started = time.monotonic()
    state = StreamState()
    await _publish(
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
        return await _cancelled(context, state, reason=cancel_task.result())
    cancel_task.cancel()
    await asyncio.gather(cancel_task, return_exceptions=True)
    error = stream_task.exception()
    if error is not None:
        return await _failed(context, state, error)
    return await _finished(context, state, started)


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
    chunks = aiter(stream)
    holdback = context.screener.holdback
    coalesce = settings.LLM_DELTA_COALESCE_MS / 1000
    last_publish = 0.0
    dirty = False  # text received but not yet offered to _emit
    # One read in flight at a time, kept across flush timeouts: cancelling a
    # stream's anext() would break the stream.
    reading: asyncio.Future | None = None
    try:
        while True:
            if state.first_token_at is None:
                budget = context.first_token_timeout - (time.monotonic() - started)
            else:
                budget = context.timeout - (time.monotonic() - started)
            if budget <= 0:
                raise TimeoutError("LLM reply exceeded its time limit")
            if reading is None:
                reading = asyncio.ensure_future(anext(chunks))
            flush_in = last_publish + coalesce - time.monotonic() if dirty else budget
            done, _ = await asyncio.wait({reading}, timeout=max(0.0, min(budget, flush_in)))
            if not done:
                if dirty and time.monotonic() >= last_publish + coalesce:
                    last_publish, dirty = await _flush(context, state, holdback)
                continue
            finished, reading = reading, None
            try:
                chunk = finished.result()
            except StopAsyncIteration:
                break
            if not await _chunk_take(context, state, chunk, started):
                continue
            dirty = True
            # Under load pieces arrive faster than this: they go out together,
            # one frame per ~coalesce seconds instead of one per token.
            if time.monotonic() - last_publish >= coalesce:
                last_publish, dirty = await _flush(context, state, holdback)
    finally:
        if reading is not None and not reading.done():
            reading.cancel()
    if not state.raw.strip():
        raise EmptyReply
    await _emit(context, state, upto=len(state.raw))


async def _flush(context: ReplyContext, state: StreamState, holdback: int) -> tuple[float, bool]:
    await _emit(
        context,
        state,
        upto=len(state.raw) - max(holdback, context.leak_guard.holdback(state.raw)),
    )
    return time.monotonic(), False


async def _chunk_take(context: ReplyContext, state: StreamState, chunk, started: float) -> bool:
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


async def _emit(context: ReplyContext, state: StreamState, *, upto: int) -> None:
    """Send the screened text up to `upto`, holding back what might still be a word's start."""
    screened = context.screener.screen(state.raw)
    if screened.action in ("block", "escalate"):
        raise OutputBlocked(", ".join(screened.matches))
    leak = context.leak_guard.leaked(state.raw)
    if leak:
        raise OutputBlocked(leak)
    if upto <= state.emitted:
        return
    piece = screened.text[state.emitted : upto]
    state.emitted = upto
    state.shown.append(piece)
    await _publish(context, reply_delta_event(reply_id=context.reply_id, seq=state.seq, text=piece))
    state.seq += 1


class LLMNotConfigured(Exception):
    """No OPENAI_API_KEY / OPENAI_BASE_URL: the LLM tier hands over to humans."""


class EmptyReply(Exception):
    """The model finished without saying anything."""


async def _finished(context: ReplyContext, state: StreamState, started: float) -> str:
    message: Message | None = await database_sync_to_async(services.llm_reply_save)(
        conversation_id=context.conversation_id,
        reply_id=context.reply_id,
        text=state.shown_text,
        prompt_tokens=state.prompt_tokens,
        completion_tokens=state.completion_tokens,
        latency_ms=int((time.monotonic() - started) * 1000),
    )
    ttft = int((state.first_token_at - started) * 1000) if state.first_token_at else None
    if message is None:
        # Ownership moved while we streamed (a takeover): close the bubble, save nothing.
        await _publish(context, reply_end_event(reply_id=context.reply_id, message=None))
        logger.info(
            "reply %s discarded: conversation %s changed owner",
            context.reply_id,
            context.conversation_id,
            extra={
                "tier": "llm",
                "decision": "discarded",
                "conversation_id": context.conversation_id,
                "reply_id": context.reply_id,
            },
        )
        return "discarded"
    logger.info(
        "tier=llm decision=answered conversation=%s reply=%s chars=%s deltas=%s "
        "ttft_ms=%s latency_ms=%s",
        context.conversation_id,
        context.reply_id,
        len(message.text),
        state.seq,
        ttft,
        message.latency_ms,
        extra={
            "tier": "llm",
            "decision": "answered",
            "conversation_id": context.conversation_id,
            "reply_id": context.reply_id,
            "chars": len(message.text),
            "deltas": state.seq,
            "ttft_ms": ttft,
            "latency_ms": message.latency_ms,
            "prompt_tokens": state.prompt_tokens,
            "completion_tokens": state.completion_tokens,
        },
    )
    return "saved"


async def _cancelled(context: ReplyContext, state: StreamState, *, reason: str) -> str:
    message = None
    if reason == "superseded" and state.shown_text.strip():
        message = await database_sync_to_async(services.llm_reply_save)(
            conversation_id=context.conversation_id,
            reply_id=context.reply_id,
            text=state.shown_text,
            interrupted=True,
        )
    # After a reap the watchdog already ended the reply on every screen.
    if message is None and reason != REAPED_CANCEL_REASON:
        await _publish(context, reply_end_event(reply_id=context.reply_id, message=None))
    logger.info(
        "tier=llm decision=cancelled reason=%s conversation=%s reply=%s saved=%s",
        reason,
        context.conversation_id,
        context.reply_id,
        message is not None,
        extra={
            "tier": "llm",
            "decision": "cancelled",
            "reason": reason,
            "conversation_id": context.conversation_id,
            "reply_id": context.reply_id,
            "saved": message is not None,
        },
    )
    return f"cancelled:{reason}"


async def _failed(context: ReplyContext, state: StreamState, error: BaseException) -> str:
    reason = {
        LLMNotConfigured: "no LLM configured",
        OutputBlocked: "LLM output blocked by the filter",
        EmptyReply: "LLM returned nothing",
    }.get(type(error), f"LLM error: {type(error).__name__}")
    key = "no_llm" if isinstance(error, LLMNotConfigured) else "fallback"
    metrics.llm_error(error)
    message = await database_sync_to_async(services.llm_reply_fail)(
        conversation_id=context.conversation_id,
        reply_id=context.reply_id,
        reason=reason,
        fallback_text=context.failure_texts.get(key) or bot_text(key, language=context.language),
    )
    if message is None:
        await _publish(context, reply_end_event(reply_id=context.reply_id, message=None))
    log = logger.info if isinstance(error, LLMNotConfigured) else logger.warning
    log(
        "tier=llm decision=fallback reason=%r error=%r conversation=%s reply=%s shown_chars=%s",
        reason,
        error,
        context.conversation_id,
        context.reply_id,
        state.emitted,
        extra={
            "tier": "llm",
            "decision": "fallback",
            "reason": reason,
            "error": repr(error),
            "error_kind": metrics.llm_error_kind(error),
            "conversation_id": context.conversation_id,
            "reply_id": context.reply_id,
            "shown_chars": state.emitted,
        },
    )
    return "fallback"
