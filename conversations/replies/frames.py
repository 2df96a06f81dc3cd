"""A streamed reply's text, sent as it grows: one frame at a time per reply.

A frame goes out as soon as text arrives and no other frame of the reply is on
its way. Text that arrives while one is (its publish not yet answered by the
channel layer) waits and goes out with the next frame. So at a light load every
piece of the LLM's text is its own frame, sent at once, and under load, when
publishes take longer, pieces merge and the frames per second fall with the
load: the merging happens exactly when it is needed (Nagle's algorithm).

`LLM_DELTA_COALESCE_MS` adds a least gap between a reply's frames on top of that.
It is off by default: a fixed 30 ms window held every piece that came sooner than
that after the last frame, at any load (benchmarks/README.md, "tenth run").
"""

import asyncio
import time

from django.conf import settings

from conversations.broadcast import watchers_event_publish
from conversations.events import reply_delta_event
from conversations.replies.context import OutputBlocked, ReplyContext, StreamState


class DeltaFrames:
    def __init__(self, context: ReplyContext, state: StreamState) -> None:
        self._context = context
        self._state = state
        self._least_gap = settings.LLM_DELTA_COALESCE_MS / 1000
        self._sending: asyncio.Task | None = None
        self._more = False  # text arrived while a frame was on its way
        self._last_sent = 0.0

    def offer(self) -> None:
        """The reply's text grew: send it now, or with the next frame if one is on its way.

        Raises what the previous frame raised (the filter blocked the text, the
        layer failed), so the reader stops at its next piece.
        """
        if self._sending is not None:
            if not self._sending.done():
                self._more = True
                return
            self._sending.result()
        self._sending = asyncio.ensure_future(self._send())

    async def finish(self) -> None:
        """Send everything, the held-back tail included, after the frame on its way."""
        if self._sending is not None:
            await self._sending
            self._sending = None
        await delta_emit(self._context, self._state, upto=len(self._state.raw))

    async def settle(self) -> None:
        """Wait for the frame on its way (its outcome is not this caller's concern).

        Run when the reading stops for another reason: what the reply state says
        was shown must have been published.
        """
        if self._sending is not None and not self._sending.done():
            await asyncio.wait({self._sending})
        if self._sending is not None and not self._sending.cancelled():
            self._sending.exception()  # retrieved: the reader's own error is the one raised

    async def _send(self) -> None:
        while True:
            self._more = False
            if self._least_gap:
                wait = self._last_sent + self._least_gap - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            raw = self._state.raw
            held = max(self._context.screener.holdback, self._context.leak_guard.holdback(raw))
            await delta_emit(self._context, self._state, upto=len(raw) - held)
            self._last_sent = time.monotonic()
            if not self._more:
                return


async def delta_emit(context: ReplyContext, state: StreamState, *, upto: int) -> None:
    """Send the screened text up to `upto`, holding back what might still be a word's start."""
    screened = context.screener.screen(state.raw)
    if screened.action in ("block", "escalate"):
        raise OutputBlocked(", ".join(screened.matches))
    leak = context.leak_guard.leaked(state.raw)
    if leak:
        raise OutputBlocked(leak)
    if upto <= state.emitted:
        return
    piece = screened.text[state.emitted : upto]
    state.emitted = upto
    state.shown.append(piece)
    # The visitor and the consoles that have this conversation open; the rest of the
    # site's consoles get only the reply's start and end.
    await watchers_event_publish(
        conversation_id=context.conversation_id,
        event=reply_delta_event(reply_id=context.reply_id, seq=state.seq, text=piece),
        consoles=state.consoles,
    )
    state.seq += 1
