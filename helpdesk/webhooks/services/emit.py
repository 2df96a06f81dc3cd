"""Emitting events: after commit, one delivery per subscribed endpoint, each dispatched."""

import json
import uuid
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from helpdesk.webhooks.models import SUBSCRIBABLE_EVENTS, WebhookDelivery, WebhookEndpoint
from helpdesk.webhooks.selectors import webhook_site_subscribed_events

if TYPE_CHECKING:
    from conversations.models import Conversation, Message


def webhook_event_emit(*, site_id: int, event: str, data: dict[str, Any]) -> None:
    """Send `event` to the site's subscribed endpoints once the current transaction commits.

    Nothing is sent for a transaction that rolls back. The payload is fixed now,
    as the event happened; a failure here or later never reaches the caller.
    """
    if event not in SUBSCRIBABLE_EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    event_id = uuid.uuid4()
    occurred_at = timezone.now()
    snapshot = json.loads(json.dumps(data, cls=DjangoJSONEncoder))

    def create_after_commit() -> None:
        webhook_deliveries_create(
            site_id=site_id,
            event=event,
            event_id=event_id,
            occurred_at=occurred_at,
            data=snapshot,
        )

    transaction.on_commit(create_after_commit, robust=True)


def webhook_deliveries_create(
    *,
    site_id: int,
    event: str,
    event_id: uuid.UUID,
    occurred_at: Any,
    data: dict[str, Any],
) -> list[int]:
    """One pending delivery per active endpoint subscribed to `event`, dispatched after commit."""
    from helpdesk.models import Site

    with transaction.atomic():
        public_key = Site.objects.filter(pk=site_id).values_list("public_key", flat=True).first()
        if public_key is None:
            return []
        endpoints = WebhookEndpoint.objects.filter(site_id=site_id, is_active=True)
        payload = {
            "id": str(event_id),
            "type": event,
            "created_at": occurred_at.isoformat(),
            "site": public_key,
            "data": data,
        }
        now = timezone.now()
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    endpoint=endpoint,
                    event=event,
                    event_id=event_id,
                    payload=payload,
                    next_attempt_at=now,
                )
                for endpoint in endpoints
                if endpoint.subscribes_to(event)
            ]
        )
        delivery_ids = [delivery.pk for delivery in deliveries]
        transaction.on_commit(lambda: webhook_first_attempts_dispatch(delivery_ids), robust=True)
    return delivery_ids


def webhook_first_attempts_dispatch(delivery_ids: list[int]) -> None:
    from helpdesk.webhooks.dispatch import webhook_delivery_dispatch

    for delivery_id in delivery_ids:
        webhook_delivery_dispatch(delivery_id=delivery_id, attempt=1, countdown=0)


# One-line calls for the conversation services; each builds the event's data now.


def webhook_conversation_emit(*, conversation: "Conversation", event: str) -> None:
    """conversation.created, conversation.escalated or conversation.closed."""
    from helpdesk.webhooks.payloads import webhook_data_conversation

    if event not in webhook_site_subscribed_events(site_id=conversation.site_id):
        return
    webhook_event_emit(
        site_id=conversation.site_id, event=event, data=webhook_data_conversation(conversation)
    )


def webhook_message_emit(*, message: "Message") -> None:
    """message.created; an internal note is never sent."""
    from helpdesk.webhooks.payloads import webhook_data_message

    site_id = message.conversation.site_id
    if "message.created" not in webhook_site_subscribed_events(site_id=site_id):
        return
    data = webhook_data_message(message)
    if data is not None:
        webhook_event_emit(site_id=site_id, event="message.created", data=data)


def webhook_csat_emit(*, conversation: "Conversation") -> None:
    """csat.submitted."""
    from helpdesk.webhooks.payloads import webhook_data_csat

    if "csat.submitted" not in webhook_site_subscribed_events(site_id=conversation.site_id):
        return
    webhook_event_emit(
        site_id=conversation.site_id, event="csat.submitted", data=webhook_data_csat(conversation)
    )
