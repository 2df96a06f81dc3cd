"""Writes: visitors, messages and the conversation state machine.

Every function is atomic where state changes together and broadcasts only
after commit, so no party ever sees an event that was rolled back.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.broadcast import broadcast_after_commit, reply_cancel_after_commit
from conversations.events import message_event, reply_end_event, state_event
from conversations.models import Conversation, Message, Visitor
from conversations.selectors import turns_cache_key
from conversations.visitor_tokens import visitor_token_issue, visitor_token_read
from helpdesk.models import Site
from kb.filtering import sensitive_text_screen

BLOCKED_TEXT = "[message blocked by the content filter]"


@dataclass(frozen=True)
class VisitorSession:
    visitor: Visitor
    token: str
    token_rejected: bool


def _clip(value: Any, length: int) -> str:
    return str(value or "")[:length]


def visitor_resume(
    *,
    site: Site,
    token: str | None,
    page: dict[str, Any] | None = None,
    language: str = "",
    user_agent: str = "",
    ip_address: str | None = None,
) -> VisitorSession:
    """The visitor this token names on this site, or a new one (and a new token)."""
    page = page or {}
    visitor = None
    claim = visitor_token_read(token=token, site_id=site.pk) if token else None
    if claim is not None:
        visitor = Visitor.objects.filter(anonymous_id=claim.anonymous_id, site=site).first()
    details = {
        "page_url": _clip(page.get("url"), 2000),
        "referrer": _clip(page.get("referrer"), 2000),
        "language": _clip(language, 35),
        "user_agent": _clip(user_agent, 500),
        "ip_address": ip_address,
    }
    if visitor is None:
        visitor = Visitor.objects.create(site=site, **details)
    else:
        for field, value in details.items():
            if value:
                setattr(visitor, field, value)
        visitor.last_seen_at = timezone.now()
        visitor.save()
    return VisitorSession(
        visitor=visitor,
        token=visitor_token_issue(anonymous_id=visitor.anonymous_id, site_id=site.pk),
        token_rejected=bool(token) and claim is None,
    )


@dataclass(frozen=True)
class ReceivedMessage:
    message: Message
    duplicate: bool


def _invalidate_turns_after_commit(conversation_id: int) -> None:
    transaction.on_commit(lambda: cache.delete(turns_cache_key(conversation_id)))


def _supersede_pending_reply(conversation: Conversation, *, reason: str) -> None:
    """Cancel the LLM reply in flight, if any: it may no longer be saved as current."""
    if conversation.pending_reply_id is None:
        return
    reply_id = str(conversation.pending_reply_id)
    conversation.pending_reply_id = None
    conversation.pending_reply_started_at = None
    reply_cancel_after_commit(conversation_id=conversation.pk, reply_id=reply_id, reason=reason)


def visitor_message_receive(*, visitor: Visitor, client_id: str, text: str) -> ReceivedMessage:
    """Save a visitor's message once (a resend with the same client_id returns the saved one)."""
    try:
        return _visitor_message_save(visitor=visitor, client_id=client_id, text=text)
    except IntegrityError:
        # Two sockets raced with the same client_id: the other one saved it.
        existing = Message.objects.get(conversation__visitor=visitor, client_id=client_id)
        return ReceivedMessage(message=existing, duplicate=True)


@transaction.atomic
def _visitor_message_save(*, visitor: Visitor, client_id: str, text: str) -> ReceivedMessage:
    existing = (
        Message.objects.filter(conversation__visitor=visitor, client_id=client_id)
        .select_related("conversation")
        .first()
    )
    if existing is not None:
        return ReceivedMessage(message=existing, duplicate=True)

    conversation = (
        Conversation.objects.select_for_update()
        .filter(visitor=visitor)
        .exclude(state=Conversation.State.CLOSED)
        .order_by("-created_at")
        .first()
    )
    now = timezone.now()
    if conversation is None:
        conversation = Conversation.objects.create(
            site_id=visitor.site_id, visitor=visitor, last_activity_at=now
        )
    screen = sensitive_text_screen(site_id=visitor.site_id, text=text)
    stored = BLOCKED_TEXT if screen.action == "block" else screen.text
    message = Message.objects.create(
        conversation=conversation,
        author_kind=Message.Author.VISITOR,
        source=Message.Source.VISITOR,
        text=stored,
        client_id=client_id,
        filter_action=screen.action if screen.changed else "",
    )
    _supersede_pending_reply(conversation, reason="superseded")
    conversation.last_activity_at = now
    conversation.save(
        update_fields=[
            "last_activity_at",
            "pending_reply_id",
            "pending_reply_started_at",
            "updated_at",
        ]
    )
    _invalidate_turns_after_commit(conversation.pk)
    broadcast_after_commit(
        conversation_id=conversation.pk,
        site_id=conversation.site_id,
        events=[message_event(message)],
    )
    return ReceivedMessage(message=message, duplicate=False)


def system_message_create(
    *,
    conversation: Conversation,
    text: str,
    author: str = Message.Author.SYSTEM,
    source: str = Message.Source.SYSTEM,
    broadcast: bool = True,
    **fields: Any,
) -> Message:
    """Save a message the server writes. Streamed replies pass broadcast=False: their
    `reply.end` event carries the saved message instead."""
    message = Message.objects.create(
        conversation=conversation, author_kind=author, source=source, text=text, **fields
    )
    _invalidate_turns_after_commit(conversation.pk)
    if broadcast:
        broadcast_after_commit(
            conversation_id=conversation.pk,
            site_id=conversation.site_id,
            events=[message_event(message)],
        )
    return message


