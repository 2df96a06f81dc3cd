"""How a streamed reply ends: saved, discarded after a takeover, cancelled, or failed over
to the fallback message."""

import logging
import time

from conversations import services
from conversations.bot_messages import bot_text
from conversations.events import reply_end_event
from conversations.models import Message
from conversations.replies.context import (
    OutputBlocked,
    ReplyContext,
    StreamState,
    reply_event_publish,
)
from conversations.services.llm_replies import REAPED_CANCEL_REASON
from helpdesk import metrics
from helpdesk.db_async import database_sync_to_async

# One logger for the whole reply path: operators filter on it.
logger = logging.getLogger("conversations.replies")


class LLMNotConfigured(Exception):
    """No OPENAI_API_KEY / OPENAI_BASE_URL: the LLM tier hands over to humans."""


class EmptyReply(Exception):
    """The model finished without saying anything."""


async def stream_finished(context: ReplyContext, state: StreamState, started: float) -> str:
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
        await reply_event_publish(context, reply_end_event(reply_id=context.reply_id, message=None))
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


async def stream_cancelled(context: ReplyContext, state: StreamState, *, reason: str) -> str:
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
        await reply_event_publish(context, reply_end_event(reply_id=context.reply_id, message=None))
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


async def stream_failed(context: ReplyContext, state: StreamState, error: BaseException) -> str:
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
        await reply_event_publish(context, reply_end_event(reply_id=context.reply_id, message=None))
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
