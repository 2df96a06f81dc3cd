"""Every WebSocket event the server sends, as TypedDicts (documented in docs/protocol.md).

The builders here are the only place event dicts are made, so the shapes in
the protocol document, the tests and the wire cannot drift apart.
"""

from typing import Literal, NotRequired, TypedDict

from conversations.attachments.signing import attachment_url
from conversations.models import Attachment, Conversation, Message

StateName = Literal["bot", "waiting", "human", "closed"]


class AttachmentPayload(TypedDict):
    id: int
    name: str
    type: str
    size: int
    width: int | None
    height: int | None
    url: str


class MessagePayload(TypedDict):
    id: int
    conversation_id: int
    author: Literal["visitor", "bot", "agent", "system"]
    agent_name: str | None
    text: str
    source: Literal["visitor", "kb", "llm", "agent", "system", "filter"]
    kb_entry_id: int | None
    client_id: str
    interrupted: bool
    created_at: str
    attachments: list[AttachmentPayload]


class ConversationPayload(TypedDict):
    id: int
    state: StateName
    created_at: str


class ConversationSummary(TypedDict):
    id: int
    state: StateName
    created_at: str
    closed_at: str | None
    preview: str


class AttachmentRules(TypedDict):
    enabled: bool
    max_bytes: int
    types: list[str]


class SitePayload(TypedDict):
    name: str
    color: str
    position: Literal["right", "left"]
    attachments: NotRequired[AttachmentRules]


class WelcomeEvent(TypedDict):
    type: Literal["welcome"]
    token: str
    visitor_id: str
    conversation: ConversationPayload | None
    greeting: str
    previous: list[ConversationSummary]
    site: SitePayload


class AckEvent(TypedDict):
    type: Literal["ack"]
    client_id: str
    message_id: int
    conversation_id: int
    text: str
    created_at: str
    attachments: list[AttachmentPayload]


class MessageEvent(TypedDict):
    type: Literal["message"]
    message: MessagePayload


class ReplyStartEvent(TypedDict):
    type: Literal["reply.start"]
    reply_id: str
    conversation_id: int


class ReplyDeltaEvent(TypedDict):
    type: Literal["reply.delta"]
    reply_id: str
    seq: int
    text: str


class ReplyEndEvent(TypedDict):
    type: Literal["reply.end"]
    reply_id: str
    message: MessagePayload | None


class TypingEvent(TypedDict):
    type: Literal["typing"]
    who: Literal["agent", "bot", "visitor"]
    active: bool
    name: NotRequired[str]
    text: NotRequired[str]


class AgentPayload(TypedDict):
    name: str
    initials: str
    color: str


class AgentJoinedEvent(TypedDict):
    type: Literal["agent.joined"]
    agent: AgentPayload
    conversation_id: int


class StateEvent(TypedDict):
    type: Literal["state"]
    conversation_id: int
    state: StateName
    reason: NotRequired[str]


class HistoryEvent(TypedDict):
    type: Literal["history"]
    conversation_id: int
    messages: list[MessagePayload]


class ErrorEvent(TypedDict):
    type: Literal["error"]
    code: str
    detail: str
    client_id: NotRequired[str]
    retry_after: NotRequired[int]


class PongEvent(TypedDict):
    type: Literal["pong"]


class CsatPayload(TypedDict):
    rating: int
    comment: str
    submitted_at: str


class CsatRequestEvent(TypedDict):
    type: Literal["csat.request"]
    conversation_id: int
    email_hint: str


class CsatAckEvent(TypedDict):
    type: Literal["csat.ack"]
    conversation_id: int
    csat: CsatPayload
    editable_until: str


class TranscriptQueuedEvent(TypedDict):
    type: Literal["transcript.queued"]
    conversation_id: int
    email_hint: str


SERVER_EVENTS: dict[str, type] = {
    "welcome": WelcomeEvent,
    "ack": AckEvent,
    "message": MessageEvent,
    "reply.start": ReplyStartEvent,
    "reply.delta": ReplyDeltaEvent,
    "reply.end": ReplyEndEvent,
    "typing": TypingEvent,
    "agent.joined": AgentJoinedEvent,
    "state": StateEvent,
    "history": HistoryEvent,
    "error": ErrorEvent,
    "pong": PongEvent,
    "csat.request": CsatRequestEvent,
    "csat.ack": CsatAckEvent,
    "transcript.queued": TranscriptQueuedEvent,
}


def _iso(value) -> str:
    return value.isoformat()


def attachment_payload(attachment: Attachment) -> AttachmentPayload:
    """What a party sees of a file, with a freshly signed URL for its conversation."""
    return {
        "id": attachment.pk,
        "name": attachment.original_name,
        "type": attachment.content_type,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "url": attachment_url(
            attachment_id=attachment.pk,
            conversation_id=attachment.conversation_id,
            name=attachment.original_name,
        ),
    }


