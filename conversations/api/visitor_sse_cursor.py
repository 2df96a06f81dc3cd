"""Event ids of the visitor event stream, and what one stream forwards.

Messages are stored and have global, increasing ids; streamed deltas, state
changes and typing are not stored. So an event id carries the highest message
id the stream has delivered (the *high-water mark*), plus, for the events of
an LLM reply in flight, that reply and the last delta's `seq`:

    "41"                 after message 41 (message, reply.end, state, ...)
    "41:<reply_id>:-1"   reply.start of that reply, after message 41
    "41:<reply_id>:3"    its delta seq 3

A reconnect with `Last-Event-ID` gets every stored message after the mark
(a message of the reply it was watching comes as that reply's `reply.end`, so
the half-drawn bubble is closed with the authoritative text), the current
`state`, then live events. Deltas it missed while away cannot be replayed
(they are not stored): from the first gap on, the reply's deltas are dropped
and its `reply.end` carries the whole text. So a client never appends a piece
twice or out of order, and never misses a saved message.

Live events are deduplicated against the mark: the stream subscribes to the
conversation's group before it reads the replay, so an event may arrive both
ways; the later copy is dropped.
"""

from dataclasses import dataclass, field
from typing import Any

from conversations.consumers.silencing import StreamSilencer

STARTED = -1


class InvalidEventId(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    message_id: int = 0
    reply_id: str | None = None
    seq: int = STARTED  # the last delta of reply_id the client has; -1: only its start


def cursor_parse(value: str | None) -> Cursor:
    """A `Last-Event-ID` this stream sent ("" or None: from the start)."""
    value = (value or "").strip()
    if not value:
        return Cursor()
    parts = value.split(":")
    try:
        message_id = int(parts[0])
        if len(parts) == 1:
            cursor = Cursor(message_id=message_id)
        elif len(parts) == 3 and 0 < len(parts[1]) <= 64:
            cursor = Cursor(message_id=message_id, reply_id=parts[1], seq=int(parts[2]))
        else:
            raise ValueError(value)
    except ValueError as exc:
        raise InvalidEventId(value) from exc
    if not 0 <= cursor.message_id < 2**63 or not STARTED <= cursor.seq < 2**31:
        raise InvalidEventId(value)
    return cursor


Outgoing = tuple[str, dict[str, Any]]  # (event id, event)


@dataclass
class StreamFilter:
    """One stream's view: what it delivered, which replies it is drawing."""

    high_water: int = 0
    # reply_id -> the next delta seq this stream may forward
    drawing: dict[str, int] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    silencer: StreamSilencer = field(default_factory=StreamSilencer)

    @classmethod
    def resuming(cls, cursor: Cursor) -> "StreamFilter":
        stream = cls(high_water=cursor.message_id)
        if cursor.reply_id:
            stream.drawing[cursor.reply_id] = cursor.seq + 1
        return stream

    def _id(self, reply_id: str | None = None, seq: int = STARTED) -> str:
        return f"{self.high_water}:{reply_id}:{seq}" if reply_id else str(self.high_water)

    # --- from the database -----------------------------------------------------------

    def replayed(self, payload: dict[str, Any], reply_id: str | None) -> Outgoing | None:
        """A stored message read after subscribing (None: already delivered)."""
        if payload["id"] <= self.high_water:
            return None
        self.high_water = payload["id"]
        if reply_id and reply_id in self.drawing:
            # The reply this client was drawing finished while it was away.
            del self.drawing[reply_id]
            self.broken.discard(reply_id)
            event = {"type": "reply.end", "reply_id": reply_id, "message": payload}
            self.silencer.should_drop(payload["conversation_id"], event)
            return self._id(), event
        return self._id(), {"type": "message", "message": payload}

    def reply_in_flight(self, conversation_id: int, pending: str | None) -> list[Outgoing]:
        """After the replay: end the replies this client draws that are over, and show
        the one in flight (if any) from its start."""
        out: list[Outgoing] = []
        for reply_id in [r for r in self.drawing if r != pending]:
            del self.drawing[reply_id]
            self.broken.discard(reply_id)
            event = {"type": "reply.end", "reply_id": reply_id, "message": None}
            self.silencer.should_drop(conversation_id, event)
            out.append((self._id(), event))
        if pending and pending not in self.drawing:
            start = {"type": "reply.start", "reply_id": pending, "conversation_id": conversation_id}
            self.silencer.should_drop(conversation_id, start)
            self.drawing[pending] = 0
            out.append((self._id(pending), start))
        elif pending:
            self.silencer.should_drop(
                conversation_id,
                {"type": "reply.start", "reply_id": pending, "conversation_id": conversation_id},
            )
        return out

    # --- from the channel layer --------------------------------------------------------

    def live(self, conversation_id: int, event: dict[str, Any]) -> Outgoing | None:
        kind = event.get("type")
        if kind == "typing" and event.get("who") == "visitor":
            return None  # the visitor's own typing preview is for agents only
        if self.silencer.should_drop(conversation_id, event):
            return None
        if kind == "message":
            message = event["message"]
            if message["id"] <= self.high_water:
                return None
            self.high_water = message["id"]
            return self._id(), event
        if kind == "reply.start":
            if event["reply_id"] in self.drawing:
                return None
            self.drawing[event["reply_id"]] = 0
            return self._id(event["reply_id"]), event
        if kind == "reply.delta":
            return self._delta(event)
        if kind == "reply.end":
            return self._end(event)
        return self._id(), event

    def _delta(self, event: dict[str, Any]) -> Outgoing | None:
        reply_id, seq = event["reply_id"], event["seq"]
        expected = self.drawing.get(reply_id)
        if expected is None or reply_id in self.broken or seq < expected:
            return None  # not drawn here, broken, or a piece already sent
        if seq > expected:
            self.broken.add(reply_id)  # missed pieces: reply.end brings the whole text
            return None
        self.drawing[reply_id] = seq + 1
        return self._id(reply_id, seq), event

    def _end(self, event: dict[str, Any]) -> Outgoing | None:
        reply_id, message = event["reply_id"], event.get("message")
        drawn = self.drawing.pop(reply_id, None) is not None
        self.broken.discard(reply_id)
        fresh = message is not None and message["id"] > self.high_water
        if fresh:
            self.high_water = message["id"]
        if drawn:
            return self._id(), event
        # A reply this stream never showed starting: its result is just a message.
        return (self._id(), {"type": "message", "message": message}) if fresh else None
