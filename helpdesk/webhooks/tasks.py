"""Celery tasks for webhooks: thin wrappers that take ids and call the services.

Registered with the worker through helpdesk/tasks.py, which Celery's
autodiscovery imports.
"""

import logging

from celery import shared_task
from django.db import DatabaseError

logger = logging.getLogger(__name__)


@shared_task(
    # The attempt number makes a redelivered copy of this message harmless:
    # the service claims each attempt once, so a receiver is never POSTed the
    # same attempt twice by the broker handing the task out again.
    acks_late=True,
    # A database outage before the claim is worth a few quick tries; after
    # them the resume sweep takes over, so the retries stay bounded here.
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=3,
    # The HTTP request itself is capped at 10 s (transport.py).
    soft_time_limit=30,
    time_limit=45,
    ignore_result=True,
)
def deliver_webhook(delivery_id: int, attempt: int) -> str:
    """One attempt of one delivery; a delivery deleted or finished meanwhile is a no-op."""
    from helpdesk.webhooks.dispatch import webhook_delivery_dispatch
    from helpdesk.webhooks.services import webhook_delivery_attempt

    result = webhook_delivery_attempt(delivery_id=delivery_id, attempt=attempt)
    if result.retry_in is not None:
        webhook_delivery_dispatch(
            delivery_id=delivery_id, attempt=attempt + 1, countdown=result.retry_in
        )
    return result.status


@shared_task(soft_time_limit=50, time_limit=60, max_retries=0, ignore_result=True)
def resume_webhook_deliveries() -> int:
    """Beat's sweep for attempts lost with a broker message, a worker or a timer."""
    from helpdesk.webhooks.services import webhook_deliveries_resume

    resumed = webhook_deliveries_resume()
    if resumed:
        logger.warning("resumed %s overdue webhook deliveries: %s", len(resumed), resumed)
    return len(resumed)
