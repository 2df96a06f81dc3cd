"""`GET /api/v1/sites/{public_key}/conversation/events`: the visitor's socket events as
Server-Sent Events.

A plain async Django view (DRF views are sync) returning a StreamingHttpResponse
over an async generator, so an open stream costs a coroutine, not a thread. The
generator does what the visitor consumer does: a channel of its own on the
channel layer, joined to the conversation's group; the same silencing after a
takeover; a rating request after a close. Event ids and the resume rules are in
visitor_sse_cursor.py. A comment line every HEARTBEAT_SECONDS keeps proxies from
closing an idle stream; when the client goes away Django cancels the generator
and it leaves the group.

A stream follows the visitor's current conversation. When the visitor's message
opens a new one (the first, or the next after a close), the API's message view
tells the visitor's open streams through the cache slots below (no channel-layer
group names a visitor); a stream that missed that hears of it at its next
heartbeat. Either way it replays from the database after subscribing, so the
late join loses nothing.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions

from conversations import limits, selectors
from conversations.api.visitor_auth import (
    InvalidToken,
    OriginNotAllowed,
    RateLimited,
    SiteNotFound,
    TokenRequired,
    bearer_token,
    cors_headers_add,
    json_error,
    request_origin,
    site_for_request,
    visitor_for_token,
)
from conversations.api.visitor_selectors import visitor_followed_conversation
from conversations.api.visitor_sse_cursor import (
    Cursor,
    InvalidEventId,
    Outgoing,
    StreamFilter,
    cursor_parse,
)
from conversations.broadcast import FORWARD_HANDLER, conversation_group
from conversations.events import csat_request_event, message_payload, state_event
from conversations.models import Conversation, Visitor
from helpdesk.db_async import database_sync_to_async
from helpdesk.models import Site

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000
FOLLOW_HANDLER = "visitor.follow"
REGISTRY_SECONDS = int(HEARTBEAT_SECONDS * 4)


# --- which streams a visitor has open (so a new conversation reaches them) ---------------
# One cache slot per stream, claimed with an atomic add: a visitor has at most
# VISITOR_MAX_SOCKETS sockets and streams together, so that many slots suffice.


def _slot_keys(visitor_key: str) -> list[str]:
    return [
        f"visitor-api:{visitor_key}:stream:{slot}"
        for slot in range(max(1, settings.VISITOR_MAX_SOCKETS))
    ]


def visitor_stream_register(*, visitor_key: str, channel: str) -> str | None:
    """Claim a free slot for this stream; its key (None: all taken, heartbeats cover it)."""
    for key in _slot_keys(visitor_key):
        if cache.add(key, channel, timeout=REGISTRY_SECONDS):
            return key
    return None


def visitor_stream_refresh(*, slot: str | None, visitor_key: str, channel: str) -> str | None:
    if slot is not None and cache.get(slot) == channel:
        cache.touch(slot, timeout=REGISTRY_SECONDS)
        return slot
    return visitor_stream_register(visitor_key=visitor_key, channel=channel)


def visitor_stream_unregister(*, slot: str | None, channel: str) -> None:
    if slot is not None and cache.get(slot) == channel:
        cache.delete(slot)


def visitor_streams_follow(*, visitor_key: str, conversation_id: int) -> None:
    """Tell the visitor's open streams to follow this conversation (from sync code)."""
    channels = cache.get_many(_slot_keys(visitor_key)).values()
    if not channels:
        return
    layer = get_channel_layer()
    for channel in channels:
        try:
            async_to_sync(layer.send)(
                channel, {"type": FOLLOW_HANDLER, "conversation_id": conversation_id}
            )
        except Exception:
            # The stream also looks for a new conversation at every heartbeat.
            logger.exception("could not tell stream %s to follow %s", channel, conversation_id)


# --- reads for the stream ----------------------------------------------------------------


def _authenticate(*, public_key: str, token: str | None, origin: str, host: str):
    site = site_for_request(public_key=public_key, origin=origin, host=host)
    if not token:
        raise TokenRequired()
    return site, visitor_for_token(site=site, token=token)


def _replay(*, visitor: Visitor, after_id: int, conversation_id: int | None = None):
    """(conversation, [(payload, reply_id)], pending reply id, rating request or None)."""
    conversation: Conversation | None
    if conversation_id is None:
        conversation = visitor_followed_conversation(visitor=visitor)
    else:
        conversation = selectors.visitor_conversation_get(
            visitor=visitor, conversation_id=conversation_id
        )
    if conversation is None:
        return None, [], None, None
    messages = [
        (message_payload(m), str(m.reply_id) if m.reply_id else None)
        for m in selectors.conversation_messages_after(
            conversation_id=conversation.pk, after_id=after_id, limit=10_000
        )
    ]
    conversation.refresh_from_db()
    pending = str(conversation.pending_reply_id) if conversation.pending_reply_id else None
    return conversation, messages, pending, _rating_request(visitor, conversation.pk)


