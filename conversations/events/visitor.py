"""The visitor's events (the widget and the SSE stream), as TypedDicts, and their builders."""

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
