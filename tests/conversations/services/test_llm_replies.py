import pytest

from conversations.models import Conversation
from conversations.services import llm_reply_fail, llm_reply_save, reply_pending_begin
from tests.factories import ConversationFactory


@pytest.mark.django_db
def test_a_reply_that_outlives_its_conversation_saves_nothing_and_raises_nothing():
    conversation = ConversationFactory()
    reply_id = reply_pending_begin(conversation_id=conversation.pk)
    assert reply_id is not None
    Conversation.objects.filter(pk=conversation.pk).delete()  # e.g. the visitor's data erased

    assert reply_pending_begin(conversation_id=conversation.pk) is None
    assert llm_reply_save(conversation_id=conversation.pk, reply_id=reply_id, text="hi") is None
    assert (
        llm_reply_fail(
            conversation_id=conversation.pk, reply_id=reply_id, reason="x", fallback_text="sorry"
        )
        is None
    )
