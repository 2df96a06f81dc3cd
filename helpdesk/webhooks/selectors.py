"""Webhook reads."""

from django.db.models import OuterRef, QuerySet, Subquery

from helpdesk.config_versions import config_version_bump, config_version_get, webhooks_scope
from helpdesk.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoints_with_last_delivery(
    queryset: QuerySet[WebhookEndpoint] | None = None,
) -> QuerySet[WebhookEndpoint]:
    """Endpoints annotated with last_delivery_status and last_response_status."""
    queryset = WebhookEndpoint.objects.all() if queryset is None else queryset
    latest = WebhookDelivery.objects.filter(endpoint=OuterRef("pk")).order_by("-id")
    return queryset.annotate(
        last_delivery_status=Subquery(latest.values("status")[:1]),
        last_response_status=Subquery(latest.values("response_status")[:1]),
    )


def webhook_deliveries_recent(*, endpoint_id: int, limit: int = 10) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(endpoint_id=endpoint_id).order_by("-id")[:limit])


# site id -> (its webhooks' counter when read, the events its endpoints subscribe to)
_site_events: dict[int, tuple[int, frozenset[str]]] = {}
_SITES_KEPT = 10_000


def webhook_site_subscribed_events(*, site_id: int) -> frozenset[str]:
    """Events any endpoint of the site (active or not) subscribes to, kept per process.

    Every message asks this, so a site without webhooks pays one counter read (read
    with the message's other counters), not a payload build and a query. Disabled
    endpoints count: enabling one (a queryset update, no signal) must not wait for
    anything to expire.
    """
    # The counter before the rows: a save committed in between leaves a newer
    # counter behind, and the next call reads the rows again.
    version = config_version_get(scope=webhooks_scope(site_id))
    kept = _site_events.get(site_id)
    if kept is not None and kept[0] == version:
        return kept[1]
    events = frozenset(
        event
        for events in WebhookEndpoint.objects.filter(site_id=site_id).values_list(
            "events", flat=True
        )
        for event in events or []
    )
    if len(_site_events) >= _SITES_KEPT:
        _site_events.clear()
    _site_events[site_id] = (version, events)
    return events


def webhook_site_subscribed_events_forget(*, site_id: int) -> None:
    config_version_bump(scope=webhooks_scope(site_id))
