"""Reserving, saving and failing streamed LLM replies, with ownership re-checked under lock."""

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.broadcast import broadcast_after_commit
from conversations.events import reply_end_event, state_event
from conversations.models import Conversation, Message
from conversations.services.common import (
    conversation_updated_after_commit,
    knowledge_gap_after_commit,
    locked,
    system_message_create,
)

State = Conversation.State


@transaction.atomic
def reply_pending_begin(*, conversation_id: int) -> str | None:
    """Reserve the conversation for a new LLM reply; None if the bot no longer owns it."""
    conversation = locked(conversation_id)
    if conversation.state != State.BOT:
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
    conversation = locked(conversation_id)
    if conversation.state != State.BOT:
        return None
    is_current = str(conversation.pending_reply_id) == reply_id
    if not is_current and not interrupted:
        return None
    if is_current:
        conversation.pending_reply_id = None
        conversation.pending_reply_started_at = None
    conversation.last_activity_at = timezone.now()
    conversation.save()
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
    return message


@transaction.atomic
def llm_reply_fail(
    *, conversation_id: int, reply_id: str, reason: str, fallback_text: str
) -> Message | None:
    """The LLM failed: a polite fallback, and the conversation waits for a human."""
    conversation = locked(conversation_id)
    if conversation.state != State.BOT or str(conversation.pending_reply_id) != reply_id:
        return None
    conversation.pending_reply_id = None
    conversation.pending_reply_started_at = None
    conversation.state = State.WAITING
    conversation.escalation_reason = reason[:200]
    conversation.waiting_since = timezone.now()
    conversation.last_activity_at = timezone.now()
    conversation.save()
    message = system_message_create(
        conversation=conversation,
        text=fallback_text,
        author=Message.Author.BOT,
        source=Message.Source.SYSTEM,
        reply_id=reply_id,
        broadcast=False,
    )
    _reply_end_after_commit(conversation, reply_id, message)
    knowledge_gap_after_commit(conversation)
    broadcast_after_commit(
        conversation_id=conversation.pk,
        site_id=conversation.site_id,
        events=[state_event(conversation)],
    )
    from conversations.services.ownership import conversation_auto_assign

    transaction.on_commit(lambda: conversation_auto_assign(conversation_id=conversation_id))
    return message
