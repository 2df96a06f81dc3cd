"""Delivery attempts: claim, POST, record the outcome, schedule the next; redelivery."""

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from helpdesk.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from helpdesk.webhooks.services.emit import webhook_first_attempts_dispatch
from helpdesk.webhooks.services.endpoints import webhook_endpoint_disable
from helpdesk.webhooks.signing import webhook_signature_header
from helpdesk.webhooks.transport import PostOutcome, webhook_post

logger = logging.getLogger(__name__)

USER_AGENT = "helpdesk-webhooks/1"
# A claimed attempt that has not finished by then was lost with its worker;
# the resume sweep sends it again.
ATTEMPT_LEASE = timedelta(minutes=2)
# Each retry waits its scheduled delay ±20 %, so an outage's backlog does not
# come back to the receiver all at once.
JITTER = 0.2


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt did; retry_in is set when another attempt is due."""

    delivery_id: int
    attempted: bool
    status: str = ""
    retry_in: float | None = None


def webhook_delivery_attempt(*, delivery_id: int, attempt: int) -> AttemptResult:
    """Make attempt number `attempt` of a delivery, once, and record what happened.

    A delivery that is gone, already finished, or whose attempt was already
    made (a duplicate task) is left alone; one whose endpoint was disabled
    meanwhile is marked failed without being sent.
    """
    delivery = _attempt_claim(delivery_id=delivery_id, attempt=attempt)
    if delivery is None:
        return AttemptResult(delivery_id=delivery_id, attempted=False)
    endpoint = delivery.endpoint
    if not endpoint.is_active and delivery.event != WebhookEvent.PING:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.FAILED,
            error=_("Not sent: the endpoint is disabled."),
            next_attempt_at=None,
        )
        return AttemptResult(
            delivery_id=delivery_id, attempted=False, status=WebhookDelivery.Status.FAILED
        )

    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    signing_secrets = [endpoint.secret]
    grace_until = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and grace_until is not None and grace_until > timezone.now():
        signing_secrets.append(endpoint.previous_secret)
    outcome = webhook_post(
        url=endpoint.url,
        body=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Helpdesk-Event": delivery.event,
            "X-Helpdesk-Delivery": str(delivery.event_id),
            "X-Helpdesk-Timestamp": str(timestamp),
            "X-Helpdesk-Signature": webhook_signature_header(
                secrets=signing_secrets, timestamp=timestamp, body=body
            ),
        },
    )
    return _attempt_record(delivery_id=delivery.pk, attempt=attempt, outcome=outcome)


def _attempt_claim(*, delivery_id: int, attempt: int) -> WebhookDelivery | None:
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.attempts != attempt - 1:
            return None
        if delivery.status not in (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING):
            return None
        if attempt > webhook_max_attempts():
            # Only the resume sweep gets here, after the last attempt was lost mid-flight.
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "next_attempt_at"])
            return None
        delivery.attempts = attempt
        delivery.next_attempt_at = timezone.now() + ATTEMPT_LEASE
        delivery.save(update_fields=["attempts", "next_attempt_at"])
        return delivery


def webhook_max_attempts() -> int:
    return len(settings.WEBHOOKS_RETRY_SCHEDULE) + 1


def _retry_delay(attempt: int) -> float | None:
    """Seconds before attempt `attempt + 1`, or None when `attempt` was the last one."""
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    if attempt > len(schedule):
        return None
    base = float(schedule[attempt - 1])
    return base * random.uniform(1 - JITTER, 1 + JITTER)


def _attempt_record(*, delivery_id: int, attempt: int, outcome: PostOutcome) -> AttemptResult:
    Status = WebhookDelivery.Status
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:  # deleted with its endpoint while the request was in flight
            return AttemptResult(delivery_id=delivery_id, attempted=True)
        endpoint = delivery.endpoint
        is_ping = delivery.event == WebhookEvent.PING
        delivery.response_status = outcome.status
        delivery.response_body_excerpt = outcome.body_excerpt
        delivery.error = outcome.error[:500]
        delivery.duration_ms = outcome.duration_ms
        delivery.attempt_log = [
            *delivery.attempt_log,
            {
                "attempt": attempt,
                "at": now.isoformat(),
                "status": outcome.status,
                "error": outcome.error[:200],
                "duration_ms": outcome.duration_ms,
            },
        ]
        retry_in = None
        if outcome.succeeded:
            delivery.status = Status.SUCCEEDED
            delivery.delivered_at = now
            if not is_ping:
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        elif outcome.status == 410:
            delivery.status = Status.FAILED
            if not is_ping:
                webhook_endpoint_disable(
                    endpoint_id=endpoint.pk,
                    reason=_("The receiver answered 410 Gone: it no longer wants these events."),
                )
        else:
            retry_in = None if (outcome.refused or is_ping) else _retry_delay(attempt)
            if retry_in is not None:
                delivery.status = Status.RETRYING
            else:
                delivery.status = Status.FAILED
                if not is_ping:
                    _failure_count(endpoint_id=endpoint.pk, last_error=_failure_text(outcome))
        delivery.next_attempt_at = now + timedelta(seconds=retry_in) if retry_in else None
        delivery.save(
            update_fields=[
                "status",
                "response_status",
                "response_body_excerpt",
                "error",
                "duration_ms",
                "attempt_log",
                "delivered_at",
                "next_attempt_at",
            ]
        )
    log = logger.info if outcome.succeeded else logger.warning
    log(
        "webhook delivery %s attempt %s: %s",
        delivery_id,
        attempt,
        outcome.status or outcome.error,
        extra={"webhook_delivery_id": delivery_id, "endpoint_id": endpoint.pk},
    )
    return AttemptResult(
        delivery_id=delivery_id, attempted=True, status=delivery.status, retry_in=retry_in
    )


def _failure_text(outcome: PostOutcome) -> str:
    if outcome.status is not None:
        return _("HTTP %(status)s") % {"status": outcome.status}
    return outcome.error


def _failure_count(*, endpoint_id: int, last_error: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    failures = (
        WebhookEndpoint.objects.filter(pk=endpoint_id)
        .values_list("consecutive_failures", flat=True)
        .first()
    )
    threshold = settings.WEBHOOKS_DISABLE_AFTER_FAILURES
    if failures is not None and threshold > 0 and failures >= threshold:
        webhook_endpoint_disable(
            endpoint_id=endpoint_id,
            reason=_(
                "%(count)s deliveries in a row failed after all their retries (last: %(error)s)."
            )
            % {"count": failures, "error": last_error},
        )


def webhook_delivery_redeliver(*, delivery_id: int) -> int | None:
    """Send a logged delivery again as a new delivery with the same event id and payload.

    None when the delivery is gone or its endpoint is disabled.
    """
    with transaction.atomic():
        original = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
        if original is None or not original.endpoint.is_active:
            return None
        copy = WebhookDelivery.objects.create(
            endpoint=original.endpoint,
            event=original.event,
            event_id=original.event_id,
            payload=original.payload,
            next_attempt_at=timezone.now(),
        )
        transaction.on_commit(lambda: webhook_first_attempts_dispatch([copy.pk]), robust=True)
    return copy.pk


def webhook_deliveries_resume(*, overdue: timedelta = ATTEMPT_LEASE) -> list[int]:
    """Dispatch again the attempts that should have happened but did not.

    A task lost with the broker or a killed worker, a retry timer lost with
    the web process in the embedded mode: each leaves a pending or retrying
    delivery whose next attempt is overdue.
    """
    from helpdesk.webhooks.dispatch import webhook_delivery_dispatch

    Status = WebhookDelivery.Status
    cutoff = timezone.now() - overdue
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status__in=[Status.PENDING, Status.RETRYING], next_attempt_at__lt=cutoff)
            .values_list("pk", "attempts")[:500]
        )
        WebhookDelivery.objects.filter(pk__in=[pk for pk, _ in due]).update(
            next_attempt_at=timezone.now() + ATTEMPT_LEASE
        )
    for delivery_id, attempts in due:
        # A claimed attempt that never finished counts as made: the next one follows.
        webhook_delivery_dispatch(delivery_id=delivery_id, attempt=attempts + 1, countdown=0)
    return [pk for pk, _ in due]
