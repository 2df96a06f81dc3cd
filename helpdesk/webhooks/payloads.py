"""The `data` object of each webhook event, built from model instances.

Only what a CRM or Slack integration needs, and nothing a visitor typed that
agents meant to keep to themselves: internal notes are never sent.
"""

from typing import Any

from conversations.models import Conversation, Message


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def webhook_data_conversation(conversation: Conversation) -> dict[str, Any]:
    """For conversation.created, conversation.escalated and conversation.closed."""
    visitor = conversation.visitor
    agent = conversation.assigned_agent
    return {
        "conversation": {
            "id": conversation.pk,
            "state": conversation.state,
            "created_at": _iso(conversation.created_at),
            "closed_at": _iso(conversation.closed_at),
            "escalation_reason": conversation.escalation_reason,
            "assigned_agent": (
                {"id": agent.pk, "name": agent.display_name} if agent is not None else None
            ),
            "visitor": {
                "id": str(visitor.anonymous_id),
                "external_id": visitor.external_id,
                "name": visitor.name,
                "email": visitor.email,
                "identity_verified": visitor.identity_verified,
            },
        }
    }


def webhook_data_message(message: Message) -> dict[str, Any] | None:
    """For message.created; None for an internal note, which must never leave the helpdesk."""
    if message.is_internal:
        return None
    from conversations.events.visitor import message_attachments

    agent = message.agent
    return {
        "message": {
            "id": message.pk,
            "conversation_id": message.conversation_id,
            "author": message.author_kind,
            "agent": {"id": agent.pk, "name": agent.display_name} if agent is not None else None,
            "text": message.text,
            "source": message.source,
            "created_at": _iso(message.created_at),
            # The files as the conversation's parties see them: signed links that
            # expire (ATTACHMENT_URL_MAX_AGE_SECONDS), relative to the helpdesk.
            "attachments": [
                {key: file[key] for key in ("id", "name", "type", "size", "url")}
                for file in message_attachments(message)
            ],
        }
    }


def webhook_data_csat(conversation: Conversation) -> dict[str, Any]:
    """For csat.submitted."""
    return {
        "csat": {
            "conversation_id": conversation.pk,
            "rating": conversation.csat_rating,
            "comment": conversation.csat_comment,
            "submitted_at": _iso(conversation.csat_submitted_at),
        }
    }
