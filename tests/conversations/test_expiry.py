"""Idle conversations close: by the beat task in production, by a timer in the embedded mode."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations.models import Conversation
from conversations.sweeper import _sweep_forever
from conversations.tasks import close_idle_conversations
from tests.factories import ConversationFactory, MessageFactory


def idle_conversation(minutes: int, **fields) -> Conversation:
    conversation = ConversationFactory(**fields)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=minutes)
    )
    return conversation


@pytest.mark.django_db
def test_beat_task_closes_only_conversations_idle_past_their_sites_limit(
    django_capture_on_commit_callbacks,
):
    stale = idle_conversation(45)
    fresh = idle_conversation(10)
    patient = idle_conversation(45, visitor__site__idle_timeout_minutes=120)
    MessageFactory(conversation=stale, text="hello")
    with django_capture_on_commit_callbacks(execute=True):
        assert close_idle_conversations() == 1
    states = dict(Conversation.objects.values_list("id", "state"))
    assert states == {stale.pk: "closed", fresh.pk: "bot", patient.pk: "bot"}


@pytest.mark.django_db(transaction=True)
async def test_embedded_mode_sweeps_on_a_timer_in_process():
    stale = await database_sync_to_async(idle_conversation)(45)
    sweeper = asyncio.get_running_loop().create_task(_sweep_forever(0.05))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            state = await database_sync_to_async(
                lambda: Conversation.objects.get(pk=stale.pk).state
            )()
            if state == "closed":
                break
    finally:
        sweeper.cancel()
    assert state == "closed"
