"""One event loop per worker process for every reply the process streams.

Celery's thread pool runs each task in a thread of its own. Were each task to
run its stream with `asyncio.run`, 300 concurrent replies would be 300 event
loops, each with its own Redis connections for the channel layer (channels_redis
keeps one layer per loop) and its own polling, all contending for the GIL on
every token. Here the task's thread only waits for the result while the stream
runs on the process's one loop, which multiplexes them all as the web process
does its sockets (benchmarks/README.md, "fifth run", has the before and after).
"""

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _serve(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    loop.run_forever()


def _replies_loop() -> asyncio.AbstractEventLoop:
    """The process's loop, started on first use (after a prefork child forks, too)."""
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            started = threading.Event()
            threading.Thread(
                target=_serve, args=(loop, started), name="helpdesk-replies", daemon=True
            ).start()
            started.wait()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def replies_loop_run(coroutine: Coroutine[Any, Any, Result]) -> Result:
    """Run `coroutine` on the process's replies loop; block this thread until it is done.

    If this thread is interrupted while waiting (a prefork child's soft time
    limit raises here), the coroutine is cancelled rather than left running.
    """
    future = asyncio.run_coroutine_threadsafe(coroutine, _replies_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise
