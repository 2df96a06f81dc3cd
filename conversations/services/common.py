"""Pieces every write shares: locking, message saving and the after-commit broadcasts."""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.broadcast import (
    GroupSend,
    agent_frame_after_commit,
    agent_frame_send,
    agent_group,
    broadcast_after_commit,
    conversation_event_sends,
    reply_cancel_after_commit,
    sends_after_commit,
    site_agents_group,
)
from conversations.events import agent_message_event, message_event
from conversations.models import Conversation, Message
from conversations.selectors import agents_watching, conversation_row
from helpdesk import metrics
from helpdesk.webhooks.services import webhook_message_emit

logger = logging.getLogger(__name__)


def locked(conversation_id: int) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation_id)


def locked_if_present(conversation_id: int) -> Conversation | None:
    """The conversation, locked; None if it was deleted (a reply may outlive it)."""
    return Conversation.objects.select_for_update().filter(pk=conversation_id).first()


def human_needed_mark(conversation: Conversation, *, reason: str) -> None:
    """Record the first time a human was needed; later escalations keep the first."""
    if conversation.human_needed_at is None:
        conversation.human_needed_at = timezone.now()
        conversation.human_needed_reason = reason[:200]


def supersede_pending_reply(conversation: Conversation, *, reason: str) -> None:
    """Cancel the LLM reply in flight, if any: it may no longer be saved as current."""
    if conversation.pending_reply_id is None:
        return
    reply_id = str(conversation.pending_reply_id)
    conversation.pending_reply_id = None
    conversation.pending_reply_started_at = None
    reply_cancel_after_commit(conversation_id=conversation.pk, reply_id=reply_id, reason=reason)


def conversation_updated_after_commit(*, conversation_id: int, site_id: int) -> None:
    """Agents' lists re-read the row once the change is committed."""
    if not agents_watching():
        return
    agent_frame_after_commit(
        group=site_agents_group(site_id),
        frame=lambda: _conversation_updated_frame(conversation_id),
    )


def _conversation_updated_frame(conversation_id: int) -> dict[str, Any]:
    return {
        "type": "conversation.updated",
        "conversation": conversation_row(conversation_id=conversation_id),
    }


def agent_notify_after_commit(*, agent_id: int | None, site_id: int, **frame: Any) -> None:
    """Ring one agent (a message in their conversation) or every agent of the site."""
    group = agent_group(agent_id) if agent_id else site_agents_group(site_id)
    agent_frame_after_commit(group=group, frame={"type": "notify", **frame})


def message_broadcast_after_commit(message: Message) -> None:
    """The visitor's event, the watching consoles' event and the inbox row, in one trip."""
    conversation_id, site_id = message.conversation_id, message.conversation.site_id
    sends = []
    if not message.is_internal:
        sends += conversation_event_sends(
            conversation_id=conversation_id,
            site_id=site_id,
            event=message_event(message),
            audience="visitor",
        )
    sends += conversation_event_sends(
        conversation_id=conversation_id,
        site_id=site_id,
        event=agent_message_event(message),
        audience="consoles_watching",
    )
    with_row = agents_watching()

    def after_commit() -> list[GroupSend]:
        if not with_row:
            return sends
        try:
            frame = _conversation_updated_frame(conversation_id)
        except Exception:
            # The events still go out: the inbox catches up on its next row or load.
            logger.exception("conversation row failed: conversation %s", conversation_id)
            return sends
        return [*sends, agent_frame_send(group=site_agents_group(site_id), frame=frame)]

    sends_after_commit(what=f"message {message.pk}", sends=after_commit)


def state_broadcast_after_commit(conversation: Conversation, *events: dict) -> None:
    broadcast_after_commit(
        conversation_id=conversation.pk, site_id=conversation.site_id, events=list(events)
    )
    conversation_updated_after_commit(conversation_id=conversation.pk, site_id=conversation.site_id)


def system_message_create(
    *,
    conversation: Conversation,
    text: str,
    author: str = Message.Author.SYSTEM,
    source: str = Message.Source.SYSTEM,
    broadcast: bool = True,
    webhook: bool = True,
    **fields: Any,
) -> Message:
    """Save a message the server writes. Streamed replies pass broadcast=False: their
    `reply.end` event carries the saved message instead. A caller that links files to
    the message passes broadcast=False and webhook=False and announces it once they are
    linked, so that both carry them."""
    message = Message.objects.create(
        conversation=conversation, author_kind=author, source=source, text=text, **fields
    )
    metrics.message_created(message)
    if webhook:
        webhook_message_emit(message=message)
    if broadcast:
        message_broadcast_after_commit(message)
    return message


# Without a savepoint: inside the pipeline's transaction (which holds the row lock)
# a savepoint is two more statements per answer, and an error here fails it anyway.
@transaction.atomic(savepoint=False)
def bot_message_create(
    *, conversation: Conversation, text: str, source: str, **fields: Any
) -> Message:
    message = system_message_create(
        conversation=conversation, text=text, author=Message.Author.BOT, source=source, **fields
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=timezone.now())
    return message


def knowledge_gap_after_commit(conversation: Conversation) -> None:
    """The visitor's latest question goes to the knowledge-gap list (an escalation)."""
    from kb.services import knowledge_gap_record

    def record() -> None:
        last = (
            Message.objects.filter(
                conversation_id=conversation.pk, author_kind=Message.Author.VISITOR
            )
            .exclude(filter_action="block")
            .order_by("-id")
            .values_list("id", "text")
            .first()
        )
        if last is not None:
            knowledge_gap_record(
                site_id=conversation.site_id,
                question=last[1],
                message_id=last[0],
                reason="escalated",
            )

    transaction.on_commit(record)
