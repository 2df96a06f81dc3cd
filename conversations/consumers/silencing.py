"""Dropping a stream's leftover events once it should be over.

A worker may publish a delta after a takeover committed but before its cancel
arrived. Every consumer sees the `state` event before such deltas (the channel
layer keeps one publisher's order, and the state is published first after
commit), so it stops forwarding that reply's deltas from then on. Likewise a
reply that has ended (saved, cancelled, or failed by the watchdog while its
stream was still finishing) forwards nothing more: no second `reply.end`, no
late delta after the fallback.
"""

from collections import deque
from typing import Any

ENDED_REMEMBERED = 256


class StreamSilencer:
    def __init__(self) -> None:
        self.live: dict[int, set[str]] = {}
        self.silenced: set[str] = set()
        self._ended: deque[str] = deque(maxlen=ENDED_REMEMBERED)
        self._ended_set: set[str] = set()

    def _end(self, reply_id: str) -> None:
        if len(self._ended) == self._ended.maxlen:
            self._ended_set.discard(self._ended[0])
        self._ended.append(reply_id)
        self._ended_set.add(reply_id)

    def should_drop(self, conversation_id: int, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if (
            kind in ("reply.start", "reply.delta", "reply.end")
            and event["reply_id"] in self._ended_set
        ):
            return True
        if kind == "reply.start":
            self.live.setdefault(conversation_id, set()).add(event["reply_id"])
        elif kind == "reply.delta":
            return event["reply_id"] in self.silenced
        elif kind == "reply.end":
            self.live.get(conversation_id, set()).discard(event["reply_id"])
            self.silenced.discard(event["reply_id"])
            self._end(event["reply_id"])
        elif kind == "state" and event.get("state") != "bot":
            self.silenced |= self.live.pop(conversation_id, set())
        return False
