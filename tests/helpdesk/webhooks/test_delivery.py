"""Webhook deliveries end to end: emit -> delivery rows -> signed POSTs to a real receiver.

The receiver is a real HTTP server on 127.0.0.1. Deliveries run as in
production: in a thread of this process (the embedded mode) or, for the
retry test, in a real Celery worker over Redis.
"""

import hashlib
import hmac
import json
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from helpdesk.webhooks import transport
from helpdesk.webhooks.models import WebhookDelivery, WebhookEndpoint
from helpdesk.webhooks.services import (
    webhook_deliveries_create,
    webhook_deliveries_resume,
    webhook_delivery_attempt,
    webhook_endpoint_secret_rotate,
    webhook_event_emit,
)
from helpdesk.webhooks.signing import webhook_signature_verify
from tests.factories import SiteFactory, WebhookEndpointFactory
from tests.helpdesk.webhooks.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

Status = WebhookDelivery.Status


@pytest.fixture(autouse=True)
def _short_retries(settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.1, 0.1]
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 10


def emit(site, event: str = "conversation.created", data: dict | None = None) -> None:
    with transaction.atomic():
        webhook_event_emit(site_id=site.pk, event=event, data=data or {"conversation": {"id": 1}})


def finished(endpoint: WebhookEndpoint, count: int = 1) -> list[WebhookDelivery]:
    def done():
        rows = list(
            WebhookDelivery.objects.filter(
                endpoint=endpoint, status__in=[Status.SUCCEEDED, Status.FAILED]
            ).order_by("id")
        )
        return rows if len(rows) >= count else None

    return wait_until(done, message=f"{count} deliveries did not finish")


