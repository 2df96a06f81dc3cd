"""Event ids and what one stream forwards (no database, no server)."""

import pytest

from conversations.api.visitor_sse_cursor import Cursor, InvalidEventId, StreamFilter, cursor_parse


def test_event_ids_parse_and_bad_ones_are_refused():
    assert cursor_parse(None) == Cursor()
    assert cursor_parse("41") == Cursor(message_id=41)
    assert cursor_parse("41:abc:3") == Cursor(message_id=41, reply_id="abc", seq=3)
    for bad in ("x", "41:abc", "-1", "41::3", "41:abc:-2", "41:abc:x"):
        with pytest.raises(InvalidEventId):
            cursor_parse(bad)


def delta(seq: int) -> dict:
    return {"type": "reply.delta", "reply_id": "r", "seq": seq, "text": f"p{seq} "}


def test_a_resumed_reply_continues_exactly_or_waits_for_its_end():
    stream = StreamFilter.resuming(Cursor(message_id=10, reply_id="r", seq=1))
    assert stream.live(1, delta(1)) is None  # already shown
    assert stream.live(1, delta(2)) == ("10:r:2", delta(2))
    assert stream.live(1, delta(4)) is None  # a gap: no more pieces
    assert stream.live(1, delta(5)) is None
    end = {"type": "reply.end", "reply_id": "r", "message": {"id": 12}}
    assert stream.live(1, end) == ("12", end)


def test_replies_started_elsewhere_arrive_as_their_message_and_duplicates_are_dropped():
    stream = StreamFilter(high_water=10)
    assert stream.live(1, delta(0)) is None
    message = {"id": 11, "conversation_id": 1}
    end = {"type": "reply.end", "reply_id": "r", "message": message}
    assert stream.live(1, end) == ("11", {"type": "message", "message": message})
    assert stream.live(1, {"type": "message", "message": message}) is None
    assert stream.live(1, {"type": "typing", "who": "visitor", "active": True}) is None
