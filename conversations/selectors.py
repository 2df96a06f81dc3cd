from dataclasses import dataclass

from django.core.cache import cache

from conversations.events import ConversationSummary
from conversations.models import Conversation, Message, Visitor
from helpdesk.models import Site

TURNS_CACHED = 10
PROMPT_TURNS = 5


def site_get_for_widget(*, public_key: str) -> Site | None:
    return Site.objects.filter(public_key=public_key).first()


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
    return list(
        Message.objects.filter(conversation_id=conversation_id, id__gt=after_id)
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


def turns_cache_key(conversation_id: int) -> str:
    return f"conversation:{conversation_id}:turns"


def conversation_recent_turns(*, conversation_id: int, limit: int = PROMPT_TURNS) -> list[Turn]:
    """The last turns (visitor, bot, agent messages), oldest first; cached, refilled on a miss."""
    key = turns_cache_key(conversation_id)
    cached = cache.get(key)
    if cached is None:
        rows = list(
            Message.objects.filter(conversation_id=conversation_id)
            .exclude(author_kind=Message.Author.SYSTEM)
            .exclude(filter_action="block")
            .order_by("-id")
            .values_list("id", "author_kind", "text")[:TURNS_CACHED]
        )
        cached = [
            (pk, "user" if author == Message.Author.VISITOR else "assistant", text)
            for pk, author, text in reversed(rows)
        ]
        cache.set(key, cached, timeout=3600)
    return [Turn(message_id=pk, role=role, content=text) for pk, role, text in cached[-limit:]]
