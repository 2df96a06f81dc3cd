"""The periodic sweep of uploads no message sent (registered through CELERY_IMPORTS)."""

import logging

from celery import shared_task

from conversations import services

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=2,
    soft_time_limit=100,
    time_limit=120,
    ignore_result=True,
)
def sweep_unsent_attachments() -> int:
    deleted = services.attachments_sweep_unsent()
    if deleted:
        logger.info("deleted %s attachments never sent", deleted)
    return deleted
