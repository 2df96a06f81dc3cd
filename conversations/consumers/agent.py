"""The agent console's socket: every conversation of the agent's sites, live, and its actions.

Every conversation's row changes (`conversation.updated`) and state events reach the
socket; its messages, the visitor's typing preview and a reply's deltas only reach
the sockets that watch it (`watch`: the ones open on the agent's screen). The inbox
needs the row (with the last message) and the reply's start and end, not every
frame of every conversation: 50 consoles each sent every message was most of a busy
web process's work.
"""

import asyncio
import logging
from typing import Any

from django.conf import settings

from conversations import selectors, services
from conversations.broadcast import (
    agent_group,
    conversation_agents_group,
    conversation_group,
    envelope,
    presence_group,
    site_agents_group,
)
from conversations.consumers.base import FrameConsumer
from conversations.consumers.frames import (
    FrameError,
    field_bool,
    field_int,
    field_str,
    message_with_attachments_fields,
)
from conversations.consumers.silencing import StreamSilencer
from conversations.events import agent_row, watching_event
from conversations.services import TransitionRefused
from conversations.suggestions import SuggestionUnavailable, suggestion_stream
from helpdesk import metrics
from helpdesk.db_async import database_sync_to_async
from helpdesk.models import Agent

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
# Events only the consoles watching the conversation get (docs/protocol.md).
WATCHED_ONLY = frozenset({"message", "typing", "reply.delta"})

# Conversations one socket watches at once: a few panes or a quick switch, with the
# oldest dropped beyond it, so a client that never unwatches stays bounded.
WATCH_LIMIT = 5


