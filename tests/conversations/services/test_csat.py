"""The CSAT rules: own conversation only, closed only, 1-5, comment limit, one rating
with a short change window, and a live update for agents after commit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services
from conversations.broadcast import site_agents_group
from conversations.events import AgentCsatEvent
from conversations.models import Conversation
from conversations.selectors import CSAT_ASK_WINDOW, conversation_row, visitor_csat_pending
from conversations.services import CSAT_COMMENT_MAX_LENGTH, CSAT_EDIT_WINDOW, CsatRefused
from tests.factories import ConversationFactory, MessageFactory, VisitorFactory
from tests.protocol import check_typeddict

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed(db):
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, text="where is my parcel?")
    services.conversation_close(conversation_id=conversation.pk)
    conversation.refresh_from_db()
    return conversation


def submit(conversation, **fields):
    fields.setdefault("rating", 4)
    return services.conversation_csat_submit(
        visitor=conversation.visitor, conversation_id=conversation.pk, **fields
    )


def test_a_rating_and_comment_are_stored_on_the_closed_conversation(closed):
    recorded = submit(closed, rating=4, comment="  Quick and friendly  ")
    closed.refresh_from_db()
    assert (closed.csat_rating, closed.csat_comment) == (4, "Quick and friendly")
    assert closed.csat_submitted_at is not None and recorded.updated is False
    assert recorded.editable_until == closed.csat_submitted_at + CSAT_EDIT_WINDOW


@pytest.mark.parametrize("rating", [0, 6, -1, "4", 4.0, True, None])
def test_only_whole_numbers_from_1_to_5_are_accepted(closed, rating):
    with pytest.raises(CsatRefused) as refused:
        submit(closed, rating=rating)
    assert refused.value.code == "invalid_rating"
    closed.refresh_from_db()
    assert closed.csat_rating is None and closed.csat_submitted_at is None


def test_a_comment_over_the_limit_is_refused_and_nothing_is_saved(closed):
    with pytest.raises(CsatRefused) as refused:
        submit(closed, comment="x" * (CSAT_COMMENT_MAX_LENGTH + 1))
    assert refused.value.code == "too_long"
    closed.refresh_from_db()
    assert closed.csat_rating is None
    submit(closed, comment="x" * CSAT_COMMENT_MAX_LENGTH)
    closed.refresh_from_db()
    assert len(closed.csat_comment) == CSAT_COMMENT_MAX_LENGTH


def test_an_open_conversation_cannot_be_rated():
    conversation = ConversationFactory(state=Conversation.State.HUMAN)
    with pytest.raises(CsatRefused) as refused:
        submit(conversation)
    assert refused.value.code == "not_closed"


def test_another_visitors_conversation_is_not_found(closed):
    stranger = VisitorFactory(site=closed.site)
    with pytest.raises(CsatRefused) as refused:
        services.conversation_csat_submit(visitor=stranger, conversation_id=closed.pk, rating=1)
    assert refused.value.code == "not_found"
    closed.refresh_from_db()
    assert closed.csat_rating is None


def test_a_second_submission_within_the_window_replaces_the_first(closed):
    first = submit(closed, rating=2, comment="meh")
    second = submit(closed, rating=5, comment="", now=first.editable_until - timedelta(seconds=1))
    closed.refresh_from_db()
    assert (closed.csat_rating, closed.csat_comment, second.updated) == (5, "", True)
    # The window runs from the first submission: editing does not extend it.
    assert second.editable_until == first.editable_until


def test_after_the_window_the_rating_is_final(closed):
    first = submit(closed, rating=3)
    with pytest.raises(CsatRefused) as refused:
        submit(closed, rating=1, now=first.editable_until + timedelta(seconds=1))
    assert refused.value.code == "already_rated"
    closed.refresh_from_db()
    assert closed.csat_rating == 3


def test_agents_are_told_after_commit(closed, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(
        "conversations.broadcast.group_sends_publish",
        _recorder(sent),
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit(closed, rating=5, comment="great")
        assert sent == []  # nothing before the commit
    for callback in callbacks:
        callback()
    (event,) = [s for s in sent if s.get("event", {}).get("type") == "csat"]
    assert event["group"] == site_agents_group(closed.site_id)
    assert event["conversation_id"] == closed.pk
    check_typeddict(event["event"], AgentCsatEvent, "csat")
    assert event["event"]["csat"]["rating"] == 5


def _recorder(sent):
    async def publish(sends):
        for group, message in sends:
            sent.append({"group": group, **message})

    return publish


def test_the_console_row_carries_the_rating(closed):
    assert conversation_row(conversation_id=closed.pk)["csat"] is None
    submit(closed, rating=4, comment="ok")
    row = conversation_row(conversation_id=closed.pk)
    assert row["csat"]["rating"] == 4 and row["csat"]["comment"] == "ok"


def test_pending_rating_is_the_latest_recent_unrated_closed_conversation(closed):
    assert visitor_csat_pending(visitor=closed.visitor) == closed
    submit(closed)
    assert visitor_csat_pending(visitor=closed.visitor) is None


def test_nothing_is_pending_when_a_newer_conversation_is_open_or_the_close_is_old(closed):
    Conversation.objects.filter(pk=closed.pk).update(
        closed_at=timezone.now() - CSAT_ASK_WINDOW - timedelta(minutes=1)
    )
    assert visitor_csat_pending(visitor=closed.visitor) is None
    Conversation.objects.filter(pk=closed.pk).update(closed_at=timezone.now())
    ConversationFactory(visitor=closed.visitor)
    assert visitor_csat_pending(visitor=closed.visitor) is None


def test_a_conversation_the_visitor_never_wrote_in_is_not_rated():
    silent = ConversationFactory()
    services.conversation_close(conversation_id=silent.pk)
    assert visitor_csat_pending(visitor=silent.visitor) is None
