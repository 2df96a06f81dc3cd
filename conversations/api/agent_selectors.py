"""Reads for the agent API: conversations and messages on the caller's sites."""

from django.db.models import Count, F, Q, QuerySet

from conversations.models import Conversation, Message
from conversations.selectors import agent_site_ids, conversation_ids_matching
from helpdesk.models import Agent, Site


def api_site_ids(*, agent: Agent) -> list[int]:
    """Superusers see every site; other staff the sites on their profile (none chosen: all)."""
    if agent.user.is_superuser:
        return list(Site.objects.values_list("id", flat=True))
    return agent_site_ids(agent=agent)


def conversations_for_api(
    *,
    site_ids: list[int],
    state: str = "",
    site_id: int | None = None,
    query: str = "",
    assigned_to: Agent | None = None,
) -> QuerySet[Conversation]:
    """Newest activity first; `query` matches the visitor's name or email or any message."""
    unread = Count(
        "messages",
        filter=Q(
            messages__author_kind=Message.Author.VISITOR,
            messages__id__gt=F("agent_last_seen_id"),
        ),
    )
    rows = Conversation.objects.filter(site_id__in=site_ids)
    if state:
        rows = rows.filter(state=state)
    if site_id is not None:
        rows = rows.filter(site_id=site_id)
    if assigned_to is not None:
        rows = rows.filter(assigned_agent=assigned_to)
    if query:
        rows = rows.filter(id__in=conversation_ids_matching(query=query))
    return (
        rows.select_related("site", "visitor", "assigned_agent")
        .annotate(unread=unread)
        .order_by("-last_activity_at", "-id")
    )


def conversation_for_api(*, site_ids: list[int], conversation_id: int) -> Conversation | None:
    return conversations_for_api(site_ids=site_ids).filter(pk=conversation_id).first()


def conversation_messages_for_agents(
    *, conversation_id: int, after_id: int = 0, limit: int = 100
) -> list[Message]:
    """Messages after `after_id`, oldest first, internal notes included (agents see them)."""
    return list(
        Message.objects.filter(conversation_id=conversation_id, id__gt=after_id)
        .select_related("agent", "kb_entry")
        .prefetch_related("attachments")
        .order_by("id")[:limit]
    )
