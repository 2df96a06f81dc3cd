"""Shared helpers of the reliability tests: a client that remembers what it has seen."""

import asyncio
import itertools

import pytest
from channels.db import database_sync_to_async

from conversations.models import Message
from tests.conversations.conftest import (  # noqa: F401  (fixture re-exported)
    VisitorClient,
    open_visitor,
    start_celery_worker,
)

_socket_numbers = itertools.count(1)


@pytest.fixture
def relaxed_limits(settings):
    """Abuse limits off: these tests open many sockets and send many messages on purpose."""
    settings.VISITOR_MESSAGES_PER_MINUTE = 0
    settings.IP_MESSAGES_PER_MINUTE = 0
    settings.IP_CONNECTIONS_PER_MINUTE = 0
    settings.VISITOR_MAX_SOCKETS = 10_000


class Memory:
    """What one visitor's browser knows, across every socket it opened."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.seen: dict[int, dict] = {}  # message id -> payload (or ack) as received
        self.acked: dict[str, int] = {}  # client_id -> message id
        self.sent: dict[str, str] = {}  # client_id -> text, every message ever sent
        self.replayed_bot: set[int] = set()
        self.conversation_id: int | None = None
        self.events: list[dict] = []  # every event received, across all sockets, in order

    @property
    def last_seen_id(self) -> int:
        return max(self.seen, default=0)

    def unacked(self) -> list[tuple[str, str]]:
        return [(cid, text) for cid, text in self.sent.items() if cid not in self.acked]

    def note(self, event: dict) -> None:
        self.events.append(event)
        kind = event["type"]
        if kind == "welcome":
            self.token = event["token"]
        elif kind == "ack":
            self.conversation_id = event["conversation_id"]
            self.acked[event["client_id"]] = event["message_id"]
            self.seen.setdefault(
                event["message_id"],
                {
                    "id": event["message_id"],
                    "author": "visitor",
                    "text": event["text"],
                    "client_id": event["client_id"],
                },
            )
        elif kind == "message":
            message = event["message"]
            self.seen[message["id"]] = message
            if message["author"] == "bot":
                # Bot replies arrive live as reply.end; as `message` only in a replay.
                self.replayed_bot.add(message["id"])
        elif kind == "reply.end" and event["message"] is not None:
            self.seen[event["message"]["id"]] = event["message"]


def after_their_end(events: list[dict]) -> list[dict]:
    """Stream events (start, delta, a second end) of replies that had already ended."""
    ended: set[str] = set()
    late = []
    for event in events:
        if event["type"] in ("reply.start", "reply.delta", "reply.end"):
            if event["reply_id"] in ended:
                late.append(event)
            if event["type"] == "reply.end":
                ended.add(event["reply_id"])
    return late


async def connect(site, memory: Memory) -> VisitorClient:
    """A new socket that says hello with the token and the last id this browser saw."""
    # A distinct address per socket keeps the per-IP counters out of the way.
    number = next(_socket_numbers)
    client, connected, code = await open_visitor(
        site, client=(f"2001:db8::{number:x}", 40000 + number % 20000)
    )
    assert connected, f"refused with {code}"
    fields: dict = {"last_seen_id": memory.last_seen_id}
    if memory.token:
        fields["token"] = memory.token
    await client.send({"type": "hello", **fields})
    return client


async def pump(client: VisitorClient, memory: Memory, predicate, timeout: float) -> dict:
    """Receive (remembering everything) until an event satisfies predicate; return it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await client.receive(timeout=max(0.05, deadline - loop.time()))
        memory.note(event)
        if predicate(event):
            return event


async def pump_quietly(client: VisitorClient, memory: Memory, seconds: float) -> None:
    """Remember everything that arrives until nothing has for `seconds`."""
    while not await client.communicator.receive_nothing(timeout=seconds):
        memory.note(await client.receive())


def visible_rows(conversation_id: int) -> list[dict]:
    """The database's visitor-visible messages of a conversation, in id order."""
    return list(
        Message.objects.filter(conversation_id=conversation_id, is_internal=False)
        .order_by("id")
        .values("id", "author_kind", "text", "client_id")
    )


visible_rows_async = database_sync_to_async(visible_rows)


def as_rows(payloads) -> list[dict]:
    return [
        {"id": p["id"], "author_kind": p["author"], "text": p["text"], "client_id": p["client_id"]}
        for p in payloads
    ]
