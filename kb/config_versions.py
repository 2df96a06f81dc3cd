"""Version counters that tell every process when staff changed run-time configuration.

Each process keeps its parsed KB index and word lists in memory and re-reads
them only when the shared counter (in the Django cache: Redis in production)
moved, so an admin edit applies to the next message everywhere, no restart.
"""

from django.core.cache import cache

_PREFIX = "config-version:"


def config_version_get(*, scope: str) -> int:
    value = cache.get(_PREFIX + scope)
    if value is None:
        # A cold cache must still invalidate stale process copies: start at 1
        # so a process that cached version 0 before a cache flush re-reads.
        cache.add(_PREFIX + scope, 1, timeout=None)
        value = cache.get(_PREFIX + scope, 1)
    return int(value)


def config_version_bump(*, scope: str) -> None:
    try:
        cache.incr(_PREFIX + scope)
    except ValueError:
        cache.add(_PREFIX + scope, 2, timeout=None)


def kb_scope(site_id: int) -> str:
    return f"kb:{site_id}"


SENSITIVE_WORDS_SCOPE = "sensitive-words"
