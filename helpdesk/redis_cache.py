"""Django's Redis cache with one connection pool per process, not per asyncio task.

Django keeps cache objects in a context-local (asgiref Local, not thread
critical), so under ASGI every consumer task gets its own RedisCache, its
own client and its own connection pool: a web process holding 10,000 sockets
opened ~10,000 Redis connections (each one also re-reading redis-py's
package metadata) and ran out of file descriptors. redis-py's pools are
thread-safe, so one client per (servers, options) serves the whole process.
"""

import threading
from typing import Any, ClassVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property


class SharedPoolRedisCache(RedisCache):
    _clients: ClassVar[dict[tuple, RedisCacheClient]] = {}
    _clients_lock = threading.Lock()

    @cached_property
    def _cache(self) -> Any:
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self._class(self._servers, **self._options)
            return client

    def window_counts(self, keys: list[str], *, timeout: int) -> list[int]:
        """Add one to each counter (created at 0 with `timeout` if missing) and return the
        new values: one round trip for all of them, where Django's add + incr costs three
        per counter (its incr checks that the key exists first)."""
        client = self._cache.get_client(write=True)
        pipe = client.pipeline(transaction=False)
        for key in keys:
            full_key = self.make_and_validate_key(key)
            pipe.set(full_key, 0, ex=timeout, nx=True)
            pipe.incr(full_key)
        return [int(count) for count in pipe.execute()[1::2]]
