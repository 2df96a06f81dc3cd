"""The visitor API's reads: only this visitor's conversations, only what visitors may see."""

from typing import Any

from conversations import selectors
from conversations.events import ConversationPayload, conversation_payload, message_payload
from conversations.models import Conversation, Visitor
from helpdesk.models import Site


def visitor_current_conversation(*, visitor: Visitor) -> Conversation | None:
    """The open conversation, as the widget resumes it (None until the first message)."""
    return selectors.visitor_open_conversation(visitor=visitor)


def visitor_followed_conversation(*, visitor: Visitor) -> Conversation | None:
    """What an event stream follows: the open conversation, else the latest (closed) one,
    so a stream opened after a close still sees its rating request."""
    return selectors.visitor_open_conversation(visitor=visitor) or (
        Conversation.objects.filter(visitor=visitor).order_by("-created_at").first()
    )


def visitor_welcome(*, site: Site, visitor: Visitor) -> dict[str, Any]:
    """The socket's `welcome`, less the token: conversation, greeting, earlier conversations."""
    conversation = visitor_current_conversation(visitor=visitor)
    greeting = site.greeting_zh if visitor.language.lower().startswith("zh") else site.greeting
    return {
        "conversation": conversation_payload(conversation) if conversation else None,
        "greeting": greeting or site.greeting,
        "previous": selectors.visitor_previous_conversations(
            visitor=visitor, exclude_id=conversation.pk if conversation else None
        ),
        "site": {"name": site.name, "color": site.widget_color, "position": site.widget_position},
    }


def visitor_messages_page(
    *, visitor: Visitor, conversation_id: int | None, after_id: int, limit: int
) -> dict[str, Any] | None:
    """Visitor-visible messages after `after_id`; None for a conversation not this visitor's."""
    if conversation_id is None:
        conversation = visitor_followed_conversation(visitor=visitor)
    else:
        conversation = selectors.visitor_conversation_get(
            visitor=visitor, conversation_id=conversation_id
        )
        if conversation is None:
            return None
    if conversation is None:
        return {"conversation": None, "messages": [], "has_more": False}
    messages = selectors.conversation_messages_after(
        conversation_id=conversation.pk, after_id=after_id, limit=limit + 1
    )
    payload: ConversationPayload = conversation_payload(conversation)
    return {
        "conversation": payload,
        "messages": [message_payload(m) for m in messages[:limit]],
        "has_more": len(messages) > limit,
    }
