"""Database calls from async code run on a pool of threads when DB_THREADS > 0."""

import asyncio
import threading
import time

import pytest
from django.db import OperationalError, connections

from helpdesk import db_async
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


@pytest.fixture
def health_checked(settings, monkeypatch):
    """Production's kept, health-checked connections, on channels' single thread; the
    number of health checks (SELECT 1) so far."""
    settings.DB_THREADS = 0
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_HEALTH_CHECKS", True)
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 60)
    wrapper = type(connections["default"])
    checks: list[int] = []
    original = wrapper.is_usable

    def counted(self):
        checks.append(1)
        return original(self)

    monkeypatch.setattr(wrapper, "is_usable", counted)
    return checks


def _backend_pid() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid()"
            if connections["default"].vendor == "postgresql"
            else "SELECT 1"
        )
        return cursor.fetchone()[0]


async def test_a_kept_connection_is_checked_at_most_once_a_second(health_checked, monkeypatch):
    pids = [await database_sync_to_async(_backend_pid)() for _ in range(5)]
    assert len(set(pids)) == 1  # kept: one connection for every call
    assert len(health_checked) == 1
    monkeypatch.setattr(db_async, "HEALTH_CHECK_TRUST_SECONDS", 0.0)
    await database_sync_to_async(_backend_pid)()
    await database_sync_to_async(_backend_pid)()
    assert len(health_checked) == 3


async def test_a_connection_the_database_dropped_is_replaced(health_checked, monkeypatch):
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL to drop a connection from the server side")
    pid = await database_sync_to_async(_backend_pid)()
    await database_sync_to_async(_terminate)(pid)
    # Within the trusted second the dead connection fails one call...
    with pytest.raises(OperationalError):
        await database_sync_to_async(_backend_pid)()
    # ...and the next call gets a new one.
    assert await database_sync_to_async(_backend_pid)() != pid
    # Past the trusted second the check itself finds a dropped connection: no call fails.
    monkeypatch.setattr(db_async, "HEALTH_CHECK_TRUST_SECONDS", 0.0)
    pid = await database_sync_to_async(_backend_pid)()
    await database_sync_to_async(_terminate)(pid)
    assert await database_sync_to_async(_backend_pid)() != pid


def _terminate(pid: int) -> None:
    # From a connection of its own, so the thread's connection stays as it was.
    import psycopg

    settings_dict = connections["default"].settings_dict
    where = {
        "host": settings_dict["HOST"],
        "port": settings_dict["PORT"] or 5432,
        "user": settings_dict["USER"],
        "dbname": settings_dict["NAME"],
        "password": settings_dict["PASSWORD"] or None,
    }
    with psycopg.connect(**where, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with psycopg.connect(**where) as other:
            alive = other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        if alive is None:
            return
        time.sleep(0.05)
