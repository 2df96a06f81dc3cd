"""Channel-layer group names and the after-commit broadcast of conversation events.

Every party that watches a conversation (the visitor's sockets, the agents of
its site, a stream waiting to be cancelled) is reached through a group named
here and nowhere else.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# Consumers route every forwarded event through this handler name.
FORWARD_HANDLER = "conversation.event"
CANCEL_HANDLER = "reply.cancel"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def site_agents_group(site_id: int) -> str:
    return f"site.{site_id}.agents"


def reply_control_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}.control"


def envelope(event: dict[str, Any], *, conversation_id: int) -> dict[str, Any]:
    return {"type": FORWARD_HANDLER, "conversation_id": conversation_id, "event": event}


async def conversation_event_publish(
    *, conversation_id: int, site_id: int, event: dict[str, Any]
) -> None:
    layer = get_channel_layer()
    message = envelope(event, conversation_id=conversation_id)
    await layer.group_send(conversation_group(conversation_id), message)
    await layer.group_send(site_agents_group(site_id), message)


def conversation_event_publish_sync(
    *, conversation_id: int, site_id: int, event: dict[str, Any]
) -> None:
    try:
        async_to_sync(conversation_event_publish)(
            conversation_id=conversation_id, site_id=site_id, event=event
        )
    except Exception:
        # The event is already saved; a reconnect replays it. Losing the live
        # push must not turn a committed write into an error for the sender.
        logger.exception("broadcast failed for conversation %s", conversation_id)


def broadcast_after_commit(*, conversation_id: int, site_id: int, events: list[dict]) -> None:
    """Send events to the conversation's watchers once the surrounding transaction commits."""

    def send() -> None:
        for event in events:
            conversation_event_publish_sync(
                conversation_id=conversation_id, site_id=site_id, event=event
            )

    transaction.on_commit(send)


def reply_cancel_after_commit(*, conversation_id: int, reply_id: str, reason: str) -> None:
    def send() -> None:
        try:
            async_to_sync(get_channel_layer().group_send)(
                reply_control_group(conversation_id),
                {"type": CANCEL_HANDLER, "reply_id": reply_id, "reason": reason},
            )
        except Exception:
            # The stream re-checks ownership before saving, so a lost cancel
            # costs wasted tokens, never a reply saved after it was superseded.
            logger.exception("reply cancel broadcast failed for %s", conversation_id)

    transaction.on_commit(send)
