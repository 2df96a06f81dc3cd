"""Where a delivery attempt runs: a Celery worker (with Redis) or a thread of this process.

The same choice as LLM replies and transcript emails (settings.HELPDESK_LLM_RUNNER):
with a broker the attempt is a Celery task and a retry is the same task sent
with a countdown. In the embedded laptop mode, with no broker, one daemon
thread of the web process sends the attempts in the order they fall due: one
at a time, because SQLite has a single writer and a thread per event would
grow without bound in a burst. Its queue dies with the process; the resume
sweep (services.webhook_deliveries_resume) sends what it left overdue.
"""

import heapq
import itertools
import logging
import threading
import time

from django.conf import settings
from django.db import OperationalError, close_old_connections

logger = logging.getLogger(__name__)

# A locked SQLite database (another thread is writing) before the attempt is
# claimed: the same attempt is tried again this many times, half a second apart.
BUSY_RETRIES = 10

# (due on the monotonic clock, tie-breaker, delivery id, attempt, busy retries left)
_due: list[tuple[float, int, int, int, int]] = []
_due_changed = threading.Condition()
_order = itertools.count()
_sender: threading.Thread | None = None


def webhook_delivery_dispatch(*, delivery_id: int, attempt: int, countdown: float) -> None:
    """Run attempt `attempt` of a delivery in `countdown` seconds; never raises."""
    if settings.HELPDESK_LLM_RUNNER == "celery":
        from helpdesk.webhooks.tasks import deliver_webhook

        try:
            deliver_webhook.apply_async((delivery_id, attempt), countdown=max(0.0, countdown))
        except Exception:
            # The delivery row stays pending with its attempt due: the resume sweep sends it.
            logger.exception("could not queue webhook delivery %s", delivery_id)
        return
    _inline_schedule(delivery_id=delivery_id, attempt=attempt, countdown=countdown)


def _inline_schedule(
    *, delivery_id: int, attempt: int, countdown: float, busy_retries: int = BUSY_RETRIES
) -> None:
    global _sender
    with _due_changed:
        due_at = time.monotonic() + max(0.0, countdown)
        heapq.heappush(_due, (due_at, next(_order), delivery_id, attempt, busy_retries))
        if _sender is None or not _sender.is_alive():
            _sender = threading.Thread(target=_send_forever, daemon=True, name="webhook-sender")
            _sender.start()
        _due_changed.notify()


def _send_forever() -> None:
    while True:
        with _due_changed:
            while not _due or _due[0][0] > time.monotonic():
                _due_changed.wait(timeout=_due[0][0] - time.monotonic() if _due else None)
            _, _, delivery_id, attempt, busy_retries = heapq.heappop(_due)
        _attempt_inline(delivery_id, attempt, busy_retries)


def _attempt_inline(delivery_id: int, attempt: int, busy_retries: int) -> None:
    from helpdesk.webhooks.services import webhook_delivery_attempt

    try:
        result = webhook_delivery_attempt(delivery_id=delivery_id, attempt=attempt)
        if result.retry_in is not None:
            _inline_schedule(
                delivery_id=delivery_id, attempt=attempt + 1, countdown=result.retry_in
            )
    except OperationalError:
        if busy_retries <= 0:
            logger.exception("webhook delivery %s attempt %s failed", delivery_id, attempt)
        else:
            # Safe to repeat: an attempt already claimed is never claimed (or sent) twice.
            _inline_schedule(
                delivery_id=delivery_id,
                attempt=attempt,
                countdown=0.5,
                busy_retries=busy_retries - 1,
            )
    except Exception:
        logger.exception("webhook delivery %s attempt %s failed", delivery_id, attempt)
    finally:
        close_old_connections()
