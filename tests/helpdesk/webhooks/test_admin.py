"""The webhook admin: pages render, actions send real requests to a real receiver."""

import json

import pytest
from django.urls import reverse

from helpdesk.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import SiteFactory, WebhookEndpointFactory
from tests.helpdesk.webhooks.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

Status = WebhookDelivery.Status


def finished_deliveries(endpoint, count: int) -> list[WebhookDelivery]:
    def done():
        rows = list(
            WebhookDelivery.objects.filter(
                endpoint=endpoint, status__in=[Status.SUCCEEDED, Status.FAILED]
            ).order_by("id")
        )
        return rows if len(rows) >= count else None

    return wait_until(done)


def test_pages_render_with_filters_secret_and_delivery_log(admin_client, receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="message.created",
        payload={"id": "e1", "data": {"text": "<script>alert(1)</script>"}},
        status=Status.FAILED,
        response_status=502,
        attempt_log=[{"attempt": 1, "at": "x", "status": 502, "error": "", "duration_ms": 3}],
    )

    changelist = admin_client.get(reverse("admin:helpdesk_webhookendpoint_changelist"))
    assert changelist.status_code == 200
    assert "Failed (502)" in changelist.content.decode()
    filtered = admin_client.get(
        reverse("admin:helpdesk_webhookendpoint_changelist"), {"is_active__exact": "1", "q": "127"}
    )
    assert filtered.status_code == 200 and receiver.url in filtered.content.decode()

    change = admin_client.get(reverse("admin:helpdesk_webhookendpoint_change", args=[endpoint.pk]))
    page = change.content.decode()
    assert change.status_code == 200
    assert f'<code data-testid="webhook-secret">{endpoint.secret}</code>' in page
    assert 'data-testid="webhook-ping"' in page and 'data-testid="webhook-rotate"' in page
    assert "message.created" in page
    assert admin_client.get(reverse("admin:helpdesk_webhookendpoint_add")).status_code == 200

    deliveries = reverse("admin:helpdesk_webhookdelivery_changelist")
    for query in ({}, {"status__exact": "failed"}, {"event__exact": "message.created"}):
        response = admin_client.get(deliveries, {**query, "endpoint__id__exact": endpoint.pk})
        assert response.status_code == 200 and "errornote" not in response.content.decode()
    delivery = WebhookDelivery.objects.get()
    detail = admin_client.get(reverse("admin:helpdesk_webhookdelivery_change", args=[delivery.pk]))
    assert detail.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.content.decode()
    assert "<script>alert(1)" not in detail.content.decode()


def test_adding_an_endpoint_through_the_form(admin_client):
    site = SiteFactory()
    response = admin_client.post(
        reverse("admin:helpdesk_webhookendpoint_add"),
        {
            "site": site.pk,
            "url": "https://hooks.example.com/helpdesk",
            "description": "CRM",
            "events": ["conversation.created", "csat.submitted"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["conversation.created", "csat.submitted"]
    assert endpoint.secret.startswith("whsec_")

    refused = admin_client.post(
        reverse("admin:helpdesk_webhookendpoint_add"),
        {"site": site.pk, "url": "http://hooks.example.com/", "events": ["csat.submitted"]},
    )
    assert refused.status_code == 200
    assert "Use https://" in refused.content.decode()


def test_send_test_event_action_posts_a_signed_ping(admin_client, receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url, events=["csat.submitted"])

    response = admin_client.post(
        reverse("admin:helpdesk_webhookendpoint_changelist"),
        {"action": "send_test_event", "_selected_action": [endpoint.pk]},
    )

    assert response.status_code == 302
    (request,) = receiver.wait_for_requests(1)
    assert request.headers["x-helpdesk-event"] == "ping"
    payload = json.loads(request.body)
    assert payload["type"] == "ping" and payload["data"]["endpoint"]["id"] == endpoint.pk
    (delivery,) = finished_deliveries(endpoint, 1)
    assert delivery.event == "ping" and delivery.response_status == 200


def test_ping_button_on_the_change_form(admin_client, receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    url = reverse("admin:helpdesk_webhookendpoint_ping", args=[endpoint.pk])

    assert admin_client.get(url).status_code == 405
    assert admin_client.post(url).status_code == 302
    (request,) = receiver.wait_for_requests(1)
    assert request.headers["x-helpdesk-event"] == "ping"


def test_redeliver_action_sends_the_same_event_again_as_a_new_log_row(admin_client, receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    original = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="conversation.closed",
        payload={"id": "evt", "type": "conversation.closed", "data": {"n": 1}},
        status=Status.FAILED,
        attempts=6,
        response_status=500,
    )

    response = admin_client.post(
        reverse("admin:helpdesk_webhookdelivery_changelist"),
        {"action": "redeliver", "_selected_action": [original.pk]},
    )

    assert response.status_code == 302
    (request,) = receiver.wait_for_requests(1)
    assert request.headers["x-helpdesk-delivery"] == str(original.event_id)
    assert json.loads(request.body) == original.payload
    first, again = finished_deliveries(endpoint, 2)
    assert first.pk == original.pk and first.status == Status.FAILED
    assert again.event_id == original.event_id and again.status == Status.SUCCEEDED


def test_redeliver_skips_a_disabled_endpoint(admin_client):
    endpoint = WebhookEndpointFactory(is_active=False)
    original = WebhookDelivery.objects.create(
        endpoint=endpoint, event="conversation.closed", payload={}, status=Status.FAILED
    )
    response = admin_client.post(
        reverse("admin:helpdesk_webhookdelivery_changelist"),
        {"action": "redeliver", "_selected_action": [original.pk]},
        follow=True,
    )
    assert "skipped" in response.content.decode()
    assert WebhookDelivery.objects.count() == 1


def test_rotate_secret_button_and_action(admin_client):
    endpoint = WebhookEndpointFactory()
    old = endpoint.secret

    response = admin_client.post(
        reverse("admin:helpdesk_webhookendpoint_rotate_secret", args=[endpoint.pk])
    )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    rotated = endpoint.secret
    admin_client.post(
        reverse("admin:helpdesk_webhookendpoint_changelist"),
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
    )
    endpoint.refresh_from_db()
    assert endpoint.secret not in (old, rotated) and endpoint.previous_secret == rotated


def test_re_enabling_an_endpoint_resets_its_failure_count(admin_client):
    endpoint = WebhookEndpointFactory(
        is_active=False, consecutive_failures=10, disabled_reason="10 deliveries failed"
    )
    form = {
        "site": endpoint.site_id,
        "url": endpoint.url,
        "description": "",
        "events": endpoint.events,
        "is_active": "on",
    }
    response = admin_client.post(
        reverse("admin:helpdesk_webhookendpoint_change", args=[endpoint.pk]), form
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.consecutive_failures == 0
    assert endpoint.disabled_reason == "" and endpoint.disabled_at is None

    form.pop("is_active")
    admin_client.post(reverse("admin:helpdesk_webhookendpoint_change", args=[endpoint.pk]), form)
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_reason.startswith("Disabled by")


def test_staff_without_permissions_cannot_open_or_rotate(client):
    from tests.factories import StaffUserFactory

    endpoint = WebhookEndpointFactory()
    client.force_login(StaffUserFactory())
    assert (
        client.get(reverse("admin:helpdesk_webhookendpoint_change", args=[endpoint.pk])).status_code
        == 403
    )
    client.post(reverse("admin:helpdesk_webhookendpoint_rotate_secret", args=[endpoint.pk]))
    secret = endpoint.secret
    endpoint.refresh_from_db()
    assert endpoint.secret == secret
