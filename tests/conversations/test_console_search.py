"""The console's list search (`GET /agent/api/conversations/?tab=...&q=...`)."""

import pytest
from django.urls import reverse

from conversations.models import Conversation
from tests.factories import AgentFactory, ConversationFactory, MessageFactory, VisitorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return AgentFactory()


def listed(client, agent, q: str) -> set[int]:
    client.force_login(agent.user)
    response = client.get(reverse("agent-api-conversations"), {"tab": "waiting", "q": q})
    assert response.status_code == 200
    return {row["id"] for row in response.json()["conversations"]}


def test_search_matches_the_visitors_name_email_or_any_message(client, agent):
    waiting = {"state": Conversation.State.WAITING}
    by_name = ConversationFactory(visitor=VisitorFactory(name="Greta Lindqvist"), **waiting)
    by_email = ConversationFactory(visitor=VisitorFactory(email="greta@shop.test"), **waiting)
    by_text = ConversationFactory(**waiting)
    MessageFactory(conversation=by_text, text="my parcel from Greta's shop is late")
    other = ConversationFactory(visitor=VisitorFactory(name="Olaf"), **waiting)
    MessageFactory(conversation=other, text="where is my refund")

    assert listed(client, agent, "greta") == {by_name.pk, by_email.pk, by_text.pk}
    assert listed(client, agent, "REFUND") == {other.pk}
    assert listed(client, agent, "") == {by_name.pk, by_email.pk, by_text.pk, other.pk}
