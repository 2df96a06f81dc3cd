"""Webhook writes: emitting events, attempting deliveries, managing endpoints."""

from helpdesk.webhooks.services.deliveries import (
    ATTEMPT_LEASE,
    AttemptResult,
    webhook_deliveries_resume,
    webhook_delivery_attempt,
    webhook_delivery_redeliver,
    webhook_max_attempts,
)
from helpdesk.webhooks.services.emit import (
    webhook_conversation_emit,
    webhook_csat_emit,
    webhook_deliveries_create,
    webhook_event_emit,
    webhook_message_emit,
)
from helpdesk.webhooks.services.endpoints import (
    PREVIOUS_SECRET_GRACE,
    webhook_endpoint_disable,
    webhook_endpoint_enable,
    webhook_endpoint_ping,
    webhook_endpoint_secret_rotate,
)

__all__ = [
    "ATTEMPT_LEASE",
    "PREVIOUS_SECRET_GRACE",
    "AttemptResult",
    "webhook_conversation_emit",
    "webhook_csat_emit",
    "webhook_deliveries_create",
    "webhook_deliveries_resume",
    "webhook_delivery_attempt",
    "webhook_delivery_redeliver",
    "webhook_endpoint_disable",
    "webhook_endpoint_enable",
    "webhook_endpoint_ping",
    "webhook_endpoint_secret_rotate",
    "webhook_event_emit",
    "webhook_max_attempts",
    "webhook_message_emit",
]
