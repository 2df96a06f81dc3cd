"""Celery tasks: thin wrappers that take ids and call the real work."""

import logging
import smtplib

from celery import shared_task

from conversations import services

logger = logging.getLogger(__name__)


@shared_task(
    # Never stream a reply twice: a second run would repeat text the visitor
    # already saw. reject_on_worker_lost=False overrides the project-wide True
    # so that when the process running a stream dies, the worker acknowledges
    # the message instead of requeuing it. A worker killed outright (SIGKILL,
    # OOM) cannot acknowledge anything: the Redis transport hands the message
    # out again, but only after its visibility timeout (an hour by default),
    # when reap_stale_replies has long since failed the reply to the
    # fallback, so that late copy finds its reply id stale and does nothing.
    # The watchdog, never a redelivery, recovers a reply whose worker was lost.
    acks_late=True,
    reject_on_worker_lost=False,
    # The longest a Site may allow a reply, plus time to save it.
    soft_time_limit=150,
    time_limit=180,
    max_retries=0,
    ignore_result=True,
)
def stream_llm_reply(
    conversation_id: int, reply_id: str, grounding_entry_ids: list[int] | None = None
) -> str:
    """Stream one reply. A stale id (conversation gone, reply superseded) is a no-op.

    `grounding_entry_ids` defaults to None for tasks queued before it existed:
    the stream then matches the question itself.
    """
    from conversations.replies import llm_reply_stream
    from conversations.replies.worker_loop import replies_loop_run

    return replies_loop_run(
        llm_reply_stream(
            conversation_id=conversation_id,
            reply_id=reply_id,
            grounding_entry_ids=grounding_entry_ids,
        )
    )


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


@shared_task(
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=2,
    # Beat sends this every few seconds: a slow run must not pile up behind itself.
    soft_time_limit=20,
    time_limit=30,
    ignore_result=True,
)
def reap_stale_replies() -> int:
    """The watchdog for replies whose worker died mid-stream: fallback, and wait for a human."""
    reaped = services.replies_reap_stale()
    if reaped:
        logger.warning("reaped %s replies whose streamer was lost: %s", len(reaped), reaped)
    return len(reaped)


@shared_task(
    # A lost connection to the mail server is worth a few more tries; a bad
    # address or a rejected message is not going to change.
    autoretry_for=(OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=30,
    time_limit=60,
    ignore_result=True,
)
def send_transcript_email(conversation_id: int, email: str) -> bool:
    """Email a conversation's transcript; a conversation deleted meanwhile is a no-op."""
    sent = services.transcript_email_send(conversation_id=conversation_id, email=email)
    if not sent:
        logger.info("transcript email skipped: conversation %s is gone", conversation_id)
    return sent
