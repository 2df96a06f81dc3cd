"""Webhook reads."""

from django.core.cache import cache
from django.db.models import OuterRef, QuerySet, Subquery

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


def _site_events_key(site_id: int) -> str:
    return f"webhooks:site-events:{site_id}"


def webhook_site_subscribed_events(*, site_id: int) -> frozenset[str]:
    """Events any endpoint of the site (active or not) subscribes to, cached.

    Every message asks this, so a site without webhooks pays one cache read,
    not a payload build and two queries. Disabled endpoints count: enabling
    one (a queryset update, no signal) must not wait for the cache to expire.
    """
    key = _site_events_key(site_id)
    cached = cache.get(key)
    if cached is None:
        cached = sorted(
            {
                event
                for events in WebhookEndpoint.objects.filter(site_id=site_id).values_list(
                    "events", flat=True
                )
                for event in events or []
            }
        )
        cache.set(key, cached, timeout=300)
    return frozenset(cached)


def webhook_site_subscribed_events_forget(*, site_id: int) -> None:
    cache.delete(_site_events_key(site_id))
