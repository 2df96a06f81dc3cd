"""Celery tasks: thin wrappers that take ids and call the service."""

from celery import shared_task
from django.db import OperationalError

from kb.embeddings import EmbeddingsUnavailable


@shared_task(
    autoretry_for=(EmbeddingsUnavailable, OperationalError),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=300,
    time_limit=360,
    ignore_result=True,
)
def entry_vectors_refresh_task(entry_ids: list[int]) -> int:
    """Embed these entries; ids of deleted entries are skipped."""
    from kb.services import entry_vectors_refresh

    return entry_vectors_refresh(entry_ids=[int(i) for i in entry_ids])