def _rating_request(visitor: Visitor, closed_id: int) -> dict[str, Any] | None:
    pending = selectors.visitor_csat_pending(visitor=visitor)
    if pending is None or pending.pk != closed_id:
        return None
    email = Visitor.objects.filter(pk=visitor.pk).values_list("email", flat=True).first()
    return csat_request_event(conversation_id=pending.pk, email=email or "")


def _open_conversation_id(visitor: Visitor) -> int | None:
    conversation = selectors.visitor_open_conversation(visitor=visitor)
    return conversation.pk if conversation else None


# --- the stream ---------------------------------------------------------------------------


def sse_frame(event_id: str, event: dict[str, Any]) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event['type']}\ndata: {data}\n\n".encode()


def _request_thread_release() -> None:
    """Free the thread Django's request context holds, for the stream's whole life.

    Django serves each request inside asgiref's ThreadSensitiveContext, and the sync
    middleware's calls give that context a thread of its own, kept (idle) until the
    response ends: for a stream, a thread per open stream. The middleware is done by the
    time the first byte is sent, so the thread is shut down here, and this stream's later
    thread-sensitive calls go where a consumer's go (asgiref's shared sync thread; with
    DB_THREADS the database pool) instead of starting another one.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None:
        return
    executor = SyncToAsync.context_to_thread_executor.pop(context, None)
    if executor is not None:
        executor.shutdown(wait=False)
    # Only this task's context: the request's own context exits as usual afterwards.
    SyncToAsync.thread_sensitive_context.set(None)  # type: ignore[arg-type]


class VisitorEventStream:
    def __init__(self, *, site: Site, visitor: Visitor, cursor: Cursor) -> None:
        self.site = site
        self.visitor = visitor
        self.visitor_key = str(visitor.anonymous_id)
        self.filter = StreamFilter.resuming(cursor)
        self.layer = get_channel_layer()
        self.channel = ""
        self.slot: str | None = None
        self.conversation_id: int | None = None

    async def events(self) -> AsyncIterator[bytes]:
        receiving: asyncio.Future | None = None
        _request_thread_release()
        try:
            self.channel = await self.layer.new_channel()
            self.slot = await database_sync_to_async(visitor_stream_register)(
                visitor_key=self.visitor_key, channel=self.channel
            )
            # The first bytes: headers and this go out now, not with the first event.
            yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
            for frame in await self._follow(None):
                yield frame
            while True:
                if receiving is None:
                    receiving = asyncio.ensure_future(self.layer.receive(self.channel))
                done, _pending = await asyncio.wait({receiving}, timeout=HEARTBEAT_SECONDS)
                if not done:
                    yield b": keep-alive\n\n"
                    for frame in await self._heartbeat():
                        yield frame
                    continue
                message, receiving = receiving.result(), None
                for frame in await self._handle(message):
                    yield frame
        finally:
            await self._stop_receiving(receiving)
            await self._leave()

    async def _stop_receiving(self, receiving: asyncio.Future | None) -> None:
        """Cancel the pending read: the layer drops the channel's subscription (pub/sub
        layer) when a read is cancelled, so one is started if none is running."""
        if not self.channel:
            return
        if receiving is None or receiving.done():
            receiving = asyncio.ensure_future(self.layer.receive(self.channel))
            await asyncio.sleep(0)  # let it start waiting, so the cancel reaches its cleanup
        receiving.cancel()
        await asyncio.gather(receiving, return_exceptions=True)

    async def _leave(self) -> None:
        try:
            if self.conversation_id is not None:
                await self.layer.group_discard(
                    conversation_group(self.conversation_id), self.channel
                )
            if self.channel:
                await database_sync_to_async(visitor_stream_unregister)(
                    slot=self.slot, channel=self.channel
                )
        finally:
            await database_sync_to_async(limits.visitor_socket_release)(
                visitor_key=self.visitor_key
            )

    async def _follow(self, conversation_id: int | None) -> list[bytes]:
        """Subscribe to the conversation's group first, then replay what is stored."""
        if conversation_id is not None and conversation_id != self.conversation_id:
            await self._join(conversation_id)
        conversation, messages, pending, rating = await database_sync_to_async(_replay)(
            visitor=self.visitor, after_id=self.filter.high_water, conversation_id=conversation_id
        )
        if conversation is None:
            return []
        if conversation.pk != self.conversation_id:
            await self._join(conversation.pk)
            # Joined only now: read again so nothing fell between the read and the join.
            conversation, messages, pending, rating = await database_sync_to_async(_replay)(
                visitor=self.visitor,
                after_id=self.filter.high_water,
                conversation_id=conversation.pk,
            )
        out: list[Outgoing] = []
        for payload, reply_id in messages:
            replayed = self.filter.replayed(payload, reply_id)
            if replayed is not None:
                out.append(replayed)
        if conversation.state == Conversation.State.BOT:
            out.extend(self.filter.reply_in_flight(conversation.pk, pending))
        else:
            out.extend(self.filter.reply_in_flight(conversation.pk, None))
        state = state_event(conversation)
        self.filter.silencer.should_drop(conversation.pk, dict(state))
        out.append((self.filter._id(), dict(state)))
        if rating is not None:
            out.append((self.filter._id(), rating))
        return [sse_frame(event_id, event) for event_id, event in out]

    async def _join(self, conversation_id: int) -> None:
        if self.conversation_id is not None:
            await self.layer.group_discard(conversation_group(self.conversation_id), self.channel)
        self.conversation_id = conversation_id
        await self.layer.group_add(conversation_group(conversation_id), self.channel)

    async def _heartbeat(self) -> list[bytes]:
        self.slot = await database_sync_to_async(visitor_stream_refresh)(
            slot=self.slot, visitor_key=self.visitor_key, channel=self.channel
        )
        # A missed follow notice: look for a newer open conversation.
        open_id = await database_sync_to_async(_open_conversation_id)(self.visitor)
        if open_id is not None and open_id != self.conversation_id:
            return await self._follow(open_id)
        return []

    async def _handle(self, message: dict[str, Any]) -> list[bytes]:
        kind = message.get("type")
        if kind == FOLLOW_HANDLER:
            if message.get("conversation_id") == self.conversation_id:
                return []
            return await self._follow(message["conversation_id"])
        if kind != FORWARD_HANDLER or message.get("conversation_id") != self.conversation_id:
            return []
        event = message["event"]
        outgoing = self.filter.live(message["conversation_id"], event)
        if outgoing is None:
            return []
        frames = [sse_frame(*outgoing)]
        if event.get("type") == "state" and event.get("state") == "closed":
            rating = await database_sync_to_async(_rating_request)(
                self.visitor, message["conversation_id"]
            )
            if rating is not None:
                frames.append(sse_frame(self.filter._id(), rating))
        return frames


