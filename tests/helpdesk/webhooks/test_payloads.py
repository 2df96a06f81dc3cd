"""The `data` of each webhook event, built from factory-made rows."""

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from helpdesk.webhooks.payloads import (
    webhook_data_conversation,
    webhook_data_csat,
    webhook_data_message,
)
from tests.factories import AgentFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def as_json(data: dict) -> dict:
    """What a receiver gets: the payload through the same encoder as the emit."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def test_conversation_created():
    conversation = ConversationFactory(
        visitor__name="Ada", visitor__email="ada@example.com", visitor__external_id="u-1"
    )

    data = as_json(webhook_data_conversation(conversation))["conversation"]

    assert data["id"] == conversation.pk
    assert data["state"] == "bot"
    assert data["created_at"] == conversation.created_at.isoformat()
    assert data["assigned_agent"] is None
    assert data["visitor"] == {
        "id": str(conversation.visitor.anonymous_id),
        "external_id": "u-1",
        "name": "Ada",
        "email": "ada@example.com",
        "identity_verified": False,
    }


def test_conversation_escalated():
    conversation = ConversationFactory(state="waiting", escalation_reason="visitor asked")

    data = webhook_data_conversation(conversation)["conversation"]

    assert data["state"] == "waiting"
    assert data["escalation_reason"] == "visitor asked"


def test_conversation_closed_with_its_agent():
    agent = AgentFactory(display_name="Grace")
    conversation = ConversationFactory(
        state="closed", assigned_agent=agent, closed_at=timezone.now()
    )

    data = as_json(webhook_data_conversation(conversation))["conversation"]

    assert data["state"] == "closed"
    assert data["closed_at"] == conversation.closed_at.isoformat()
    assert data["assigned_agent"] == {"id": agent.pk, "name": "Grace"}


def test_message_created():
    agent = AgentFactory(display_name="Grace")
    message = MessageFactory(author_kind="agent", source="agent", agent=agent, text="<b>Hi</b>")

    data = as_json(webhook_data_message(message))["message"]

    assert data == {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "author": "agent",
        "agent": {"id": agent.pk, "name": "Grace"},
        "text": "<b>Hi</b>",
        "source": "agent",
        "created_at": message.created_at.isoformat(),
        "attachments": [],
    }


def test_an_internal_note_is_never_a_webhook():
    note = MessageFactory(author_kind="agent", source="agent", is_internal=True, text="VIP")

    assert webhook_data_message(note) is None


def test_csat_submitted():
    conversation = ConversationFactory(
        state="closed",
        csat_rating=4,
        csat_comment="Quick, thanks",
        csat_submitted_at=timezone.now(),
    )

    data = as_json(webhook_data_csat(conversation))["csat"]

    assert data == {
        "conversation_id": conversation.pk,
        "rating": 4,
        "comment": "Quick, thanks",
        "submitted_at": conversation.csat_submitted_at.isoformat(),
    }