def pending_delivery(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A delivery row that nothing has dispatched yet, for driving attempts by hand."""
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="conversation.created",
        payload={"id": "x", "type": "conversation.created", "data": {}},
    )


def test_event_is_posted_once_signed_with_the_documented_headers(receiver):
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url)
    data = {"conversation": {"id": 7, "visitor": {"name": "Zoë 张"}}}

    emit(site, "conversation.created", data)

    (request,) = receiver.wait_for_requests(1)
    (delivery,) = finished(endpoint)
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "helpdesk-webhooks/1"
    assert headers["x-helpdesk-event"] == "conversation.created"
    payload = json.loads(request.body)
    assert headers["x-helpdesk-delivery"] == payload["id"] == str(delivery.event_id)
    assert payload["type"] == "conversation.created"
    assert payload["site"] == site.public_key
    assert payload["data"] == data
    assert payload["created_at"]

    # Verify as a receiver would, with nothing from the project but the secret.
    timestamp = headers["x-helpdesk-timestamp"]
    assert timestamp.isdigit()
    expected = hmac.new(
        endpoint.secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert headers["x-helpdesk-signature"] == f"v1={expected}"
    assert webhook_signature_verify(
        secret=endpoint.secret,
        body=request.body,
        timestamp_header=timestamp,
        signature_header=headers["x-helpdesk-signature"],
    )

    assert delivery.status == Status.SUCCEEDED
    assert delivery.response_status == 200
    assert delivery.response_body_excerpt == "answered 200"
    assert delivery.attempts == 1
    assert delivery.delivered_at is not None and delivery.duration_ms is not None


def test_tampered_body_stale_timestamp_or_wrong_secret_fail_verification(receiver):
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url)
    emit(site)
    (request,) = receiver.wait_for_requests(1)
    timestamp = request.headers["x-helpdesk-timestamp"]
    signature = request.headers["x-helpdesk-signature"]

    def verify(body=request.body, secret=endpoint.secret, ts=timestamp, now=None):
        return webhook_signature_verify(
            secret=secret, body=body, timestamp_header=ts, signature_header=signature, now=now
        )

    assert verify()
    assert not verify(body=request.body.replace(b"conversation", b"Conversation"))
    assert not verify(secret="whsec_someone-else")
    assert not verify(ts=str(int(timestamp) + 1))
    assert not verify(now=int(timestamp) + 301)  # replayed more than 5 minutes later
    assert verify(now=int(timestamp) + 299)


def test_only_active_subscribed_endpoints_of_the_site_receive_it(receiver):
    site = SiteFactory()
    subscribed = WebhookEndpointFactory(site=site, url=receiver.url + "?to=subscribed")
    WebhookEndpointFactory(
        site=site, url=receiver.url + "?to=other-events", events=["csat.submitted"]
    )
    WebhookEndpointFactory(site=site, url=receiver.url + "?to=inactive", is_active=False)
    WebhookEndpointFactory(url=receiver.url + "?to=other-site")

    emit(site, "message.created")
    finished(subscribed)

    assert [r.path for r in receiver.wait_for_requests(1)] == ["/hooks?to=subscribed"]
    assert WebhookDelivery.objects.count() == 1


def test_nothing_is_sent_for_a_transaction_that_rolls_back(receiver):
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        webhook_event_emit(site_id=site.pk, event="conversation.closed", data={"n": "rolled back"})
        raise RuntimeError
    emit(site, "conversation.closed", {"n": "committed"})

    finished(endpoint)
    assert [json.loads(r.body)["data"] for r in receiver.requests] == [{"n": "committed"}]
    assert WebhookDelivery.objects.count() == 1


def test_an_unknown_event_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown webhook event"):
        webhook_event_emit(site_id=1, event="conversation.exploded", data={})


def test_a_500_is_retried_until_the_schedule_runs_out_then_counted(receiver):
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url)
    receiver.default_status = 500

    emit(site)

    (delivery,) = finished(endpoint)
    assert delivery.status == Status.FAILED
    assert delivery.attempts == 3  # the first attempt and one per schedule entry
    assert delivery.response_status == 500
    assert [entry["status"] for entry in delivery.attempt_log] == [500, 500, 500]
    assert len(receiver.requests) == 3
    assert len({r.headers["x-helpdesk-delivery"] for r in receiver.requests}) == 1
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1 and endpoint.is_active


def test_endpoint_is_disabled_after_n_failed_deliveries_and_then_gets_nothing(receiver, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 2
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url)
    receiver.default_status = 503

    emit(site)
    finished(endpoint, 1)
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.consecutive_failures == 1

    emit(site)
    finished(endpoint, 2)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.consecutive_failures == 2
    assert endpoint.disabled_at is not None
    assert "2 deliveries in a row failed" in endpoint.disabled_reason
    assert "HTTP 503" in endpoint.disabled_reason

    emit(site)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2


def test_a_success_resets_the_failure_count(receiver, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url, consecutive_failures=7)
    emit(site)
    finished(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_410_gone_disables_the_endpoint_at_once(receiver):
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url)
    receiver.answer(410)

    emit(site)

    (delivery,) = finished(endpoint)
    assert delivery.status == Status.FAILED and delivery.attempts == 1
    assert delivery.response_status == 410
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "410" in endpoint.disabled_reason


def test_a_redirect_is_not_followed(receiver):
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url)
    receiver.default_status = 302
    receiver.extra_headers = {"Location": "http://169.254.169.254/latest/meta-data/"}
    delivery = pending_delivery(endpoint)

    result = webhook_delivery_attempt(delivery_id=delivery.pk, attempt=1)

    delivery.refresh_from_db()
    assert result.retry_in is not None and delivery.status == Status.RETRYING
    assert delivery.response_status == 302
    assert [r.path for r in receiver.requests] == ["/hooks"]


def test_a_receiver_slower_than_the_deadline_is_a_timeout(receiver, monkeypatch):
    monkeypatch.setattr(transport, "TOTAL_TIMEOUT_SECONDS", 0.3)
    endpoint = WebhookEndpointFactory(url=receiver.url)
    receiver.delay_seconds = 1.5
    delivery = pending_delivery(endpoint)

    webhook_delivery_attempt(delivery_id=delivery.pk, attempt=1)

    delivery.refresh_from_db()
    assert delivery.status == Status.RETRYING
    assert delivery.response_status is None
    assert delivery.error.startswith("timeout")


def test_an_attempt_is_made_once_even_if_its_task_runs_twice(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    delivery = pending_delivery(endpoint)

    first = webhook_delivery_attempt(delivery_id=delivery.pk, attempt=1)
    second = webhook_delivery_attempt(delivery_id=delivery.pk, attempt=1)

    assert first.attempted and not second.attempted
    assert len(receiver.requests) == 1


def test_a_delivery_whose_endpoint_was_deleted_is_a_no_op(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    delivery = pending_delivery(endpoint)
    endpoint.delete()

    result = webhook_delivery_attempt(delivery_id=delivery.pk, attempt=1)

    assert not result.attempted and result.retry_in is None
    assert receiver.requests == []


def test_an_endpoint_deleted_while_its_request_is_in_flight_is_tolerated(receiver):
    from django.db import connection

    endpoint = WebhookEndpointFactory(url=receiver.url)
    delivery = pending_delivery(endpoint)

    def delete_endpoint(_request) -> None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
        connection.close()  # this runs in the receiver's thread

    receiver.on_request = delete_endpoint

    result = webhook_delivery_attempt(delivery_id=delivery.pk, attempt=1)

    assert result.attempted and result.retry_in is None
    assert not WebhookDelivery.objects.filter(pk=delivery.pk).exists()


def test_a_delivery_to_an_endpoint_disabled_meanwhile_fails_unsent(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    delivery = pending_delivery(endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)

    webhook_delivery_attempt(delivery_id=delivery.pk, attempt=1)

    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED and "disabled" in delivery.error
    assert receiver.requests == []


def test_a_private_address_is_refused_unless_allowed(receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    endpoint = WebhookEndpointFactory(url=receiver.url)  # saved without validation
    delivery = pending_delivery(endpoint)

    result = webhook_delivery_attempt(delivery_id=delivery.pk, attempt=1)

    delivery.refresh_from_db()
    assert result.retry_in is None  # another try cannot help
    assert delivery.status == Status.FAILED
    assert "non-public address 127.0.0.1" in delivery.error
    assert receiver.requests == []
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1

    for url in (receiver.url, "https://10.1.2.3/hooks", "https://localhost/x", "https://[::1]/x"):
        with pytest.raises(ValidationError):
            WebhookEndpoint(site=endpoint.site, url=url).full_clean()
    WebhookEndpoint(site=endpoint.site, url="https://hooks.example.com/x").full_clean()


def test_url_rules_https_outside_this_machine_and_no_other_schemes(settings):
    site = SiteFactory()

    def valid(url: str) -> bool:
        try:
            WebhookEndpoint(site=site, url=url).full_clean()
        except ValidationError:
            return False
        return True

    assert valid("https://hooks.example.com/helpdesk")
    assert valid("http://127.0.0.1:9000/hooks")
    assert valid("http://localhost:9000/hooks")
    assert not valid("http://hooks.example.com/helpdesk")
    assert not valid("ftp://hooks.example.com/helpdesk")
    assert not valid("https://user:password@hooks.example.com/")
    settings.DEBUG = True
    assert valid("http://hooks.example.com/helpdesk")


def test_unknown_events_are_refused_by_validation():
    endpoint = WebhookEndpoint(
        site=SiteFactory(), url="https://hooks.example.com/x", events=["conversation.exploded"]
    )
    with pytest.raises(ValidationError, match="Unknown events"):
        endpoint.full_clean()


def test_after_rotation_both_secrets_sign_until_the_grace_ends(receiver):
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url)
    old_secret = endpoint.secret
    new_secret = webhook_endpoint_secret_rotate(endpoint_id=endpoint.pk)
    assert new_secret != old_secret and new_secret.startswith("whsec_")

    emit(site)
    (request,) = receiver.wait_for_requests(1)
    header = request.headers["x-helpdesk-signature"]
    assert header.count("v1=") == 2
    for secret in (old_secret, new_secret):
        assert webhook_signature_verify(
            secret=secret,
            body=request.body,
            timestamp_header=request.headers["x-helpdesk-timestamp"],
            signature_header=header,
        )

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    emit(site)
    later = receiver.wait_for_requests(2)[1]
    assert later.headers["x-helpdesk-signature"].count("v1=") == 1
    assert not webhook_signature_verify(
        secret=old_secret,
        body=later.body,
        timestamp_header=later.headers["x-helpdesk-timestamp"],
        signature_header=later.headers["x-helpdesk-signature"],
    )


def test_the_resume_sweep_sends_attempts_that_were_lost(receiver):
    site = SiteFactory()
    endpoint = WebhookEndpointFactory(site=site, url=receiver.url)
    # As if the web process died before its timer fired: pending, and overdue.
    (delivery_id,) = webhook_deliveries_create(
        site_id=site.pk,
        event="csat.submitted",
        event_id=uuid.uuid4(),
        occurred_at=timezone.now(),
        data={"csat": {"rating": 5}},
    )
    finished(endpoint)
    receiver.requests.clear()
    lost = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="csat.submitted",
        payload={"id": "lost"},
        next_attempt_at=timezone.now() - timedelta(minutes=10),
    )
    recent = WebhookDelivery.objects.create(
        endpoint=endpoint, event="csat.submitted", payload={}, next_attempt_at=timezone.now()
    )

    assert webhook_deliveries_resume() == [lost.pk]

    wait_until(lambda: WebhookDelivery.objects.get(pk=lost.pk).status == Status.SUCCEEDED)
    assert [json.loads(r.body) for r in receiver.requests] == [{"id": "lost"}]
    assert WebhookDelivery.objects.get(pk=recent.pk).status == Status.PENDING
    assert WebhookDelivery.objects.get(pk=delivery_id).attempts == 1


@pytest.mark.integration
def test_a_real_celery_worker_retries_after_a_500_then_succeeds(
    receiver, settings, monkeypatch, tmp_path
):
    from tests.conversations.conftest import CeleryWorker

    monkeypatch.setenv("WEBHOOKS_RETRY_SCHEDULE", "0.5,0.5,0.5")
    settings.HELPDESK_LLM_RUNNER = "celery"
    worker = CeleryWorker(
        llm_base_url="http://127.0.0.1:9/v1",
        log=tmp_path / "worker.log",
        concurrency=4,
        name="hooks",
    )
    try:
        site = SiteFactory()
        endpoint = WebhookEndpointFactory(site=site, url=receiver.url, consecutive_failures=3)
        receiver.answer(500)

        emit(site, "conversation.escalated", {"conversation": {"id": 9, "state": "waiting"}})

        (delivery,) = finished(endpoint)
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "helpdesk.webhooks.tasks.deliver_webhook" in log
    assert delivery.status == Status.SUCCEEDED, delivery.error
    assert delivery.attempts == 2
    assert [entry["status"] for entry in delivery.attempt_log] == [500, 200]
    assert delivery.response_status == 200
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["x-helpdesk-delivery"] == second.headers["x-helpdesk-delivery"]
    for request in (first, second):
        assert webhook_signature_verify(
            secret=endpoint.secret,
            body=request.body,
            timestamp_header=request.headers["x-helpdesk-timestamp"],
            signature_header=request.headers["x-helpdesk-signature"],
        )
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0
