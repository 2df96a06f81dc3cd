"""Reads for the agent console: sites served, staffing, the conversation list and detail."""

import time
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.utils import timezone

from conversations.events import (
    AgentRow,
    agent_message_payload,
    agent_row,
    csat_payload,
)
from conversations.models import CannedResponse, Conversation, Message, Visitor
from helpdesk.models import Agent, Site


def agent_site_ids(*, agent: Agent) -> list[int]:
    """The sites an agent serves: those selected on their profile, or every site."""
    chosen = list(agent.sites.values_list("id", flat=True))
    return chosen or list(Site.objects.values_list("id", flat=True))


def agent_get_or_create_for_user(*, user) -> Agent | None:
    if not (getattr(user, "is_authenticated", False) and user.is_staff and user.is_active):
        return None
    agent, _ = Agent.objects.get_or_create(
        user=user, defaults={"display_name": user.get_full_name() or user.get_username()}
    )
    return agent


def site_llm_tokens_today(*, site_id: int) -> int:
    """Prompt + reply tokens the site's LLM replies used since midnight UTC."""
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    totals = Message.objects.filter(
        conversation__site_id=site_id, source=Message.Source.LLM, created_at__gte=midnight
    ).aggregate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    return (totals["prompt"] or 0) + (totals["completion"] or 0)


def site_has_online_agent(*, site_id: int) -> bool:
    return (
        Agent.objects.filter(status=Agent.Status.ONLINE, user__is_active=True)
        .filter(Q(sites__id=site_id) | Q(sites__isnull=True))
        .exists()
    )


# Per process: (is any console open, until when that answer stands).
_agents_watching: list = [False, 0.0]
AGENTS_WATCHING_TTL_SECONDS = 1.0


def agents_watching() -> bool:
    """Is any agent console open (an agent online or away) anywhere?

    Asked for every message, to skip rebuilding console rows nobody would
    receive (three queries each); the answer is kept for a second in this
    process and forgotten at once when a console here connects or an agent's
    presence changes here. A console that opens on another process within
    that second loads its lists over HTTP anyway.
    """
    value, until = _agents_watching
    now = time.monotonic()
    if now < until:
        return value
    value = Agent.objects.exclude(status=Agent.Status.OFFLINE).filter(user__is_active=True).exists()
    _agents_watching[:] = [value, now + AGENTS_WATCHING_TTL_SECONDS]
    return value


def agents_watching_forget() -> None:
    _agents_watching[1] = 0.0


def agents_list() -> list[AgentRow]:
    return [agent_row(agent) for agent in Agent.objects.filter(user__is_active=True)]


def _rows_queryset():
    unread = Count(
        "messages",
        filter=Q(
            messages__author_kind=Message.Author.VISITOR,
            messages__id__gt=F("agent_last_seen_id"),
        ),
    )
    return Conversation.objects.select_related("site", "visitor", "assigned_agent").annotate(
        unread=unread
    )


def _last_messages(conversation_ids: list[int]) -> dict[int, Message]:
    latest = (
        Message.objects.filter(conversation_id__in=conversation_ids, is_internal=False)
        .values("conversation_id")
        .annotate(last_id=Max("id"))
        .values_list("last_id", flat=True)
    )
    return {m.conversation_id: m for m in Message.objects.filter(id__in=list(latest))}


def _row(conversation: Conversation, last: Message | None) -> dict[str, Any]:
    visitor = conversation.visitor
    return {
        "id": conversation.pk,
        "site_id": conversation.site_id,
        "site_name": conversation.site.name,
        "state": conversation.state,
        "visitor": {
            "name": visitor.display_name,
            "email": visitor.email,
            "verified": visitor.identity_verified,
        },
        "assigned_agent": agent_row(conversation.assigned_agent)
        if conversation.assigned_agent
        else None,
        "last_message": {
            "text": last.text[:200],
            "author": last.author_kind,
            "created_at": last.created_at.isoformat(),
        }
        if last
        else None,
        "unread": getattr(conversation, "unread", 0),
        "escalation_reason": conversation.escalation_reason,
        "waiting_since": conversation.waiting_since.isoformat()
        if conversation.waiting_since
        else None,
        "last_activity_at": conversation.last_activity_at.isoformat(),
        "created_at": conversation.created_at.isoformat(),
        "csat": csat_payload(conversation),
        # A reply the bot is streaming: a console that connected after its
        # `reply.start` still marks the row "being answered".
        "replying_id": str(conversation.pending_reply_id)
        if conversation.pending_reply_id
        else None,
    }


TABS = ("waiting", "mine", "bot", "closed")


def conversation_ids_matching(*, query: str) -> QuerySet:
    """Ids of the conversations whose visitor's name or email, or any message, contains
    `query` (the console's search and the agent API's `q`)."""
    return Conversation.objects.filter(
        Q(visitor__name__icontains=query)
        | Q(visitor__email__icontains=query)
        | Q(messages__text__icontains=query)
    ).values("id")


def conversations_for_agent(
    *, agent: Agent, tab: str, query: str = "", limit: int = 100
) -> list[dict[str, Any]]:
    rows = _rows_queryset().filter(site_id__in=agent_site_ids(agent=agent))
    State = Conversation.State
    if tab == "waiting":
        rows = rows.filter(state=State.WAITING).order_by(F("waiting_since").asc(nulls_first=True))
    elif tab == "mine":
        rows = rows.filter(assigned_agent=agent, state__in=[State.WAITING, State.HUMAN]).order_by(
            "-last_activity_at"
        )
    elif tab == "bot":
        rows = rows.filter(state=State.BOT).order_by("-last_activity_at")
    else:
        rows = rows.filter(state=State.CLOSED).order_by(F("closed_at").desc(nulls_last=True))
    if query:
        rows = rows.filter(id__in=conversation_ids_matching(query=query))
    conversations = list(rows[:limit])
    last = _last_messages([c.pk for c in conversations])
    return [_row(c, last.get(c.pk)) for c in conversations]


def conversation_row(*, conversation_id: int) -> dict[str, Any] | None:
    """One row, rebuilt after every change: plain indexed queries, not the list's
    GROUP BY, since this runs for every message of every conversation."""
    conversation = (
        Conversation.objects.select_related("site", "visitor", "assigned_agent")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        return None
    conversation.unread = Message.objects.filter(
        conversation_id=conversation_id,
        author_kind=Message.Author.VISITOR,
        id__gt=conversation.agent_last_seen_id,
    ).count()
    last = (
        Message.objects.filter(conversation_id=conversation_id, is_internal=False)
        .order_by("-id")
        .first()
    )
    return _row(conversation, last)


def _browser_of(user_agent: str) -> str:
    for marker, name in (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ):
        if marker in user_agent:
            version = user_agent.split(marker, 1)[1].split(" ", 1)[0].split(".", 1)[0]
            system = next(
                (
                    os
                    for os in ("Android", "iPhone", "Windows", "Mac OS X", "Linux")
                    if os in user_agent
                ),
                "",
            )
            return f"{name} {version}" + (f" on {system}" if system else "")
    return user_agent[:60]


def visitor_details(*, visitor: Visitor) -> dict[str, Any]:
    return {
        "name": visitor.display_name,
        "email": visitor.email,
        "external_id": visitor.external_id,
        "identity_verified": visitor.identity_verified,
        "page_url": visitor.page_url,
        "referrer": visitor.referrer,
        "user_agent": visitor.user_agent,
        "browser": _browser_of(visitor.user_agent),
        "language": visitor.language,
        "location": visitor.location,
        "ip_address": visitor.ip_address,
        "attributes": visitor.attributes,
        "created_at": visitor.created_at.isoformat(),
        "last_seen_at": visitor.last_seen_at.isoformat(),
    }


def conversation_detail_for_agent(*, agent: Agent, conversation_id: int) -> dict[str, Any] | None:
    conversation = (
        Conversation.objects.select_related("visitor")
        .filter(pk=conversation_id, site_id__in=agent_site_ids(agent=agent))
        .first()
    )
    if conversation is None:
        return None
    messages = (
        Message.objects.filter(conversation=conversation)
        .select_related("agent", "kb_entry")
        .prefetch_related("attachments")
        .order_by("id")
    )
    previous = Conversation.objects.filter(visitor=conversation.visitor).exclude(pk=conversation.pk)
    return {
        "conversation": conversation_row(conversation_id=conversation.pk),
        "messages": [agent_message_payload(m) for m in messages],
        "visitor": visitor_details(visitor=conversation.visitor),
        "previous": [
            {
                "id": c.pk,
                "state": c.state,
                "created_at": c.created_at.isoformat(),
                "closed_at": c.closed_at.isoformat() if c.closed_at else None,
                "preview": (
                    c.messages.filter(author_kind=Message.Author.VISITOR)
                    .order_by("id")
                    .values_list("text", flat=True)
                    .first()
                    or ""
                )[:120],
            }
            for c in previous.order_by("-created_at")[:10]
        ],
    }


def canned_responses_for_site(*, site_id: int | None) -> list[dict[str, str]]:
    rows = CannedResponse.objects.filter(Q(site__isnull=True) | Q(site_id=site_id))
    return [{"shortcut": c.shortcut, "text": c.text} for c in rows.order_by("shortcut")]


def agent_can_see(*, agent: Agent, conversation_id: int) -> Conversation | None:
    return (
        Conversation.objects.select_related("site")
        .filter(pk=conversation_id, site_id__in=agent_site_ids(agent=agent))
        .first()
    )


def conversation_site_id(*, conversation_id: int) -> int | None:
    """The conversation's site (None: no such conversation); a console checks it against
    the sites it serves before acting on or watching the conversation."""
    return Conversation.objects.filter(pk=conversation_id).values_list("site_id", flat=True).first()
