"""Abuse limits for the visitor socket, counted in the Django cache.

Visitors are counted by their anonymous id (a UUID), never by a database id
that a reset database could hand out again.

In production the cache is Redis, so a limit holds across every web process;
in the embedded mode it is per process, which is all there is. Fixed one-minute
windows: cheap (one Redis round trip per message) and good enough to stop floods.
The limits are read from settings on every check, so a SIGHUP reload applies to
the next message.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches

from helpdesk.redis_cache import SharedPoolRedisCache

WINDOW_SECONDS = 60
# A visitor's open-socket count outlives any socket; a crashed process's count expires.
SOCKETS_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class LimitVerdict:
    allowed: bool
    retry_after: int = 0


def limit_hits(*checks: tuple[str, int]) -> LimitVerdict:
    """Count one hit on each (key, per-minute limit) whose limit is on; refused if any
    counter is past its limit. Every counter counts the hit, refused or not."""
    active = [(key, limit) for key, limit in checks if limit > 0]
    if not active:
        return LimitVerdict(allowed=True)
    window = int(time.time() // WINDOW_SECONDS)
    counters = [f"limit:{key}:{window}" for key, _limit in active]
    counts = _counters_increment(counters, timeout=WINDOW_SECONDS * 2)
    if all(count <= limit for count, (_key, limit) in zip(counts, active, strict=True)):
        return LimitVerdict(allowed=True)
    return LimitVerdict(
        allowed=False, retry_after=WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS
    )


def _counters_increment(counters: list[str], *, timeout: int) -> list[int]:
    """Add one to each counter (created with `timeout` when missing); the new values."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, SharedPoolRedisCache):
        # Every message and connect passes here: one Redis round trip for all counters.
        return backend.window_counts(counters, timeout=timeout)
    counts = []
    for counter in counters:
        backend.add(counter, 0, timeout=timeout)
        try:
            counts.append(backend.incr(counter))
        except ValueError:  # expired between add and incr
            backend.set(counter, 1, timeout=timeout)
            counts.append(1)
    return counts


def visitor_message_allowed(*, visitor_key: str, ip_address: str | None) -> LimitVerdict:
    checks = [(f"visitor-msg:{visitor_key}", settings.VISITOR_MESSAGES_PER_MINUTE)]
    if ip_address:
        checks.append((f"ip-msg:{ip_address}", settings.IP_MESSAGES_PER_MINUTE))
    return limit_hits(*checks)


def ip_connection_allowed(*, ip_address: str | None) -> LimitVerdict:
    if not ip_address:
        return LimitVerdict(allowed=True)
    return limit_hits((f"ip-conn:{ip_address}", settings.IP_CONNECTIONS_PER_MINUTE))


def _sockets_key(visitor_key: str) -> str:
    return f"visitor:{visitor_key}:sockets"


def visitor_socket_claim(*, visitor_key: str) -> bool:
    """Count one more open socket for this visitor; False (and nothing counted) past the cap."""
    key = _sockets_key(visitor_key)
    (count,) = _counters_increment([key], timeout=SOCKETS_TTL_SECONDS)
    if count > settings.VISITOR_MAX_SOCKETS:
        cache.decr(key)
        return False
    return True


def visitor_socket_release(*, visitor_key: str) -> None:
    key = _sockets_key(visitor_key)
    try:
        if cache.decr(key) < 0:
            cache.set(key, 0, timeout=SOCKETS_TTL_SECONDS)
    except ValueError:
        pass
