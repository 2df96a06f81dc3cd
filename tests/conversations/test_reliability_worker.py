"""A reply whose streamer died never hangs: the watchdog fails it to the fallback.

The unit tests need only the database. The integration test SIGKILLs a real
`celery worker --pool threads` mid-stream (real Redis, real PostgreSQL, the
fake OpenAI-compatible server) and checks what the visitor sees.
"""

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations import services
from conversations.bot_messages import bot_text
from conversations.fake_llm import FakeLLMServer
from conversations.models import Conversation, Message
from conversations.services.llm_replies import REAP_MARGIN_SECONDS, REAP_REASON
from conversations.sweeper import _reap_forever
from conversations.tasks import reap_stale_replies
from tests.conversations.conftest import open_visitor
from tests.factories import ConversationFactory, SiteFactory

ROOT = Path(__file__).resolve().parents[2]
LONG_REPLY = " ".join(f"word{i}" for i in range(80))


def pending_conversation(*, age: float, now=None, **fields) -> Conversation:
    """A conversation whose LLM reply was reserved `age` seconds before `now`."""
    now = now or timezone.now()
    conversation = ConversationFactory(**fields)
    Conversation.objects.filter(pk=conversation.pk).update(
        pending_reply_id=uuid.uuid4(), pending_reply_started_at=now - timedelta(seconds=age)
    )
    conversation.refresh_from_db()
    return conversation


# --- the watchdog service, the beat task and the embedded sweeper ---------------------


@pytest.mark.django_db
def test_reap_fails_only_pending_replies_past_their_sites_limit(
    django_capture_on_commit_callbacks,
):
    now = timezone.now()
    limit = 30 + REAP_MARGIN_SECONDS  # the default llm_timeout_seconds, plus the margin
    young = pending_conversation(age=limit - 1, now=now)
    old = pending_conversation(age=limit + 1, now=now, visitor__language="zh-CN")
    patient = pending_conversation(age=limit + 1, now=now, visitor__site__llm_timeout_seconds=60)
    closed = pending_conversation(age=600, now=now, state=Conversation.State.CLOSED)
    human = pending_conversation(age=600, now=now, state=Conversation.State.HUMAN)
    waiting = pending_conversation(age=600, now=now, state=Conversation.State.WAITING)
    idle = ConversationFactory()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.replies_reap_stale(now=now) == [old.pk]

    old_reply_id = str(old.pending_reply_id)
    old.refresh_from_db()
    assert old.state == Conversation.State.WAITING and old.pending_reply_id is None
    assert old.escalation_reason == REAP_REASON
    (fallback,) = Message.objects.filter(conversation=old)
    assert fallback.author_kind == "bot" and fallback.source == "system"
    assert fallback.text == bot_text("fallback", language="zh-CN")
    assert fallback.reply_id is not None and str(fallback.reply_id) == old_reply_id

    for untouched in (young, patient, closed, human, waiting, idle):
        before = (untouched.state, untouched.pending_reply_id)
        untouched.refresh_from_db()
        assert (untouched.state, untouched.pending_reply_id) == before
        assert not Message.objects.filter(conversation=untouched).exists()

    # The stream, had it survived, may save nothing now; and a second sweep is a no-op.
    late = services.llm_reply_save(conversation_id=old.pk, reply_id=old_reply_id, text="late")
    assert late is None
    assert services.replies_reap_stale(now=now) == []
    assert Message.objects.filter(conversation=old).count() == 1


@pytest.mark.django_db
def test_a_longer_first_token_limit_is_honoured_too():
    """A Site whose first-token limit exceeds its reply limit may wait that long legitimately."""
    now = timezone.now()
    slow_start = pending_conversation(
        age=30 + REAP_MARGIN_SECONDS + 1,
        now=now,
        visitor__site__llm_timeout_seconds=30,
        visitor__site__llm_first_token_timeout_seconds=60,
    )
    assert services.replies_reap_stale(now=now) == []
    assert services.replies_reap_stale(now=now + timedelta(seconds=30)) == [slow_start.pk]