@transaction.atomic
def bot_message_create(
    *, conversation: Conversation, text: str, source: str, **fields: Any
) -> Message:
    message = system_message_create(
        conversation=conversation, text=text, author=Message.Author.BOT, source=source, **fields
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=timezone.now())
    return message


def _locked(conversation_id: int) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation_id)


@transaction.atomic
def conversation_escalate(
    *, conversation_id: int, reason: str, notice: str | None = None
) -> Conversation | None:
    """bot -> waiting: a human is needed. Returns None when it was not the bot's to hand over."""
    conversation = _locked(conversation_id)
    if conversation.state != Conversation.State.BOT:
        return None
    _supersede_pending_reply(conversation, reason="escalated")
    conversation.state = Conversation.State.WAITING
    conversation.escalation_reason = reason[:200]
    conversation.waiting_since = timezone.now()
    conversation.save()
    if notice:
        system_message_create(conversation=conversation, text=notice)
    broadcast_after_commit(
        conversation_id=conversation.pk,
        site_id=conversation.site_id,
        events=[state_event(conversation)],
    )
    return conversation


@transaction.atomic
def conversation_close(*, conversation_id: int, reason: str = "") -> Conversation | None:
    """any -> closed."""
    conversation = _locked(conversation_id)
    if conversation.state == Conversation.State.CLOSED:
        return None
    _supersede_pending_reply(conversation, reason="closed")
    conversation.state = Conversation.State.CLOSED
    conversation.closed_at = timezone.now()
    if reason:
        conversation.escalation_reason = reason[:200]
    conversation.save()
    _invalidate_turns_after_commit(conversation.pk)
    broadcast_after_commit(
        conversation_id=conversation.pk,
        site_id=conversation.site_id,
        events=[state_event(conversation)],
    )
    return conversation


def conversations_close_idle(*, now: datetime | None = None) -> list[int]:
    """Close every open conversation idle for longer than its site's limit."""
    now = now or timezone.now()
    closed: list[int] = []
    for site in Site.objects.only("id", "idle_timeout_minutes"):
        cutoff = now - timedelta(minutes=site.idle_timeout_minutes)
        idle = Conversation.objects.filter(site=site, last_activity_at__lt=cutoff).exclude(
            state=Conversation.State.CLOSED
        )
        for conversation_id in idle.values_list("id", flat=True):
            if conversation_close(conversation_id=conversation_id, reason="idle"):
                closed.append(conversation_id)
    return closed


@transaction.atomic
def reply_pending_begin(*, conversation_id: int) -> str | None:
    """Reserve the conversation for a new LLM reply; None if the bot no longer owns it."""
    conversation = _locked(conversation_id)
    if conversation.state != Conversation.State.BOT:
        return None
    reply_id = uuid.uuid4()
    conversation.pending_reply_id = reply_id
    conversation.pending_reply_started_at = timezone.now()
    conversation.save(update_fields=["pending_reply_id", "pending_reply_started_at", "updated_at"])
    return str(reply_id)


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
    conversation = _locked(conversation_id)
    if conversation.state != Conversation.State.BOT:
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
    broadcast_after_commit(
        conversation_id=conversation.pk,
        site_id=conversation.site_id,
        events=[reply_end_event(reply_id=reply_id, message=message)],
    )
    return message


@transaction.atomic
def llm_reply_fail(
    *, conversation_id: int, reply_id: str, reason: str, fallback_text: str
) -> Message | None:
    """The LLM failed: a polite fallback, and the conversation waits for a human."""
    conversation = _locked(conversation_id)
    if (
        conversation.state != Conversation.State.BOT
        or str(conversation.pending_reply_id) != reply_id
    ):
        return None
    conversation.pending_reply_id = None
    conversation.pending_reply_started_at = None
    conversation.state = Conversation.State.WAITING
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
    broadcast_after_commit(
        conversation_id=conversation.pk,
        site_id=conversation.site_id,
        events=[reply_end_event(reply_id=reply_id, message=message), state_event(conversation)],
    )
    return message


def conversation_mark_seen(*, conversation_id: int, visitor: Visitor, message_id: int) -> None:
    Conversation.objects.filter(
        pk=conversation_id, visitor=visitor, visitor_last_seen_id__lt=message_id
    ).update(visitor_last_seen_id=message_id)


def visitor_identify(*, visitor: Visitor, attributes: dict[str, Any]) -> Visitor:
    """Store identity passed by the host page, as unverified (user_hash is not checked yet)."""
    visitor.external_id = _clip(attributes.get("user_id"), 200) or visitor.external_id
    email = _clip(attributes.get("email"), 254)
    if "@" in email:
        visitor.email = email
    visitor.name = _clip(attributes.get("name"), 200) or visitor.name
    extra = attributes.get("attributes")
    if isinstance(extra, dict):
        visitor.attributes = {str(k)[:100]: str(v)[:500] for k, v in list(extra.items())[:50]}
    visitor.identity_verified = False
    visitor.save()
    return visitor
