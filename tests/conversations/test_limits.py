"""The abuse counters, on the real Redis cache (one round trip per check) and on the
embedded mode's in-process cache."""

import uuid

import pytest
from django.core.cache import caches
from django.test import override_settings

from conversations import limits
from helpdesk.redis_cache import SharedPoolRedisCache

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _key() -> str:
    return f"test-{uuid.uuid4().hex}"


def _exercise_counters() -> None:
    visitor, ip = _key(), _key()
    verdicts = [limits.limit_hits((visitor, 3), (ip, 5)) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert 0 < verdicts[-1].retry_after <= limits.WINDOW_SECONDS
    # A second visitor behind the same address: its own counter is fresh, the
    # address's has counted all four hits above (refused ones too).
    other = _key()
    assert limits.limit_hits((other, 3), (ip, 5)).allowed
    assert not limits.limit_hits((other, 3), (ip, 5)).allowed
    # A limit of 0 is off: nothing counted, always allowed.
    assert all(limits.limit_hits((_key(), 0)).allowed for _ in range(10))


def test_counters_on_redis_take_one_round_trip_and_expire(settings):
    if not isinstance(caches["default"], SharedPoolRedisCache):
        pytest.skip("needs REDIS_URL (the production cache)")
    backend = caches["default"]
    _exercise_counters()

    counter = _key()
    assert backend.window_counts([counter, counter], timeout=120) == [1, 2]
    full_key = backend.make_and_validate_key(counter)
    client = backend._cache.get_client(write=True)
    assert 0 < client.ttl(full_key) <= 120
    # Stored the way Django stores integers: the cache API reads the same value.
    assert backend.get(counter) == 2


def test_counters_in_the_embedded_cache():
    with override_settings(CACHES=LOCMEM):
        caches["default"].clear()
        assert not isinstance(caches["default"], SharedPoolRedisCache)
        _exercise_counters()
