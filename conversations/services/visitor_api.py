"""The visitor API's writes: the socket's `hello`/`identify`, `message` and `human.request`
over HTTP, through the same services and the same reply pipeline."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conversations import limits
from conversations.models import Conversation, Message, Visitor
from conversations.services.visitors import (
    visitor_identify,
    visitor_message_receive,
    visitor_resume,
)
from conversations.visitor_tokens import visitor_token_issue
from helpdesk.models import Site

logger = logging.getLogger(__name__)

IDENTITY_FIELDS = ("user_id", "email", "name", "user_hash")


@dataclass(frozen=True)
class VisitorStarted:
    visitor: Visitor
    token: str
    created: bool


def visitor_api_start(
    *,
    site: Site,
    visitor: Visitor | None,
    details: dict[str, Any],
    user_agent: str = "",
    ip_address: str | None = None,
) -> VisitorStarted:
    """A new visitor, or the given one resumed, with the widget's hello and identify applied."""
    token = (
        visitor_token_issue(anonymous_id=visitor.anonymous_id, site_id=site.pk) if visitor else None
    )
    session = visitor_resume(
        site=site,
        token=token,
        page={"url": details.get("page_url"), "referrer": details.get("referrer")},
        language=details.get("language", ""),
        user_agent=user_agent,
        ip_address=ip_address,
    )
    current = session.visitor
    identity = {key: details[key] for key in IDENTITY_FIELDS if details.get(key)}
    if identity or details.get("attributes"):
        if details.get("attributes"):
            identity["attributes"] = details["attributes"]
        identified = visitor_identify(visitor=current, attributes=identity)
        current = identified.visitor
    return VisitorStarted(
        visitor=current,
        token=visitor_token_issue(anonymous_id=current.anonymous_id, site_id=site.pk),
        created=visitor is None and current.pk == session.visitor.pk,
    )


@dataclass(frozen=True)
class MessagePosted:
    message: Message | None
    duplicate: bool = False
    retry_after: int = 0  # > 0: refused by the rate limit, nothing saved


def visitor_api_message_post(
    *,
    visitor: Visitor,
    client_id: str,
    text: str,
    ip_address: str | None,
    attachment_ids: Sequence[int] = (),
) -> MessagePosted:
    """Save a visitor message once per client_id, then route it as the socket does."""
    from conversations.pipeline import reply_pipeline_run

    # A retry of a saved message is answered even when the visitor is over the limit.
    existing = (
        Message.objects.filter(conversation__visitor=visitor, client_id=client_id)
        .select_related("agent")
        .first()
    )
    if existing is not None:
        return MessagePosted(message=existing, duplicate=True)
    verdict = limits.visitor_message_allowed(
        visitor_key=str(visitor.anonymous_id), ip_address=ip_address
    )
    if not verdict.allowed:
        return MessagePosted(message=None, retry_after=verdict.retry_after)
    received = visitor_message_receive(
        visitor=visitor, client_id=client_id, text=text, attachment_ids=attachment_ids
    )
    # A file alone is not a question the bot can read (as on the socket).
    if not received.duplicate and received.message.text:
        try:
            reply_pipeline_run(
                message=received.message, site=visitor.site, language=visitor.language
            )
        except Exception:
            # The message is saved (and acked by the answer), as on the socket, where the
            # ack goes out before the pipeline runs: a failure here must not make the
            # client send it again; agents see it in the queue.
            logger.exception("reply pipeline failed for message %s", received.message.pk)
    return MessagePosted(message=received.message, duplicate=received.duplicate)


def visitor_api_human_request(*, visitor: Visitor, conversation: Conversation) -> Conversation:
    """ "Talk to a person": the open conversation waits for a human (already: unchanged)."""
    from conversations.pipeline import human_request

    human_request(conversation_id=conversation.pk, language=visitor.language)
    conversation.refresh_from_db()
    return conversation
