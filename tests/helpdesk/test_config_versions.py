"""The configuration counters, read one at a time or together for a unit of work."""

import pytest
from django.core.cache import cache, caches

from helpdesk import config_versions
from helpdesk.config_versions import (
    config_version_bump,
    config_version_get,
    config_versions_read_together,
)

pytestmark = pytest.mark.django_db

SCOPES = ("test-a", "test-b", "test-c")


@pytest.fixture
def cache_calls(monkeypatch):
    """The cache round trips made, by method name."""
    calls: list[str] = []
    default = caches["default"]
    for name in ("get", "get_many", "add", "incr"):
        original = getattr(default, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(default, name, counted)
    monkeypatch.setattr(config_versions, "_recent", {})
    return calls


def _another_process_bumps(scope: str) -> None:
    cache.incr("config-version:" + scope)


def test_a_block_reads_the_counters_this_process_uses_in_one_round_trip(cache_calls):
    with config_versions_read_together():  # the process learns which counters it reads
        for scope in SCOPES:
            config_version_get(scope=scope)
    cache_calls.clear()

    with config_versions_read_together():
        versions = [config_version_get(scope=scope) for scope in SCOPES]

    assert cache_calls == ["get_many"]
    assert versions == [config_version_get(scope=scope) for scope in SCOPES]


def test_outside_a_block_every_read_is_fresh(cache_calls):
    before = config_version_get(scope="test-a")
    _another_process_bumps("test-a")
    assert config_version_get(scope="test-a") == before + 1


def test_a_block_sees_the_counters_as_they_were_at_its_first_read_the_next_block_sees_more():
    config_version_get(scope="test-a")
    with config_versions_read_together():
        before = config_version_get(scope="test-a")
        _another_process_bumps("test-a")
        assert config_version_get(scope="test-a") == before
    with config_versions_read_together():
        assert config_version_get(scope="test-a") == before + 1


def test_a_blocks_own_bump_is_seen_by_its_later_reads():
    with config_versions_read_together():
        before = config_version_get(scope="test-b")
        config_version_bump(scope="test-b")
        assert config_version_get(scope="test-b") == before + 1


def test_a_counter_first_read_inside_a_block_is_fetched_then(cache_calls):
    with config_versions_read_together():
        config_version_get(scope="test-a")
        first = config_version_get(scope="test-new")
        assert config_version_get(scope="test-new") == first
    assert cache_calls.count("get_many") == 2


def test_a_cold_cache_starts_every_counter_at_one_inside_a_block_too():
    cache.delete_many(["config-version:test-cold-1", "config-version:test-cold-2"])
    with config_versions_read_together():
        assert config_version_get(scope="test-cold-1") == 1
        assert config_version_get(scope="test-cold-2") == 1


def test_only_the_latest_counters_are_fetched_together(monkeypatch, cache_calls):
    monkeypatch.setattr(config_versions, "RECENT_SCOPES_MAX", 2)
    with config_versions_read_together():
        for scope in SCOPES:
            config_version_get(scope=scope)
    assert list(config_versions._recent) == ["test-b", "test-c"]
