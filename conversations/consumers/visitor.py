"""The visitor's socket: thin; validation in frames.py, writes in services, reads in selectors."""

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.utils import translation

from conversations import limits, pipeline, selectors, services
from conversations.broadcast import (
    GroupSend,
    conversation_agents_group,
    conversation_group,
    held_publishes_send,
    publishes_held,
)
from conversations.consumers.base import FrameConsumer
from conversations.consumers.frames import (
    FrameError,
    field_bool,
    field_int,
    field_object,
    field_str,
    message_with_attachments_fields,
)
from conversations.consumers.silencing import StreamSilencer
from conversations.consumers.visitor_closing import ClosedConversationHandlers
from conversations.consumers.visitor_origin import location_from_headers
from conversations.consumers.visitor_replies import ReplyRouting
from conversations.events import (
    AckEvent,
    ack_event,
    conversation_payload,
    error_event,
    message_payload,
    state_event,
)
from conversations.models import Visitor
from conversations.services.attachments import attachment_size_limit
from conversations.sweeper import sweeper_ensure_started
from conversations.visitor_tokens import visitor_token_issue
from helpdesk import metrics
from helpdesk.db_async import database_sync_to_async
from helpdesk.models import Site

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
RATE_LIMITED = 4429


def _message_receive_with_ack(
    **kwargs: Any,
) -> tuple[services.ReceivedMessage, AckEvent, list[GroupSend]]:
    # One trip to the database thread for both: the ack of a resent message reads
    # its attachments, and every hand-off between the loop and the thread costs.
    # The message's publishes come back with them: the consumer sends them beside the ack.
    with publishes_held() as publishes:
        received = services.visitor_message_receive(**kwargs)
    return received, ack_event(received.message), publishes


