import pytest
from django.db import IntegrityError, transaction

from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, MessageFactory, VisitorFactory

pytestmark = pytest.mark.django_db


def test_new_conversation_is_owned_by_the_bot():
    conversation = ConversationFactory()
    assert conversation.state == Conversation.State.BOT
    assert conversation.is_open
    assert conversation.site == conversation.visitor.site


def test_client_id_is_unique_per_conversation():
    message = MessageFactory(client_id="c-1")
    MessageFactory(client_id="c-1")  # another conversation: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageFactory(conversation=message.conversation, client_id="c-1")


def test_messages_without_client_id_do_not_collide():
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, author_kind=Message.Author.BOT, source="kb")
    MessageFactory(conversation=conversation, author_kind=Message.Author.BOT, source="kb")
    assert conversation.messages.count() == 2


def test_visitor_display_name_prefers_name_then_email():
    visitor = VisitorFactory()
    assert visitor.display_name.startswith("Visitor ")
    visitor.email = "v@example.com"
    assert visitor.display_name == "v@example.com"
    visitor.name = "Vera"
    assert visitor.display_name == "Vera"
