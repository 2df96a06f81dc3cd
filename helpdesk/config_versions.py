"""Version counters that tell every process when staff changed run-time configuration.

Each process keeps its parsed KB index, word lists, Site rows and webhook
subscriptions in memory and re-reads them only when the shared counter (in the
Django cache: Redis in production) moved, so an admin edit applies to the next
message everywhere, no restart.

A visitor message reads several counters (the sensitive words', its Site's, its
KB's, its webhooks'), each a Redis round trip. Inside
`config_versions_read_together()` (every database-thread call of a consumer or
a stream is one: helpdesk/db_async.py) the first counter read fetches every
counter this process has been reading, in one round trip, and the block's later
reads use those values. Such a block is one message's unit of work, so it sees
the configuration as it was when it started, as it would had it run a moment
sooner.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache

_PREFIX = "config-version:"

# Counters this process reads, most recent last; fetched together inside a block.
# Bounded: a process serving many sites fetches the ones it used lately.
RECENT_SCOPES_MAX = 64
_recent: dict[str, None] = {}
_recent_lock = threading.Lock()

_block = threading.local()  # depth; values: scope -> counter, fetched in this block


@contextmanager
def config_versions_read_together() -> Iterator[None]:
    depth = getattr(_block, "depth", 0)
    _block.depth = depth + 1
    if depth == 0:
        _block.values = None
    try:
        yield
    finally:
        _block.depth = depth
        if depth == 0:
            _block.values = None


def config_version_get(*, scope: str) -> int:
    if not getattr(_block, "depth", 0):
        return _read_one(scope)
    values: dict[str, int] | None = _block.values
    if values is None or scope not in values:
        values = _read_recent_and(scope)
        _block.values = values
    return values[scope]


def config_version_bump(*, scope: str) -> None:
    try:
        cache.incr(_PREFIX + scope)
    except ValueError:
        cache.add(_PREFIX + scope, 2, timeout=None)
    if getattr(_block, "depth", 0):
        _block.values = None  # this block's own change: read again


def _read_one(scope: str) -> int:
    value = cache.get(_PREFIX + scope)
    if value is None:
        # A cold cache must still invalidate stale process copies: start at 1
        # so a process that cached version 0 before a cache flush re-reads.
        cache.add(_PREFIX + scope, 1, timeout=None)
        value = cache.get(_PREFIX + scope, 1)
    return int(value)


def _read_recent_and(scope: str) -> dict[str, int]:
    with _recent_lock:
        _recent.pop(scope, None)
        _recent[scope] = None
        while len(_recent) > RECENT_SCOPES_MAX:
            del _recent[next(iter(_recent))]
        scopes = list(_recent)
    found = cache.get_many([_PREFIX + name for name in scopes])
    return {
        name: int(found[_PREFIX + name]) if _PREFIX + name in found else _read_one(name)
        for name in scopes
    }


def kb_scope(site_id: int) -> str:
    return f"kb:{site_id}"


def webhooks_scope(site_id: int) -> str:
    return f"webhooks:{site_id}"


SENSITIVE_WORDS_SCOPE = "sensitive-words"
