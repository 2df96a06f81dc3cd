import asyncio
import logging
import os
import threading

from asgiref.sync import SyncToAsync, sync_to_async

from conversations.publish_lanes import publish_in_lane


def _recorder(done: list[str], *, loops: set[int] | None = None, finished=None, gate=None):
    """Publishes that wait for `gate` (an asyncio.Event), then take `delay` seconds, then
    record their name; `finished` (an asyncio.Event) is set when `done` holds
    `finished.count` names."""

    def publish(name: str, delay: float):
        async def run() -> None:
            if loops is not None:
                loops.add(id(asyncio.get_running_loop()))
            if gate is not None:
                await gate.wait()
            await asyncio.sleep(delay)
            done.append(name)
            if finished is not None and len(done) == finished.count:
                finished.set()

        return run

    return publish


def _finished_after(count: int) -> asyncio.Event:
    event = asyncio.Event()
    event.count = count
    return event


async def test_a_thread_of_a_running_loop_hands_over_and_goes_on_and_each_lane_keeps_order():
    done: list[str] = []
    loops: set[int] = set()
    finished = _finished_after(4)
    gate = asyncio.Event()
    publish = _recorder(done, loops=loops, finished=finished, gate=gate)

    def commit_hooks() -> None:
        # The first publish of lane A is the slowest: a lane must still wait for it,
        # while lane B, another conversation, goes past.
        publish_in_lane(lane="A", publish=publish("a1", 0.2), what="a1")
        publish_in_lane(lane="A", publish=publish("a2", 0.0), what="a2")
        publish_in_lane(lane="B", publish=publish("b1", 0.0), what="b1")
        publish_in_lane(lane="A", publish=publish("a3", 0.0), what="a3")

    # None of them can finish before the gate opens: waiting for one would hang here.
    await asyncio.wait_for(sync_to_async(commit_hooks, thread_sensitive=False)(), 5)
    assert done == []
    gate.set()

    await asyncio.wait_for(finished.wait(), 5)
    assert [name for name in done if name.startswith("a")] == ["a1", "a2", "a3"]
    assert done.index("b1") < done.index("a1")
    assert loops == {id(asyncio.get_running_loop())}


async def test_a_failed_publish_is_logged_and_its_lane_goes_on(caplog):
    done: list[str] = []
    finished = _finished_after(1)
    publish = _recorder(done, finished=finished)

    async def broken() -> None:
        raise ConnectionError("redis went away")

    def commit_hooks() -> None:
        publish_in_lane(lane="A", publish=broken, what="conversation 7")
        publish_in_lane(lane="A", publish=publish("a2", 0.0), what="a2")

    with caplog.at_level(logging.ERROR, logger="conversations.publish_lanes"):
        await sync_to_async(commit_hooks, thread_sensitive=False)()
        await asyncio.wait_for(finished.wait(), 5)
    assert done == ["a2"]
    assert "broadcast failed: conversation 7" in caplog.text


def test_a_thread_without_a_running_loop_publishes_before_it_returns():
    done: list[str] = []
    publish = _recorder(done)
    seen: list[list[str]] = []

    def command() -> None:
        publish_in_lane(lane="A", publish=publish("a1", 0.01), what="a1")
        seen.append(list(done))

    thread = threading.Thread(target=command)
    thread.start()
    thread.join()
    assert seen == [["a1"]]


def test_a_thread_whose_loop_is_closed_publishes_before_it_returns():
    done: list[str] = []
    publish = _recorder(done)
    closed = asyncio.new_event_loop()
    closed.close()
    seen: list[list[str]] = []

    def pool_thread_after_its_loop_closed() -> None:
        # What asgiref leaves in a thread that did sync work for a loop (a test's, say).
        SyncToAsync.threadlocal.main_event_loop = closed
        SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
        publish_in_lane(lane="A", publish=publish("a1", 0.01), what="a1")
        seen.append(list(done))

    thread = threading.Thread(target=pool_thread_after_its_loop_closed)
    thread.start()
    thread.join()
    assert seen == [["a1"]]
