from conversations.consumers.silencing import ENDED_REMEMBERED, StreamSilencer


def delta(reply_id: str, seq: int = 0) -> dict:
    return {"type": "reply.delta", "reply_id": reply_id, "seq": seq, "text": "x"}


def test_deltas_after_an_ownership_change_are_dropped():
    silencer = StreamSilencer()
    assert not silencer.should_drop(1, {"type": "reply.start", "reply_id": "r"})
    assert not silencer.should_drop(1, delta("r"))
    assert not silencer.should_drop(1, {"type": "state", "state": "human"})
    assert silencer.should_drop(1, delta("r", 1))
    assert not silencer.should_drop(1, {"type": "reply.end", "reply_id": "r", "message": None})


def test_nothing_of_a_reply_passes_after_its_end():
    silencer = StreamSilencer()
    silencer.should_drop(1, {"type": "reply.start", "reply_id": "r"})
    assert not silencer.should_drop(1, {"type": "reply.end", "reply_id": "r", "message": {}})
    assert silencer.should_drop(1, delta("r", 9))
    assert silencer.should_drop(1, {"type": "reply.end", "reply_id": "r", "message": None})
    assert not silencer.should_drop(1, delta("other"))


def test_the_memory_of_ended_replies_is_bounded():
    silencer = StreamSilencer()
    for index in range(ENDED_REMEMBERED + 10):
        silencer.should_drop(1, {"type": "reply.end", "reply_id": f"r{index}", "message": None})
    assert len(silencer._ended_set) == ENDED_REMEMBERED
    assert not silencer.should_drop(1, delta("r0"))
    assert silencer.should_drop(1, delta(f"r{ENDED_REMEMBERED + 9}"))
