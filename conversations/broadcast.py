"""Channel-layer group names and the after-commit broadcast of conversation events.

Every party that watches a conversation (the visitor's sockets, the agents of
its site, the consoles that have it open, a stream waiting to be cancelled) is
reached through a group named here and nowhere else. Visitors and agents are
separate audiences: agents get richer payloads (internal notes, tiers,
latencies) that visitors never see.
"""

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# Who gets a conversation event:
#   "all"      the visitor's sockets and every console of the conversation's site;
#   "visitor"  the visitor's sockets only;
#   "agents"   every console of the site only;
#   "consoles_watching" only the consoles watching the conversation: the agents' copy of
#              a message and the visitor's typing preview. The inbox learns of a new
#              message from the row (`conversation.updated`), which carries its text.
Audience = Literal["all", "visitor", "agents", "consoles_watching"]

# Consumer handler names (the channel layer's "type" of a group message).
FORWARD_HANDLER = "conversation.event"
AGENT_FRAME_HANDLER = "agent.frame"
CANCEL_HANDLER = "reply.cancel"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def site_agents_group(site_id: int) -> str:
    return f"site.{site_id}.agents"


def conversation_agents_group(conversation_id: int) -> str:
    """The agent consoles watching this conversation (it is open on their screen)."""
    return f"conversation.{conversation_id}.agents"


def agent_group(agent_id: int) -> str:
    return f"agent.{agent_id}"


def presence_group() -> str:
    return "agents.presence"


def reply_control_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}.control"


def envelope(event: dict[str, Any], *, conversation_id: int) -> dict[str, Any]:
    return {"type": FORWARD_HANDLER, "conversation_id": conversation_id, "event": event}


def audience_groups(*, conversation_id: int, site_id: int, audience: Audience) -> list[str]:
    groups = []
    if audience in ("all", "visitor"):
        groups.append(conversation_group(conversation_id))
    if audience in ("all", "agents"):
        groups.append(site_agents_group(site_id))
    if audience == "consoles_watching":
        groups.append(conversation_agents_group(conversation_id))
    return groups


GroupSend = tuple[str, dict[str, Any]]  # (group name, channel-layer message)


def conversation_event_sends(
    *, conversation_id: int, site_id: int, event: dict[str, Any], audience: Audience = "all"
) -> list[GroupSend]:
    message = envelope(event, conversation_id=conversation_id)
    return [
        (group, message)
        for group in audience_groups(
            conversation_id=conversation_id, site_id=site_id, audience=audience
        )
    ]


async def conversation_event_publish(
    *, conversation_id: int, site_id: int, event: dict[str, Any], audience: Audience = "all"
) -> None:
    layer = get_channel_layer()
    for group, message in conversation_event_sends(
        conversation_id=conversation_id, site_id=site_id, event=event, audience=audience
    ):
        await layer.group_send(group, message)


# How long a stream leaves the consoles' copy of its deltas unsent after one that no
# process received. A console that opens the conversation meanwhile shows the reply
# from a later piece on, as it does when it opens it mid-stream (its reply.end
# carries the whole text).
CONSOLES_RECHECK_SECONDS = 0.25


@dataclass
class ConsolesWatching:
    """Whether any console has a streaming conversation open, as its last delta found.

    Most conversations are open on no console's screen, and each delta's
    consoles' copy is a publish of its own: skipping it halves a stream's
    publishes. Only a layer that says how many received a publish (the Redis
    one, `helpdesk.pipelined_channel_layer`) allows the skip.
    """

    skip_until: float = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self.skip_until

    def received(self, receivers: int | None) -> None:
        if receivers == 0:
            self.skip_until = time.monotonic() + CONSOLES_RECHECK_SECONDS


async def watchers_event_publish(
    *, conversation_id: int, event: dict[str, Any], consoles: ConsolesWatching
) -> None:
    """A reply's delta: to the visitor, and to the consoles watching unless none was lately.

    A console reading the inbox gets the reply's start and end, not every token of
    every conversation (50 consoles x 300 streams of ~30 frames a second is more than
    they can read); one that has the conversation open (`watch`) gets its deltas.
    """
    layer = get_channel_layer()
    message = envelope(event, conversation_id=conversation_id)
    # The visitor's copy first and on its own: gathered, both waited for a hop through
    # a worker loop busy with hundreds of streams before either was written.
    await layer.group_send(conversation_group(conversation_id), message)
    if consoles.due():
        receivers = await layer.group_send(conversation_agents_group(conversation_id), message)
        consoles.received(receivers)


def agent_frame_send(*, group: str, frame: dict[str, Any]) -> GroupSend:
    return group, {"type": AGENT_FRAME_HANDLER, "frame": frame}


async def group_sends_publish(sends: list[GroupSend]) -> None:
    """Several group messages, in order, in one trip from a database thread to the loop.

    Each `async_to_sync` call from a database thread waits for the event loop to
    run it; a message's visitor event, console event and inbox row used to be
    three such waits.
    """
    layer = get_channel_layer()
    for group, message in sends:
        try:
            await layer.group_send(group, message)
        except Exception:
            # One group failing must not keep the others from their event.
            logger.exception("broadcast failed: %s", group)


# Set by `publishes_held`: where the after-commit group messages of this context go
# instead of out, for the caller's event loop to send.
_held: contextvars.ContextVar[list[GroupSend] | None] = contextvars.ContextVar(
    "held_publishes", default=None
)


@contextmanager
def publishes_held() -> Iterator[list[GroupSend]]:
    """Inside, the after-commit group messages are built when their transaction commits
    (on this thread: the inbox row's queries) but kept, in order, in the yielded list.

    A consumer's database call uses it so that its socket's answer (the visitor's ack)
    need not wait for the publishes: sent from the database thread, each batch is a
    trip to the event loop and back, which a busy loop makes long, with the thread
    held meanwhile. The caller sends the list with `held_publishes_send`.
    """
    held: list[GroupSend] = []
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


def held_publishes_send(sends: list[GroupSend]) -> asyncio.Future[None]:
    """Start sending what `publishes_held` kept, at once, beside whatever the caller does
    next; await the result before anything that must come after them. Shielded: the
    events are committed, and a socket that closes meanwhile must not take the other
    watchers' copies with it."""
    return asyncio.shield(group_sends_publish(sends))


def sends_after_commit(*, what: str, sends: Callable[[], list[GroupSend]]) -> None:
    """Build the group messages once the surrounding transaction commits; send them in one trip."""

    def send() -> None:
        batch = sends()
        if not batch:
            return
        held = _held.get()
        if held is not None:
            held.extend(batch)
        else:
            async_to_sync(group_sends_publish)(batch)

    transaction.on_commit(lambda: _run_logged(what, send))


def _run_logged(what: str, send: Callable[[], None]) -> None:
    try:
        send()
    except Exception:
        # The event is already saved; a reconnect replays it. Losing the live
        # push must not turn a committed write into an error for the sender.
        logger.exception("broadcast failed: %s", what)


def broadcast_after_commit(
    *,
    conversation_id: int,
    site_id: int,
    events: list[dict[str, Any]],
    audience: Audience = "all",
) -> None:
    """Send events to the conversation's watchers once the surrounding transaction commits."""
    sends_after_commit(
        what=f"conversation {conversation_id}",
        sends=lambda: [
            send
            for event in events
            for send in conversation_event_sends(
                conversation_id=conversation_id, site_id=site_id, event=event, audience=audience
            )
        ],
    )


def agent_frame_publish_sync(*, group: str, frame: dict[str, Any]) -> None:
    _run_logged(
        group,
        lambda: async_to_sync(get_channel_layer().group_send)(
            *agent_frame_send(group=group, frame=frame)
        ),
    )


def agent_frame_after_commit(*, group: str, frame: dict[str, Any] | Callable[[], dict]) -> None:
    """A top-level frame for agent consoles; `frame` may be a callable, built after commit."""

    def send() -> None:
        agent_frame_publish_sync(group=group, frame=frame() if callable(frame) else frame)

    transaction.on_commit(send)


def reply_cancel_after_commit(*, conversation_id: int, reply_id: str, reason: str) -> None:
    def send() -> None:
        async_to_sync(get_channel_layer().group_send)(
            reply_control_group(conversation_id),
            {"type": CANCEL_HANDLER, "reply_id": reply_id, "reason": reason},
        )

    # The stream re-checks ownership before saving, so a lost cancel costs
    # wasted tokens, never a reply saved after it was superseded.
    transaction.on_commit(lambda: _run_logged(f"cancel {reply_id}", send))
