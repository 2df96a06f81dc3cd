"""The conversation services emit their webhook events: a real receiver gets each one."""

import json

import pytest

from conversations import services
from helpdesk.webhooks.models import WebhookDelivery
from helpdesk.webhooks.selectors import webhook_site_subscribed_events
from tests.factories import AgentFactory, SiteFactory, VisitorFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db(transaction=True)


def events_received(receiver, count: int) -> list[tuple[str, dict]]:
    return [
        (r.headers["x-helpdesk-event"], json.loads(r.body)["data"])
        for r in receiver.wait_for_requests(count)
    ]


def test_a_conversations_life_is_sent_event_by_event(receiver):
    site = SiteFactory()
    WebhookEndpointFactory(site=site, url=receiver.url)
    visitor = VisitorFactory(site=site)
    agent = AgentFactory()

    received = services.visitor_message_receive(visitor=visitor, client_id="c1", text="hello")
    conversation = received.message.conversation
    services.visitor_message_receive(visitor=visitor, client_id="c1", text="hello")  # a resend
    services.conversation_escalate(conversation_id=conversation.pk, reason="visitor asked")
    services.agent_message_send(
        conversation_id=conversation.pk, agent=agent, client_id="n1", text="a note", internal=True
    )
    services.agent_message_send(
        conversation_id=conversation.pk, agent=agent, client_id="r1", text="on it"
    )
    services.conversation_close(conversation_id=conversation.pk)
    services.conversation_csat_submit(
        visitor=visitor, conversation_id=conversation.pk, rating=4, comment="quick"
    )

    events = events_received(receiver, 7)
    names = [name for name, _ in events]
    assert names.count("conversation.created") == 1
    assert names.count("conversation.escalated") == 1
    assert names.count("conversation.closed") == 1
    assert names.count("csat.submitted") == 1
    texts = [data["message"]["text"] for name, data in events if name == "message.created"]
    # The visitor's message once (the resend is the same row), the agent's reply, and the
    # join notice; never the internal note.
    assert texts.count("hello") == 1 and "on it" in texts and "a note" not in texts
    assert dict(events)["csat.submitted"]["csat"]["rating"] == 4


def test_a_site_without_endpoints_creates_no_deliveries_and_a_new_endpoint_is_seen_at_once(
    receiver,
):
    site = SiteFactory()
    visitor = VisitorFactory(site=site)
    services.visitor_message_receive(visitor=visitor, client_id="a", text="first")
    assert webhook_site_subscribed_events(site_id=site.pk) == frozenset()
    assert not WebhookDelivery.objects.exists()

    WebhookEndpointFactory(site=site, url=receiver.url, events=["message.created"])
    services.visitor_message_receive(visitor=visitor, client_id="b", text="second")
    ((name, data),) = events_received(receiver, 1)
    assert name == "message.created" and data["message"]["text"] == "second"
