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

With CONN_HEALTH_CHECKS (production), Django checks a kept connection with a
`SELECT 1` before the first query of every "request", and to channels every call
is one: a round trip before each of a message's four calls. Here a connection
that passed its check less than HEALTH_CHECK_TRUST_SECONDS ago is trusted. A
database that went away in that second fails one call, whose error marks the
connection, and the next call's clean-up replaces it.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from typing import Any

from asgiref.sync import SyncToAsync
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import close_old_connections, connections

from helpdesk.config_versions import config_versions_read_together

HEALTH_CHECK_TRUST_SECONDS = 1.0

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


_checked = threading.local()  # per thread: alias -> (DB-API connection, when checked)


def _health_check_when_due() -> None:
    now = time.monotonic()
    checked: dict[str, tuple[object, float]] = _checked.__dict__.setdefault("by_alias", {})
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is None or not connection.health_check_enabled or connection.health_check_done:
            continue
        previous = checked.get(connection.alias)
        if previous and previous[0] is raw and now - previous[1] < HEALTH_CHECK_TRUST_SECONDS:
            connection.health_check_done = True
        else:
            checked[connection.alias] = (raw, now)  # Django checks it at the first query


class PooledDatabaseSyncToAsync(DatabaseSyncToAsync):
    def __init__(self, func: Callable[..., Any]) -> None:
        if settings.DB_THREADS > 0:
            super().__init__(func, thread_sensitive=False, executor=_executor())
        else:
            super().__init__(func)

    def thread_handler(self, loop, *args, **kwargs):
        # DatabaseSyncToAsync's, with the health check at most once a second, and the
        # call's configuration counters read in one round trip.
        close_old_connections()
        _health_check_when_due()
        try:
            with config_versions_read_together():
                return SyncToAsync.thread_handler(self, loop, *args, **kwargs)
        finally:
            close_old_connections()


database_sync_to_async = PooledDatabaseSyncToAsync
