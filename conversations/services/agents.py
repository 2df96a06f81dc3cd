"""Writes from the agent console: replies, internal notes, read marks, presence."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.broadcast import agent_frame_publish_sync, presence_group
from conversations.events import agent_row
from conversations.models import Conversation, Message
from conversations.selectors import agents_watching_forget
from conversations.services.attachments import attachments_link
from conversations.services.common import (
    conversation_updated_after_commit,
    locked,
    message_broadcast_after_commit,
    system_message_create,
)
from conversations.services.ownership import TransitionRefused, take_over_locked
from helpdesk import metrics
from helpdesk.models import Agent
from helpdesk.webhooks.services import webhook_message_emit


@dataclass(frozen=True)
class AgentPost:
    message: Message
    duplicate: bool


def agent_message_send(
    *,
    conversation_id: int,
    agent: Agent,
    client_id: str,
    text: str,
    internal: bool = False,
    attachment_ids: Sequence[int] = (),
) -> AgentPost:
    """A reply to the visitor (taking the conversation first if the bot or queue has it),
    or, with internal=True, a note only agents see. `attachment_ids`: this agent's
    unsent uploads to this conversation (else AttachmentRefused, nothing saved)."""
    try:
        return _agent_message_save(
            conversation_id=conversation_id,
            agent=agent,
            client_id=client_id,
            text=text,
            internal=internal,
            attachment_ids=attachment_ids,
        )
    except IntegrityError:
        existing = Message.objects.get(conversation_id=conversation_id, client_id=client_id)
        return AgentPost(message=existing, duplicate=True)


@transaction.atomic
def _agent_message_save(
    *,
    conversation_id: int,
    agent: Agent,
    client_id: str,
    text: str,
    internal: bool,
    attachment_ids: Sequence[int],
) -> AgentPost:
    conversation = locked(conversation_id)
    existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
    if existing is not None:
        return AgentPost(message=existing, duplicate=True)
    if conversation.state == Conversation.State.CLOSED:
        raise TransitionRefused("The conversation is closed.", state=conversation.state)
    if not internal and conversation.state in (Conversation.State.BOT, Conversation.State.WAITING):
        take_over_locked(conversation, agent=agent)
    message = system_message_create(
        conversation=conversation,
        text=text,
        author=Message.Author.AGENT,
        source=Message.Source.AGENT,
        agent=agent,
        client_id=client_id,
        is_internal=internal,
        # Announced once the files are linked: the event and the webhook carry them.
        broadcast=False,
        webhook=False,
    )
    attachments_link(message=message, attachment_ids=attachment_ids, agent=agent)
    message_broadcast_after_commit(message)
    webhook_message_emit(message=message)
    if not internal:
        Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=timezone.now())
        metrics.reply_counted("agent")
    return AgentPost(message=message, duplicate=False)


def conversation_mark_read_by_agents(*, conversation_id: int, message_id: int) -> None:
    updated = Conversation.objects.filter(
        pk=conversation_id, agent_last_seen_id__lt=message_id
    ).update(agent_last_seen_id=message_id)
    if updated:
        site_id = Conversation.objects.values_list("site_id", flat=True).get(pk=conversation_id)
        with transaction.atomic():
            conversation_updated_after_commit(conversation_id=conversation_id, site_id=site_id)


def agent_status_set(*, agent_id: int, status: str) -> Agent | None:
    """Set presence and tell every console; returns None if nothing changed."""
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None or agent.status == status:
        return None
    agent.status = status
    agent.last_seen_at = timezone.now()
    agent.save(update_fields=["status", "last_seen_at"])
    agents_watching_forget()
    agent_frame_publish_sync(
        group=presence_group(), frame={"type": "presence", "agent": agent_row(agent)}
    )
    if status == Agent.Status.ONLINE:
        _assign_queue(agent)
    return agent


def _assign_queue(agent: Agent) -> None:
    """An agent coming online picks up unassigned waiting conversations, oldest first."""
    from conversations.services.ownership import conversation_auto_assign

    waiting = Conversation.objects.filter(
        state=Conversation.State.WAITING, assigned_agent__isnull=True
    ).order_by("waiting_since")
    if agent.sites.exists():
        waiting = waiting.filter(site__in=agent.sites.all())
    for conversation_id in waiting.values_list("id", flat=True)[
        : agent.max_concurrent_conversations
    ]:
        if conversation_auto_assign(conversation_id=conversation_id) is None:
            break


def _sockets_key(agent_id: int) -> str:
    return f"agent:{agent_id}:sockets"


def agent_socket_opened(*, agent_id: int) -> None:
    """Several tabs count as one agent: online from the first socket on."""
    key = _sockets_key(agent_id)
    cache.add(key, 0, timeout=None)
    cache.incr(key)
    agents_watching_forget()
    agent = Agent.objects.filter(pk=agent_id).only("status").first()
    if agent is not None and agent.status == Agent.Status.OFFLINE:
        agent_status_set(agent_id=agent_id, status=Agent.Status.ONLINE)


def agent_socket_closed(*, agent_id: int) -> int:
    """Returns how many sockets the agent still has open."""
    key = _sockets_key(agent_id)
    try:
        remaining = cache.decr(key)
    except ValueError:
        return 0
    if remaining < 0:
        cache.set(key, 0, timeout=None)
        return 0
    return remaining


def agent_offline_if_gone(*, agent_id: int) -> bool:
    """After the grace period: offline if no socket came back."""
    if (cache.get(_sockets_key(agent_id)) or 0) > 0:
        return False
    return agent_status_set(agent_id=agent_id, status=Agent.Status.OFFLINE) is not None
