"""Celery tasks: thin wrappers that take ids and call the real work."""

import asyncio
import logging

from celery import shared_task

from conversations import services

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=False,
    # The longest a Site may allow a reply, plus time to save it.
    soft_time_limit=150,
    time_limit=180,
    max_retries=0,
    ignore_result=True,
)
def stream_llm_reply(conversation_id: int, reply_id: str) -> str:
    """Stream one reply. A stale id (conversation gone, reply superseded) is a no-op."""
    from conversations.replies import llm_reply_stream

    return asyncio.run(llm_reply_stream(conversation_id=conversation_id, reply_id=reply_id))


@shared_task(
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
)
def close_idle_conversations() -> int:
    closed = services.conversations_close_idle()
    if closed:
        logger.info("closed %s idle conversations: %s", len(closed), closed)
    return len(closed)
