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
