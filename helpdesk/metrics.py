"""Prometheus metrics: the definitions, the one-line hooks the code calls, and /metrics.

Single process or several. With ``PROMETHEUS_MULTIPROC_DIR`` unset (the
laptop: one `manage.py serve` process streaming replies inline) the metrics
live in this process's memory and /metrics reads them there. With it set
(compose: daphne and the Celery worker share one tmpfs volume) every process
writes its values to memory-mapped files in that directory and /metrics, in
any web process, sums the files of all of them, so the LLM figures the
worker records are scraped from the web. The variable must be set before the
process starts: prometheus_client chooses its storage when it is imported.

Files are named after the host name and the pid, not the pid alone: in
containers every main process is pid 1. Counters of processes that exited
keep counting in the sums; the open-socket gauges count live processes only.

Conversations by state and the Celery queue depth are read when scraped, by
the scraping process only. Nothing here may break the product: a hook that
fails logs and returns.
"""

import atexit
import functools
import glob
import hmac
import ipaddress
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def _process_identifier() -> str:
    # No "_": prometheus_client splits file names on it.
    return f"{_HOST}-{os.getpid()}"


def multiprocess_dir() -> str:
    """The shared directory when several processes report, else ""."""
    return os.environ.get(MULTIPROC_ENV, "")


def _multiprocess_setup() -> None:
    path = multiprocess_dir()
    if not path:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        logger.warning(
            "%s=%s is unusable (%s): metrics stay per process", MULTIPROC_ENV, path, error
        )
        os.environ.pop(MULTIPROC_ENV)
        values.ValueClass = values.MutexValue
        return
    # A restarted container reuses its host name and pid 1: what that name
    # left in live gauges belongs to the dead incarnation, not to us.
    multiprocess.mark_process_dead(_process_identifier(), path)
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)
    atexit.register(lambda: multiprocess.mark_process_dead(_process_identifier(), path))


_multiprocess_setup()

# --- definitions ---------------------------------------------------------------------

SOCKETS_OPEN = Gauge(
    "helpdesk_sockets_open",
    "WebSockets open now, by kind (visitor, agent).",
    ["kind"],
    multiprocess_mode="livesum",
)
MESSAGES = Counter(
    "helpdesk_messages", "Messages saved, by author (visitor, bot, agent, system).", ["author"]
)
REPLIES = Counter(
    "helpdesk_replies",
    "Replies to visitors, by tier (kb, llm, agent, fallback, filter).",
    ["tier"],
)
FIRST_REPLY_SECONDS = Histogram(
    "helpdesk_first_reply_seconds",
    "From a conversation's first visitor message to its first reply, by who replied (bot, agent).",
    ["by"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600),
)
LLM_FIRST_TOKEN_SECONDS = Histogram(
    "helpdesk_llm_first_token_seconds",
    "From the LLM request (retries included) to the first token of the reply.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30),
)
LLM_TOKENS = Counter(
    "helpdesk_llm_tokens",
    "LLM tokens reported by the API, by direction (in: prompt, out: completion).",
    ["direction"],
)
LLM_ERRORS = Counter(
    "helpdesk_llm_errors",
    "Failed LLM requests (retried ones included), by kind.",
    ["kind"],
)
LLM_ERROR_KINDS = (
    "timeout",
    "connection",
    "http_429",
    "http_5xx",
    "http_4xx",
    "not_configured",
    "output_blocked",
    "empty_reply",
    "worker_lost",
    "other",
)

# Known label values are exported at 0 from the start, so that rate() and
# alerts have a series before the first event of its kind.
for _metric, _label, _values in (
    (SOCKETS_OPEN, "kind", ("visitor", "agent")),
    (MESSAGES, "author", ("visitor", "bot", "agent", "system")),
    (REPLIES, "tier", ("kb", "llm", "agent", "fallback", "filter")),
    (FIRST_REPLY_SECONDS, "by", ("bot", "agent")),
    (LLM_TOKENS, "direction", ("in", "out")),
    (LLM_ERRORS, "kind", LLM_ERROR_KINDS),
):
    for _value in _values:
        _metric.labels(**{_label: _value})

# --- hooks -------------------------------------------------------------------------

P = ParamSpec("P")


def _never_raises(hook: Callable[P, None]) -> Callable[P, None]:
    @functools.wraps(hook)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            hook(*args, **kwargs)
        except Exception:
            logger.warning("metrics hook %s failed", hook.__name__, exc_info=True)

    return wrapper


@_never_raises
def socket_opened(consumer: Any, kind: str) -> None:
    """An accepted socket; `socket_closed` on the same consumer undoes it once."""
    SOCKETS_OPEN.labels(kind=kind).inc()
    consumer._metrics_socket_kind = kind


@_never_raises
def socket_closed(consumer: Any) -> None:
    kind = consumer.__dict__.pop("_metrics_socket_kind", None)
    if kind is not None:
        SOCKETS_OPEN.labels(kind=kind).dec()


# Conversations this process has seen a committed reply in: no later reply can be
# their first, so the first-reply query is skipped (it was one query per KB answer).
# Bounded like the Site cache: when full it starts again.
_REPLIED_MAX = 50_000
_replied_conversations: set[int] = set()
_replied_lock = threading.Lock()


@_never_raises
def message_created(message: Any) -> None:
    """Count a saved message when its transaction commits (a rolled-back one never counts).

    The first reply a conversation gets (bot or agent, not an internal note)
    also times how long the visitor waited for it: one small indexed query,
    after the commit, the first time this process sees a reply in the conversation.
    """
    author = message.author_kind
    replied = author in ("bot", "agent") and not message.is_internal
    conversation_id = message.conversation_id

    def record() -> None:
        MESSAGES.labels(author=author).inc()
        if not replied:
            return
        with _replied_lock:
            if conversation_id in _replied_conversations:
                return
            if len(_replied_conversations) >= _REPLIED_MAX:
                _replied_conversations.clear()
            _replied_conversations.add(conversation_id)
        from conversations.selectors import conversation_first_reply

        first = conversation_first_reply(conversation_id=conversation_id)
        if first is not None:
            FIRST_REPLY_SECONDS.labels(by=first.by).observe(first.seconds)

    transaction.on_commit(record, robust=True)


@_never_raises
def reply_counted(tier: str) -> None:
    """A reply of this tier (kb, llm, agent, fallback, filter), counted when it commits."""
    transaction.on_commit(lambda: REPLIES.labels(tier=tier).inc(), robust=True)


@_never_raises
def llm_first_token(seconds: float) -> None:
    LLM_FIRST_TOKEN_SECONDS.observe(seconds)


@_never_raises
def llm_tokens(*, prompt: int | None, completion: int | None) -> None:
    LLM_TOKENS.labels(direction="in").inc(prompt or 0)
    LLM_TOKENS.labels(direction="out").inc(completion or 0)


@_never_raises
def llm_error(error: BaseException | str) -> None:
    LLM_ERRORS.labels(kind=error if isinstance(error, str) else llm_error_kind(error)).inc()


def llm_error_kind(error: BaseException) -> str:
    """A small, fixed set of label values: an exception's text would explode the series."""
    import openai

    if isinstance(error, openai.APITimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    if isinstance(error, openai.APIStatusError):
        if error.status_code == 429:
            return "http_429"
        return "http_5xx" if error.status_code >= 500 else "http_4xx"
    # The reply pipeline's own failures (conversations.replies), named so no import cycle forms.
    return {
        "LLMNotConfigured": "not_configured",
        "OutputBlocked": "output_blocked",
        "EmptyReply": "empty_reply",
    }.get(type(error).__name__, "other")


# --- scrape-time gauges ------------------------------------------------------------


class ScrapeTimeCollector(Collector):
    """Figures read from the database and the broker when scraped, not counted in-process."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._conversations()
        yield from self._queue_depth()

    def _conversations(self) -> Iterator[GaugeMetricFamily]:
        from conversations.selectors import conversation_counts_by_state

        try:
            counts = conversation_counts_by_state()
        except Exception:
            logger.warning("metrics: conversations by state unavailable", exc_info=True)
            return
        family = GaugeMetricFamily(
            "helpdesk_conversations", "Conversations now, by state.", labels=["state"]
        )
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family

    def _queue_depth(self) -> Iterator[GaugeMetricFamily]:
        from helpdesk.selectors import celery_queue_depth

        if not settings.REDIS_URL:
            return
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        try:
            depth = celery_queue_depth(broker_url=settings.CELERY_BROKER_URL, queue=queue)
        except Exception:
            logger.warning("metrics: Celery queue depth unavailable", exc_info=True)
            return
        if depth is None:
            return
        family = GaugeMetricFamily(
            "helpdesk_celery_queue_depth",
            "Tasks waiting in the Celery queue (LLM replies no worker has taken yet).",
            labels=["queue"],
        )
        family.add_metric([queue], depth)
        yield family


def _sweep_dead_processes(path: str) -> None:
    """Forget the live gauges of this host's processes that died without exiting
    (SIGKILL, OOM): their sockets closed with them. Only this host's pids can be checked."""
    for name in glob.glob(os.path.join(path, f"gauge_live*_{_HOST}-*.db")):
        pid = name.rsplit("-", 1)[1].removesuffix(".db")
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(f"{_HOST}-{pid}", path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def metrics_exposition() -> bytes:
    """The text exposition of every metric: this process's, or every process's."""
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path:
        _sweep_dead_processes(path)
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(ScrapeTimeCollector())
    return generate_latest(registry)


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        return self.source.collect()


# --- the view ----------------------------------------------------------------------


def _bearer_ok(request: HttpRequest, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def _internal(request: HttpRequest) -> bool:
    """The client address is in METRICS_INTERNAL_IPS (addresses or networks)."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for allowed in settings.METRICS_INTERNAL_IPS:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            logger.warning("METRICS_INTERNAL_IPS: %r is not an address or network", allowed)
    return False


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape: a bearer METRICS_TOKEN, or a client in METRICS_INTERNAL_IPS.

    Without a token configured the endpoint does not exist for anyone else
    (404); with one, a missing or wrong token is 401.
    """
    token = settings.METRICS_TOKEN
    if not (_bearer_ok(request, token) or _internal(request)):
        if not token:
            return HttpResponseNotFound()
        response = HttpResponse(
            "Unauthorized: send Authorization: Bearer METRICS_TOKEN\n", status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
