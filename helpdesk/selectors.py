import time
import uuid
from typing import TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection

from helpdesk.models import Agent, Site


class CheckResult(TypedDict):
    ok: bool
    ms: float
    error: str


def _timed(check) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # a readiness probe reports every failure, whatever its kind
        return {"ok": False, "ms": _ms_since(started), "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "ms": _ms_since(started), "error": ""}


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


def _check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def round_trip() -> None:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "readyz.ping"})
        message = await layer.receive(channel)
        if message.get("type") != "readyz.ping":
            raise RuntimeError("channel layer returned an unexpected message")

    async_to_sync(round_trip)()


def readiness_checks() -> dict[str, CheckResult]:
    return {
        "database": _timed(_check_database),
        "cache": _timed(_check_cache),
        "channel_layer": _timed(_check_channel_layer),
    }


def site_get_by_public_key(*, public_key: str) -> Site | None:
    return Site.objects.filter(public_key=public_key).first()


def agent_for_user(*, user) -> Agent | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Agent.objects.filter(user=user).first()


# kombu's Redis transport keeps a queue as one list per priority step: the name
# itself for priority 0, then the name, "\x06\x16" and the step for 3, 6 and 9.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def celery_queue_depth(*, broker_url: str, queue: str) -> int | None:
    """Tasks waiting in a Celery queue on a Redis broker; None for any other broker."""
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        with client.pipeline(transaction=False) as pipe:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
            return sum(pipe.execute())
    finally:
        client.close()
