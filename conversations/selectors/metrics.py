"""Reads behind the Prometheus metrics."""

from dataclasses import dataclass

from django.db.models import Count

from conversations.models import Conversation, Message


@dataclass(frozen=True)
class FirstReply:
    by: str  # "bot" or "agent"
    seconds: float


def conversation_first_reply(*, conversation_id: int) -> FirstReply | None:
    """The conversation's reply if it has exactly one so far, with how long after the
    conversation began (its first visitor message) it came; None otherwise.

    A reply is a bot or agent message the visitor sees (internal notes are not).
    """
    replies = list(
        Message.objects.filter(
            conversation_id=conversation_id,
            author_kind__in=[Message.Author.BOT, Message.Author.AGENT],
            is_internal=False,
        )
        .order_by("id")
        .values_list("author_kind", "created_at", "conversation__created_at")[:2]
    )
    if len(replies) != 1:
        return None
    by, replied_at, started_at = replies[0]
    return FirstReply(by=by, seconds=max(0.0, (replied_at - started_at).total_seconds()))


def conversation_counts_by_state() -> dict[str, int]:
    """Every state, those with no conversation included (as 0)."""
    counts = dict.fromkeys(Conversation.State.values, 0)
    for state, count in (
        Conversation.objects.order_by().values_list("state").annotate(n=Count("id"))
    ):
        counts[state] = count
    return counts
