"""Database calls from async code run on a pool of threads when DB_THREADS > 0."""

import asyncio
import threading
import time

import pytest

from helpdesk.db_async import database_sync_to_async

pytestmark = pytest.mark.django_db(transaction=True)


def _where_and_wait() -> str:
    time.sleep(0.2)
    return threading.current_thread().name


async def test_calls_overlap_on_the_pool(settings):
    settings.DB_THREADS = 4  # the pool is created once, at its first use
    names = await asyncio.gather(*(database_sync_to_async(_where_and_wait)() for _ in range(4)))
    # Four calls held at once occupy four threads of the pool.
    assert len(set(names)) == 4 and all(n.startswith("helpdesk-db") for n in names)


async def test_zero_threads_keeps_channels_single_thread(settings):
    settings.DB_THREADS = 0
    names = await asyncio.gather(*(database_sync_to_async(_where_and_wait)() for _ in range(3)))
    assert len(set(names)) == 1
