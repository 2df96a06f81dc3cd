"""The ownership state machine: bot -> waiting -> human -> closed, and human -> bot.

One function per transition, each atomic, each broadcast after commit. The
conversation row is locked (SELECT ... FOR UPDATE) for every transition, so
two agents taking over at once are serialised and exactly one wins.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from conversations.events import agent_joined_event, state_event
from conversations.models import Conversation
from conversations.services.common import (
    agent_notify_after_commit,
    conversation_updated_after_commit,
    human_needed_mark,
    knowledge_gap_after_commit,
    locked,
    state_broadcast_after_commit,
    supersede_pending_reply,
    system_message_create,
)
from helpdesk.models import Agent, Site
from helpdesk.webhooks.services import webhook_conversation_emit

State = Conversation.State


class TransitionRefused(Exception):
    """The conversation is not in a state this transition starts from."""

    def __init__(self, detail: str, *, owner: Agent | None = None, state: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.owner = owner
        self.state = state


@transaction.atomic
def conversation_escalate(
    *, conversation_id: int, reason: str, notice: str | None = None
) -> Conversation | None:
    """bot -> waiting: a human is needed. Returns None when it was not the bot's to hand over."""
    conversation = locked(conversation_id)
    if conversation.state != State.BOT:
        return None
    supersede_pending_reply(conversation, reason="escalated")
    conversation.state = State.WAITING
    conversation.escalation_reason = reason[:200]
    conversation.waiting_since = timezone.now()
    human_needed_mark(conversation, reason=reason)
    conversation.save()
    webhook_conversation_emit(conversation=conversation, event="conversation.escalated")
    knowledge_gap_after_commit(conversation)
    state_broadcast_after_commit(conversation, state_event(conversation))
    if notice:
        system_message_create(conversation=conversation, text=notice)
    agent_notify_after_commit(
        agent_id=None,
        site_id=conversation.site_id,
        conversation_id=conversation.pk,
        kind="waiting",
        text=reason,
    )
    transaction.on_commit(lambda: conversation_auto_assign(conversation_id=conversation_id))
    return conversation


def _join(conversation: Conversation, agent: Agent) -> None:
    """Make `agent` the owner; the caller holds the row lock."""
    human_needed_mark(conversation, reason="taken over by an agent")
    conversation.state = State.HUMAN
    conversation.assigned_agent = agent
    conversation.waiting_since = None
    conversation.last_activity_at = timezone.now()
    # The state is broadcast before the stream is cancelled: every consumer
    # silences the reply on it, so deltas the worker sends before it sees the
    # cancel are dropped, not shown.
    state_broadcast_after_commit(
        conversation,
        state_event(conversation),
        agent_joined_event(agent=agent, conversation_id=conversation.pk),
    )
    supersede_pending_reply(conversation, reason="takeover")
    conversation.save()
    system_message_create(
        conversation=conversation, text=f"{agent.display_name} joined the conversation"
    )


def take_over_locked(conversation: Conversation, *, agent: Agent) -> bool:
    """bot|waiting -> human under an existing lock; False if `agent` already owned it."""
    if conversation.state == State.CLOSED:
        raise TransitionRefused("The conversation is closed.", state=conversation.state)
    if conversation.state == State.HUMAN:
        if conversation.assigned_agent_id == agent.pk:
            return False
        raise TransitionRefused(
            f"{conversation.assigned_agent} already took this conversation.",
            owner=conversation.assigned_agent,
            state=conversation.state,
        )
    _join(conversation, agent)
    return True


@transaction.atomic
def conversation_take_over(*, conversation_id: int, agent: Agent) -> Conversation:
    """bot|waiting -> human. Raises TransitionRefused naming the owner when someone else won."""
    conversation = locked(conversation_id)
    take_over_locked(conversation, agent=agent)
    return conversation


@transaction.atomic
def conversation_hand_back(*, conversation_id: int, agent: Agent) -> Conversation:
    """human -> bot: the assistant answers the visitor's next message."""
    conversation = locked(conversation_id)
    if conversation.state != State.HUMAN:
        raise TransitionRefused(
            "Only a conversation a human owns can be handed back.", state=conversation.state
        )
    conversation.state = State.BOT
    conversation.assigned_agent = None
    conversation.escalation_reason = ""
    conversation.last_activity_at = timezone.now()
    conversation.save()
    state_broadcast_after_commit(conversation, state_event(conversation))
    system_message_create(
        conversation=conversation,
        text=f"{agent.display_name} handed the conversation back to the assistant",
    )
    return conversation


