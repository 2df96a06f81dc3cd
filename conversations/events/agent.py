"""The agent console's events, as TypedDicts, and their builders."""

from typing import Literal, NotRequired, TypedDict

from conversations.events.visitor import (
    SERVER_EVENTS,
    AgentJoinedEvent,
    CsatPayload,
    MessagePayload,
    PongEvent,
    ReplyEndEvent,
    StateName,
    csat_payload,
    message_payload,
)
from conversations.models import Conversation, Message


class KbEntryRef(TypedDict):
    id: int
    question: str
    admin_url: str


class AgentMessagePayload(MessagePayload):
    is_internal: bool
    latency_ms: int | None
    kb_entry: KbEntryRef | None


class AgentRow(TypedDict):
    id: int
    name: str
    initials: str
    color: str
    status: Literal["online", "away", "offline"]


def agent_message_payload(message: Message) -> AgentMessagePayload:
    entry = message.kb_entry if message.kb_entry_id else None
    return {
        **message_payload(message),
        "is_internal": message.is_internal,
        "latency_ms": message.latency_ms,
        "kb_entry": {
            "id": entry.pk,
            "question": entry.question,
            "admin_url": f"/admin/kb/entry/{entry.pk}/change/",
        }
        if entry
        else None,
    }


# The visitor and the consoles get the same event; a console's message carries more.
def reply_end_event(
    *, reply_id: str, message: Message | None, for_agents: bool = False
) -> ReplyEndEvent:
    payload = None
    if message is not None:
        payload = agent_message_payload(message) if for_agents else message_payload(message)
    return {"type": "reply.end", "reply_id": reply_id, "message": payload}


def agent_row(agent) -> AgentRow:
    return {
        "id": agent.pk,
        "name": agent.display_name,
        "initials": agent.initials,
        "color": agent.avatar_color,
        "status": agent.status,
    }


def agent_message_event(message: Message) -> dict:
    return {"type": "message", "message": agent_message_payload(message)}


def agent_joined_event(*, agent, conversation_id: int) -> AgentJoinedEvent:
    return {
        "type": "agent.joined",
        "conversation_id": conversation_id,
        "agent": {
            "name": agent.display_name,
            "initials": agent.initials,
            "color": agent.avatar_color,
        },
    }


class AgentMessageEvent(TypedDict):
    type: Literal["message"]
    message: AgentMessagePayload


class AgentReplyEndEvent(TypedDict):
    type: Literal["reply.end"]
    reply_id: str
    message: AgentMessagePayload | None


class AgentCsatEvent(TypedDict):
    type: Literal["csat"]
    conversation_id: int
    csat: CsatPayload


def agent_csat_event(conversation: Conversation) -> AgentCsatEvent:
    csat = csat_payload(conversation)
    assert csat is not None
    return {"type": "csat", "conversation_id": conversation.pk, "csat": csat}


# What may travel inside an agent `event` frame (`reply.delta` only for the
# conversations the socket watches).
AGENT_INNER_EVENTS: dict[str, type] = {
    **{
        kind: schema
        for kind, schema in SERVER_EVENTS.items()
        if kind in ("reply.start", "reply.delta", "typing", "agent.joined", "state")
    },
    "message": AgentMessageEvent,
    "reply.end": AgentReplyEndEvent,
    "csat": AgentCsatEvent,
}


class VisitorBrief(TypedDict):
    name: str
    email: str
    verified: bool


class LastMessage(TypedDict):
    text: str
    author: Literal["visitor", "bot", "agent", "system"]
    created_at: str


class ConversationRow(TypedDict):
    id: int
    site_id: int
    site_name: str
    state: StateName
    visitor: VisitorBrief
    assigned_agent: AgentRow | None
    last_message: LastMessage | None
    unread: int
    escalation_reason: str
    waiting_since: str | None
    last_activity_at: str
    created_at: str
    csat: CsatPayload | None
    replying_id: str | None


class AgentHelloEvent(TypedDict):
    type: Literal["hello"]
    agent: AgentRow
    agents: list[AgentRow]


class AgentEventFrame(TypedDict):
    type: Literal["event"]
    conversation_id: int
    event: dict  # one of AGENT_INNER_EVENTS, checked separately


class ConversationUpdatedEvent(TypedDict):
    type: Literal["conversation.updated"]
    conversation: ConversationRow


class AgentAckEvent(TypedDict):
    type: Literal["ack"]
    client_id: str
    message_id: int
    conversation_id: int


class TakeoverFailedEvent(TypedDict):
    type: Literal["takeover.failed"]
    conversation_id: int
    by: AgentRow | None
    state: str


class PresenceEvent(TypedDict):
    type: Literal["presence"]
    agent: AgentRow


class SuggestStartEvent(TypedDict):
    type: Literal["suggest.start"]
    conversation_id: int


class SuggestDeltaEvent(TypedDict):
    type: Literal["suggest.delta"]
    conversation_id: int
    text: str


class SuggestEndEvent(TypedDict):
    type: Literal["suggest.end"]
    conversation_id: int
    error: NotRequired[str]


class NotifyEvent(TypedDict):
    type: Literal["notify"]
    conversation_id: int
    kind: Literal["waiting", "message"]
    text: str


class WatchingEvent(TypedDict):
    type: Literal["watching"]
    conversation_id: int
    watching: list[int]


def watching_event(*, conversation_id: int, watching: list[int]) -> WatchingEvent:
    """Answer to `watch`: this conversation's deltas now reach the socket; `watching` is
    every conversation it watches, oldest first (the oldest beyond the cap were dropped)."""
    return {"type": "watching", "conversation_id": conversation_id, "watching": watching}


class AgentErrorEvent(TypedDict):
    type: Literal["error"]
    code: str
    detail: str
    client_id: NotRequired[str]
    conversation_id: NotRequired[int]


AGENT_EVENTS: dict[str, type] = {
    "hello": AgentHelloEvent,
    "event": AgentEventFrame,
    "conversation.updated": ConversationUpdatedEvent,
    "ack": AgentAckEvent,
    "takeover.failed": TakeoverFailedEvent,
    "presence": PresenceEvent,
    "suggest.start": SuggestStartEvent,
    "suggest.delta": SuggestDeltaEvent,
    "suggest.end": SuggestEndEvent,
    "notify": NotifyEvent,
    "watching": WatchingEvent,
    "error": AgentErrorEvent,
    "pong": PongEvent,
}