def message_attachments(message: Message) -> list[AttachmentPayload]:
    # Only visitors and agents send files: bot and system messages skip the query.
    if message.author_kind not in (Message.Author.VISITOR, Message.Author.AGENT):
        return []
    return [attachment_payload(a) for a in message.attachments.all()]


def message_payload(message: Message) -> MessagePayload:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "author": message.author_kind,  # type: ignore[typeddict-item]
        "agent_name": message.agent.display_name if message.agent_id and message.agent else None,
        "text": message.text,
        "source": message.source,  # type: ignore[typeddict-item]
        "kb_entry_id": message.kb_entry_id,
        "client_id": message.client_id,
        "interrupted": message.interrupted,
        "created_at": _iso(message.created_at),
        "attachments": message_attachments(message),
    }


def conversation_payload(conversation: Conversation) -> ConversationPayload:
    return {
        "id": conversation.pk,
        "state": conversation.state,  # type: ignore[typeddict-item]
        "created_at": _iso(conversation.created_at),
    }


def message_event(message: Message) -> MessageEvent:
    return {"type": "message", "message": message_payload(message)}


def ack_event(message: Message) -> AckEvent:
    return {
        "type": "ack",
        "client_id": message.client_id,
        "message_id": message.pk,
        "conversation_id": message.conversation_id,
        "text": message.text,
        "created_at": _iso(message.created_at),
        "attachments": message_attachments(message),
    }


def state_event(conversation: Conversation) -> StateEvent:
    event: StateEvent = {
        "type": "state",
        "conversation_id": conversation.pk,
        "state": conversation.state,  # type: ignore[typeddict-item]
    }
    if conversation.escalation_reason and conversation.state == Conversation.State.WAITING:
        event["reason"] = conversation.escalation_reason
    return event


def reply_start_event(*, reply_id: str, conversation_id: int) -> ReplyStartEvent:
    return {"type": "reply.start", "reply_id": reply_id, "conversation_id": conversation_id}


def reply_delta_event(*, reply_id: str, seq: int, text: str) -> ReplyDeltaEvent:
    return {"type": "reply.delta", "reply_id": reply_id, "seq": seq, "text": text}


def reply_end_event(
    *, reply_id: str, message: Message | None, for_agents: bool = False
) -> ReplyEndEvent:
    payload = None
    if message is not None:
        payload = agent_message_payload(message) if for_agents else message_payload(message)
    return {"type": "reply.end", "reply_id": reply_id, "message": payload}


def error_event(
    *, code: str, detail: str, client_id: str | None = None, retry_after: int = 0
) -> ErrorEvent:
    event: ErrorEvent = {"type": "error", "code": code, "detail": detail}
    if client_id:
        event["client_id"] = client_id
    if retry_after:
        event["retry_after"] = retry_after
    return event


def email_hint(email: str) -> str:
    """ "al***@example.com": enough for visitors to recognise their address on screen."""
    local, at, domain = email.partition("@")
    if not at:
        return ""
    return f"{local[:2]}***@{domain}"


def csat_payload(conversation: Conversation) -> CsatPayload | None:
    if conversation.csat_rating is None or conversation.csat_submitted_at is None:
        return None
    return {
        "rating": conversation.csat_rating,
        "comment": conversation.csat_comment,
        "submitted_at": _iso(conversation.csat_submitted_at),
    }


def csat_request_event(*, conversation_id: int, email: str) -> CsatRequestEvent:
    return {
        "type": "csat.request",
        "conversation_id": conversation_id,
        "email_hint": email_hint(email),
    }


def csat_ack_event(conversation: Conversation, *, editable_until) -> CsatAckEvent:
    csat = csat_payload(conversation)
    assert csat is not None
    return {
        "type": "csat.ack",
        "conversation_id": conversation.pk,
        "csat": csat,
        "editable_until": _iso(editable_until),
    }


def transcript_queued_event(*, conversation_id: int, email: str) -> TranscriptQueuedEvent:
    return {
        "type": "transcript.queued",
        "conversation_id": conversation_id,
        "email_hint": email_hint(email),
    }


def agent_csat_event(conversation: Conversation) -> "AgentCsatEvent":
    csat = csat_payload(conversation)
    assert csat is not None
    return {"type": "csat", "conversation_id": conversation.pk, "csat": csat}


# --- the agent console's payloads ----------------------------------------------------


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


# What may travel inside an agent `event` frame.
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
    "error": AgentErrorEvent,
    "pong": PongEvent,
}
