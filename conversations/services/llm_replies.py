"""Reserving, saving and failing streamed LLM replies, with ownership re-checked under lock."""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.bot_messages import bot_text
from conversations.broadcast import broadcast_after_commit, reply_cancel_after_commit
from conversations.events import reply_end_event, state_event
from conversations.models import Conversation, Message
from conversations.services.common import (
    conversation_updated_after_commit,
    human_needed_mark,
    knowledge_gap_after_commit,
    locked_if_present,
    system_message_create,
)
from helpdesk import metrics
from helpdesk.models import Site
from helpdesk.webhooks.services import webhook_conversation_emit

logger = logging.getLogger(__name__)

State = Conversation.State

# How long past its Site's time limit a pending reply may stay pending before
# the watchdog calls its streamer dead. The stream's own clock starts a little
# after the reservation (queueing, loading the context, kb matching) and saving
# takes a moment: the margin covers that, so a live stream always ends (saved
# or failed by its own timeout) before the watchdog would touch it.
REAP_MARGIN_SECONDS = 5
REAP_REASON = "LLM reply timed out (worker lost)"
# The cancel reason the stream sees if it was somehow still alive: the watchdog
# has already ended the reply on every screen, so it must publish nothing more.
REAPED_CANCEL_REASON = "reaped"


@transaction.atomic
def reply_pending_begin(*, conversation_id: int) -> str | None:
    """Reserve the conversation for a new LLM reply; None if the bot no longer owns it."""
    conversation = locked_if_present(conversation_id)
    if conversation is None or conversation.state != State.BOT:
        return None
    reply_id = uuid.uuid4()
    conversation.pending_reply_id = reply_id
    conversation.pending_reply_started_at = timezone.now()
    conversation.save(update_fields=["pending_reply_id", "pending_reply_started_at", "updated_at"])
    return str(reply_id)


def _reply_end_after_commit(conversation: Conversation, reply_id: str, message: Message) -> None:
    for audience, for_agents in (("visitor", False), ("agents", True)):
        broadcast_after_commit(
            conversation_id=conversation.pk,
            site_id=conversation.site_id,
            events=[reply_end_event(reply_id=reply_id, message=message, for_agents=for_agents)],
            audience=audience,  # type: ignore[arg-type]
        )
    conversation_updated_after_commit(conversation_id=conversation.pk, site_id=conversation.site_id)


@transaction.atomic
def llm_reply_save(
    *,
    conversation_id: int,
    reply_id: str,
    text: str,
    interrupted: bool = False,
    **fields: Any,
) -> Message | None:
    """Save a streamed reply, unless the bot lost the conversation or the reply was superseded.

    A finished reply must still be the pending one; an interrupted one (cut by
    the visitor's next message) is kept as long as the bot still owns the
    conversation. After a takeover nothing is saved.
    """
    conversation = locked_if_present(conversation_id)
    if conversation is None or conversation.state != State.BOT:
        return None
    is_current = str(conversation.pending_reply_id) == reply_id
    if not is_current and not interrupted:
        return None
    if is_current:
        conversation.pending_reply_id = None
        conversation.pending_reply_started_at = None
    conversation.last_activity_at = timezone.now()
    conversation.save(
        update_fields=[
            "pending_reply_id",
            "pending_reply_started_at",
            "last_activity_at",
            "updated_at",
        ]
    )
    message = system_message_create(
        conversation=conversation,
        text=text,
        author=Message.Author.BOT,
        source=Message.Source.LLM,
        reply_id=reply_id,
        interrupted=interrupted,
        broadcast=False,
        **fields,
    )
    _reply_end_after_commit(conversation, reply_id, message)
    metrics.reply_counted("llm")
    return message


@transaction.atomic
def llm_reply_fail(
    *, conversation_id: int, reply_id: str, reason: str, fallback_text: str
) -> Message | None:
    """The LLM failed: a polite fallback, and the conversation waits for a human."""
    conversation = locked_if_present(conversation_id)
    if (
        conversation is None
        or conversation.state != State.BOT
        or str(conversation.pending_reply_id) != reply_id
    ):
        return None
    conversation.pending_reply_id = None
    conversation.pending_reply_started_at = None
    conversation.state = State.WAITING
    conversation.escalation_reason = reason[:200]
    conversation.waiting_since = timezone.now()
    human_needed_mark(conversation, reason=reason)
    conversation.last_activity_at = timezone.now()
    conversation.save()
    webhook_conversation_emit(conversation=conversation, event="conversation.escalated")
    message = system_message_create(
        conversation=conversation,
        text=fallback_text,
        author=Message.Author.BOT,
        source=Message.Source.SYSTEM,
        reply_id=reply_id,
        broadcast=False,
    )
    _reply_end_after_commit(conversation, reply_id, message)
    metrics.reply_counted("fallback")
    knowledge_gap_after_commit(conversation)
    broadcast_after_commit(
        conversation_id=conversation.pk,
        site_id=conversation.site_id,
        events=[state_event(conversation)],
    )
    from conversations.services.ownership import conversation_auto_assign

    transaction.on_commit(lambda: conversation_auto_assign(conversation_id=conversation_id))
    return message