@pytest.mark.django_db
def test_the_beat_task_reaps_and_tolerates_a_conversation_deleted_meanwhile(monkeypatch):
    stale = pending_conversation(age=120)
    gone = pending_conversation(age=120)
    from conversations.services import llm_replies

    real_fail = llm_replies.llm_reply_fail

    def fail_after_a_delete(**kwargs):
        if kwargs["conversation_id"] == gone.pk:
            Conversation.objects.filter(pk=gone.pk).delete()
        return real_fail(**kwargs)

    monkeypatch.setattr(llm_replies, "llm_reply_fail", fail_after_a_delete)
    assert reap_stale_replies() == 1
    assert Conversation.objects.get(pk=stale.pk).state == Conversation.State.WAITING


@pytest.mark.django_db(transaction=True)
async def test_embedded_mode_reaps_on_a_timer_in_process():
    stale = await database_sync_to_async(pending_conversation)(age=120)
    reaper = asyncio.get_running_loop().create_task(_reap_forever(0.05))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            state = await database_sync_to_async(
                lambda: Conversation.objects.get(pk=stale.pk).state
            )()
            if state == Conversation.State.WAITING:
                break
    finally:
        reaper.cancel()
    assert state == Conversation.State.WAITING


# --- a real worker, SIGKILLed mid-stream ----------------------------------------------


@pytest.fixture
def llm_server():
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def celery_worker(start_celery_worker, llm_server):
    return start_celery_worker(
        llm_base_url=llm_server.base_url, concurrency=20, name="doomed"
    ).process


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
async def test_a_worker_killed_mid_stream_ends_in_the_fallback_within_the_sites_limit(
    celery_worker, llm_server
):
    timeout = 3
    site = await database_sync_to_async(SiteFactory)(
        allowed_origins="http://shop.test",
        llm_timeout_seconds=timeout,
        llm_first_token_timeout_seconds=2,
    )
    # Two words a second: the reply is nowhere near done when the worker dies.
    llm_server.configure(reply=LONG_REPLY, ttft=0.05, tokens_per_second=2)
    visitor, connected, _ = await open_visitor(site)
    assert connected
    await visitor.hello()
    asked = time.monotonic()
    ack = await visitor.say("tell me a long story about your warehouse")
    before_kill = await visitor.receive_until(
        lambda e: e["type"] == "reply.delta" and e["seq"] >= 1, timeout=20
    )
    reply_id = before_kill[-1]["reply_id"]

    celery_worker.kill()  # SIGKILL: no shutdown handler, no except/finally runs in the worker
    await asyncio.to_thread(celery_worker.wait, 10)

    # Production runs the watchdog from beat every 5 s on whichever worker is
    # alive. A beat process and a second worker would only add start-up time
    # and flakiness here; calling the task function every 0.5 s from the test
    # runs the very same code on a finer tick, so the bound checked below is
    # the Site's limit plus the margin plus that tick.
    stop = asyncio.Event()

    async def beat() -> None:
        while not stop.is_set():
            await database_sync_to_async(reap_stale_replies)()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    beat_task = asyncio.create_task(beat())
    try:
        after_kill = await visitor.receive_until(lambda e: e["type"] == "state", timeout=15)
        ended_after = time.monotonic() - asked
        tail = await visitor.drain(2.0)  # the watchdog keeps running meanwhile
    finally:
        stop.set()
        await beat_task
        await visitor.close()

    # Never before the limit (the reply was reserved after `asked`), and soon after it.
    assert timeout + REAP_MARGIN_SECONDS - 0.1 <= ended_after <= timeout + REAP_MARGIN_SECONDS + 3
    end_at = next(i for i, e in enumerate(after_kill) if e["type"] == "reply.end")
    assert all(e["type"] == "reply.delta" for e in after_kill[:end_at]), "only in-flight deltas"
    end = after_kill[end_at]
    assert end["reply_id"] == reply_id
    fallback = bot_text("fallback", language="en")
    assert end["message"]["text"] == fallback
    assert end["message"]["author"] == "bot" and end["message"]["source"] == "system"
    assert after_kill[-1]["state"] == "waiting"
    assert [e["type"] for e in after_kill[end_at + 1 :]] == ["state"]
    assert tail == [], "nothing more arrives: no second fallback, no late delta"

    conversation = await database_sync_to_async(Conversation.objects.get)(pk=ack["conversation_id"])
    assert conversation.state == "waiting" and conversation.pending_reply_id is None
    assert conversation.escalation_reason == REAP_REASON
    bot_messages = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(conversation=conversation, author_kind="bot").values_list(
                "text", flat=True
            )
        )
    )()
    assert bot_messages == [fallback]
