"""Endpoint management: enable, disable, rotate the secret, ping."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from helpdesk.webhooks.models import (
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    generate_webhook_secret,
)

logger = logging.getLogger(__name__)

# How long a rotated-out secret still signs deliveries next to the new one.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)


@transaction.atomic
def webhook_endpoint_disable(*, endpoint_id: int, reason: str) -> bool:
    """Stop sending to an endpoint; pending deliveries fail when their turn comes."""
    disabled = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason=reason[:300]
    )
    if disabled:
        logger.warning(
            "webhook endpoint %s disabled: %s",
            endpoint_id,
            reason,
            extra={"endpoint_id": endpoint_id},
        )
    return bool(disabled)


@transaction.atomic
def webhook_endpoint_enable(*, endpoint_id: int) -> bool:
    """Start sending again, with a clean failure count."""
    return bool(
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(
            is_active=True, consecutive_failures=0, disabled_at=None, disabled_reason=""
        )
    )


@transaction.atomic
def webhook_endpoint_secret_rotate(*, endpoint_id: int) -> str:
    """A new signing secret; the old one still signs alongside it for PREVIOUS_SECRET_GRACE."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + PREVIOUS_SECRET_GRACE
    endpoint.secret = generate_webhook_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return endpoint.secret


def webhook_endpoint_ping(*, endpoint_id: int) -> int | None:
    """Send a `ping` event to one endpoint now, whatever it subscribes to; one attempt."""
    from helpdesk.webhooks.services.emit import webhook_first_attempts_dispatch

    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return None
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event=WebhookEvent.PING,
            payload={},
            next_attempt_at=timezone.now(),
        )
        delivery.payload = {
            "id": str(delivery.event_id),
            "type": WebhookEvent.PING.value,
            "created_at": delivery.created_at.isoformat(),
            "site": endpoint.site.public_key,
            "data": {"endpoint": {"id": endpoint.pk, "url": endpoint.url}},
        }
        delivery.save(update_fields=["payload"])
        transaction.on_commit(lambda: webhook_first_attempts_dispatch([delivery.pk]), robust=True)
    return delivery.pk
