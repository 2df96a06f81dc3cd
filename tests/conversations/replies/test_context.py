import pytest

from conversations import services
from conversations.replies import reply_context_load
from tests.factories import ConversationFactory, EntryFactory, MessageFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reserved():
    site = SiteFactory()
    gift = EntryFactory(site=site, question="Do you offer gift wrapping?", answer="Yes, $3.")
    shipping = EntryFactory(site=site, question="How long does shipping take?", answer="3-5 days.")
    conversation = ConversationFactory(visitor__site=site)
    MessageFactory(conversation=conversation, text="can my present come in nice paper?")
    reply_id = services.reply_pending_begin(conversation_id=conversation.pk)
    return conversation, reply_id, gift, shipping


def _grounding(context) -> str:
    return context.messages[1]["content"]


def test_the_entries_chosen_by_the_pipeline_ground_the_reply_in_their_order(reserved):
    conversation, reply_id, gift, shipping = reserved
    context = reply_context_load(
        conversation_id=conversation.pk, reply_id=reply_id, grounding_entry_ids=[shipping.pk]
    )
    assert "3-5 days." in _grounding(context)
    assert "Yes, $3." not in _grounding(context)

    both = _grounding(
        reply_context_load(
            conversation_id=conversation.pk,
            reply_id=reply_id,
            grounding_entry_ids=[shipping.pk, gift.pk],
        )
    )
    assert both.index("3-5 days.") < both.index("Yes, $3.")


def test_an_entry_deleted_since_the_match_is_left_out(reserved):
    conversation, reply_id, gift, shipping = reserved
    shipping.delete()
    context = reply_context_load(
        conversation_id=conversation.pk,
        reply_id=reply_id,
        grounding_entry_ids=[shipping.pk, gift.pk],
    )
    assert "Yes, $3." in _grounding(context)
    assert "3-5 days." not in _grounding(context)


def test_without_chosen_entries_the_reply_matches_the_question_itself(reserved):
    conversation, reply_id, *_ = reserved
    context = reply_context_load(conversation_id=conversation.pk, reply_id=reply_id)
    assert "Yes, $3." in _grounding(context)
    assert "3-5 days." not in _grounding(context)
