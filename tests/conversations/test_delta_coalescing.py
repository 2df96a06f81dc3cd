"""LLM pieces that arrive faster than LLM_DELTA_COALESCE_MS go out in one frame."""

import pytest
from channels.db import database_sync_to_async

from conversations.fake_llm.text import split_reply
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

REPLY = "Our store ships worldwide and most parcels arrive within a week or so."


def is_type(kind):
    return lambda event: event["type"] == kind


async def stream_reply(visitor_factory) -> list[dict]:
    site = await database_sync_to_async(SiteFactory)(allowed_origins="http://shop.test")
    visitor = await visitor_factory(site)
    await visitor.hello()
    await visitor.say("Can I pay with a voucher from a partner shop?")
    events = await visitor.receive_until(is_type("reply.end"))
    return events


async def test_a_burst_of_pieces_is_sent_in_few_frames_whole_and_in_order(
    visitor_factory, fake_llm, settings
):
    settings.LLM_DELTA_COALESCE_MS = 50
    fake_llm.configure(reply=REPLY, tokens_per_second=0)  # every piece at once
    events = await stream_reply(visitor_factory)
    deltas = [e for e in events if e["type"] == "reply.delta"]
    end = events[-1]
    assert [d["seq"] for d in deltas] == list(range(len(deltas)))
    assert "".join(d["text"] for d in deltas) == end["message"]["text"] == REPLY
    # The first piece goes out at once (time to first token is not delayed); the
    # rest of the burst shares the next frame or two.
    assert len(split_reply(REPLY)) >= 10
    assert 1 <= len(deltas) <= 3, [d["text"] for d in deltas]


async def test_paced_pieces_each_get_their_own_frame(visitor_factory, fake_llm, settings):
    settings.LLM_DELTA_COALESCE_MS = 30
    fake_llm.configure(reply="one two three four five six", tokens_per_second=8)  # 125 ms apart
    events = await stream_reply(visitor_factory)
    deltas = [e["text"] for e in events if e["type"] == "reply.delta"]
    assert "".join(deltas) == "one two three four five six"
    assert len(deltas) >= 5, deltas


async def test_with_coalescing_off_every_piece_is_a_frame(visitor_factory, fake_llm, settings):
    settings.LLM_DELTA_COALESCE_MS = 0
    fake_llm.configure(reply=REPLY, tokens_per_second=0)
    events = await stream_reply(visitor_factory)
    deltas = [e for e in events if e["type"] == "reply.delta"]
    assert "".join(d["text"] for d in deltas) == REPLY
    assert len(deltas) == len(split_reply(REPLY))