def llm_reply_abandon(*, conversation_id: int, reply_id: str, reason: str) -> Message | None:
    """The streamer is going away (its process shuts down): hand the reply over now.

    The visitor gets the fallback and the conversation waits for a human at
    once, rather than after the stale-reply watchdog's timeout. None if the
    reply is no longer the pending one (it finished, or a human took over).
    """
    conversation = (
        Conversation.objects.select_related("site", "visitor").filter(pk=conversation_id).first()
    )
    if conversation is None:
        return None  # deleted meanwhile: nobody to hand over to
    return llm_reply_fail(
        conversation_id=conversation_id,
        reply_id=reply_id,
        reason=reason,
        fallback_text=bot_text(
            "fallback", language=conversation.visitor.language, site=conversation.site
        ),
    )


def _site_cached(sites: dict[int, Site], site_id: int) -> Site | None:
    if site_id not in sites:
        sites[site_id] = Site.objects.filter(pk=site_id).first()
    return sites[site_id]


def replies_reap_stale(*, now: datetime | None = None) -> list[int]:
    """Fail every pending reply older than its Site's limit: whatever streamed it is gone.

    A live stream always ends itself within its Site's time limits (saving the
    reply or failing to the fallback), so a reply still pending after
    `llm_timeout_seconds + REAP_MARGIN_SECONDS` belongs to a streamer that
    died (a worker SIGKILLed or OOM-killed, a web process restarted in the
    embedded mode) or never started (no worker took the task). Without this
    the visitor would watch a half-written reply forever and no agent would be
    asked to step in. Not atomic as a whole: each reply is failed in its own
    transaction, so one conversation's lock never holds up the others.
    """
    now = now or timezone.now()
    # Every Site limit is at least 0 s, so anything younger than the margin is
    # certainly alive: the database skips the streams that have just started.
    candidates = (
        Conversation.objects.filter(
            state=State.BOT,
            pending_reply_id__isnull=False,
            pending_reply_started_at__lt=now - timedelta(seconds=REAP_MARGIN_SECONDS),
        )
        .order_by("pending_reply_started_at")
        .values_list(
            "id",
            "pending_reply_id",
            "pending_reply_started_at",
            "visitor__language",
            "site_id",
            "site__llm_timeout_seconds",
            "site__llm_first_token_timeout_seconds",
        )
    )
    reaped: list[int] = []
    sites: dict[int, Site] = {}
    for row in candidates:
        conversation_id, reply_id, started_at, language, site_id, timeout, first_token = row
        # A stream waits up to the first-token limit before its first token,
        # so a Site configured with that one the larger is bounded by it.
        limit = max(timeout, first_token) + REAP_MARGIN_SECONDS
        if started_at is None or started_at > now - timedelta(seconds=limit):
            continue  # (never None here: the query asked for an older start)
        try:
            message = _reply_reap(
                conversation_id=conversation_id,
                reply_id=str(reply_id),
                fallback_text=bot_text(
                    "fallback", language=language, site=_site_cached(sites, site_id)
                ),
            )
        except Conversation.DoesNotExist:
            continue  # deleted since the query: nothing left to fail
        if message is not None:
            metrics.llm_error("worker_lost")
            age = (now - started_at).total_seconds()
            logger.warning(
                "tier=llm decision=fallback reason=%r conversation=%s reply=%s age_s=%.1f",
                REAP_REASON,
                conversation_id,
                reply_id,
                age,
                extra={
                    "tier": "llm",
                    "decision": "fallback",
                    "reason": REAP_REASON,
                    "conversation_id": conversation_id,
                    "reply_id": str(reply_id),
                    "age_s": round(age, 1),
                },
            )
            reaped.append(conversation_id)
    return reaped


@transaction.atomic
def _reply_reap(*, conversation_id: int, reply_id: str, fallback_text: str) -> Message | None:
    """Fail one reply; None if it finished, was superseded or lost the bot meanwhile.

    llm_reply_fail re-checks, under the row lock, that this very reply is
    still the pending one, so a stream that saved its reply a moment ago (or
    a newer reply started since the query) is left alone.
    """
    message = llm_reply_fail(
        conversation_id=conversation_id,
        reply_id=reply_id,
        reason=REAP_REASON,
        fallback_text=fallback_text,
    )
    if message is not None:
        # Normally nobody is listening (the streamer is dead). If the streamer
        # was only stalled, say a hung host, this stops it before it publishes
        # more deltas after the reply already ended on every screen.
        reply_cancel_after_commit(
            conversation_id=conversation_id, reply_id=reply_id, reason=REAPED_CANCEL_REASON
        )
    return message
