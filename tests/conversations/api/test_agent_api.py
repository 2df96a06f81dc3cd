"""The agent HTTP API: what it lists and reads, and the actions (take over, reply, ...)."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from conversations.models import Conversation, Message
from tests.factories import (
    AgentFactory,
    ConversationFactory,
    MessageFactory,
    SiteFactory,
    VisitorFactory,
)

API = "/api/v1/agent/conversations"


def token_client(user) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(headers={"Authorization": f"Token {token.key}"})


@pytest.fixture
def site(db):
    return SiteFactory()


@pytest.fixture
def other_site(db):
    return SiteFactory()


@pytest.fixture
def conversation(site):
    conversation = ConversationFactory(
        visitor=VisitorFactory(site=site, name="Vera Visitor", email="vera@example.com")
    )
    MessageFactory(conversation=conversation, text="where is my parcel?")
    return conversation


# --- list and read ----------------------------------------------------------------------


def test_list_filters_by_state_site_assignee_and_search(alice, bob, site):
    second_site = SiteFactory()
    alice.sites.add(second_site)
    bot = ConversationFactory(visitor=VisitorFactory(site=site, name="Bea"))
    waiting = ConversationFactory(visitor=VisitorFactory(site=site), state="waiting")
    mine = ConversationFactory(
        visitor=VisitorFactory(site=second_site), state="human", assigned_agent=alice
    )
    bobs = ConversationFactory(visitor=VisitorFactory(site=site), state="human", assigned_agent=bob)
    closed = ConversationFactory(visitor=VisitorFactory(site=site), state="closed")
    MessageFactory(conversation=closed, text="My invoice number is 4711")
    client = token_client(alice.user)

    def ids(query: str = "") -> set[int]:
        response = client.get(f"{API}{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {bot.pk, waiting.pk, mine.pk, bobs.pk, closed.pk}
    assert ids("?state=waiting") == {waiting.pk}
    assert ids("?state=human") == {mine.pk, bobs.pk}
    assert ids("?assigned=me") == {mine.pk}
    assert ids(f"?site={second_site.pk}") == {mine.pk}
    assert ids("?q=invoice+number") == {closed.pk}
    assert ids("?q=bea") == {bot.pk}
    assert ids("?state=closed&q=bea") == set()

    invalid = client.get(f"{API}?state=sleeping")
    assert invalid.status_code == 400
    assert invalid.json()["error"] == "invalid" and "state" in invalid.json()["fields"]


def test_list_is_paginated_newest_activity_first(alice, site):
    now = timezone.now()
    conversations = [ConversationFactory(visitor=VisitorFactory(site=site)) for _ in range(5)]
    for age, conversation in enumerate(conversations):
        Conversation.objects.filter(pk=conversation.pk).update(
            last_activity_at=now - timezone.timedelta(minutes=age)
        )
    client = token_client(alice.user)
    first = client.get(f"{API}?limit=2").json()
    assert first["count"] == 5 and first["next"]
    assert [r["id"] for r in first["results"]] == [c.pk for c in conversations[:2]]
    second = client.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [c.pk for c in conversations[2:4]]


def test_read_gives_visitor_state_agent_csat_and_escalation_reason(alice, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(
        state="closed",
        assigned_agent=alice,
        escalation_reason="asked for a human",
        csat_rating=4,
        csat_comment="quick",
        csat_submitted_at=timezone.now(),
    )
    body = token_client(alice.user).get(f"{API}/{conversation.pk}").json()
    assert body["state"] == "closed" and body["escalation_reason"] == "asked for a human"
    assert body["visitor"]["name"] == "Vera Visitor"
    assert body["visitor"]["email"] == "vera@example.com"
    assert body["assigned_agent"]["name"] == "Alice Agent"
    assert body["csat"]["rating"] == 4 and body["csat"]["comment"] == "quick"
    assert body["unread"] == 1


def test_messages_include_marked_internal_notes_and_page_by_after(alice, conversation):
    MessageFactory(conversation=conversation, author_kind="agent", source="agent", agent=alice,
                   text="VIP, be nice", is_internal=True)  # fmt: skip
    MessageFactory(conversation=conversation, text="hello?")
    client = token_client(alice.user)
    page = client.get(f"{API}/{conversation.pk}/messages?limit=2").json()
    assert [m["text"] for m in page["results"]] == ["where is my parcel?", "VIP, be nice"]
    assert [m["is_internal"] for m in page["results"]] == [False, True]
    assert page["results"][1]["agent"]["name"] == "Alice Agent"
    rest = client.get(f"{API}/{conversation.pk}/messages?after={page['next_after']}").json()
    assert [m["text"] for m in rest["results"]] == ["hello?"] and rest["next_after"] is None


# --- actions ----------------------------------------------------------------------------


def test_take_over_hand_back_and_close(alice, conversation):
    client = token_client(alice.user)
    taken = client.post(f"{API}/{conversation.pk}/take-over")
    assert taken.status_code == 200
    assert taken.json()["state"] == "human"
    assert taken.json()["assigned_agent"]["name"] == "Alice Agent"
    assert client.post(f"{API}/{conversation.pk}/take-over").status_code == 200, "idempotent"

    handed = client.post(f"{API}/{conversation.pk}/hand-back")
    assert handed.status_code == 200 and handed.json()["state"] == "bot"
    assert handed.json()["assigned_agent"] is None
    again = client.post(f"{API}/{conversation.pk}/hand-back")
    assert again.status_code == 409
    assert again.json() == {
        "error": "conflict",
        "detail": "Only a conversation a human owns can be handed back.",
        "state": "bot",
        "owner": None,
    }

    closed = client.post(f"{API}/{conversation.pk}/close")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert closed.json()["closed_at"] is not None
    assert client.post(f"{API}/{conversation.pk}/close").status_code == 200
    refused = client.post(f"{API}/{conversation.pk}/take-over")
    assert refused.status_code == 409 and refused.json()["state"] == "closed"
    texts = list(conversation.messages.values_list("text", flat=True))
    assert "Alice Agent joined the conversation" in texts
    assert "Alice Agent handed the conversation back to the assistant" in texts


def test_take_over_of_another_agents_conversation_names_the_owner(alice, bob, conversation):
    assert token_client(alice.user).post(f"{API}/{conversation.pk}/take-over").status_code == 200
    response = token_client(bob.user).post(f"{API}/{conversation.pk}/take-over")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "conflict" and body["state"] == "human"
    assert body["owner"] == {"id": alice.pk, "name": "Alice Agent"}


def test_a_reply_takes_the_conversation_over_and_a_resend_is_not_posted_twice(alice, conversation):
    client = token_client(alice.user)
    body = {"text": "  Hi, Alice here!  ", "client_id": "cms-1"}
    first = client.post(f"{API}/{conversation.pk}/messages", body, content_type="application/json")
    assert first.status_code == 201
    message = first.json()
    assert message["text"] == "Hi, Alice here!" and message["author"] == "agent"
    assert message["is_internal"] is False and message["agent"]["name"] == "Alice Agent"
    conversation.refresh_from_db()
    assert conversation.state == "human" and conversation.assigned_agent_id == alice.pk

    resend = client.post(f"{API}/{conversation.pk}/messages", body, content_type="application/json")
    assert resend.status_code == 200 and resend.json()["id"] == message["id"]
    assert Message.objects.filter(conversation=conversation, author_kind="agent").count() == 1

    # Without a client_id every post is a new message.
    for _ in range(2):
        response = client.post(
            f"{API}/{conversation.pk}/messages", {"text": "more"}, content_type="application/json"
        )
        assert response.status_code == 201
    assert Message.objects.filter(conversation=conversation, text="more").count() == 2


def test_an_internal_note_keeps_the_bot_in_charge(alice, conversation):
    response = token_client(alice.user).post(
        f"{API}/{conversation.pk}/messages",
        {"text": "VIP customer", "internal": True},
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["is_internal"] is True
    conversation.refresh_from_db()
    assert conversation.state == "bot" and conversation.assigned_agent is None


def test_a_bad_reply_is_refused_with_field_errors_and_nothing_is_saved(alice, conversation):
    client = token_client(alice.user)
    url = f"{API}/{conversation.pk}/messages"
    for body, field in [
        ({"text": "   "}, "text"),
        ({}, "text"),
        ({"text": "x" * 4001}, "text"),
        ({"text": "hi", "client_id": "c" * 65}, "client_id"),
        ({"text": "hi", "internal": "perhaps"}, "internal"),
    ]:
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 400, body
        assert field in response.json()["fields"], response.json()
    not_json = client.post(url, "text=hi", content_type="application/json")
    assert not_json.status_code == 400 and not_json.json()["error"] == "parse_error"
    assert conversation.messages.count() == 1


def test_replying_to_a_closed_conversation_is_a_conflict(alice, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(state="closed")
    response = token_client(alice.user).post(
        f"{API}/{conversation.pk}/messages", {"text": "hello?"}, content_type="application/json"
    )
    assert response.status_code == 409 and response.json()["state"] == "closed"


def take_over_at_once(clients: list[Client], conversation_id: int) -> list:
    """Both clients' take-over requests, released together from their own threads."""
    start = threading.Barrier(len(clients))
    responses: list = [None] * len(clients)

    def take(position: int) -> None:
        try:
            start.wait(timeout=10)
            responses[position] = clients[position].post(f"{API}/{conversation_id}/take-over")
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


@pytest.mark.integration  # SQLite has no SELECT ... FOR UPDATE to serialise the two
@pytest.mark.django_db(transaction=True)
def test_two_tokens_taking_over_at_once_exactly_one_wins(site):
    agents = [AgentFactory(display_name=f"Racer {n}") for n in range(2)]
    for agent in agents:
        agent.sites.add(site)
    clients = [token_client(agent.user) for agent in agents]
    for _round in range(5):
        conversation = ConversationFactory(visitor=VisitorFactory(site=site), state="waiting")
        responses = take_over_at_once(clients, conversation.pk)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 409], [r.content for r in responses]
        winner = next(n for n, r in enumerate(responses) if r.status_code == 200)
        loser = responses[1 - winner].json()
        assert loser["owner"] == {"id": agents[winner].pk, "name": agents[winner].display_name}
        conversation.refresh_from_db()
        assert conversation.state == "human" and conversation.assigned_agent_id == agents[winner].pk
        joined = conversation.messages.filter(text__endswith="joined the conversation")
        assert joined.count() == 1
