"""The Redis cache keeps one connection pool per process, however many tasks use it."""

import asyncio
import contextvars
import os

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import caches

from helpdesk.redis_cache import SharedPoolRedisCache

pytestmark = pytest.mark.integration


def _client_and_value(key: str):
    cache = caches["default"]
    cache.set(key, "v", 30)
    return id(cache), id(cache._cache), cache.get(key)


async def test_every_task_shares_one_client_and_pool():
    assert isinstance(caches["default"], SharedPoolRedisCache)
    key = f"shared-pool-{os.getpid()}"
    # Each asyncio task has a context of its own, so Django hands each one a
    # cache object of its own: the client (and its pool) must still be one.
    results = await asyncio.gather(
        *(
            asyncio.create_task(
                sync_to_async(_client_and_value)(key), context=contextvars.Context()
            )
            for _ in range(20)
        )
    )
    assert len({cache for cache, _, _ in results}) > 1, "the test no longer exercises contexts"
    assert len({client for _, client, _ in results}) == 1
    assert {value for _, _, value in results} == {"v"}
    pool = caches["default"]._cache._get_connection_pool(write=True)
    assert len(pool._available_connections) + len(pool._in_use_connections) <= 20
