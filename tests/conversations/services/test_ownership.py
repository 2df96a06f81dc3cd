"""Every ownership transition, the takeover race and round-robin assignment."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from conversations import services
from conversations.models import Conversation, Message
from conversations.pipeline import human_request
from conversations.services import TransitionRefused
from helpdesk.business_hours import business_hours_text, site_is_open
from helpdesk.models import Agent
from tests.factories import AgentFactory, ConversationFactory, SiteFactory

State = Conversation.State


@pytest.fixture
def conversation(db):
    return ConversationFactory()


def online_agent(site, **fields) -> Agent:
    agent = AgentFactory(status=Agent.Status.ONLINE, **fields)
    agent.sites.add(site)
    return agent


@pytest.mark.django_db
def test_escalate_moves_bot_to_waiting_once(conversation):
    assert services.conversation_escalate(conversation_id=conversation.pk, reason="why") is not None
    conversation.refresh_from_db()
    assert conversation.state == State.WAITING and conversation.waiting_since is not None
    assert services.conversation_escalate(conversation_id=conversation.pk, reason="again") is None


@pytest.mark.django_db
def test_take_over_from_bot_and_from_waiting_cancels_the_pending_reply(conversation):
    agent = AgentFactory()
    reply_id = services.reply_pending_begin(conversation_id=conversation.pk)
    services.conversation_take_over(conversation_id=conversation.pk, agent=agent)
    conversation.refresh_from_db()
    assert conversation.state == State.HUMAN and conversation.assigned_agent == agent
    assert conversation.pending_reply_id is None
    # Nothing the stream tries to save afterwards is kept.
    assert (
        services.llm_reply_save(conversation_id=conversation.pk, reply_id=reply_id, text="late")
        is None
    )
    assert (
        services.llm_reply_save(
            conversation_id=conversation.pk, reply_id=reply_id, text="late", interrupted=True
        )
        is None
    )
    assert not Message.objects.filter(conversation=conversation, author_kind="bot").exists()
    joined = Message.objects.get(conversation=conversation, author_kind="system")
    assert joined.text == f"{agent.display_name} joined the conversation"

    waiting = ConversationFactory(state=State.WAITING)
    services.conversation_take_over(conversation_id=waiting.pk, agent=agent)
    waiting.refresh_from_db()
    assert waiting.state == State.HUMAN and waiting.waiting_since is None


@pytest.mark.django_db
def test_take_over_of_someone_elses_or_a_closed_conversation_is_refused(conversation):
    alice, bob = AgentFactory(), AgentFactory()
    services.conversation_take_over(conversation_id=conversation.pk, agent=alice)
    services.conversation_take_over(conversation_id=conversation.pk, agent=alice)  # idempotent
    with pytest.raises(TransitionRefused) as refused:
        services.conversation_take_over(conversation_id=conversation.pk, agent=bob)
    assert refused.value.owner == alice
    services.conversation_close(conversation_id=conversation.pk)
    with pytest.raises(TransitionRefused):
        services.conversation_take_over(conversation_id=conversation.pk, agent=bob)


@pytest.mark.django_db
def test_hand_back_returns_a_human_conversation_to_the_bot(conversation):
    agent = AgentFactory()
    with pytest.raises(TransitionRefused):
        services.conversation_hand_back(conversation_id=conversation.pk, agent=agent)
    services.conversation_take_over(conversation_id=conversation.pk, agent=agent)
    services.conversation_hand_back(conversation_id=conversation.pk, agent=agent)
    conversation.refresh_from_db()
    assert conversation.state == State.BOT and conversation.assigned_agent is None
    assert services.reply_pending_begin(conversation_id=conversation.pk) is not None


@pytest.mark.django_db
def test_transfer_is_human_to_human_with_an_internal_note(conversation):
    alice, bob = AgentFactory(), AgentFactory()
    with pytest.raises(TransitionRefused):
        services.conversation_transfer(conversation_id=conversation.pk, agent=alice, to_agent=bob)
    services.conversation_take_over(conversation_id=conversation.pk, agent=alice)
    services.conversation_transfer(
        conversation_id=conversation.pk, agent=alice, to_agent=bob, note="VIP"
    )
    conversation.refresh_from_db()
    assert conversation.state == State.HUMAN and conversation.assigned_agent == bob
    note = Message.objects.get(conversation=conversation, is_internal=True)
    assert "VIP" in note.text and note.agent == alice


@pytest.mark.django_db
def test_transfer_to_an_agent_of_another_site_is_refused(conversation):
    alice, outsider = AgentFactory(), AgentFactory()
    outsider.sites.add(SiteFactory())
    services.conversation_take_over(conversation_id=conversation.pk, agent=alice)
    with pytest.raises(TransitionRefused, match="does not serve"):
        services.conversation_transfer(
            conversation_id=conversation.pk, agent=alice, to_agent=outsider
        )


@pytest.mark.django_db
def test_close_from_any_state(conversation):
    services.conversation_close(conversation_id=conversation.pk)
    conversation.refresh_from_db()
    assert conversation.state == State.CLOSED and conversation.closed_at is not None
    assert services.conversation_close(conversation_id=conversation.pk) is None


@pytest.mark.django_db
def test_agent_reply_takes_the_conversation_and_is_idempotent(conversation):
    agent = AgentFactory()
    first = services.agent_message_send(
        conversation_id=conversation.pk, agent=agent, client_id="x", text="Hello"
    )
    again = services.agent_message_send(
        conversation_id=conversation.pk, agent=agent, client_id="x", text="Hello"
    )
    assert again.duplicate and again.message.pk == first.message.pk
    conversation.refresh_from_db()
    assert conversation.state == State.HUMAN and conversation.assigned_agent == agent


@pytest.mark.django_db
def test_internal_note_does_not_take_the_conversation(conversation):
    services.agent_message_send(
        conversation_id=conversation.pk,
        agent=AgentFactory(),
        client_id="n",
        text="hm",
        internal=True,
    )
    conversation.refresh_from_db()
    assert conversation.state == State.BOT


@pytest.mark.django_db
def test_waiting_conversations_are_assigned_round_robin_within_capacity(
    django_capture_on_commit_callbacks,
):
    site = SiteFactory()
    alice = online_agent(site, max_concurrent_conversations=1)
    bob = online_agent(site, max_concurrent_conversations=5)
    AgentFactory(status=Agent.Status.AWAY).sites.add(site)
    owners = []
    for _ in range(4):
        conversation = ConversationFactory(visitor__site=site)
        with django_capture_on_commit_callbacks(execute=True):
            services.conversation_escalate(conversation_id=conversation.pk, reason="help")
        conversation.refresh_from_db()
        owners.append(conversation.assigned_agent)
    # Alice (never assigned) first, then only Bob: Alice is at capacity.
    assert owners == [alice, bob, bob, bob]


@pytest.mark.django_db
def test_waiting_conversation_stays_queued_when_nobody_is_online_then_goes_to_who_comes_online(
    django_capture_on_commit_callbacks,
):
    site = SiteFactory()
    conversation = ConversationFactory(visitor__site=site)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_escalate(conversation_id=conversation.pk, reason="help")
    conversation.refresh_from_db()
    assert conversation.assigned_agent is None
    agent = AgentFactory()
    agent.sites.add(site)
    services.agent_status_set(agent_id=agent.pk, status=Agent.Status.ONLINE)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent


@pytest.mark.django_db
def test_presence_counts_tabs_as_one_and_goes_offline_only_when_all_are_gone():
    agent = AgentFactory()
    services.agent_socket_opened(agent_id=agent.pk)
    services.agent_socket_opened(agent_id=agent.pk)
    agent.refresh_from_db()
    assert agent.status == Agent.Status.ONLINE
    assert services.agent_socket_closed(agent_id=agent.pk) == 1
    assert services.agent_offline_if_gone(agent_id=agent.pk) is False
    assert services.agent_socket_closed(agent_id=agent.pk) == 0
    assert services.agent_offline_if_gone(agent_id=agent.pk) is True
    agent.refresh_from_db()
    assert agent.status == Agent.Status.OFFLINE


@pytest.mark.django_db
def test_business_hours():
    site = SiteFactory(
        business_hours={"timezone": "Europe/Berlin", "days": {"0": [["09:00", "17:00"]]}}
    )
    monday_10_berlin = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert site_is_open(site=site, now=monday_10_berlin)
    assert not site_is_open(site=site, now=monday_10_berlin + timedelta(hours=8))
    assert not site_is_open(site=site, now=monday_10_berlin + timedelta(days=1))
    assert business_hours_text(site=site) == "Mon 09:00-17:00 (Europe/Berlin)"
    weekdays = SiteFactory()
    assert business_hours_text(site=weekdays) == "Mon-Fri 09:00-17:00 (UTC)"


@pytest.mark.django_db
def test_asking_for_a_person_with_nobody_online_says_when_and_asks_for_email(conversation):
    human_request(conversation_id=conversation.pk, language="en")
    notice = Message.objects.get(conversation=conversation, author_kind="system")
    assert "offline" in notice.text and "email" in notice.text
    assert "Mon-Fri 09:00-17:00 (UTC)" in notice.text
    conversation.refresh_from_db()
    assert conversation.state == State.WAITING
    received = services.visitor_message_receive(
        visitor=conversation.visitor, client_id="e", text="sure, it's me@example.com thanks"
    )
    assert received.message.conversation_id == conversation.pk
    conversation.visitor.refresh_from_db()
    assert conversation.visitor.email == "me@example.com"


@pytest.mark.django_db
def test_asking_for_a_person_during_hours_with_someone_online(conversation):
    conversation.site.business_hours = {}
    conversation.site.save()
    online_agent(conversation.site)
    human_request(conversation_id=conversation.pk, language="zh-CN")
    notice = Message.objects.get(conversation=conversation, author_kind="system")
    assert notice.text == "已为您呼叫人工客服，请稍候。"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_takeovers_on_postgresql_exactly_one_wins():
    assert connection.vendor == "postgresql"
    for _ in range(5):
        conversation = ConversationFactory()
        agents = [AgentFactory(), AgentFactory()]
        outcomes = _race_takeovers(conversation.pk, agents)
        conversation.refresh_from_db()
        assert sorted(outcomes) == [f"lost to {conversation.assigned_agent_id}", "won"]
        assert Message.objects.filter(conversation=conversation, author_kind="system").count() == 1


def _race_takeovers(conversation_id: int, agents: list[Agent]) -> list[str]:
    """Both agents call take over at the same instant, each on its own connection."""
    barrier = threading.Barrier(len(agents))
    outcomes: list[str] = []

    def attempt(agent: Agent) -> None:
        barrier.wait()
        try:
            services.conversation_take_over(conversation_id=conversation_id, agent=agent)
            outcomes.append("won")
        except TransitionRefused as refused:
            outcomes.append(f"lost to {refused.owner.pk}")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes
