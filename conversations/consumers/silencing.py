"""Dropping a stream's leftover deltas once its conversation changed owner.

A worker may publish a delta after a takeover committed but before its
cancel arrived. Every consumer sees the `state` event before such deltas
(the channel layer keeps one publisher's order, and the state is published
first after commit), so it stops forwarding that reply's deltas from then on.
"""

from typing import Any


class StreamSilencer:
    def __init__(self) -> None:
        self.live: dict[int, set[str]] = {}
        self.silenced: set[str] = set()

    def should_drop(self, conversation_id: int, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind == "reply.start":
            self.live.setdefault(conversation_id, set()).add(event["reply_id"])
        elif kind == "reply.delta":
            return event["reply_id"] in self.silenced
        elif kind == "reply.end":
            self.live.get(conversation_id, set()).discard(event["reply_id"])
            self.silenced.discard(event["reply_id"])
        elif kind == "state" and event.get("state") != "bot":
            self.silenced |= self.live.pop(conversation_id, set())
        return False
