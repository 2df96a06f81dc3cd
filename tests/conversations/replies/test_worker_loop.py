import asyncio
import threading

import pytest

from conversations.replies.worker_loop import replies_loop_run


def test_replies_from_many_threads_share_one_loop_and_overlap():
    loops: set[int] = set()
    running = 0
    most_at_once = 0
    all_started = threading.Barrier(20)

    async def reply(number: int) -> int:
        nonlocal running, most_at_once
        loops.add(id(asyncio.get_running_loop()))
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0.05)
        running -= 1
        return number * 2

    results: dict[int, int] = {}

    def task(number: int) -> None:
        all_started.wait()
        results[number] = replies_loop_run(reply(number))

    threads = [threading.Thread(target=task, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n * 2 for n in range(20)}
    assert len(loops) == 1
    assert most_at_once > 1


def test_a_failing_reply_raises_in_the_task_thread_and_the_loop_goes_on():
    async def failing() -> None:
        raise ValueError("the LLM said no")

    async def fine() -> str:
        return "ok"

    with pytest.raises(ValueError, match="the LLM said no"):
        replies_loop_run(failing())
    assert replies_loop_run(fine()) == "ok"