# --- the view ----------------------------------------------------------------------------


def _refusal(request: HttpRequest, exc: exceptions.APIException, origin: str) -> HttpResponse:
    # CORS headers only for an origin that passed the check.
    return json_error(exc, origin="" if isinstance(exc, OriginNotAllowed) else origin)


async def conversation_events(request: HttpRequest, public_key: str) -> HttpResponse:
    origin = request_origin(request.headers)
    if request.method == "OPTIONS":
        try:
            await database_sync_to_async(site_for_request)(
                public_key=public_key, origin=origin, host=request.get_host()
            )
        except (SiteNotFound, OriginNotAllowed) as exc:
            return _refusal(request, exc, origin)
        response = HttpResponse(status=204)
        cors_headers_add(response, origin=origin, preflight=True)
        return response
    if request.method != "GET":
        return _refusal(request, exceptions.MethodNotAllowed(request.method or ""), origin)
    # EventSource cannot send headers: `?token=` and `?last_event_id=` stand in for them.
    token = bearer_token(request.headers.get("Authorization", "")) or request.GET.get("token")
    try:
        cursor = cursor_parse(
            request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
        )
    except InvalidEventId:
        return _refusal(
            request,
            exceptions.ValidationError({"last_event_id": [_("Not an event id this stream sent.")]}),
            origin,
        )
    try:
        site, visitor = await database_sync_to_async(_authenticate)(
            public_key=public_key, token=token, origin=origin, host=request.get_host()
        )
    except (SiteNotFound, OriginNotAllowed, TokenRequired, InvalidToken) as exc:
        return _refusal(request, exc, origin)
    claimed = await database_sync_to_async(limits.visitor_socket_claim)(
        visitor_key=str(visitor.anonymous_id)
    )
    if not claimed:
        return _refusal(
            request,
            RateLimited(
                wait=60,
                detail=_("This visitor already has too many open streams and sockets."),
            ),
            origin,
        )
    stream = VisitorEventStream(site=site, visitor=visitor, cursor=cursor)
    response = StreamingHttpResponse(stream.events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    cors_headers_add(response, origin=origin)
    return response
