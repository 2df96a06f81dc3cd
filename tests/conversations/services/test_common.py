"""A saved message's broadcasts: one trip to the event loop after commit, and the
events go out even when the inbox row cannot be built."""

import logging

import pytest

from conversations.broadcast import (
    conversation_agents_group,
    conversation_group,
    site_agents_group,
)
from conversations.models import Message
from conversations.selectors import agents_watching_forget
from conversations.services import visitor_message_receive
from helpdesk.models import Agent
from tests.factories import AgentFactory, ConversationFactory, VisitorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trips(monkeypatch):
    """Each call of the one-trip publisher: the (group, message) pairs it was given."""
    calls: list[list[tuple[str, dict]]] = []

    async def record(sends):
        calls.append(list(sends))

    monkeypatch.setattr("conversations.broadcast.group_sends_publish", record)
    return calls


@pytest.fixture
def console_open(db):
    AgentFactory(status=Agent.Status.ONLINE)
    agents_watching_forget()
    yield
    agents_watching_forget()


def _receive(django_capture_on_commit_callbacks, text="where is my parcel?"):
    visitor = VisitorFactory()
    conversation = ConversationFactory(site=visitor.site, visitor=visitor)
    with django_capture_on_commit_callbacks(execute=True):
        received = visitor_message_receive(visitor=visitor, client_id="c1", text=text)
    return conversation, received.message


def test_a_message_reaches_visitor_consoles_and_inbox_in_one_trip(
    trips, console_open, django_capture_on_commit_callbacks
):
    conversation, message = _receive(django_capture_on_commit_callbacks)

    (trip,) = trips
    groups = [group for group, _ in trip]
    assert groups == [
        conversation_group(conversation.pk),
        conversation_agents_group(conversation.pk),
        site_agents_group(conversation.site_id),
    ]
    visitor_event, console_event, row = (payload for _, payload in trip)
    assert visitor_event["event"]["message"]["id"] == message.pk
    assert console_event["event"]["message"]["id"] == message.pk
    assert row["frame"]["type"] == "conversation.updated"
    assert row["frame"]["conversation"]["id"] == conversation.pk


def test_without_consoles_no_row_is_built(trips, django_capture_on_commit_callbacks, monkeypatch):
    agents_watching_forget()
    monkeypatch.setattr(
        "conversations.services.common.conversation_row",
        lambda **_: pytest.fail("a row nobody receives"),
    )
    conversation, _ = _receive(django_capture_on_commit_callbacks)
    (trip,) = trips
    assert [group for group, _ in trip] == [
        conversation_group(conversation.pk),
        conversation_agents_group(conversation.pk),
    ]


def test_the_events_go_out_when_the_row_fails(
    trips, console_open, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broken_row(**_):
        raise RuntimeError("row query failed")

    monkeypatch.setattr("conversations.services.common.conversation_row", broken_row)
    with caplog.at_level(logging.ERROR, logger="conversations.services.common"):
        conversation, message = _receive(django_capture_on_commit_callbacks)

    (trip,) = trips
    assert [group for group, _ in trip] == [
        conversation_group(conversation.pk),
        conversation_agents_group(conversation.pk),
    ]
    assert "conversation row failed" in caplog.text
    assert Message.objects.filter(pk=message.pk).exists()