class VisitorConsumer(ReplyRouting, ClosedConversationHandlers, FrameConsumer):
    # The Site's id and key, not the row: the process's Site cache holds one copy for
    # every socket (a copy per socket was ~2.7 KiB of each socket's memory).
    site_id: int
    site_key: str
    visitor: Visitor | None
    conversation_id: int | None

    def _ip(self) -> str | None:
        client = self.scope.get("client") or [None]
        return client[0]

    async def connect(self) -> None:
        self.visitor = None
        self.socket_claimed_for: str | None = None
        self.conversation_id = None
        # A closed conversation the widget was asked to rate (it may no longer be followed).
        self.rating_conversation_id: int | None = None
        self.silencer = StreamSilencer()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        site_key = (query.get("site") or [""])[0]
        page_origin = (query.get("origin") or [""])[0].rstrip("/").lower()
        site = await database_sync_to_async(selectors.site_get_for_widget)(public_key=site_key)
        if site is None or not self._origins_allowed(site, page_origin):
            await self.close(code=FORBIDDEN)
            return
        self.site_id, self.site_key = site.pk, site_key
        await self.accept()
        await sweeper_ensure_started()
        verdict = await database_sync_to_async(limits.ip_connection_allowed)(ip_address=self._ip())
        if not verdict.allowed:
            await self.send_json(
                error_event(
                    code="rate_limited",
                    detail="Too many connections from your network; try again shortly.",
                    retry_after=verdict.retry_after,
                )
            )
            await self.close(code=RATE_LIMITED)
        # Last: a connect that raised is never disconnected, so it must not count.
        metrics.socket_opened(self, "visitor")

    def _origins_allowed(self, site: Site, page_origin: str) -> bool:
        headers = dict(self.scope.get("headers", []))
        socket_origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/").lower()
        own_host = headers.get(b"host", b"").decode("latin-1").lower()
        allowed = {origin.lower() for origin in site.origin_list}
        own = bool(socket_origin) and urlsplit(socket_origin).netloc == own_host
        socket_ok = own or socket_origin in allowed
        page_ok = page_origin in allowed or (own and page_origin == socket_origin)
        return socket_ok and page_ok

    async def disconnect(self, code: int) -> None:
        metrics.socket_closed(self)
        if self.socket_claimed_for is not None:
            await database_sync_to_async(limits.visitor_socket_release)(
                visitor_key=self.socket_claimed_for
            )
        if self.conversation_id is not None:
            await self.channel_layer.group_discard(
                conversation_group(self.conversation_id), self.channel_name
            )

    # --- frames in -------------------------------------------------------------------

    def check_frame(self, frame: dict[str, Any]) -> None:
        if self.visitor is None and frame["type"] not in ("hello", "ping"):
            raise FrameError("hello_required", "Send `hello` first.")

    async def on_hello(self, frame: dict[str, Any]) -> None:
        # Every field is checked before anything is written: a refused hello
        # must not have created a visitor or switched this socket to one.
        token = field_str(frame, "token", required=False, max_length=1000) or None
        language = field_str(frame, "language", required=False, max_length=35)
        last_seen_id = field_int(frame, "last_seen_id", required=False)
        page = field_object(frame, "page")
        for key in ("url", "referrer", "title"):
            field_str(page, key, required=False, max_length=2000)
        headers = dict(self.scope.get("headers", []))
        session = await database_sync_to_async(self._visitor_resume)(
            token=token,
            page=page,
            language=language,
            user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
            ip_address=self._ip(),
            location=location_from_headers(headers),
        )
        if not await self._claim_socket(str(session.visitor.anonymous_id)):
            return
        self.visitor = session.visitor
        if session.token_rejected:
            await self.send_json(
                error_event(
                    code="invalid_token",
                    detail="The visitor token is not valid here; starting afresh.",
                )
            )
        await self._welcome_and_replay(session.token, last_seen_id=last_seen_id)

    def _site(self) -> Site:
        site = selectors.site_get_for_widget(public_key=self.site_key)
        if site is None:
            raise FrameError("not_found", "This chat is no longer available.")
        return site

    def _visitor_resume(self, **kwargs: Any):
        return services.visitor_resume(site=self._site(), **kwargs)

    async def _welcome_and_replay(self, token: str, *, last_seen_id: int) -> None:
        welcome, replay, conversation = await database_sync_to_async(self._welcome)(
            token, last_seen_id
        )
        if conversation is not None:
            await self._follow(conversation.pk)
        await self.send_json(welcome)
        for message in replay:
            await self.send_json({"type": "message", "message": message})
        if conversation is not None:
            await self.send_json(state_event(conversation))
        else:
            await self._ask_rating(None)

    async def _claim_socket(self, visitor_key: str) -> bool:
        if self.socket_claimed_for == visitor_key:
            return True
        if self.socket_claimed_for is not None:
            await database_sync_to_async(limits.visitor_socket_release)(
                visitor_key=self.socket_claimed_for
            )
            self.socket_claimed_for = None
        if not await database_sync_to_async(limits.visitor_socket_claim)(visitor_key=visitor_key):
            await self.send_json(
                error_event(
                    code="too_many_sockets",
                    detail="This chat is open in too many tabs; close one and reload.",
                )
            )
            await self.close(code=RATE_LIMITED)
            return False
        self.socket_claimed_for = visitor_key
        return True

    def _welcome(self, token: str, last_seen_id: int):
        assert self.visitor is not None
        site = self._site()
        conversation = selectors.visitor_open_conversation(visitor=self.visitor)
        replay = []
        if conversation is not None:
            messages = selectors.conversation_messages_after(
                conversation_id=conversation.pk,
                after_id=last_seen_id,
                limit=settings.REPLAY_LIMIT,
            )
            prefetch_related_objects(messages, "attachments")
            replay = [message_payload(m) for m in messages]
        greeting = (
            site.greeting_zh if self.visitor.language.lower().startswith("zh") else site.greeting
        )
        welcome = {
            "type": "welcome",
            "token": token,
            "visitor_id": str(self.visitor.anonymous_id),
            "conversation": conversation_payload(conversation) if conversation else None,
            "greeting": greeting or site.greeting,
            "previous": selectors.visitor_previous_conversations(
                visitor=self.visitor, exclude_id=conversation.pk if conversation else None
            ),
            "site": {
                "name": site.name,
                "color": site.widget_color,
                "position": site.widget_position,
                "attachments": {
                    "enabled": site.attachments_enabled,
                    "max_bytes": attachment_size_limit(site=site),
                    "types": site.attachment_type_list,
                },
            },
        }
        return welcome, replay, conversation

    async def _follow(self, conversation_id: int) -> None:
        if self.conversation_id == conversation_id:
            return
        if self.conversation_id is not None:
            await self.channel_layer.group_discard(
                conversation_group(self.conversation_id), self.channel_name
            )
        self.conversation_id = conversation_id
        await self.channel_layer.group_add(conversation_group(conversation_id), self.channel_name)

    async def on_message(self, frame: dict[str, Any]) -> None:
        client_id, text, attachment_ids = message_with_attachments_fields(frame)
        verdict = await database_sync_to_async(limits.visitor_message_allowed)(
            visitor_key=str(self.visitor.anonymous_id), ip_address=self._ip()
        )
        if not verdict.allowed:
            await self.send_json(
                error_event(
                    code="rate_limited",
                    detail=f"You are sending messages too fast; it will be sent in "
                    f"{verdict.retry_after} s.",
                    client_id=client_id,
                    retry_after=verdict.retry_after,
                )
            )
            return
        try:
            received, ack, publishes = await database_sync_to_async(self._in_language)(
                _message_receive_with_ack,
                client_id=client_id,
                text=text,
                attachment_ids=attachment_ids,
            )
        except services.AttachmentRefused as refused:
            raise FrameError(refused.code, refused.detail, client_id) from refused
        publishing = held_publishes_send(publishes)
        await self._follow(received.message.conversation_id)
        await self.send_json(ack)
        # Out before the reply is routed: its events must not overtake the message's.
        await publishing
        # A file alone is not a question the bot can read: it waits for the visitor's
        # words (or a person), instead of answering an empty message.
        if not received.duplicate and received.message.text:
            await self._reply(received.message)

    async def on_typing(self, frame: dict[str, Any]) -> None:
        active = field_bool(frame, "active")
        preview = field_str(frame, "text", required=False, max_length=4000)[:500]
        if self.conversation_id is None:
            return
        event = {"type": "typing", "who": "visitor", "active": active, "text": preview}
        # Only the consoles that have the conversation open watch the visitor type.
        await self.channel_layer.group_send(
            conversation_agents_group(self.conversation_id),
            {"type": "conversation.event", "conversation_id": self.conversation_id, "event": event},
        )

    async def on_seen(self, frame: dict[str, Any]) -> None:
        message_id = field_int(frame, "message_id")
        if self.conversation_id is not None:
            await database_sync_to_async(services.conversation_mark_seen)(
                conversation_id=self.conversation_id, visitor=self.visitor, message_id=message_id
            )

    async def on_human_request(self, frame: dict[str, Any]) -> None:
        if self.conversation_id is None:
            raise FrameError("not_found", "Send a message first; then a person can join.")
        await database_sync_to_async(pipeline.human_request)(
            conversation_id=self.conversation_id, language=self.visitor.language
        )

    async def on_identify(self, frame: dict[str, Any]) -> None:
        attributes: dict[str, Any] = {
            key: field_str(frame, key, required=False, max_length=500)
            for key in ("user_id", "email", "name", "user_hash")
        }
        attributes["attributes"] = field_object(frame, "attributes")
        identified = await database_sync_to_async(services.visitor_identify)(
            visitor=self.visitor, attributes=attributes
        )
        if identified.switched:
            # The same verified person seen before: continue as them, here too.
            if not await self._claim_socket(str(identified.visitor.anonymous_id)):
                return
            self.visitor = identified.visitor
            token = visitor_token_issue(
                anonymous_id=identified.visitor.anonymous_id, site_id=self.site_id
            )
            await self._welcome_and_replay(token, last_seen_id=0)

    async def on_history(self, frame: dict[str, Any]) -> None:
        conversation_id = field_int(frame, "conversation_id")
        messages = await database_sync_to_async(self._history)(conversation_id)
        if messages is None:
            raise FrameError("not_found", "No such conversation.")
        await self.send_json(
            {"type": "history", "conversation_id": conversation_id, "messages": messages}
        )

    def _history(self, conversation_id: int):
        conversation = selectors.visitor_conversation_get(
            visitor=self.visitor, conversation_id=conversation_id
        )
        if conversation is None:
            return None
        messages = selectors.conversation_messages_after(conversation_id=conversation.pk)
        prefetch_related_objects(messages, "attachments")
        return [message_payload(m) for m in messages]

    def _in_language(self, function, **kwargs):
        # Refusals the service words are shown to the visitor as they are.
        with translation.override("zh-hans" if self.visitor.language.startswith("zh") else "en"):
            return function(visitor=self.visitor, **kwargs)

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    HANDLERS = {
        "hello": on_hello,
        "message": on_message,
        "typing": on_typing,
        "seen": on_seen,
        "human.request": on_human_request,
        "identify": on_identify,
        "history": on_history,
        "csat": ClosedConversationHandlers.on_csat,
        "transcript.email": ClosedConversationHandlers.on_transcript_email,
        "ping": on_ping,
    }

    # --- group events out ----------------------------------------------------------------

    async def conversation_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event.get("type") == "typing" and event.get("who") == "visitor":
            return  # the visitor's own typing preview is for agents only
        if self.silencer.should_drop(message["conversation_id"], event):
            return
        await self.send_json(event)
        if event.get("type") == "state" and event.get("state") == "closed":
            await self._ask_rating(message["conversation_id"])
