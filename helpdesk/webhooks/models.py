import secrets
import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from helpdesk.webhooks.url_policy import webhook_url_validate


class WebhookEvent(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created", "conversation.created"
    CONVERSATION_ESCALATED = "conversation.escalated", "conversation.escalated"
    CONVERSATION_CLOSED = "conversation.closed", "conversation.closed"
    MESSAGE_CREATED = "message.created", "message.created"
    CSAT_SUBMITTED = "csat.submitted", "csat.submitted"
    # Sent only by the admin's "send test event"; never subscribed to.
    PING = "ping", "ping"


SUBSCRIBABLE_EVENTS: tuple[str, ...] = tuple(
    event.value for event in WebhookEvent if event is not WebhookEvent.PING
)


def generate_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def default_webhook_events() -> list[str]:
    return list(SUBSCRIBABLE_EVENTS)


class WebhookEndpoint(models.Model):
    """A URL of a Site's own system that receives the events it subscribed to."""

    site = models.ForeignKey(
        "helpdesk.Site",
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("site"),
    )
    url = models.URLField(
        _("URL"),
        max_length=2000,
        validators=[webhook_url_validate],
        help_text=_("Where events are POSTed. HTTPS, except for a receiver on this machine."),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=generate_webhook_secret,
        help_text=_("Signs every delivery (X-Helpdesk-Signature). Rotate it from the list."),
    )
    # After a rotation deliveries carry a second signature made with the old
    # secret for a while, so receivers can switch without dropping events.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    events = models.JSONField(
        _("events"),
        default=default_webhook_events,
        help_text=_("The event types this endpoint receives."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Turned off automatically after repeated failed deliveries."),
    )
    consecutive_failures = models.PositiveIntegerField(
        _("consecutive failures"),
        default=0,
        help_text=_("Deliveries that failed in a row, after all their retries."),
    )
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("disabled because"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["site_id", "id"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        indexes = [models.Index(fields=["site", "is_active"], name="webhook_site_active_idx")]

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        unknown = sorted(set(self.events or []) - set(SUBSCRIBABLE_EVENTS))
        if not isinstance(self.events, list) or unknown:
            raise ValidationError(
                {"events": _("Unknown events: %(events)s") % {"events": ", ".join(unknown)}}
            )
        if not self.events:
            raise ValidationError({"events": _("Choose at least one event.")})

    def subscribes_to(self, event: str) -> bool:
        return event in (self.events or [])


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one endpoint, with the outcome of its last attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RETRYING = "retrying", _("Retrying")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("endpoint"),
    )
    event = models.CharField(_("event"), max_length=40, choices=WebhookEvent.choices)
    # The same for every endpoint and every redelivery of one event: receivers
    # use it to ignore a copy they have already processed.
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, db_index=True)
    payload = models.JSONField(_("payload"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body_excerpt = models.TextField(_("response body (first 1 KB)"), blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    # One entry per attempt: {"attempt", "at", "status", "error", "duration_ms"}.
    attempt_log = models.JSONField(_("attempt log"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
