"""Abuse limits for the visitor socket, counted in the Django cache.

Visitors are counted by their anonymous id (a UUID), never by a database id
that a reset database could hand out again.

In production the cache is Redis, so a limit holds across every web process;
in the embedded mode it is per process, which is all there is. Fixed one-minute
windows: cheap (one INCR) and good enough to stop floods. The limits are read
from settings on every check, so a SIGHUP reload applies to the next message.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class LimitVerdict:
    allowed: bool
    retry_after: int = 0


def _hit(key: str, limit: int) -> LimitVerdict:
    if limit <= 0:
        return LimitVerdict(allowed=True)
    window = int(time.time() // WINDOW_SECONDS)
    counter = f"limit:{key}:{window}"
    cache.add(counter, 0, timeout=WINDOW_SECONDS * 2)
    try:
        count = cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, timeout=WINDOW_SECONDS * 2)
        count = 1
    if count <= limit:
        return LimitVerdict(allowed=True)
    return LimitVerdict(
        allowed=False, retry_after=WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS
    )


def visitor_message_allowed(*, visitor_key: str, ip_address: str | None) -> LimitVerdict:
    verdict = _hit(f"visitor-msg:{visitor_key}", settings.VISITOR_MESSAGES_PER_MINUTE)
    if verdict.allowed and ip_address:
        verdict = _hit(f"ip-msg:{ip_address}", settings.IP_MESSAGES_PER_MINUTE)
    return verdict


def ip_connection_allowed(*, ip_address: str | None) -> LimitVerdict:
    if not ip_address:
        return LimitVerdict(allowed=True)
    return _hit(f"ip-conn:{ip_address}", settings.IP_CONNECTIONS_PER_MINUTE)


def _sockets_key(visitor_key: str) -> str:
    return f"visitor:{visitor_key}:sockets"


def visitor_socket_claim(*, visitor_key: str) -> bool:
    """Count one more open socket for this visitor; False (and nothing counted) past the cap."""
    key = _sockets_key(visitor_key)
    cache.add(key, 0, timeout=24 * 3600)
    if cache.incr(key) > settings.VISITOR_MAX_SOCKETS:
        cache.decr(key)
        return False
    return True


def visitor_socket_release(*, visitor_key: str) -> None:
    key = _sockets_key(visitor_key)
    try:
        if cache.decr(key) < 0:
            cache.set(key, 0, timeout=24 * 3600)
    except ValueError:
        pass
