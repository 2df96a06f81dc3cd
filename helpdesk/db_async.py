"""The ORM from async code: channels' database_sync_to_async, on a pool of threads.

Channels runs every `database_sync_to_async` call of a process in one shared
thread (asgiref's thread-sensitive mode), so a web process holding thousands
of sockets does all of their database work one query at a time, and that
thread spends most of its life waiting on PostgreSQL round trips. With
`DB_THREADS` > 0 the calls run on a pool of that many threads instead, each
with its own connection: the waits overlap. Each call is a self-contained unit
(its own transaction, its own on-commit hooks), so nothing relies on running
in the same thread as the previous call. SQLite (the embedded mode) keeps the
single thread: it has one writer anyway.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.conf import settings

_pool: ThreadPoolExecutor | None = None
_pool_lock = Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.DB_THREADS, thread_name_prefix="helpdesk-db"
            )
        return _pool


class PooledDatabaseSyncToAsync(DatabaseSyncToAsync):
    def __init__(self, func: Callable[..., Any]) -> None:
        if settings.DB_THREADS > 0:
            super().__init__(func, thread_sensitive=False, executor=_executor())
        else:
            super().__init__(func)


database_sync_to_async = PooledDatabaseSyncToAsync
