"""Reads for the visitor side: the widget's Site, conversations, history, prompt turns,
CSAT and transcripts."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from conversations.events import (
    ConversationSummary,
)
from conversations.models import Conversation, Message, Visitor
from conversations.site_cache import site_cached_get
from helpdesk.models import Site

PROMPT_TURNS = 5


def site_get_for_widget(*, public_key: str) -> Site | None:
    # Every visitor connect asks: a per-process copy, invalidated on Site save
    # in any process (conversations/site_cache.py).
    return site_cached_get(
        public_key=public_key, load=lambda: Site.objects.filter(public_key=public_key).first()
    )


def visitor_open_conversation(*, visitor: Visitor) -> Conversation | None:
    return (
        Conversation.objects.filter(visitor=visitor)
        .exclude(state=Conversation.State.CLOSED)
        .order_by("-created_at")
        .first()
    )


def visitor_conversation_get(*, visitor: Visitor, conversation_id: int) -> Conversation | None:
    return Conversation.objects.filter(visitor=visitor, pk=conversation_id).first()


def conversation_messages_after(
    *, conversation_id: int, after_id: int = 0, limit: int = 500
) -> list[Message]:
    """A conversation's messages as the visitor may see them (internal notes excluded)."""
    return list(
        Message.objects.filter(conversation_id=conversation_id, id__gt=after_id, is_internal=False)
        .select_related("agent")
        .order_by("id")[:limit]
    )


def visitor_previous_conversations(
    *, visitor: Visitor, exclude_id: int | None = None, limit: int = 5
) -> list[ConversationSummary]:
    conversations = (
        Conversation.objects.filter(visitor=visitor, state=Conversation.State.CLOSED)
        .exclude(pk=exclude_id)
        .order_by("-created_at")[:limit]
    )
    summaries: list[ConversationSummary] = []
    for conversation in conversations:
        first = (
            conversation.messages.filter(author_kind=Message.Author.VISITOR)
            .order_by("id")
            .values_list("text", flat=True)
            .first()
        )
        summaries.append(
            {
                "id": conversation.pk,
                "state": conversation.state,  # type: ignore[typeddict-item]
                "created_at": conversation.created_at.isoformat(),
                "closed_at": conversation.closed_at.isoformat() if conversation.closed_at else None,
                "preview": (first or "")[:120],
            }
        )
    return summaries


@dataclass(frozen=True)
class Turn:
    message_id: int
    role: str  # "user" or "assistant", as the chat-completions API names them
    content: str


def conversation_recent_turns(*, conversation_id: int, limit: int = PROMPT_TURNS) -> list[Turn]:
    """The last turns (visitor, bot, agent messages), oldest first.

    Read from the database every time: one indexed query. A cache of them was
    emptied by every message and read once after it, by the reply that message
    started, so it missed every time and cost two Redis round trips a message.
    """
    rows = list(
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(author_kind=Message.Author.SYSTEM)
        .exclude(is_internal=True)
        .exclude(filter_action="block")
        .order_by("-id")
        .values_list("id", "author_kind", "text")[:limit]
    )
    return [
        Turn(
            message_id=pk,
            role="user" if author == Message.Author.VISITOR else "assistant",
            content=text,
        )
        for pk, author, text in reversed(rows)
    ]


# How long after a conversation closed the widget still asks a returning visitor to rate it.
CSAT_ASK_WINDOW = timedelta(days=7)


def visitor_csat_pending(*, visitor: Visitor) -> Conversation | None:
    """The visitor's latest conversation if it is closed, recent, unrated and was a real
    exchange (the visitor wrote in it); a newer open conversation means nothing is pending."""
    latest = Conversation.objects.filter(visitor=visitor).order_by("-created_at").first()
    if (
        latest is None
        or latest.state != Conversation.State.CLOSED
        or latest.csat_submitted_at is not None
        or latest.closed_at is None
        or latest.closed_at < timezone.now() - CSAT_ASK_WINDOW
    ):
        return None
    wrote = latest.messages.filter(author_kind=Message.Author.VISITOR).exists()
    return latest if wrote else None


def conversation_transcript_messages(
    *, conversation_id: int, include_internal: bool
) -> list[Message]:
    """Every message of a conversation in order; internal notes only for agents."""
    messages = Message.objects.filter(conversation_id=conversation_id)
    if not include_internal:
        messages = messages.filter(is_internal=False)
    return list(messages.select_related("agent").prefetch_related("attachments").order_by("id"))


def conversation_for_transcript(*, conversation_id: int) -> Conversation | None:
    return (
        Conversation.objects.select_related("site", "visitor", "assigned_agent")
        .filter(pk=conversation_id)
        .first()
    )
