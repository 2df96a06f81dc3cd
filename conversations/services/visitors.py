"""Writes on the visitor's side: identity, their messages, what they have seen."""

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.models import Conversation, Message, Visitor
from conversations.services.attachments import attachments_link
from conversations.services.common import (
    agent_notify_after_commit,
    message_broadcast_after_commit,
    supersede_pending_reply,
)
from conversations.visitor_tokens import visitor_token_issue, visitor_token_read
from helpdesk import metrics
from helpdesk.models import Site
from helpdesk.webhooks.services import webhook_conversation_emit, webhook_message_emit
from kb.filtering import sensitive_text_screen

BLOCKED_TEXT = "[message blocked by the content filter]"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


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
    location: str = "",
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
        "location": _clip(location, 120),
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


def visitor_message_receive(
    *, visitor: Visitor, client_id: str, text: str, attachment_ids: Sequence[int] = ()
) -> ReceivedMessage:
    """Save a visitor's message once (a resend with the same client_id returns the saved one).

    `attachment_ids`: the visitor's own unsent uploads; any other id raises
    AttachmentRefused and nothing is saved.
    """
    try:
        return _visitor_message_save(
            visitor=visitor, client_id=client_id, text=text, attachment_ids=attachment_ids
        )
    except IntegrityError:
        # Two sockets raced with the same client_id: the other one saved it.
        existing = Message.objects.get(conversation__visitor=visitor, client_id=client_id)
        return ReceivedMessage(message=existing, duplicate=True)


@transaction.atomic
def _visitor_message_save(
    *, visitor: Visitor, client_id: str, text: str, attachment_ids: Sequence[int]
) -> ReceivedMessage:
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
        webhook_conversation_emit(conversation=conversation, event="conversation.created")
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
    attachments_link(message=message, attachment_ids=attachment_ids, visitor=visitor)
    webhook_message_emit(message=message)
    supersede_pending_reply(conversation, reason="superseded")
    conversation.last_activity_at = now
    conversation.save(
        update_fields=[
            "last_activity_at",
            "pending_reply_id",
            "pending_reply_started_at",
            "updated_at",
        ]
    )
    _capture_email(visitor, conversation, stored)
    metrics.message_created(message)
    message_broadcast_after_commit(message)
    if conversation.state == Conversation.State.HUMAN and conversation.assigned_agent_id:
        agent_notify_after_commit(
            agent_id=conversation.assigned_agent_id,
            site_id=conversation.site_id,
            conversation_id=conversation.pk,
            kind="message",
            text=stored[:140],
        )
    return ReceivedMessage(message=message, duplicate=False)


def _capture_email(visitor: Visitor, conversation: Conversation, text: str) -> None:
    """A waiting visitor asked for their email (offline hours) usually just types it."""
    if visitor.email or conversation.state != Conversation.State.WAITING:
        return
    found = EMAIL.search(text)
    if found:
        visitor.email = found.group(0)[:254]
        visitor.save(update_fields=["email"])


def conversation_mark_seen(*, conversation_id: int, visitor: Visitor, message_id: int) -> None:
    Conversation.objects.filter(
        pk=conversation_id, visitor=visitor, visitor_last_seen_id__lt=message_id
    ).update(visitor_last_seen_id=message_id)


def identity_hash(*, secret: str, user_id: str) -> str:
    """What the host site's server computes: HMAC-SHA256 of user_id with the Site's secret."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Identified:
    visitor: Visitor
    verified: bool
    switched: bool  # the visitor is now an earlier record of the same verified person


@transaction.atomic
def visitor_identify(*, visitor: Visitor, attributes: dict[str, Any]) -> Identified:
    """Identity passed by the host page (Helpdesk.identify).

    With a valid user_hash the identity is verified, and a verified person seen
    before (another browser, another device) continues as that visitor, their
    open conversation included. Without one the attributes are kept as
    unverified: they never merge visitors and never overwrite a verified identity.
    """
    site = visitor.site
    user_id = _clip(attributes.get("user_id"), 200)
    user_hash = attributes.get("user_hash")
    verified = bool(
        user_id
        and isinstance(user_hash, str)
        # Bytes: compare_digest refuses str with non-ASCII characters (a forged hash may have them).
        and hmac.compare_digest(
            identity_hash(secret=site.identity_secret, user_id=user_id).encode(),
            user_hash.strip().lower().encode(),
        )
    )
    target, switched = visitor, False
    if verified:
        earlier = (
            Visitor.objects.select_for_update()
            .filter(site=site, external_id=user_id, identity_verified=True)
            .exclude(pk=visitor.pk)
            .order_by("created_at")
            .first()
        )
        if earlier is not None:
            _move_open_conversation(source=visitor, target=earlier)
            target, switched = earlier, True
        target.external_id = user_id
        target.identity_verified = True
    elif visitor.identity_verified:
        return Identified(visitor=visitor, verified=False, switched=False)
    else:
        target.external_id = user_id or target.external_id
    email = _clip(attributes.get("email"), 254)
    if "@" in email:
        target.email = email
    target.name = _clip(attributes.get("name"), 200) or target.name
    extra = attributes.get("attributes")
    if isinstance(extra, dict):
        target.attributes = {str(k)[:100]: str(v)[:500] for k, v in list(extra.items())[:50]}
    target.save()
    return Identified(visitor=target, verified=verified, switched=switched)


def _move_open_conversation(*, source: Visitor, target: Visitor) -> None:
    """Bring the anonymous session's open conversation along, unless the person has one open."""
    open_states = [Conversation.State.BOT, Conversation.State.WAITING, Conversation.State.HUMAN]
    if Conversation.objects.filter(visitor=target, state__in=open_states).exists():
        return
    Conversation.objects.filter(visitor=source, state__in=open_states).update(visitor=target)