class AgentConsumer(FrameConsumer):
    agent: Agent

    async def connect(self) -> None:
        agent = await database_sync_to_async(selectors.agent_get_or_create_for_user)(
            user=self.scope.get("user")
        )
        if agent is None:
            await self.close(code=FORBIDDEN)
            return
        self.agent = agent
        self.watching: list[int] = []  # oldest first
        self.site_ids = set(await database_sync_to_async(selectors.agent_site_ids)(agent=agent))
        self.silencer = StreamSilencer()
        self.suggestions: dict[int, asyncio.Task] = {}
        await self.accept()
        for group in self._groups():
            await self.channel_layer.group_add(group, self.channel_name)
        await database_sync_to_async(services.agent_socket_opened)(agent_id=agent.pk)
        agent = await database_sync_to_async(Agent.objects.get)(pk=agent.pk)
        agents = await database_sync_to_async(selectors.agents_list)()
        await self.send_json({"type": "hello", "agent": agent_row(agent), "agents": agents})
        # Last: a connect that raised is never disconnected, so it must not count.
        metrics.socket_opened(self, "agent")

    def _groups(self) -> list[str]:
        return [
            *(site_agents_group(site_id) for site_id in sorted(self.site_ids)),
            agent_group(self.agent.pk),
            presence_group(),
            *(conversation_agents_group(c) for c in self.watching),
        ]

    async def disconnect(self, code: int) -> None:
        metrics.socket_closed(self)
        if not hasattr(self, "agent"):
            return
        for task in self.suggestions.values():
            task.cancel()
        for group in self._groups():
            await self.channel_layer.group_discard(group, self.channel_name)
        remaining = await database_sync_to_async(services.agent_socket_closed)(
            agent_id=self.agent.pk
        )
        if remaining == 0:
            # A reload or a short network blip must not flap the agent offline.
            asyncio.get_running_loop().create_task(_offline_after_grace(self.agent.pk))

    # --- frames in -------------------------------------------------------------------

    def error_for(self, error: FrameError, frame: dict[str, Any]) -> dict[str, Any]:
        event = super().error_for(error, frame)
        conversation_id = frame.get("conversation_id")
        if isinstance(conversation_id, int) and not isinstance(conversation_id, bool):
            event["conversation_id"] = conversation_id
        return event

    async def _conversation(self, frame: dict[str, Any]) -> int:
        conversation_id = field_int(frame, "conversation_id")
        site_id = await database_sync_to_async(selectors.conversation_site_id)(
            conversation_id=conversation_id
        )
        if site_id is None or site_id not in self.site_ids:
            raise FrameError("forbidden", "No such conversation on your sites.")
        return conversation_id

    async def _transition(self, function, **kwargs) -> None:
        try:
            await database_sync_to_async(function)(**kwargs)
        except TransitionRefused as refused:
            raise FrameError("invalid_state", refused.detail) from refused

    async def on_takeover(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._conversation(frame)
        try:
            await database_sync_to_async(services.conversation_take_over)(
                conversation_id=conversation_id, agent=self.agent
            )
        except TransitionRefused as refused:
            await self.send_json(
                {
                    "type": "takeover.failed",
                    "conversation_id": conversation_id,
                    "by": agent_row(refused.owner) if refused.owner else None,
                    "state": refused.state,
                }
            )

    async def on_handback(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._conversation(frame)
        await self._transition(
            services.conversation_hand_back, conversation_id=conversation_id, agent=self.agent
        )

    async def on_close(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._conversation(frame)
        await database_sync_to_async(services.conversation_close)(
            conversation_id=conversation_id, reason=f"closed by {self.agent.display_name}"
        )

    async def on_transfer(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._conversation(frame)
        to_agent = await database_sync_to_async(
            lambda: Agent.objects.filter(pk=field_int(frame, "agent_id")).first()
        )()
        if to_agent is None:
            raise FrameError("not_found", "No such agent.")
        await self._transition(
            services.conversation_transfer,
            conversation_id=conversation_id,
            agent=self.agent,
            to_agent=to_agent,
            note=field_str(frame, "note", required=False, max_length=2000),
        )

    async def _post(self, frame: dict[str, Any], *, internal: bool) -> None:
        conversation_id = await self._conversation(frame)
        client_id, text, attachment_ids = message_with_attachments_fields(frame)
        try:
            post = await database_sync_to_async(services.agent_message_send)(
                conversation_id=conversation_id,
                agent=self.agent,
                client_id=client_id,
                text=text,
                internal=internal,
                attachment_ids=attachment_ids,
            )
        except TransitionRefused as refused:
            raise FrameError("invalid_state", refused.detail, client_id) from refused
        except services.AttachmentRefused as refused:
            raise FrameError(refused.code, refused.detail, client_id) from refused
        await self.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "message_id": post.message.pk,
                "conversation_id": conversation_id,
            }
        )

    async def on_reply(self, frame: dict[str, Any]) -> None:
        await self._post(frame, internal=False)

    async def on_note(self, frame: dict[str, Any]) -> None:
        await self._post(frame, internal=True)

    async def on_typing(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._conversation(frame)
        event = {
            "type": "typing",
            "who": "agent",
            "name": self.agent.display_name,
            "active": field_bool(frame, "active"),
        }
        await self.channel_layer.group_send(
            conversation_group(conversation_id), envelope(event, conversation_id=conversation_id)
        )

    async def on_read(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._conversation(frame)
        await database_sync_to_async(services.conversation_mark_read_by_agents)(
            conversation_id=conversation_id, message_id=field_int(frame, "message_id")
        )

    async def on_suggest(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._conversation(frame)
        previous = self.suggestions.pop(conversation_id, None)
        if previous is not None:
            previous.cancel()
        self.suggestions[conversation_id] = asyncio.get_running_loop().create_task(
            self._suggest(conversation_id)
        )

    async def _suggest(self, conversation_id: int) -> None:
        await self.send_json({"type": "suggest.start", "conversation_id": conversation_id})
        error = ""
        try:
            async for piece in suggestion_stream(conversation_id=conversation_id):
                await self.send_json(
                    {"type": "suggest.delta", "conversation_id": conversation_id, "text": piece}
                )
        except SuggestionUnavailable as exc:
            error = str(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("suggestion failed: %r", exc)
            error = "The assistant could not draft a reply right now."
        end: dict[str, Any] = {"type": "suggest.end", "conversation_id": conversation_id}
        if error:
            end["error"] = error
        await self.send_json(end)

    async def on_status(self, frame: dict[str, Any]) -> None:
        status = field_str(frame, "status", max_length=10)
        if status not in (Agent.Status.ONLINE, Agent.Status.AWAY):
            raise FrameError("invalid_field", "`status` must be online or away.")
        await database_sync_to_async(services.agent_status_set)(
            agent_id=self.agent.pk, status=status
        )

    async def on_watch(self, frame: dict[str, Any]) -> None:
        conversation_id = await self._conversation(frame)
        if conversation_id in self.watching:
            self.watching.remove(conversation_id)
        else:
            await self.channel_layer.group_add(
                conversation_agents_group(conversation_id), self.channel_name
            )
        self.watching.append(conversation_id)
        while len(self.watching) > WATCH_LIMIT:
            await self._unwatch(self.watching[0])
        await self.send_json(
            watching_event(conversation_id=conversation_id, watching=list(self.watching))
        )

    async def on_unwatch(self, frame: dict[str, Any]) -> None:
        # Nothing to check: a socket only ever leaves groups it joined.
        await self._unwatch(field_int(frame, "conversation_id"))

    async def _unwatch(self, conversation_id: int) -> None:
        if conversation_id in self.watching:
            await self.channel_layer.group_discard(
                conversation_agents_group(conversation_id), self.channel_name
            )
            self.watching.remove(conversation_id)

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    HANDLERS = {
        "takeover": on_takeover,
        "handback": on_handback,
        "close": on_close,
        "transfer": on_transfer,
        "reply": on_reply,
        "note": on_note,
        "typing": on_typing,
        "read": on_read,
        "suggest": on_suggest,
        "status": on_status,
        "watch": on_watch,
        "unwatch": on_unwatch,
        "ping": on_ping,
    }

    # --- group events out ----------------------------------------------------------------

    async def conversation_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        conversation_id = message["conversation_id"]
        if self.silencer.should_drop(conversation_id, event):
            return
        if event.get("type") in WATCHED_ONLY and conversation_id not in self.watching:
            return  # sent before an `unwatch` (or the cap) took the socket out of its group
        await self.send_json({"type": "event", "conversation_id": conversation_id, "event": event})

    async def agent_frame(self, message: dict[str, Any]) -> None:
        frame = message["frame"]
        if frame.get("type") == "conversation.updated" and frame.get("conversation") is None:
            return
        await self.send_json(frame)


async def _offline_after_grace(agent_id: int) -> None:
    await asyncio.sleep(settings.AGENT_OFFLINE_GRACE_SECONDS)
    try:
        await database_sync_to_async(services.agent_offline_if_gone)(agent_id=agent_id)
    except Exception:
        logger.exception("presence update failed for agent %s", agent_id)