@transaction.atomic
def conversation_transfer(
    *, conversation_id: int, agent: Agent, to_agent: Agent, note: str = ""
) -> Conversation:
    """human -> human, with a note for the new owner."""
    conversation = locked(conversation_id)
    if conversation.state != State.HUMAN:
        raise TransitionRefused(
            "Take the conversation before transferring it.", state=conversation.state
        )
    if to_agent.pk == conversation.assigned_agent_id:
        raise TransitionRefused(f"{to_agent} already owns it.", state=conversation.state)
    if to_agent.sites.exists() and not to_agent.sites.filter(pk=conversation.site_id).exists():
        raise TransitionRefused(f"{to_agent} does not serve this site.", state=conversation.state)
    system_message_create(
        conversation=conversation,
        text=f"Transferred by {agent.display_name} to {to_agent.display_name}"
        + (f": {note}" if note else ""),
        author="agent",
        source="agent",
        agent=agent,
        is_internal=True,
    )
    _join(conversation, to_agent)
    agent_notify_after_commit(
        agent_id=to_agent.pk,
        site_id=conversation.site_id,
        conversation_id=conversation.pk,
        kind="message",
        text=f"{agent.display_name} transferred a conversation to you",
    )
    return conversation


@transaction.atomic
def conversation_close(*, conversation_id: int, reason: str = "") -> Conversation | None:
    """any -> closed."""
    conversation = locked(conversation_id)
    if conversation.state == State.CLOSED:
        return None
    supersede_pending_reply(conversation, reason="closed")
    conversation.state = State.CLOSED
    conversation.closed_at = timezone.now()
    if reason:
        conversation.escalation_reason = reason[:200]
    conversation.save()
    webhook_conversation_emit(conversation=conversation, event="conversation.closed")
    state_broadcast_after_commit(conversation, state_event(conversation))
    return conversation


def conversations_close_idle(*, now: datetime | None = None) -> list[int]:
    """Close every open conversation idle for longer than its site's limit."""
    now = now or timezone.now()
    closed: list[int] = []
    for site in Site.objects.only("id", "idle_timeout_minutes"):
        cutoff = now - timedelta(minutes=site.idle_timeout_minutes)
        idle = Conversation.objects.filter(site=site, last_activity_at__lt=cutoff).exclude(
            state=State.CLOSED
        )
        for conversation_id in idle.values_list("id", flat=True):
            if conversation_close(conversation_id=conversation_id, reason="idle"):
                closed.append(conversation_id)
    return closed


def agents_available(*, site_id: int) -> list[Agent]:
    """Online agents of this site with room, longest since their last assignment first."""
    open_count = Count(
        "conversations", filter=Q(conversations__state__in=[State.WAITING, State.HUMAN])
    )
    return list(
        Agent.objects.filter(status=Agent.Status.ONLINE, user__is_active=True)
        .filter(Q(sites__id=site_id) | Q(sites__isnull=True))
        .distinct()
        .annotate(open_count=open_count)
        .filter(open_count__lt=F("max_concurrent_conversations"))
        .order_by(F("last_assigned_at").asc(nulls_first=True), "id")
    )


@dataclass(frozen=True)
class Assignment:
    conversation_id: int
    agent: Agent


@transaction.atomic
def conversation_auto_assign(*, conversation_id: int) -> Assignment | None:
    """Round-robin a waiting, unassigned conversation to an online agent with room, if any."""
    conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
    if (
        conversation is None
        or conversation.state != State.WAITING
        or conversation.assigned_agent_id
    ):
        return None
    candidates = agents_available(site_id=conversation.site_id)
    if not candidates:
        return None  # stays in the queue
    agent = candidates[0]
    conversation.assigned_agent = agent
    conversation.save(update_fields=["assigned_agent", "updated_at"])
    Agent.objects.filter(pk=agent.pk).update(last_assigned_at=timezone.now())
    conversation_updated_after_commit(conversation_id=conversation.pk, site_id=conversation.site_id)
    agent_notify_after_commit(
        agent_id=agent.pk,
        site_id=conversation.site_id,
        conversation_id=conversation.pk,
        kind="waiting",
        text="A waiting conversation was assigned to you",
    )
    return Assignment(conversation_id=conversation.pk, agent=agent)
